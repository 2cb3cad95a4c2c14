//! The bridge's side of updates: Home Assistant's `update` entity, the fleet's
//! announcement on `<base>/update/latest`, and installs through the kiosk's
//! `org.vitrine.Vitrine1.Update` (see docs/mqtt.md, "Updates").

use serde_json::{json, Value};

use super::kiosk::{KioskStatus, Worker};
use crate::dbus::client::ClientError;

/// The `update` entity's side of the bridge.
#[derive(Default)]
pub struct UpdateSide {
    /// What the fleet announced on `<base>/update/latest`.
    latest: Option<Latest>,
    /// The update state last published.
    published: Option<Value>,
    /// The kiosk's last installation outcome already reported (its `id`);
    /// `None` until the first status is seen, so that an old one is not reported again.
    seen: Option<Option<u64>>,
}

/// A bundle announced for installation.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latest {
    pub version: String,
    /// Where the kiosk downloads it: http(s).
    pub url: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub release_url: Option<String>,
}

impl Latest {
    fn parse(payload: &[u8]) -> Result<Latest, String> {
        let latest: Latest = serde_json::from_slice(payload)
            .map_err(|e| format!("update/latest: JSON with version and url (summary, release_url optional): {e}"))?;
        if !(latest.url.starts_with("http://") || latest.url.starts_with("https://")) {
            return Err(format!("update/latest: url '{}' is not http(s)", latest.url));
        }
        Ok(latest)
    }
}

impl Worker {
    /// Publishes the update state when it changed, and how an installation ended.
    pub(super) fn refresh_update(&mut self, status: &KioskStatus, force: bool) {
        let Some(update) = status.update.as_ref().filter(|u| u.available && self.cfg.entities.update) else { return };
        let state = update_state_json(status, update, self.update.latest.as_ref());
        if force || self.update.published.as_ref() != Some(&state) {
            self.publish(self.topics.update_state(), true, state.to_string().into_bytes());
            self.update.published = Some(state);
        }
        let finished = update.last.as_ref().map(|o| o.id);
        match self.update.seen {
            Some(seen) if seen != finished => {
                if let Some(o) = &update.last {
                    let mut result = json!({"command": "update/install", "ok": o.ok, "done": true,
                                            "version": o.version, "slot": o.slot});
                    if !o.ok {
                        result["error"] = json!({"code": o.code, "message": o.message});
                    }
                    log::info!("update from {}: {} ({})", o.source, o.code, o.message);
                    self.publish(self.topics.result(), false, result.to_string().into_bytes());
                }
            }
            _ => {}
        }
        self.update.seen = Some(finished);
    }

    /// `<base>/update/latest`: remembered, and shown as the entity's latest version.
    pub(super) fn announce_latest(&mut self, payload: &[u8]) {
        let parsed = if payload.is_empty() { Ok(None) } else { Latest::parse(payload).map(Some) };
        match parsed {
            Ok(latest) => {
                log::info!("update/latest: {}", latest.as_ref().map_or("none", |l| l.version.as_str()));
                self.update.latest = latest;
            }
            Err(message) => {
                log::warn!("{message}");
                let result = json!({"command": "update/latest", "ok": false,
                                    "error": {"code": "bad_args", "message": message}});
                self.publish(self.topics.result(), false, result.to_string().into_bytes());
            }
        }
        self.refresh(false);
    }

    /// `<base>/update/install`: the announced bundle (Home Assistant's `INSTALL`), or a
    /// bundle's http(s) URL from a plain client.
    pub(super) fn install_update(&mut self, text: &str) -> Result<(), ClientError> {
        let source = match text {
            "INSTALL" => self
                .update
                .latest
                .as_ref()
                .map(|l| l.url.clone())
                .ok_or_else(|| format!("no bundle announced on {}", self.topics.update_latest())),
            url if url.starts_with("http://") || url.starts_with("https://") => Ok(url.to_string()),
            _ => Err("send INSTALL or a bundle's http(s) URL".to_string()),
        };
        match source {
            Ok(url) => self.kiosk.call_on(crate::dbus::update::INTERFACE, "Install", &(url.as_str(),)),
            Err(message) => Err(ClientError::Refused { code: "bad_args".into(), message }),
        }
    }
}

/// The `update` entity's state, as Home Assistant reads it.
pub fn update_state_json(s: &KioskStatus, u: &crate::update::UpdateStatus, latest: Option<&Latest>) -> Value {
    // A slot that was flashed rather than installed, on an image without IMAGE_VERSION,
    // has no version of its own: the kiosk's stands in.
    let installed = u.installed_version.clone().unwrap_or_else(|| s.version.clone());
    let busy = u.operation != crate::update::Operation::Idle;
    json!({
        "installed_version": installed,
        "latest_version": latest.map_or(installed.clone(), |l| l.version.clone()),
        "title": "Vitrine image",
        "release_summary": latest.and_then(|l| l.summary.clone()),
        "release_url": latest.and_then(|l| l.release_url.clone()),
        "in_progress": busy,
        "update_percentage": if busy { u.progress.map(Value::from) } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::{Operation, UpdateStatus};

    fn kiosk(version: &str) -> KioskStatus {
        let text =
            format!(r#"{{"name":"k","version":"{version}","pid":1,"uptime_secs":1.0,"ready":true,"surfaces":[]}}"#);
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_update_state_has_home_assistants_keys() {
        let mut u = UpdateStatus { available: true, installed_version: Some("1.0.0".into()), ..Default::default() };
        let state = update_state_json(&kiosk("0.1.0"), &u, None);
        assert_eq!(state["installed_version"], "1.0.0");
        assert_eq!(state["latest_version"], "1.0.0", "nothing announced: up to date");
        assert_eq!(state["in_progress"], false);
        assert_eq!(state["update_percentage"], Value::Null);
        let latest = Latest::parse(br#"{"version":"2.0.0","url":"https://fleet/b.raucb","summary":"fixes"}"#).unwrap();
        u.operation = Operation::Installing;
        u.progress = Some(40);
        let state = update_state_json(&kiosk("0.1.0"), &u, Some(&latest));
        assert_eq!(state["latest_version"], "2.0.0");
        assert_eq!(state["release_summary"], "fixes");
        assert_eq!((state["in_progress"].as_bool(), state["update_percentage"].as_u64()), (Some(true), Some(40)));
        // A flashed slot without IMAGE_VERSION: the kiosk's version stands in.
        u.installed_version = None;
        assert_eq!(update_state_json(&kiosk("0.1.0"), &u, None)["installed_version"], "0.1.0");
    }

    #[test]
    fn an_announcement_needs_a_version_and_an_http_url() {
        assert!(Latest::parse(br#"{"version":"2","url":"http://h/b.raucb"}"#).is_ok());
        assert!(Latest::parse(br#"{"version":"2","url":"/data/b.raucb"}"#).unwrap_err().contains("not http"));
        assert!(Latest::parse(br#"{"url":"http://h/b.raucb"}"#).is_err());
        assert!(Latest::parse(b"2.0.0").is_err());
        assert!(Latest::parse(br#"{"version":"2","url":"http://h/b","extra":1}"#).is_err());
    }
}
