//! Event subscriptions and delivery decisions.
//!
//! A page's `listen` registers its interest with the core; the core — not the page —
//! decides who receives an emitted event: a surface gets it only if it was targeted,
//! has subscribed to the name, and may listen to it (checked again at delivery time,
//! since the surface may have navigated since it subscribed). Subscriptions are dropped
//! whenever a surface starts loading a new page.

use std::collections::{BTreeMap, BTreeSet};

use crate::ipc::protocol::{ErrorCode, IpcError};

/// Longest event name accepted.
pub use crate::config::bus::MAX_EVENT_NAME;
/// Event names one surface may listen to at once: each costs the core memory and a
/// look-up on every delivery, and a page chooses how many it asks for.
pub const MAX_SUBSCRIPTIONS: usize = 256;

#[derive(Debug, Default)]
pub struct EventBus {
    subscriptions: BTreeMap<String, BTreeSet<String>>,
}

impl EventBus {
    /// Subscribes `label` to `event`; refused with `too_large` past
    /// [`MAX_SUBSCRIPTIONS`] names (listening again to a name it has is no new one).
    pub fn subscribe(&mut self, label: &str, event: &str) -> Result<(), IpcError> {
        let set = self.subscriptions.entry(label.to_string()).or_default();
        if set.len() >= MAX_SUBSCRIPTIONS && !set.contains(event) {
            return Err(IpcError::new(
                ErrorCode::TooLarge,
                format!(
                    "surface '{label}' already listens to {MAX_SUBSCRIPTIONS} event names, the limit; unlisten some first"
                ),
            ));
        }
        set.insert(event.to_string());
        Ok(())
    }

    pub fn unsubscribe(&mut self, label: &str, event: &str) {
        if let Some(set) = self.subscriptions.get_mut(label) {
            set.remove(event);
        }
    }

    /// Forgets everything `label` subscribed to (its page is being replaced).
    pub fn reset(&mut self, label: &str) {
        self.subscriptions.remove(label);
    }

    pub fn is_subscribed(&self, label: &str, event: &str) -> bool {
        self.subscriptions.get(label).is_some_and(|s| s.contains(event))
    }
}

/// The configuration's rule ([`crate::config::bus::check_event_name`]), as an IPC error.
pub fn check_event_name(name: &str) -> Result<(), IpcError> {
    crate::config::bus::check_event_name(name).map_err(|m| IpcError::new(ErrorCode::BadArgs, format!("event name {m}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_follow_listen_unlisten_and_reset() {
        let mut bus = EventBus::default();
        bus.subscribe("main", "tick").unwrap();
        bus.subscribe("main", "tock").unwrap();
        assert!(bus.is_subscribed("main", "tick"));
        assert!(!bus.is_subscribed("toast", "tick"));
        bus.unsubscribe("main", "tick");
        assert!(!bus.is_subscribed("main", "tick"));
        bus.reset("main");
        assert!(!bus.is_subscribed("main", "tock"));
    }

    #[test]
    fn each_surface_has_a_bounded_number_of_subscriptions() {
        let mut bus = EventBus::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            bus.subscribe("main", &format!("e{i}")).unwrap();
        }
        let e = bus.subscribe("main", "one-more").unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        assert!(e.message.contains("256 event names"), "{}", e.message);
        // A name it has, and another surface, are not affected.
        bus.subscribe("main", "e0").unwrap();
        bus.subscribe("side", "one-more").unwrap();
        bus.unsubscribe("main", "e0");
        bus.subscribe("main", "one-more").unwrap();
    }

    #[test]
    fn event_names_are_checked() {
        assert!(check_event_name("settings-changed").is_ok());
        assert!(check_event_name("a/b:c.d_e").is_ok());
        for bad in ["", "with space", "quote\"", &"x".repeat(129)] {
            assert_eq!(check_event_name(bad).unwrap_err().code, ErrorCode::BadArgs, "{bad}");
        }
    }
}
