//! One call's data and its way back: arguments, results, the route a reply takes, and
//! the [`ReplyTo`] that completes a deferred call from any thread.
//!
//! A deferred call stays in the router's table under a [`CallKey`] until its [`ReplyTo`]
//! is used; the answer travels to the main thread through a [`ReplySink`] and is
//! matched against the table there. When the surface starts a new page (reload, crash,
//! navigation) its entries are dropped, so a late answer can never reach the new page.

use std::sync::Arc;

use serde_json::Value;

use crate::ipc::protocol::{ErrorCode, IpcError};

/// What a page sent as a command's arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    Json(Value),
    /// An `ArrayBuffer` or typed array, as raw bytes.
    Bytes(Vec<u8>),
}

/// What a command returns to the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    /// Arrives in the page as an `ArrayBuffer`.
    Bytes(Vec<u8>),
}

pub type CallResult = Result<Payload, IpcError>;

/// How a call that came by `fetch` ends its HTTP request.
#[derive(Debug)]
pub enum HttpReply {
    /// The answer is the response body.
    Body(CallResult),
    /// The answer reached the page as a script; the response is empty (204).
    Settled,
}

/// Ends a `fetch` call's request; may be called on any thread.
pub type HttpReplyTo = Box<dyn FnOnce(HttpReply) + Send>;

/// How the page waits for a reply.
pub enum ReplyRoute {
    /// Posted through the script-message handler; answered with `evaluate_script`.
    Script { id: u64 },
    /// Sent as a `fetch`. When the bridge gave its call `id`, JSON answers and errors
    /// go back by `evaluate_script` and the request ends empty: WebKitGTK delivers a
    /// script faster than a response body (measured by the ipc benchmark). Bytes, and
    /// every answer to a request without an id, are the response body.
    Http { id: Option<u64>, reply_to: HttpReplyTo },
}

impl std::fmt::Debug for ReplyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyRoute::Script { id } => write!(f, "Script({id})"),
            ReplyRoute::Http { id, .. } => write!(f, "Http({id:?})"),
        }
    }
}

/// Identifies a deferred call in the router's table.
pub type CallKey = u64;

/// An event the core sends on its own, from any thread (a store change, say).
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    pub event: String,
    pub payload: Value,
    /// A further permission each receiver must hold: (command, scope value), e.g.
    /// `("store.get", key)` so that only surfaces that may read a key hear it changed.
    pub only_if: Option<(&'static str, String)>,
}

/// Carries deferred results and core events back to the main thread.
pub trait ReplySink: Send + Sync {
    fn send(&self, key: CallKey, result: CallResult);
    fn broadcast(&self, broadcast: Broadcast);
    /// Work the router did off its thread ([`crate::ipc::Router::offload_from`]), for
    /// [`crate::ipc::Router::offloaded`] on the router's thread. Only sinks of routers
    /// that offload need it; others refuse what would be lost.
    fn offloaded(&self, offloaded: crate::ipc::offload::Offloaded) {
        log::error!("work done off the main thread has no way back; dropped");
        if let crate::ipc::offload::Done::Http { reply_to, .. } = offloaded.done {
            reply_to(HttpReply::Body(Err(IpcError::new(ErrorCode::Internal, "no way back for the answer"))));
        }
    }
}

/// Completes one deferred call. Dropping it unanswered answers `internal`, so a page's
/// promise never hangs because a worker lost its [`ReplyTo`].
pub struct ReplyTo {
    key: CallKey,
    sink: Option<Arc<dyn ReplySink>>,
}

impl ReplyTo {
    pub(crate) fn new(key: CallKey, sink: Arc<dyn ReplySink>) -> Self {
        Self { key, sink: Some(sink) }
    }

    pub fn send(mut self, result: CallResult) {
        if let Some(sink) = self.sink.take() {
            sink.send(self.key, result);
        }
    }

    /// Serializes `value` as the JSON result.
    pub fn send_json<R: serde::Serialize>(self, result: Result<R, IpcError>) {
        self.send(result.and_then(to_json));
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            sink.send(self.key, Err(IpcError::new(ErrorCode::Internal, "the command ended without answering")));
        }
    }
}

pub fn to_json<R: serde::Serialize>(value: R) -> CallResult {
    serde_json::to_value(value)
        .map(Payload::Json)
        .map_err(|e| IpcError::new(ErrorCode::Internal, format!("result cannot be serialized: {e}")))
}
