//! Events out: the kiosk signals what the principal `mqtt` may hear (`Event` on
//! `org.vitrine.Vitrine1.Mqtt`); this thread publishes each on `<base>/emitted/<event>`
//! as `{"event", "payload", "source"}` — the shape pages receive — QoS 1, not retained.
//!
//! Only signals from the kiosk's own connection count: a signal is broadcast, and any
//! other client of the bus could send one with that interface and name.

use std::time::Duration;

use futures_lite::StreamExt as _;
use serde_json::{json, Value};
use zbus::message::Type;
use zbus::names::{BusName, OwnedUniqueName};
use zbus::{MatchRule, MessageStream};

use super::discovery::Topics;
use super::session::Publisher;
use crate::config::BusKind;
use crate::dbus::mqtt::INTERFACE;
use crate::dbus::PATH;

/// How long to wait before following the bus again after it went away.
const RETRY: Duration = Duration::from_secs(2);

/// Signals waiting while MQTT is slow to take them; more are dropped by zbus.
const MAX_QUEUED: usize = 256;

/// Largest event message published. Pages may send far more (`limits.max_message_bytes`),
/// but a message over the client's packet limit would cost the bridge its connection.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Runs for the life of the process: follows the kiosk's events, reconnecting to the bus.
pub fn run(bus: BusKind, name: String, mqtt: Publisher, topics: Topics) {
    loop {
        match async_io::block_on(follow(bus, &name, &mqtt, &topics)) {
            Ok(()) => log::warn!("the {} bus closed; events follow again in {} s", bus.as_str(), RETRY.as_secs()),
            Err(e) => log::warn!("kiosk events: {e}; following again in {} s", RETRY.as_secs()),
        }
        std::thread::sleep(RETRY);
    }
}

async fn follow(bus: BusKind, name: &str, mqtt: &Publisher, topics: &Topics) -> zbus::Result<()> {
    let connection = crate::dbus::connect(bus).await?;
    let rule = MatchRule::builder().msg_type(Type::Signal).interface(INTERFACE)?.member("Event")?.path(PATH)?.build();
    let mut stream = MessageStream::for_match_rule(rule, &connection, Some(MAX_QUEUED)).await?;
    let dbus = zbus::fdo::DBusProxy::new(&connection).await?;
    let kiosk_name = BusName::try_from(name)?;
    log::info!("following the kiosk's events on the {} bus", bus.as_str());
    let mut owner: Option<OwnedUniqueName> = None;
    while let Some(message) = stream.next().await {
        let message = message?;
        let header = message.header();
        let Some(sender) = header.sender() else { continue };
        // The owner changes when the kiosk restarts: look again before refusing.
        if owner.as_ref().is_none_or(|o| o.as_str() != sender.as_str()) {
            owner = dbus.get_name_owner(kiosk_name.clone()).await.ok();
        }
        if owner.as_ref().is_none_or(|o| o.as_str() != sender.as_str()) {
            log::warn!("an Event signal from {sender}, which is not {name}: ignored");
            continue;
        }
        let (event, payload, source): (String, String, String) = match message.body().deserialize() {
            Ok(body) => body,
            Err(e) => {
                log::warn!("an Event signal that does not read: {e}");
                continue;
            }
        };
        let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        let text = json!({ "event": event, "payload": payload, "source": source }).to_string();
        if text.len() > MAX_EVENT_BYTES {
            log::warn!("event '{event}' from {source} is {} bytes, over {MAX_EVENT_BYTES}: not published", text.len());
            continue;
        }
        let topic = topics.event_out(&event);
        log::debug!("event '{event}' from {source} to {topic} ({} bytes)", text.len());
        if let Err(e) = mqtt.publish(&topic, false, text.into_bytes()) {
            log::warn!("event '{event}' not published (the broker is away?): {e}");
        }
    }
    Ok(())
}
