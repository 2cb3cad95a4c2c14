//! `org.vitrine.Vitrine1.Mqtt` at `/org/vitrine/Vitrine1`: the MQTT bridge's side of the
//! control interface, where it acts as the principal `mqtt` (see `config::bus`).
//!
//! | member | kind | in | out |
//! |---|---|---|---|
//! | `Emit` | method | `s` event, `s` payload JSON ("" = null), `as` targets (empty = all) | `u` surfaces reached |
//! | `Event` | signal | `s` event, `s` payload JSON, `s` source (a surface label, `core` or `dbus`) | — |
//!
//! `Emit` is `event.emit` as the principal `mqtt`: its `event:allow-emit` scopes decide
//! what may go in, the receivers' `event:allow-listen` who hears it. `Event` carries what
//! is emitted to all (or to `mqtt`) and the principal `mqtt` may listen to; nothing
//! else leaves. Who may call and hear it is the bus's business, as for the rest of the
//! control interface (`packaging/dbus/org.vitrine.Vitrine1.conf`).

use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use crate::config::MQTT_PRINCIPAL;
use crate::dbus::control::{caller, emit_as, Fault};
use crate::request::ShellLink;

/// The interface name (the object path is the control interface's).
pub const INTERFACE: &str = "org.vitrine.Vitrine1.Mqtt";

pub struct MqttObject {
    shell_link: ShellLink,
}

impl MqttObject {
    pub fn new(shell_link: ShellLink) -> Self {
        Self { shell_link }
    }
}

#[zbus::interface(name = "org.vitrine.Vitrine1.Mqtt")]
impl MqttObject {
    /// Emits `event` as the principal `mqtt`; returns how many surfaces received it.
    #[zbus(out_args("delivered"))]
    async fn emit(
        &self,
        event: String,
        payload_json: String,
        target: Vec<String>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<u32, Fault> {
        log::info!("MQTT bridge {}: Emit '{event}' to {target:?}", caller(&header));
        emit_as(&self.shell_link, MQTT_PRINCIPAL, event, payload_json, target).await
    }

    /// An event for the broker.
    #[zbus(signal)]
    pub async fn event(emitter: &SignalEmitter<'_>, event: &str, payload_json: &str, source: &str) -> zbus::Result<()>;
}
