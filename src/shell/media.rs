//! `app://localhost/__media/<path>`: the files under `$MEDIA`, read by pages (`fetch`,
//! `<img>`, posters, `<track>`) without passing through IPC, and `?resolve` for the
//! loopback URL a `<video>` or `<audio>` can play (`loopback.rs`).
//!
//! A request is allowed when the surface's current page may `fs.read` the path (the
//! same capability check as the command), and the file is opened through the same
//! `openat2` confinement, its real path checked again. A refusal is a `403` and a log
//! line. Each answer carries at most [`CHUNK`] bytes read at the requested offset, so
//! memory stays flat however large the file: a client asks in ranges and asks on after
//! a short `206`. Disk reads happen on one reader thread, never on the GTK thread that
//! received the request.

use std::borrow::Cow;
use std::os::unix::fs::FileExt;

use wry::http::{header, Request, Response, StatusCode};
use wry::RequestAsyncResponder;

use crate::ipc::authority::Checker;
use crate::ipc::Authority;
use crate::os::fs::{FsError, Roots};
use crate::shell::assets::{mime_type, plain};
use crate::shell::loopback::{Loopback, Source};
use crate::shell::range::Span;

/// Where the media URLs live under `app://localhost/`.
pub const MEDIA_PREFIX: &str = "/__media/";
/// The most one answer carries; the answer is copied once more into WebKit's stream,
/// so this bounds the core's transient memory per request.
pub const CHUNK: u64 = 2 << 20;

/// What the media URLs need: the roots and every surface's capabilities.
#[derive(Debug)]
pub struct Media {
    roots: Roots,
    authority: Authority,
    /// The reader thread's queue.
    jobs: std::sync::mpsc::Sender<Job>,
    /// Where media elements play from (`loopback.rs`).
    loopback: Option<Loopback>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Media {
    /// Starts the reader thread. One long-lived thread, not one per request: each new
    /// thread would get a malloc arena of its own that keeps its last chunks, and the
    /// core's memory would grow with the number of requests.
    pub fn new(roots: Roots, authority: Authority) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new().name("media".into()).spawn(move || {
            for job in queue {
                job();
            }
        });
        if let Err(e) = spawned {
            log::error!(reason = "media"; "no media reader thread, $MEDIA URLs fail: {e}");
        }
        let loopback = Loopback::start(roots.clone())
            .map_err(|e| log::error!(reason = "media"; "no loopback media server, <video> cannot play $MEDIA: {e}"))
            .ok();
        Self { roots, authority, jobs, loopback }
    }

    /// Answers `?resolve`: the loopback URL of `source` as text.
    pub fn resolve(&self, label: &str, source: Source) -> Response<Cow<'static, [u8]>> {
        let url = self.loopback.as_ref().and_then(|l| l.grant(label, source));
        let Some(url) = url else { return plain(StatusCode::SERVICE_UNAVAILABLE, "no media server") };
        log::debug!(surface = label, reason = "media"; "media plays from {url}");
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(Cow::Owned(url.into_bytes()))
            .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
    }

    /// The loopback origin media elements play from, for the pages' CSP.
    pub fn origin(&self) -> Option<String> {
        self.loopback.as_ref().map(Loopback::origin)
    }

    /// Answers `request` for `rel` (the part after the prefix, still percent-encoded)
    /// from surface `label` showing `page`. Called on the GTK thread: the decision is
    /// made here, the file is read on a worker.
    pub fn serve(
        &self,
        label: &str,
        page: Option<&str>,
        rel: &str,
        request: &Request<Vec<u8>>,
        responder: RequestAsyncResponder,
    ) {
        if request.method() != wry::http::Method::GET && request.method() != wry::http::Method::HEAD {
            return responder.respond(plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"));
        }
        let decoded = percent_encoding::percent_decode_str(rel).decode_utf8_lossy();
        let name = format!("$MEDIA/{decoded}");
        let logical = match self.roots.parse(&name) {
            Ok(l) if !l.rel.as_os_str().is_empty() => l,
            Ok(_) | Err(_) => {
                log::warn!(surface = label, reason = "media"; "refused media '{name}': not a file under $MEDIA");
                return responder.respond(plain(StatusCode::FORBIDDEN, "forbidden"));
            }
        };
        let Some(page) = page else {
            log::warn!(surface = label, reason = "media"; "refused media '{name}': the surface shows no page");
            return responder.respond(plain(StatusCode::FORBIDDEN, "forbidden"));
        };
        let checker = self.authority.checker(label, page, "fs.read");
        if let Err(denied) = checker.check(Some(&logical.display())) {
            log::warn!(surface = label, reason = "media"; "refused media '{name}': {denied}");
            return responder.respond(plain(StatusCode::FORBIDDEN, "forbidden"));
        }
        if request.uri().query() == Some("resolve") {
            // A URL a media element can play: see loopback.rs.
            return responder.respond(self.resolve(label, Source::File(logical, checker)));
        }
        let range = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let roots = self.roots.clone();
        let label = label.to_string();
        let work = move || {
            let response = read(&roots, &logical, &checker, range.as_deref(), &label);
            responder.respond(response);
        };
        if self.jobs.send(Box::new(work)).is_err() {
            // The responder went with the job; WebKit sees the request fail.
            log::error!(reason = "media"; "the media reader is gone; '{name}' not served");
        }
    }
}

/// Reads the asked window of the file (on a worker thread).
fn read(
    roots: &Roots,
    logical: &crate::os::fs::LogicalPath,
    checker: &Checker,
    range: Option<&str>,
    label: &str,
) -> Response<Cow<'static, [u8]>> {
    let name = logical.display();
    let file = match roots.open_read(logical, |p| checker.check(Some(p)).is_ok()) {
        Ok(f) => f,
        Err(FsError::NotFound(_)) => {
            log::warn!(surface = label, reason = "media"; "media '{name}' does not exist");
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        Err(e) => {
            log::warn!(surface = label, reason = "media"; "refused media '{name}': {e}");
            return plain(StatusCode::FORBIDDEN, "forbidden");
        }
    };
    let total = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            log::warn!(surface = label, reason = "media"; "media '{name}': {e}");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let span = Span::parse(range, total).capped(total, CHUNK);
    let (start, len) = span.window(total);
    let mut body = vec![0u8; len as usize];
    if let Err(e) = file.read_exact_at(&mut body, start) {
        // The file shrank under us: the client asks again.
        log::warn!(surface = label, reason = "media"; "media '{name}' at {start}+{len}: {e}");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    }
    log::debug!(surface = label, reason = "media"; "media '{name}' {start}+{len} of {total}");
    span.head(total)
        .header(header::CONTENT_TYPE, mime_type(&name))
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .body(Cow::Owned(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

/// `csp` with the loopback media origin admitted for media: added to its `media-src`
/// directive, or as one (`'self'` and the origin) when it has none.
pub fn csp_with(csp: &str, origin: Option<String>) -> String {
    let Some(origin) = origin else { return csp.to_string() };
    let mut found = false;
    let mut parts: Vec<String> = csp
        .split(';')
        .map(|d| {
            let d = d.trim();
            if d.split_whitespace().next() == Some("media-src") {
                found = true;
                format!("{d} {origin}")
            } else {
                d.to_string()
            }
        })
        .filter(|d| !d.is_empty())
        .collect();
    if !found {
        parts.push(format!("media-src 'self' {origin}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_media_origin_joins_the_csp() {
        let o = || Some("http://127.0.0.1:5000".to_string());
        assert_eq!(csp_with("default-src 'self'", o()), "default-src 'self'; media-src 'self' http://127.0.0.1:5000");
        assert_eq!(
            csp_with("default-src 'self'; media-src blob:;", o()),
            "default-src 'self'; media-src blob: http://127.0.0.1:5000"
        );
        assert_eq!(csp_with("default-src 'self'", None), "default-src 'self'");
    }
}
