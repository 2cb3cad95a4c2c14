//! IPC between untrusted pages and the core.
//!
//! # The page's API
//!
//! A bridge script ([`BRIDGE_SCRIPT`]) is injected into every surface's top frame
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
//! Page → core: one JSON text per `postMessage` on the script-message handler:
//! `{"id":N,"kind":"invoke","cmd":"group.name","args":{…}}` or
//! `{"kind":"console","level":"log|info|warn|error|debug","message":"…"}`.
//! The bridge writes `id` first so that even a frame too large to parse is answered on
//! its own promise.
//!
//! Core → page: scripts evaluated in the surface's page, calling the bridge:
//! `reply(id, ok, value)` settles a call, `event({event, payload, source})` delivers an
//! event, `fault({code, message})` reports a frame that could not be tied to a call
//! (it is logged and dispatched as a `vitrine-fault` DOM event).
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
pub mod commands;
pub mod events;
pub mod protocol;
pub mod router;

pub use authority::{Authority, Denied};
pub use commands::register_builtins;
pub use protocol::{ErrorCode, IpcError};
pub use router::{Caller, Host, Router, SurfaceInfo};

/// The script injected into every surface; it defines `window.vitrine`.
pub const BRIDGE_SCRIPT: &str = include_str!("bridge.js");
