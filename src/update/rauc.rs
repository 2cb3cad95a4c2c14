//! RAUC's D-Bus API: `de.pengutronix.rauc.Installer` at `/` on the system bus (the
//! `rauc-service` package; `rauc service` honours `DBUS_SYSTEM_BUS_ADDRESS`).
//!
//! Only what the kiosk uses: `InstallBundle`, `GetSlotStatus`, the properties
//! `Operation`, `LastError`, `Progress`, `Compatible`, `BootSlot`, and the `Completed`
//! signal. Marking slots good or bad is the image's health gate's business
//! (`rauc status mark-good`), not the kiosk's.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedValue, Value};

/// RAUC's well-known name.
pub const SERVICE: &str = "de.pengutronix.rauc";

#[zbus::proxy(interface = "de.pengutronix.rauc.Installer", default_service = "de.pengutronix.rauc", default_path = "/")]
pub trait Installer {
    /// Starts installing `source` (a local path); returns once RAUC took the job.
    fn install_bundle(&self, source: &str, args: HashMap<&str, Value<'_>>) -> zbus::Result<()>;

    /// Every slot: its name and what RAUC knows of it.
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;

    /// "idle" or "installing".
    #[zbus(property)]
    fn operation(&self) -> zbus::Result<String>;

    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;

    /// (percent, message, nesting depth).
    #[zbus(property)]
    fn progress(&self) -> zbus::Result<(i32, String, i32)>;

    #[zbus(property)]
    fn compatible(&self) -> zbus::Result<String>;

    /// The bootname of the slot the system booted from.
    #[zbus(property)]
    fn boot_slot(&self) -> zbus::Result<String>;

    /// An installation ended: 0 for success.
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;
}

/// One slot as RAUC reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Slot {
    /// `rootfs.0`, `rootfs.1`, …
    pub name: String,
    pub class: String,
    /// What the bootloader calls it (`A`, `B`).
    pub bootname: Option<String>,
    /// `booted`, `active` or `inactive`.
    pub state: String,
    /// `good` or `bad`, as the bootloader last said.
    pub boot_status: Option<String>,
    /// The version of the bundle last installed into it.
    pub bundle_version: Option<String>,
    /// When that was (RFC 3339, UTC).
    pub installed_at: Option<String>,
}

/// Turns `GetSlotStatus`'s answer into [`Slot`]s, in slot-name order.
pub fn slots(raw: Vec<(String, HashMap<String, OwnedValue>)>) -> Vec<Slot> {
    let mut out: Vec<Slot> = raw
        .into_iter()
        .map(|(name, fields)| {
            let text = |key: &str| fields.get(key).and_then(|v| as_text(v));
            Slot {
                class: text("class").unwrap_or_default(),
                bootname: text("bootname"),
                state: text("state").unwrap_or_default(),
                boot_status: text("boot-status"),
                bundle_version: text("bundle.version"),
                installed_at: text("installed.timestamp"),
                name,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn as_text(v: &Value<'_>) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.to_string()),
        Value::U32(n) => Some(n.to_string()),
        Value::U64(n) => Some(n.to_string()),
        Value::I32(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_status_fields_are_read_by_name_and_sorted() {
        let field = |v: Value<'static>| OwnedValue::try_from(v).unwrap();
        let b: HashMap<String, OwnedValue> = [
            ("class".to_string(), field(Value::from("rootfs"))),
            ("state".to_string(), field(Value::from("inactive"))),
            ("bootname".to_string(), field(Value::from("B"))),
            ("bundle.version".to_string(), field(Value::from("2.0.0"))),
            ("installed.count".to_string(), field(Value::from(1u32))),
        ]
        .into();
        let a: HashMap<String, OwnedValue> =
            [("state".to_string(), field(Value::from("booted"))), ("bootname".to_string(), field(Value::from("A")))]
                .into();
        let got = slots(vec![("rootfs.1".into(), b), ("rootfs.0".into(), a)]);
        assert_eq!(got[0].name, "rootfs.0");
        assert_eq!(got[0].state, "booted");
        assert_eq!(got[0].bundle_version, None);
        assert_eq!(got[1].bundle_version.as_deref(), Some("2.0.0"));
        assert_eq!(got[1].bootname.as_deref(), Some("B"));
    }
}
