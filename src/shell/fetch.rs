//! The HTTP side of the `fetch` transport (`POST app://localhost/__vitrine/ipc`),
//! specified in `docs/ipc.md`: requests become router calls, answers become responses.
//! It is the faster path for large and binary payloads (no string copies, no base64).

use std::borrow::Cow;

use tao::event_loop::EventLoopProxy;
use wry::http::{header, Request, Response, StatusCode};
use wry::RequestAsyncResponder;

use crate::ipc::{script, ErrorCode, HttpReply, Payload};
use crate::shell::{dispatch, CoreEvent, CURRENT};

/// Called by the custom-protocol handler, on the main thread.
pub fn on_fetch(
    label: String,
    request: Request<Vec<u8>>,
    responder: RequestAsyncResponder,
    proxy: &EventLoopProxy<CoreEvent>,
) {
    let shell = CURRENT.with(|c| c.borrow().clone());
    if shell.strong_count() == 0 {
        let stopping = crate::ipc::IpcError::new(ErrorCode::Internal, "the core is stopping");
        responder.respond(to_response(HttpReply::Body(Err(stopping))));
        return;
    }
    dispatch(&shell, proxy, CoreEvent::Fetch { label, request: Box::new(request), responder });
}

pub fn header_str<'r>(request: &'r Request<Vec<u8>>, name: &str) -> &'r str {
    request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Turns a call's answer into the HTTP response the bridge expects.
pub fn to_response(reply: HttpReply) -> Response<Cow<'static, [u8]>> {
    let result = match reply {
        HttpReply::Body(result) => result,
        HttpReply::Settled => {
            return Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::CACHE_CONTROL, "no-store")
                .body(Cow::Borrowed(&b""[..]))
                .unwrap_or_else(|_| Response::new(Cow::Borrowed(&b""[..])));
        }
    };
    let (status, content_type, body) = match result {
        Ok(Payload::Json(v)) => (StatusCode::OK, "application/json", serde_json::to_vec(&v).unwrap_or_default()),
        Ok(Payload::Bytes(b)) => (StatusCode::OK, "application/octet-stream", b),
        Err(e) => {
            let status = match e.code {
                ErrorCode::NotAllowed => StatusCode::FORBIDDEN,
                ErrorCode::UnknownCommand | ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::BadArgs | ErrorCode::BadMessage => StatusCode::BAD_REQUEST,
                ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, "application/json", script::error_json(&e).into_bytes())
        }
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Cow::Owned(body))
        .unwrap_or_else(|_| Response::new(Cow::Borrowed(&b"{}"[..])))
}
