//! Which media decoders WebKit's GStreamer backend can use on this device, for
//! `device.info` and `vitrine ctl status`, so that an operator sees why a board drops
//! frames. A cheap probe instead of linking GStreamer: a decoder is present when the
//! plugin file that provides it is in GStreamer's plugin folder, and a hardware decoder
//! when the kernel offers a V4L2 memory-to-memory decoder device *and* the GStreamer
//! plugin that drives it is installed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// (codec, the decoder element WebKit ends up with, the plugin file providing it).
const SOFTWARE: &[(&str, &str, &str)] = &[
    ("webm", "matroskademux", "libgstmatroska.so"),
    ("mp4", "qtdemux", "libgstisomp4.so"),
    ("vp8", "vp8dec", "libgstvpx.so"),
    ("vp9", "vp9dec", "libgstvpx.so"),
    ("av1", "dav1ddec", "libgstdav1d.so"),
    ("h264", "avdec_h264", "libgstlibav.so"),
    ("h265", "avdec_h265", "libgstlibav.so"),
    ("aac", "avdec_aac", "libgstlibav.so"),
    ("opus", "opusdec", "libgstopus.so"),
    ("vorbis", "vorbisdec", "libgstvorbis.so"),
];
/// Stateful V4L2 decoders (v4l2h264dec: a Pi 4's bcm2835-codec) and stateless ones
/// (v4l2slh264dec, v4l2slh265dec: a Pi 5's rpi-hevc-dec, Rockchip, Hantro).
const V4L2_STATEFUL: &str = "libgstvideo4linux2.so";
const V4L2_STATELESS: &str = "libgstv4l2codecs.so";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Decoders {
    /// Codecs and containers with a decoder installed, as "codec (element)".
    pub software: Vec<String>,
    /// The V4L2 decoder devices the kernel offers ("/dev/video10 bcm2835-codec-decode").
    pub hardware_devices: Vec<String>,
    /// Whether a GStreamer plugin that drives those devices is installed: then
    /// GStreamer ranks the hardware decoder above the software one.
    pub hardware_usable: bool,
}

/// Probes the system's plugin folders and `/sys/class/video4linux`.
pub fn probe() -> Decoders {
    probe_in(&plugin_dirs(), Path::new("/sys/class/video4linux"))
}

/// The probe over given folders (tests point it at fixtures).
pub fn probe_in(plugin_dirs: &[PathBuf], v4l: &Path) -> Decoders {
    let has = |file: &str| plugin_dirs.iter().any(|d| d.join(file).is_file());
    let software = SOFTWARE.iter().filter(|(_, _, f)| has(f)).map(|(c, e, _)| format!("{c} ({e})")).collect();
    let mut hardware_devices: Vec<String> = std::fs::read_dir(v4l)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = std::fs::read_to_string(entry.path().join("name")).ok()?;
            let name = name.trim();
            // Decoder devices name themselves so: bcm2835-codec-decode, rpi-hevc-dec,
            // rkvdec, hantro-vpu-dec, cedrus (Allwinner's decoder engine).
            let lower = name.to_ascii_lowercase();
            (lower.contains("dec") || lower.contains("cedrus"))
                .then(|| format!("/dev/{} {name}", entry.file_name().to_string_lossy()))
        })
        .collect();
    hardware_devices.sort();
    let hardware_usable = !hardware_devices.is_empty() && (has(V4L2_STATEFUL) || has(V4L2_STATELESS));
    Decoders { software, hardware_devices, hardware_usable }
}

/// `GST_PLUGIN_SYSTEM_PATH_1_0` when set, else the distribution's folders.
fn plugin_dirs() -> Vec<PathBuf> {
    if let Some(path) = std::env::var_os("GST_PLUGIN_SYSTEM_PATH_1_0") {
        return std::env::split_paths(&path).collect();
    }
    let mut dirs = vec![PathBuf::from("/usr/lib/gstreamer-1.0")];
    // /usr/lib/<multiarch>/gstreamer-1.0, whatever the architecture.
    for entry in std::fs::read_dir("/usr/lib").into_iter().flatten().flatten() {
        let dir = entry.path().join("gstreamer-1.0");
        if dir.is_dir() {
            dirs.push(dir);
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_and_decoder_devices_are_found() {
        let t = tempfile::tempdir().unwrap();
        let plugins = t.path().join("gst");
        let v4l = t.path().join("v4l");
        std::fs::create_dir_all(&plugins).unwrap();
        for f in ["libgstvpx.so", "libgstmatroska.so"] {
            std::fs::write(plugins.join(f), "").unwrap();
        }
        for (dev, name) in [("video0", "uvcvideo camera"), ("video10", "bcm2835-codec-decode")] {
            std::fs::create_dir_all(v4l.join(dev)).unwrap();
            std::fs::write(v4l.join(dev).join("name"), format!("{name}\n")).unwrap();
        }
        let d = probe_in(std::slice::from_ref(&plugins), &v4l);
        assert_eq!(d.software, ["webm (matroskademux)", "vp8 (vp8dec)", "vp9 (vp9dec)"]);
        assert_eq!(d.hardware_devices, ["/dev/video10 bcm2835-codec-decode"]);
        assert!(!d.hardware_usable, "no V4L2 plugin installed");
        std::fs::write(plugins.join(V4L2_STATEFUL), "").unwrap();
        assert!(probe_in(&[plugins], &v4l).hardware_usable);
        assert_eq!(probe_in(&[], Path::new("/nonexistent")), Decoders::default());
    }
}
