//! `fs.*`, `http.fetch` and `device.info`: the operating system as capabilities grant it.
//!
//! Every path and URL is checked against the caller's scopes (`{"path": "$MEDIA/**"}`,
//! `{"url": "https://api.example.com/*"}`) before anything is touched, and paths again
//! after opening (see `os::fs`). All of it runs on the worker pool. Granted calls are
//! logged at debug with their target; refusals at warning by the router.

use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::ipc::authority::Checker;
use crate::ipc::call::Payload;
use crate::ipc::protocol::{ErrorCode, IpcError};
use crate::ipc::router::{Ctx, Router};
use crate::os::device::{self, Display};
use crate::os::fs::{FsError, Roots};
use crate::os::http::{self, Client, HttpError, Request};

/// Largest file `fs.read` returns and `fs.write` accepts.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub struct OsDeps {
    pub roots: Roots,
    pub http: Client,
    pub display: Display,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathArgs {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    /// `"text"` (default) or `"bytes"` (an ArrayBuffer).
    #[serde(default)]
    r#as: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    text: Option<String>,
    /// Base64.
    bytes: Option<String>,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    dir: bool,
    size: u64,
}

pub fn register(router: &mut Router, deps: OsDeps) {
    let deps = Arc::new(deps);
    let d = Arc::clone(&deps);
    router.register_deferred("fs.read", move |ctx, args: ReadArgs, reply| {
        let (checker, path) = path_check(ctx, "fs.read", &args.path, &d)?;
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || {
            let result = d.roots.read(&path, MAX_FILE_BYTES, |p| checker.allows(p)).map_err(fs_error);
            reply.send(result.and_then(|bytes| match args.r#as.as_deref() {
                Some("bytes") => Ok(Payload::Bytes(bytes)),
                None | Some("text") => String::from_utf8(bytes).map(|t| Payload::Json(Json::String(t))).map_err(|_| {
                    IpcError::new(ErrorCode::BadArgs, "the file is not UTF-8 text; read it with as: \"bytes\"")
                }),
                Some(other) => {
                    Err(IpcError::new(ErrorCode::BadArgs, format!("as: '{other}' is neither text nor bytes")))
                }
            }));
        });
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_deferred("fs.write", move |ctx, args: WriteArgs, reply| {
        let (checker, path) = path_check(ctx, "fs.write", &args.path, &d)?;
        let bytes = match (args.text, args.bytes) {
            (Some(t), None) => t.into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| IpcError::new(ErrorCode::BadArgs, "'fs.write': bytes must be base64"))?,
            _ => return Err(IpcError::new(ErrorCode::BadArgs, "'fs.write' takes one of text or bytes")),
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(IpcError::new(ErrorCode::TooLarge, format!("files are limited to {MAX_FILE_BYTES} bytes")));
        }
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || {
            let r = d.roots.write(&path, &bytes, |p| checker.allows(p)).map_err(fs_error);
            reply.send(r.map(|()| Payload::Json(Json::Null)));
        });
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_deferred("fs.list", move |ctx, PathArgs { path }, reply| {
        let (checker, path) = path_check(ctx, "fs.list", &path, &d)?;
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || {
            let r = d.roots.list(&path, |p| checker.allows(p)).map_err(fs_error);
            let entries: Result<Vec<Entry>, _> =
                r.map(|v| v.into_iter().map(|(name, dir, size)| Entry { name, dir, size }).collect());
            reply.send_json(entries);
        });
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_deferred("fs.stat", move |ctx, PathArgs { path }, reply| {
        let (checker, path) = path_check(ctx, "fs.stat", &path, &d)?;
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || {
            let r = d.roots.stat(&path, |p| checker.allows(p)).map_err(fs_error);
            reply.send_json(
                r.map(|(dir, size, modified)| serde_json::json!({ "dir": dir, "size": size, "modified": modified })),
            );
        });
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_deferred("fs.remove", move |ctx, PathArgs { path }, reply| {
        let (checker, path) = path_check(ctx, "fs.remove", &path, &d)?;
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || reply.send_json(d.roots.remove(&path, |p| checker.allows(p)).map_err(fs_error)));
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_deferred("http.fetch", move |ctx, req: Request, reply| {
        // Parsed once: the scope check and the request see the same URL.
        let url = http::parse_url(&req.url).map_err(|e| IpcError::new(ErrorCode::BadArgs, e.to_string()))?;
        ctx.authority
            .check(ctx.caller.label, ctx.caller.url, "http.fetch", Some(url.as_str()))
            .map_err(|denied| IpcError::new(ErrorCode::NotAllowed, denied.0))?;
        log::debug!(surface = ctx.caller.label, command = "http.fetch"; "{} {}", req.method, url);
        let body = match (&req.body, &req.bytes) {
            (Some(t), None) => t.clone().into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| IpcError::new(ErrorCode::BadArgs, "'http.fetch': bytes must be base64"))?,
            (None, None) => Vec::new(),
            _ => return Err(IpcError::new(ErrorCode::BadArgs, "'http.fetch' takes one of body or bytes")),
        };
        let d = Arc::clone(&d);
        ctx.pool.spawn(move || {
            let r = d.http.send(&url, &req, body).map_err(|e| match e {
                HttpError::BadRequest(m) => IpcError::new(ErrorCode::BadArgs, m),
                HttpError::TooLarge(n) => IpcError::new(ErrorCode::TooLarge, format!("the response exceeds {n} bytes")),
                HttpError::Failed(m) => IpcError::new(ErrorCode::Internal, format!("request failed: {m}")),
            });
            reply.send_json(r.map(|resp| {
                let text = String::from_utf8(resp.body.clone()).ok();
                let bytes = text.is_none().then(|| base64::engine::general_purpose::STANDARD.encode(&resp.body));
                serde_json::json!({ "status": resp.status, "headers": resp.headers, "text": text, "bytes": bytes })
            }));
        });
        Ok(())
    });
    let d = Arc::clone(&deps);
    router.register_blocking("device.info", move |_: Json| Ok(device::info(d.display)));
}

/// The caller's checker for `command`, and the path parsed and checked against it.
fn path_check(
    ctx: &Ctx<'_>,
    command: &str,
    path: &str,
    deps: &OsDeps,
) -> Result<(Checker, crate::os::fs::LogicalPath), IpcError> {
    let logical = deps.roots.parse(path).map_err(fs_error)?;
    let checker = ctx.authority.checker(ctx.caller.label, ctx.caller.url, command);
    checker.check(Some(&logical.display())).map_err(|d| IpcError::new(ErrorCode::NotAllowed, d.0))?;
    log::debug!(surface = ctx.caller.label, command = command; "{}", logical.display());
    Ok((checker, logical))
}

fn fs_error(e: FsError) -> IpcError {
    match e {
        FsError::BadPath(_) => IpcError::new(ErrorCode::BadArgs, e.to_string()),
        FsError::Escapes(p) => {
            IpcError::new(ErrorCode::NotAllowed, format!("'{p}' is outside the paths this surface may use"))
        }
        FsError::NotFound(_) => IpcError::new(ErrorCode::NotFound, e.to_string()),
        FsError::TooLarge { .. } => IpcError::new(ErrorCode::TooLarge, e.to_string()),
        FsError::Io { .. } => IpcError::new(ErrorCode::Internal, e.to_string()),
    }
}
