//! The loopback HTTP server through which `<video>` and `<audio>` play `$MEDIA` files.
//!
//! WebKitGTK's GStreamer player opens only `blob:`, `data:`, `file:`, `http:` and
//! `https:` URLs, and GStreamer has no source for the core's `app:` scheme (measured on
//! WebKitGTK 2.50: "No URI handler implemented for \"app\""), so a media element cannot
//! play an `app://` URL. A page therefore asks `app://localhost/__media/<path>?resolve`
//! — checked against its `fs:allow-read` scopes like any media URL — and gets a URL
//! `http://127.0.0.1:<port>/<token>` for that one file, which this server streams with
//! `Range`. The token is 128 random bits and names one file for one surface; the file
//! is opened through the same `openat2` confinement, its real path checked again, for
//! every request. Bodies are copied in small pieces, so memory stays flat.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use crate::ipc::authority::Checker;
use crate::os::fs::{LogicalPath, Roots};
use crate::shell::assets::mime_type;
use crate::shell::range::Span;

/// Tokens kept at most; the oldest are forgotten first.
const MAX_GRANTS: usize = 512;
/// The piece of a body read and written at a time.
const PIECE: usize = 64 * 1024;

struct Grant {
    token: String,
    label: String,
    source: Source,
}

/// What a token serves.
#[derive(Clone)]
pub enum Source {
    /// A `$MEDIA` file, opened and checked again for every request.
    File(LogicalPath, Checker),
    /// A file of the kiosk's `ui/`, already in memory.
    Ui(String, Arc<[u8]>),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(path, _) => path.display(),
            Source::Ui(name, _) => name.clone(),
        }
    }
}

type Grants = Arc<Mutex<VecDeque<Grant>>>;

#[derive(Clone)]
pub struct Loopback {
    port: u16,
    grants: Grants,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loopback(127.0.0.1:{})", self.port)
    }
}

impl Loopback {
    /// Listens on an ephemeral loopback port and serves on a thread of its own.
    pub fn start(roots: Roots) -> std::io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let grants: Grants = Arc::default();
        let shared = Arc::clone(&grants);
        std::thread::Builder::new().name("media-http".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let (roots, grants) = (roots.clone(), Arc::clone(&shared));
                // One thread per connection: a player holds its connection while it
                // streams, and another element must not wait behind it.
                let spawned = std::thread::Builder::new().name("media-conn".into()).spawn(move || {
                    if let Err(e) = serve(stream, &roots, &grants) {
                        log::debug!(reason = "media"; "loopback media connection: {e}");
                    }
                });
                if let Err(e) = spawned {
                    log::warn!(reason = "media"; "no thread for a loopback media connection: {e}");
                }
            }
        })?;
        log::info!(reason = "media"; "media elements play $MEDIA from http://127.0.0.1:{port}");
        Ok(Loopback { port, grants })
    }

    /// The origin pages' Content-Security-Policy must admit for media.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A URL for `source`, already allowed for `label`.
    pub fn grant(&self, label: &str, source: Source) -> Option<String> {
        let token = crate::ipc::document::new_token().ok()?;
        let mut grants = self.grants.lock().ok()?;
        if let Some(g) = grants.iter().find(|g| g.label == label && g.source.name() == source.name()) {
            return Some(format!("{}/{}", self.origin(), g.token));
        }
        if grants.len() >= MAX_GRANTS {
            grants.pop_front();
        }
        grants.push_back(Grant { token: token.clone(), label: label.to_string(), source });
        Some(format!("{}/{token}", self.origin()))
    }
}

/// Answers the requests of one connection until it closes.
fn serve(stream: TcpStream, roots: &Roots, grants: &Grants) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let mut range = None;
        let mut header_bytes = line.len();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
            header_bytes += h.len();
            if header_bytes > 16 * 1024 {
                return status(&mut out, 431, "Request Header Fields Too Large");
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.trim().eq_ignore_ascii_case("range") {
                    range = Some(value.trim().to_string());
                }
            }
        }
        if method != "GET" && method != "HEAD" {
            return status(&mut out, 405, "Method Not Allowed");
        }
        let token = target.trim_start_matches('/');
        let found = grants
            .lock()
            .ok()
            .and_then(|g| g.iter().find(|g| g.token == token).map(|g| (g.label.clone(), g.source.clone())));
        let Some((label, source)) = found else {
            log::warn!(reason = "media"; "loopback media: refused an unknown token");
            return status(&mut out, 403, "Forbidden");
        };
        let name = source.name();
        let body = match source {
            Source::File(path, checker) => match roots.open_read(&path, |p| checker.check(Some(p)).is_ok()) {
                Ok(f) => Body::File(f),
                Err(e) => {
                    log::warn!(surface = label.as_str(), reason = "media"; "refused media '{name}': {e}");
                    return status(&mut out, 403, "Forbidden");
                }
            },
            Source::Ui(_, bytes) => Body::Bytes(bytes),
        };
        let total = body.len()?;
        let span = Span::parse(range.as_deref(), total);
        let (start, len) = span.window(total);
        let (code, reason) = match span {
            Span::Whole => (200, "OK"),
            Span::Part { .. } => (206, "Partial Content"),
            Span::Unsatisfiable => (416, "Range Not Satisfiable"),
        };
        let mut head = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
            mime_type(&name)
        );
        match span {
            Span::Part { start, end } => head.push_str(&format!("Content-Range: bytes {start}-{end}/{total}\r\n")),
            Span::Unsatisfiable => head.push_str(&format!("Content-Range: bytes */{total}\r\n")),
            Span::Whole => {}
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        if method == "GET" {
            let mut buf = vec![0u8; PIECE];
            let mut offset = start;
            let end = start + len;
            while offset < end {
                let want = usize::try_from((end - offset).min(PIECE as u64)).unwrap_or(PIECE);
                let n = body.read_at(&mut buf[..want], offset)?;
                if n == 0 {
                    // The file shrank: end the connection, the client asks again.
                    return Ok(());
                }
                // A player that seeks away closes the connection: that ends this loop.
                out.write_all(&buf[..n])?;
                offset += n as u64;
            }
        }
        out.flush()?;
    }
}

fn status(out: &mut TcpStream, code: u16, reason: &str) -> std::io::Result<()> {
    write!(out, "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

enum Body {
    File(std::fs::File),
    Bytes(Arc<[u8]>),
}

impl Body {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Body::File(f) => Ok(f.metadata()?.len()),
            Body::Bytes(b) => Ok(b.len() as u64),
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        match self {
            Body::File(f) => f.read_at(buf, offset),
            Body::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                let n = buf.len().min(b.len() - start);
                buf[..n].copy_from_slice(&b[start..start + n]);
                Ok(n)
            }
        }
    }
}
