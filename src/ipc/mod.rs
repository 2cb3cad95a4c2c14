//! IPC between untrusted pages and the core.
//!
//! The protocol — the page's API, transports, framing, errors, ordering, limits and
//! compatibility — is specified in `docs/ipc.md`; the capability format in
//! `docs/capabilities.md`. This module implements it:
//!
//! * [`bridge_script`] fills in `bridge.js`, the page's side, for one [`document`];
//! * [`protocol`] decodes frames under the limits, [`script`] writes the core's answers;
//! * [`router`] takes every call through the same checks, whichever transport carried
//!   it (the `fetch` transport's HTTP side is `shell/fetch.rs`), and [`Authority`]
//!   decides each one;
//! * [`events`] decides deliveries, [`offload`] and `pool` keep heavy work off the GTK
//!   thread, [`refusals`] keeps refused calls from flooding the log.

pub mod authority;
pub mod call;
pub mod commands;
pub mod document;
pub mod events;
pub mod offload;
mod pool;
pub mod protocol;
pub mod refusals;
pub mod router;
pub mod script;
pub mod shape;

pub use authority::{Authority, Denied};
pub use call::{Args, Broadcast, CallKey, CallResult, HttpReply, HttpReplyTo, Payload, ReplySink, ReplyTo};
pub use commands::register_builtins;
pub use document::{Document, Documents};
pub use protocol::{ErrorCode, IpcError};
pub use router::{Caller, Host, HttpCall, Router, SurfaceInfo};

/// JSON arguments at least this long travel by `fetch` instead of `postMessage`.
pub const FETCH_MIN_BYTES: usize = 64 * 1024;

/// Path under `app://localhost/` that receives `fetch` calls.
pub const IPC_PATH: &str = "/__vitrine/ipc";

/// The script injected into one document of a surface; it defines `window.vitrine`.
/// The document's token (hex) is its secret, which only this script knows and every
/// call carries; its number is public, and names it in the core's scripts.
pub fn bridge_script(document: &Document) -> String {
    debug_assert!(!document.token.is_empty() && document.token.chars().all(|c| c.is_ascii_hexdigit()));
    include_str!("bridge.js")
        .replace("__VITRINE_TOKEN__", &document.token)
        .replace("__VITRINE_DOCUMENT__", &document.number.to_string())
        .replace("__VITRINE_FETCH_MIN__", &FETCH_MIN_BYTES.to_string())
}
