//! Vitrine: a kiosk runtime for Linux devices.
//!
//! One trusted core (this crate) owns the window, the IPC router and its authority, and
//! everything that touches the OS; pages run in untrusted WebKitGTK web processes, one
//! per surface, and reach the core only through checked `invoke` calls.
//!
//! * [`config`] — the static configuration, validated at build time and embedded.
//! * [`ipc`] — the wire protocol, the router, the authority and the built-in commands.
//! * [`shell`] — the toplevel, the surfaces and the main loop (GTK lives only here).
//! * [`service`] — systemd notifications and logging.
//! * [`dbus`] — the control interface (`vitrine ctl`), the tray and notifications;
//!   [`request`] — the requests they send the shell.
//! * [`mqtt`] — `vitrine mqtt`, the bridge to an MQTT broker and Home Assistant.
//! * [`update`] — signed A/B updates through RAUC (`vitrine ctl update`).
//! * [`store`] — the SQLite store; [`os`] — files, HTTP and device facts for pages.
//!
//! Without the default `kiosk` feature the crate is only the parts that need no GTK or
//! D-Bus (configuration, IPC, store, OS access): what the fuzz targets build on.
//!
//! # Asking and answering: the words
//!
//! Threads and pages ask things of each other everywhere in the core; these words mean
//! the same thing in every module.
//!
//! * **Request** — a message that gets exactly one reply: a control request to the
//!   shell ([`request::Request`], its action an [`request::Op`]), a page's *call* (the
//!   word `invoke` uses; `ipc::call`), a store job.
//! * **Reply** — what answers it: [`request::Reply`] inside a [`request::RequestResult`],
//!   [`ipc::CallResult`], [`ipc::HttpReply`] for a `fetch` call's HTTP request, the
//!   store's `Result<Output, StoreError>`.
//! * **ReplyTo** — the one-shot handle a reply is sent through, from any thread:
//!   [`request::ReplyTo`], [`ipc::ReplyTo`], the store's `ReplyTo`, and
//!   [`ipc::HttpReplyTo`]. It is used once; dropped unused, it sends an error reply, so
//!   nobody waits forever. [`ipc::call::ReplyRoute`] says which way a call's reply goes back
//!   to its page (a script, or the `fetch` response).
//! * **Sink** — the trait through which other threads hand work to the main loop:
//!   [`ipc::ReplySink`] (deferred replies, core events) and [`request::RequestSink`]
//!   (control requests). The shell implements both once, on its event loop's proxy.
//! * **Link** — the clonable handle another thread holds to reach the thread that owns
//!   something: [`request::ShellLink`] (to the shell; `call` waits for the reply,
//!   `post` does not) and [`dbus::BusLink`] (to the bus thread).
//! * **Notice** — a one-way message, with no reply: [`dbus::Notice`], what the shell
//!   tells the bus thread.

pub use vitrine_config as config;
#[cfg(feature = "kiosk")]
pub mod dbus;
#[cfg(feature = "kiosk")]
pub mod display;
pub mod ipc;
pub mod json;
pub mod keyboard;
#[cfg(feature = "kiosk")]
mod kiosk;
#[cfg(feature = "kiosk")]
pub mod mqtt;
pub mod os;
#[cfg(feature = "kiosk")]
pub mod request;
pub mod schedule;
pub mod service;
#[cfg(feature = "kiosk")]
pub mod shell;
pub mod store;
#[cfg(feature = "kiosk")]
pub mod update;
pub mod volume;

#[cfg(feature = "kiosk")]
pub use kiosk::{run, Error, RunOptions};

use std::path::Path;

use config::{Bundle, ConfigErrors};

/// The embedded configuration could not be decoded.
pub type EmbeddedError = postcard::Error;

/// The configuration embedded by `build.rs`.
const EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bundle.postcard"));

pub fn embedded_bundle() -> Result<Bundle, EmbeddedError> {
    Bundle::from_postcard(EMBEDDED)
}

/// Validates a configuration folder, as the build does.
pub fn check(dir: &Path) -> Result<Bundle, ConfigErrors> {
    config::load_dir(dir)
}
