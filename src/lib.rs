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
//!   [`control`] — the requests they send the shell.
//! * [`mqtt`] — `vitrine mqtt`, the bridge to an MQTT broker and Home Assistant.
//! * [`update`] — signed A/B updates through RAUC (`vitrine ctl update`).
//! * [`store`] — the SQLite store; [`os`] — files, HTTP and device facts for pages.
//!
//! Without the default `kiosk` feature the crate is only the parts that need no GTK or
//! D-Bus (configuration, IPC, store, OS access): what the fuzz targets build on.

pub mod config;
#[cfg(feature = "kiosk")]
pub mod control;
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
