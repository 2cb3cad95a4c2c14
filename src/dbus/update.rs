//! `org.vitrine.Vitrine1.Update` at `/org/vitrine/Vitrine1`: signed A/B updates through
//! RAUC (see [`crate::update`]).
//!
//! | member | kind | in | out |
//! |---|---|---|---|
//! | `Install` | method | `s` an absolute path to a bundle, or an http(s) URL of one | — (returns once the job is taken; the end comes as `Completed`) |
//! | `Status` | method | — | `s` JSON: RAUC's availability, compatible, booted slot, installed version, slots, operation, progress, last outcome |
//! | `Completed` | signal | — | `b` ok, `s` code (`installed` or an error code), `s` message |
//!
//! Properties, with `PropertiesChanged`: `Available` (b, RAUC answers), `BootSlot` (s),
//! `InstalledVersion` (s), `Operation` (s: `idle`, `downloading`, `installing`),
//! `Progress` (u, percent), `LastResult` (s: "" before any, `installed`, or an error
//! code), `LastError` (s, the last failure's message, "" after a success).
//!
//! Install errors: `BadArgs` (not an absolute path nor an http(s) URL), `Busy` (an
//! installation runs). What RAUC or the download say comes later, in `Completed` and
//! `LastResult`: `bad_signature`, `incompatible`, `download_failed`, `too_large`,
//! `unavailable`, `install_failed`.

use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use crate::dbus::control::{caller, Fault};
use crate::update::{UpdateError, UpdateStatus, Updater};

/// The interface name (the object path is the control interface's).
pub const INTERFACE: &str = "org.vitrine.Vitrine1.Update";

pub struct UpdateObject {
    updater: Updater,
    /// As last published.
    pub(super) state: UpdateStatus,
}

impl UpdateObject {
    pub fn new(updater: Updater) -> Self {
        let state = updater.status();
        Self { updater, state }
    }
}

impl From<UpdateError> for Fault {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::BadArgs(m) => Fault::BadArgs(m),
            UpdateError::Busy(_) => Fault::Busy(e.to_string()),
            UpdateError::Unavailable(_) => Fault::Unavailable(e.to_string()),
            other => Fault::Failed(other.to_string()),
        }
    }
}

#[zbus::interface(name = "org.vitrine.Vitrine1.Update")]
impl UpdateObject {
    /// Starts installing a bundle.
    async fn install(&self, source: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!("D-Bus {}: update Install {source}", caller(&header));
        Ok(self.updater.install(&source)?)
    }

    /// The update side, asked of RAUC now, as JSON.
    #[zbus(out_args("status_json"))]
    async fn status(&self) -> Result<String, Fault> {
        let status = self.updater.refreshed().await;
        serde_json::to_string(&status).map_err(|e| Fault::Failed(format!("cannot encode the update status: {e}")))
    }

    #[zbus(property)]
    fn available(&self) -> bool {
        self.state.available
    }

    #[zbus(property)]
    fn boot_slot(&self) -> String {
        self.state.booted.clone().unwrap_or_default()
    }

    #[zbus(property)]
    fn installed_version(&self) -> String {
        self.state.installed_version.clone().unwrap_or_default()
    }

    #[zbus(property)]
    fn operation(&self) -> String {
        self.state.operation.as_str().to_string()
    }

    #[zbus(property)]
    fn progress(&self) -> u32 {
        self.state.progress.map_or(0, u32::from)
    }

    #[zbus(property)]
    fn last_result(&self) -> String {
        self.state.last.as_ref().map(|o| o.code.clone()).unwrap_or_default()
    }

    #[zbus(property)]
    fn last_error(&self) -> String {
        self.state.last.as_ref().filter(|o| !o.ok).map(|o| o.message.clone()).unwrap_or_default()
    }

    /// An installation ended.
    #[zbus(signal)]
    pub async fn completed(emitter: &SignalEmitter<'_>, ok: bool, code: &str, message: &str) -> zbus::Result<()>;
}
