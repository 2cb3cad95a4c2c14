//! Screenshots leave the GTK thread as raw pixels: PNG compression of a full-HD
//! snapshot takes the better part of a second on a small board, and the main thread
//! must not stand still that long (the pages' pings stop with it). The GTK thread
//! copies the snapshot's bytes; a worker converts and compresses them and answers.

use std::sync::atomic::{AtomicUsize, Ordering};

use gtk::gdk_pixbuf::{Colorspace, Pixbuf};
use gtk::glib;

use crate::request::{Png, Reply, ReplyTo, RequestError};

/// Screenshots being encoded at once; more are refused rather than queued, since each
/// holds a copy of the screen.
const MAX_ENCODING: usize = 2;

static ENCODING: AtomicUsize = AtomicUsize::new(0);

/// The pixels of a snapshot, copied out of cairo.
pub struct Pixels {
    width: usize,
    height: usize,
    stride: usize,
    /// cairo's ARGB32 (premultiplied) or RGB24, native-endian 32-bit words.
    alpha: bool,
    data: Vec<u8>,
}

/// Whether another encoding may start now; if so it is counted until [`finish`].
pub fn begin() -> Result<(), RequestError> {
    let taken = ENCODING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_ENCODING).then_some(n + 1));
    taken
        .map(|_| ())
        .map_err(|_| RequestError::Failed(format!("{MAX_ENCODING} screenshots are being encoded; try again")))
}

/// Ends an encoding [`begin`] counted that never reached [`encode_and_answer`].
pub fn abandon() {
    ENCODING.fetch_sub(1, Ordering::AcqRel);
}

fn finish() {
    abandon();
}

/// Copies WebKit's snapshot (on the GTK thread: a plain copy of its bytes).
pub fn copy(surface: gtk::cairo::Surface) -> Result<Pixels, String> {
    use gtk::cairo::{Format, ImageSurface};
    let image = ImageSurface::try_from(surface).map_err(|_| "the snapshot is not an image".to_string())?;
    let alpha = match image.format() {
        Format::ARgb32 => true,
        Format::Rgb24 => false,
        other => return Err(format!("the snapshot has an unexpected pixel format {other:?}")),
    };
    let (width, height, stride) = (image.width().max(0) as usize, image.height().max(0) as usize, image.stride());
    let mut data = Vec::new();
    image.with_data(|bytes| data = bytes.to_vec()).map_err(|e| format!("cannot read the snapshot: {e}"))?;
    let stride = stride.max(0) as usize;
    if data.len() < stride * height || stride < width * 4 {
        return Err(format!("the {width}x{height} snapshot is truncated"));
    }
    Ok(Pixels { width, height, stride, alpha, data })
}

/// Encodes `pixels` on a thread of its own and answers `reply` from there; always
/// ends the encoding [`begin`] counted.
pub fn encode_and_answer(pixels: Pixels, label: String, reply: ReplyTo) {
    let spawned = std::thread::Builder::new().name("vitrine-png".into()).spawn(move || {
        let png = encode(&pixels).map_err(RequestError::Failed);
        finish();
        if let Ok(png) = &png {
            log::info!(surface = label.as_str(); "screenshot {}x{}", png.width, png.height);
        }
        reply.send(png.map(Reply::Png));
    });
    if let Err(e) = spawned {
        finish();
        log::error!("cannot start a thread to encode a screenshot: {e}");
    }
}

fn encode(p: &Pixels) -> Result<Png, String> {
    let rgba = to_rgba(p);
    let (w, h) = (i32::try_from(p.width).unwrap_or(i32::MAX), i32::try_from(p.height).unwrap_or(i32::MAX));
    let pixbuf = Pixbuf::from_bytes(&glib::Bytes::from_owned(rgba), Colorspace::Rgb, true, 8, w, h, w * 4);
    let bytes = pixbuf.save_to_bufferv("png", &[]).map_err(|e| format!("cannot encode PNG: {e}"))?;
    Ok(Png { width: p.width as u32, height: p.height as u32, bytes })
}

/// cairo's premultiplied native-endian ARGB words to straight RGBA bytes.
fn to_rgba(p: &Pixels) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.width * p.height * 4);
    for row in p.data.chunks(p.stride).take(p.height) {
        for px in row[..p.width * 4].chunks_exact(4) {
            let word = u32::from_ne_bytes([px[0], px[1], px[2], px[3]]);
            let a = if p.alpha { (word >> 24) as u8 } else { 255 };
            let unmultiply = |c: u32| -> u8 {
                match a {
                    0 => 0,
                    255 => c as u8,
                    a => ((c * 255 + u32::from(a) / 2) / u32::from(a)).min(255) as u8,
                }
            };
            out.extend_from_slice(&[
                unmultiply((word >> 16) & 0xff),
                unmultiply((word >> 8) & 0xff),
                unmultiply(word & 0xff),
                a,
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(a: u32, r: u32, g: u32, b: u32) -> [u8; 4] {
        ((a << 24) | (r << 16) | (g << 8) | b).to_ne_bytes()
    }

    #[test]
    fn premultiplied_words_become_straight_rgba_and_padding_is_skipped() {
        let mut data = Vec::new();
        // Row 1: opaque red, half-transparent white (premultiplied: 128), clear.
        data.extend(word(255, 255, 0, 0));
        data.extend(word(128, 128, 128, 128));
        data.extend(word(0, 0, 0, 0));
        data.extend([9; 4]); // stride padding
                             // Row 2.
        data.extend(word(255, 1, 2, 3));
        data.extend(word(255, 4, 5, 6));
        data.extend(word(255, 7, 8, 9));
        data.extend([9; 4]);
        let p = Pixels { width: 3, height: 2, stride: 16, alpha: true, data };
        assert_eq!(
            to_rgba(&p),
            [255, 0, 0, 255, 255, 255, 255, 128, 0, 0, 0, 0, 1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255]
        );
        // RGB24 ignores the top byte.
        let p = Pixels { width: 1, height: 1, stride: 4, alpha: false, data: word(0, 10, 20, 30).to_vec() };
        assert_eq!(to_rgba(&p), [10, 20, 30, 255]);
    }

    #[test]
    fn encodes_a_png_off_the_main_thread() {
        let data: Vec<u8> = (0..64 * 48).flat_map(|i| word(255, i % 256, 0, 255 - i % 256)).collect();
        let p = Pixels { width: 64, height: 48, stride: 256, alpha: true, data };
        let png = std::thread::spawn(move || encode(&p)).join().unwrap().unwrap();
        assert_eq!((png.width, png.height), (64, 48));
        assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
