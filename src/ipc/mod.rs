//! IPC between untrusted pages and the core.
//!
//! # The page's API
//!
//! A bridge script ([`bridge_script`]) is injected into every surface's top frame
//! before page scripts run. It defines a frozen `window.vitrine`:
//!
//! ```js
//! const info = await vitrine.invoke("app.info");             // resolves with the result
//! const off = await vitrine.listen("tick", (e) => e.payload); // e = {event, payload, source}
//! await vitrine.emit("tick", {n: 1}, {to: "main"});           // to: a label, labels, or all
//! ```
//!
//! and forwards `console.*`, uncaught errors and unhandled rejections to the core's log.
//!
//! # Framing
//!
//! Page → core: one JSON text per `postMessage` on the script-message handler, after
//! the document's token: `{"id":N,"kind":"invoke","cmd":"group.name","args":{…}}`,
//! `{"kind":"console","level":"log|info|warn|error|debug","message":"…"}`,
//! `{"kind":"beat"}` (the answer to a ping) or `{"kind":"activity"}` (a person's input,
//! at most once a second). The bridge writes `id` first so that even a frame too large
//! to parse is answered on its own promise.
//!
//! Large JSON and all bytes go by `fetch` instead (`POST app://localhost/__vitrine/ipc`,
//! token, command and call id in headers, the arguments as the body; see
//! `shell/fetch.rs`): JSON answers still come back as a script, bytes as the body.
//!
//! Core → page: scripts evaluated in the surface's page, each one call on the bridge
//! with one JSON argument (see [`script`] for why), an array whose first element is the
//! number of the document it is meant for: `reply([doc, id, ok, value, kind])` settles
//! a call (`kind` `"j"`: `value` is the value, `"t"`: `value` is JSON text the bridge
//! parses — a value holding a `"__proto__"` key comes this way, so that it stays an own
//! property — `"b"`: base64 bytes, resolved as an `ArrayBuffer`);
//! `events([doc, frame, …])` delivers a batch of events, each frame
//! `{event, payload, source}` or that as JSON text; `fault([doc, {code, message}])`
//! reports a frame that could not be tied to a call (it is logged and dispatched as a
//! `vitrine-fault` DOM event); `ping(0)` asks for a beat. A bridge drops what names
//! another document.
//!
//! # Documents and the token
//!
//! Each document of a surface's top frame gets its own bridge, with a fresh token and
//! the next document number ([`document`]): the core installs it when a load starts,
//! refuses every call from then until the new document commits (without an answer:
//! the page is on its way out; it is not pinged either), and then accepts only the new
//! token. The bridge takes the message handler, `fetch` and `JSON` before any page
//! script runs, and gives `fetch` the token in objects without a prototype, so nothing
//! a page replaces or plants sees it.
//!
//! # Errors
//!
//! Calls reject with `{code, message}` ([`IpcError`]); codes are `not_allowed`,
//! `unknown_command`, `bad_args`, `too_large`, `bad_message`, `not_found`, `internal`.
//! The message names the surface, the command and, for refusals, the permission.
//!
//! # Trust
//!
//! The sender's label is bound by the core when the surface is built, never read from a
//! message; the page's URL comes from WebKit. [`Authority`] decides every call.

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

pub use authority::{Authority, Denied};
pub use call::{Args, Broadcast, CallKey, CallResult, HttpReply, Payload, ReplySink, Respond, Responder};
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
