//! Which events reach the MQTT bridge (the principal `mqtt`): those its capabilities let
//! it listen to, sent to all or to it, never its own. Pure router logic, with a host that
//! records instead of the GTK shell.

use std::path::Path;

use serde_json::{json, Value};
use vitrine::config::{Capability, PRINCIPALS};
use vitrine::ipc::events::EventBus;
use vitrine::ipc::router::{deliver, Delivery};
use vitrine::ipc::{Authority, Host, IpcError, SurfaceInfo};

#[derive(Default)]
struct Recorder {
    pages: Vec<String>,
    principals: Vec<(String, String, Value, String)>,
}

impl Host for Recorder {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        vec![SurfaceInfo {
            label: "main".into(),
            url: "app://localhost/index.html".into(),
            visible: true,
            overlay: false,
        }]
    }
    fn set_visible(&mut self, _: &str, _: bool) -> Result<(), IpcError> {
        Ok(())
    }
    fn eval(&mut self, label: &str, _: String) {
        self.pages.push(label.to_string());
    }
    fn document(&self, _: &str) -> u64 {
        1
    }
    fn post_to_principal(&mut self, principal: &str, event: &str, payload: &Value, source: &str) {
        self.principals.push((principal.into(), event.into(), payload.clone(), source.into()));
    }
}

fn authority(caps: &[&str]) -> Authority {
    let caps: Vec<Capability> =
        caps.iter().map(|t| Capability::parse(Path::new("c.json"), t).expect("capability")).collect();
    Authority::new(["main"].into_iter().chain(PRINCIPALS), &caps)
}

/// Delivers `event` from `source` to `to` and returns what reached principals.
fn send(auth: &Authority, source: &str, event: &str, to: Option<&[String]>) -> Vec<(String, String, Value, String)> {
    let mut host = Recorder::default();
    let mut events = EventBus::default();
    events.subscribe("main", event).expect("subscribe");
    let payload = json!({"n": 1});
    let d = Delivery { source, event, payload: &payload, to, only_if: None };
    deliver(&mut host, auth, &events, d);
    host.principals
}

#[test]
fn only_what_mqtt_may_listen_to_reaches_it() {
    let auth = authority(&[
        r#"{"identifier":"bridge","windows":["mqtt"],"permissions":[{"identifier":"event:allow-listen","allow":[{"event":"out-*"}],"deny":[{"event":"out-secret"}]}]}"#,
    ]);
    let got = send(&auth, "main", "out-door", None);
    assert_eq!(got, vec![("mqtt".into(), "out-door".into(), json!({"n": 1}), "main".into())]);
    assert!(send(&auth, "main", "kept-local", None).is_empty(), "not in the scope");
    assert!(send(&auth, "main", "out-secret", None).is_empty(), "a deny wins");
    assert!(send(&auth, "main", "out-door", Some(&["main".into()])).is_empty(), "sent to main only");
    assert_eq!(send(&auth, "main", "out-door", Some(&["main".into(), "mqtt".into()])).len(), 1, "sent to it too");
    assert!(send(&auth, "mqtt", "out-door", None).is_empty(), "its own events never come back");
    assert_eq!(send(&auth, "core", "out-door", None)[0].3, "core");
}

#[test]
fn the_dbus_principal_and_surfaces_listening_do_not_open_the_way_out() {
    // Grants to D-Bus callers and to the page are not grants to the bridge.
    let auth = authority(&[r#"{"identifier":"ops","windows":["dbus","main"],"permissions":["event:allow-listen"]}"#]);
    assert!(send(&auth, "main", "anything", None).is_empty());
    // "*" matches every principal, as it does for dbus.
    let auth = authority(&[r#"{"identifier":"all","windows":["*"],"permissions":["event:allow-listen"]}"#]);
    assert_eq!(send(&auth, "main", "anything", None).len(), 1);
}
