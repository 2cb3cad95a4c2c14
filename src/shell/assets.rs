//! The `app://` custom protocol: serves the embedded `ui/` folder to every surface.
//!
//! One handler on the shared web context serves all surfaces (WebKit allows a scheme to
//! be registered once per context). Only `GET` of a known file answers 200; everything
//! else is 404 or 405, so a page cannot probe the core through this scheme. HTML pages
//! carry the configured Content-Security-Policy.

use std::borrow::Cow;
use std::collections::HashMap;

use wry::http::{header, Method, Request, Response, StatusCode};

use crate::config::UiFile;
use crate::shell::range::Span;

pub const SCHEME: &str = "app";

/// The core's own pages, under `app://localhost/__vitrine/`; they need no network.
const BUILTIN: &[(&str, &[u8])] = &[
    ("recovery.html", include_bytes!("pages/recovery.html")),
    ("offline.html", include_bytes!("pages/offline.html")),
    ("certificate.html", include_bytes!("pages/certificate.html")),
    ("builtin.css", include_bytes!("pages/builtin.css")),
    ("builtin.js", include_bytes!("pages/builtin.js")),
    // The notification toast (shell/toast/).
    ("toast.html", include_bytes!("toast/toast.html")),
    ("toast.js", include_bytes!("toast/toast.js")),
    ("toast.css", include_bytes!("toast/toast.css")),
    // The file picker (shell/picker.rs).
    ("picker.html", include_bytes!("pages/picker.html")),
    ("picker.js", include_bytes!("pages/picker.js")),
    ("picker.css", include_bytes!("pages/picker.css")),
    // The on-screen keyboard (shell/keyboard.rs), kept with its layouts.
    ("keyboard.html", include_bytes!("../keyboard/page/keyboard.html")),
    ("keyboard.js", include_bytes!("../keyboard/page/keyboard.js")),
    ("keyboard.css", include_bytes!("../keyboard/page/keyboard.css")),
];

/// Where the built-in pages live.
pub const BUILTIN_PREFIX: &str = "__vitrine/";

/// The URL of a built-in page with `surface` and `reason` for it to show.
pub fn builtin_url(page: &str, surface: &str, reason: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("surface", surface)
        .append_pair("reason", reason)
        .finish();
    format!("app://localhost/{BUILTIN_PREFIX}{page}?{query}")
}

/// The certificate page for the page at `url`, which the core refused for `problem`.
pub fn certificate_url(surface: &str, url: &str, problem: &str) -> String {
    let origin = url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| url.to_string());
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("surface", surface)
        .append_pair("origin", &origin)
        .append_pair("reason", problem)
        .finish();
    format!("app://localhost/{BUILTIN_PREFIX}certificate.html?{query}")
}

pub struct Assets {
    files: HashMap<String, std::sync::Arc<[u8]>>,
    csp: String,
}

impl Assets {
    pub fn new(files: &[UiFile], csp: &str) -> Self {
        let files = files.iter().map(|f| (f.path.clone(), f.bytes.as_slice().into())).collect();
        Self { files, csp: csp.to_string() }
    }

    /// A file of `ui/` by its `app://localhost/` path, for the loopback media server.
    pub fn ui_file(&self, path: &str) -> Option<std::sync::Arc<[u8]>> {
        self.files.get(path.trim_start_matches('/')).cloned()
    }

    pub fn respond(&self, request: &Request<Vec<u8>>) -> Response<Cow<'static, [u8]>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        if request.uri().host() != Some("localhost") {
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        let path = request.uri().path().trim_start_matches('/');
        let path = if path.is_empty() { "index.html" } else { path };
        let builtin = path.strip_prefix(BUILTIN_PREFIX).and_then(|p| BUILTIN.iter().find(|(n, _)| *n == p));
        let bytes = match builtin {
            Some((_, bytes)) => Some(bytes.to_vec()),
            None => self.files.get(path).map(|b| b.to_vec()),
        };
        let Some(bytes) = bytes else {
            log::warn!("app:// has no file '{path}'");
            return plain(StatusCode::NOT_FOUND, "not found");
        };
        let mime = mime_type(path);
        let total = bytes.len() as u64;
        let range = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
        let span = Span::parse(range, total);
        let (start, len) = span.window(total);
        let mut response = span
            .head(total)
            .header(header::CONTENT_TYPE, mime)
            .header(header::CACHE_CONTROL, "no-cache")
            .header("X-Content-Type-Options", "nosniff");
        if mime.starts_with("text/html") {
            response = response.header("Content-Security-Policy", self.csp.as_str());
        }
        // The window lies inside the body (`Span::window`); the bytes are in memory.
        let body = bytes.get(start as usize..(start + len) as usize).map(<[u8]>::to_vec).unwrap_or_default();
        response.body(Cow::Owned(body)).unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
    }
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<Cow<'static, [u8]>> {
    let mut response = Response::new(Cow::Borrowed(text.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// Content types of the files a kiosk UI is made of. A short table keeps the binary
/// small; anything else is served as opaque bytes (and `nosniff` stops guessing).
pub fn mime_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "ogv" => "video/ogg",
        "opus" => "audio/ogg; codecs=opus",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mkv" => "video/x-matroska",
        "vtt" => "text/vtt; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> Assets {
        Assets::new(
            &[
                UiFile { path: "index.html".into(), bytes: b"<p>hi</p>".to_vec() },
                UiFile { path: "js/app.js".into(), bytes: b"1".to_vec() },
            ],
            "default-src 'self'",
        )
    }

    fn get(uri: &str) -> Response<Cow<'static, [u8]>> {
        assets().respond(&Request::get(uri).body(Vec::new()).unwrap())
    }

    #[test]
    fn serves_files_with_type_and_csp() {
        let r = get("app://localhost/index.html");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(r.headers()["Content-Security-Policy"], "default-src 'self'");
        assert_eq!(&r.body()[..], b"<p>hi</p>");
        let r = get("app://localhost/js/app.js?v=2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert!(r.headers().get("Content-Security-Policy").is_none());
        assert_eq!(get("app://localhost/").status(), StatusCode::OK);
        let r = get(&builtin_url("recovery.html", "main", "crashed"));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(String::from_utf8_lossy(r.body()).contains("restarting"));
    }

    #[test]
    fn answers_ranges() {
        let get_range = |range: &str| {
            let req = Request::get("app://localhost/index.html").header(header::RANGE, range).body(Vec::new()).unwrap();
            assets().respond(&req)
        };
        let r = get_range("bytes=3-5");
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()[header::CONTENT_RANGE], "bytes 3-5/9");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "3");
        assert_eq!(&r.body()[..], b"hi<");
        assert_eq!(get_range("bytes=-2").body().as_ref(), b"p>");
        let r = get_range("bytes=9-");
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(r.body().is_empty());
        let r = get("app://localhost/index.html");
        assert_eq!(r.headers()[header::ACCEPT_RANGES], "bytes");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "9");
    }

    #[test]
    fn refuses_the_rest() {
        assert_eq!(get("app://localhost/missing.html").status(), StatusCode::NOT_FOUND);
        assert_eq!(get("app://localhost/../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(get("app://elsewhere/index.html").status(), StatusCode::NOT_FOUND);
        let post = Request::post("app://localhost/index.html").body(Vec::new()).unwrap();
        assert_eq!(assets().respond(&post).status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
