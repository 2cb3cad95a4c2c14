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
pub const MAX_EVENT_NAME: usize = 128;

#[derive(Debug, Default)]
pub struct EventBus {
    subscriptions: BTreeMap<String, BTreeSet<String>>,
}

impl EventBus {
    pub fn subscribe(&mut self, label: &str, event: &str) {
        self.subscriptions.entry(label.to_string()).or_default().insert(event.to_string());
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

/// Event names are short and plain so that they can be scoped with globs and logged.
pub fn check_event_name(name: &str) -> Result<(), IpcError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EVENT_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_:./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(IpcError::new(
            ErrorCode::BadArgs,
            format!("event name must be 1-{MAX_EVENT_NAME} characters of a-z, A-Z, 0-9, '-', '_', ':', '.', '/'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_follow_listen_unlisten_and_reset() {
        let mut bus = EventBus::default();
        bus.subscribe("main", "tick");
        bus.subscribe("main", "tock");
        assert!(bus.is_subscribed("main", "tick"));
        assert!(!bus.is_subscribed("toast", "tick"));
        bus.unsubscribe("main", "tick");
        assert!(!bus.is_subscribed("main", "tick"));
        bus.reset("main");
        assert!(!bus.is_subscribed("main", "tock"));
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
