//! Home Assistant MQTT discovery: the device id, the bridge's topics and the config payloads.
//!
//! One device per kiosk. Its id is stable across reinstalls of the bridge and changes with
//! the machine or the kiosk's name: the first 12 bytes of SHA-256 over the machine id and
//! the name (the machine id itself is not published, as systemd asks of its users).

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::config::Entities;

/// `vitrine_` and 24 hex digits.
pub fn device_id(machine_id: &str, kiosk_name: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"vitrine-mqtt\0");
    hash.update(machine_id.trim().as_bytes());
    hash.update(b"\0");
    hash.update(kiosk_name.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("vitrine_{hex}")
}

/// The bridge's topics for one device, under `<topic_prefix>/<device id>`.
#[derive(Debug, Clone)]
pub struct Topics {
    pub base: String,
    pub discovery_prefix: String,
}

impl Topics {
    pub fn new(topic_prefix: &str, discovery_prefix: &str, id: &str) -> Topics {
        Topics { base: format!("{topic_prefix}/{id}"), discovery_prefix: discovery_prefix.to_string() }
    }
    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }
    pub fn state(&self) -> String {
        format!("{}/state", self.base)
    }
    pub fn screenshot(&self) -> String {
        format!("{}/screenshot", self.base)
    }
    /// Outcomes of commands, refusals included (not retained).
    pub fn result(&self) -> String {
        format!("{}/result", self.base)
    }
    /// Events to the pages, as the principal `mqtt`: `<base>/event/<name>`.
    pub fn event_in(&self, event: &str) -> String {
        format!("{}/event/{event}", self.base)
    }
    /// Events from the kiosk that the principal `mqtt` may hear: `<base>/emitted/<name>`
    /// (apart from `event/`, so that the bridge never hears its own).
    pub fn event_out(&self, event: &str) -> String {
        format!("{}/emitted/{event}", self.base)
    }
    /// The image's update state, in the shape of Home Assistant's `update` entity.
    pub fn update_state(&self) -> String {
        format!("{}/update/state", self.base)
    }
    /// Where the fleet announces the bundle to install (retained, by whoever runs it).
    pub fn update_latest(&self) -> String {
        format!("{}/update/latest", self.base)
    }
    /// `<base>/<what>/set` (url, zoom, overlay/<label>), `<base>/<what>/press` (buttons),
    /// `<base>/update/install`.
    pub fn command(&self, what: &str) -> String {
        match what {
            "update" => format!("{}/update/install", self.base),
            "reload" | "home" | "screenshot" => format!("{}/{what}/press", self.base),
            _ => format!("{}/{what}/set", self.base),
        }
    }
    /// Home Assistant's birth and will topic.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }
    pub fn device_config(&self, id: &str) -> String {
        format!("{}/device/{id}/config", self.discovery_prefix)
    }
    pub fn entity_config(&self, component: &str, id: &str, object: &str) -> String {
        format!("{}/{component}/{id}/{object}/config", self.discovery_prefix)
    }
}

/// What the discovery describes.
pub struct Device<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub overlays: &'a [String],
    pub entities: Entities,
    /// The device has a thermal zone to report.
    pub temperature: bool,
    /// The kiosk has an on-screen keyboard (`[keyboard]`, mode not `off`).
    pub keyboard: bool,
    /// The kiosk's screen has a brightness it can set (a backlight).
    pub brightness: bool,
    /// The kiosk can install updates (RAUC answered it).
    pub update: bool,
}

/// One entity: its component (platform), object id and config (without device keys).
pub struct Entity {
    pub component: &'static str,
    pub object: String,
    pub config: Map<String, Value>,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The entities, in a stable order.
pub fn entities(d: &Device<'_>, t: &Topics) -> Vec<Entity> {
    let mut out = Vec::new();
    let mut add = |component: &'static str, object: &str, config: Value| {
        let mut config = obj(config);
        config.insert("unique_id".into(), json!(format!("{}_{object}", d.id)));
        config.insert("object_id".into(), json!(format!("{}_{object}", d.id)));
        out.push(Entity { component, object: object.to_string(), config });
    };
    let state = t.state();
    let e = d.entities;
    if e.url {
        add(
            "text",
            "url",
            json!({"name": "URL", "icon": "mdi:web", "command_topic": t.command("url"), "state_topic": state,
                   "value_template": "{{ value_json.url }}", "max": 255}),
        );
    }
    if e.reload {
        add("button", "reload", json!({"name": "Reload", "icon": "mdi:reload", "command_topic": t.command("reload")}));
    }
    if e.home {
        add("button", "home", json!({"name": "Home", "icon": "mdi:home", "command_topic": t.command("home")}));
    }
    if e.overlays {
        for label in d.overlays {
            add(
                "switch",
                &format!("overlay_{label}"),
                json!({"name": format!("Overlay {label}"), "icon": "mdi:layers",
                       "command_topic": t.command(&format!("overlay/{label}")), "state_topic": state,
                       "value_template": format!("{{{{ value_json.visible['{label}'] }}}}")}),
            );
        }
    }
    if e.keyboard && d.keyboard {
        add(
            "switch",
            "keyboard",
            json!({"name": "On-screen keyboard", "icon": "mdi:keyboard", "command_topic": t.command("keyboard"),
                   "state_topic": state, "value_template": "{{ value_json.keyboard }}"}),
        );
    }
    if e.display {
        // Home Assistant's default light schema infers the colour mode from the topics:
        // `brightness` with a brightness topic, else `onoff`.
        let mut light = obj(json!({"name": "Display", "icon": "mdi:monitor", "command_topic": t.command("display"),
                   "state_topic": state, "state_value_template": "{{ value_json.display }}",
                   "payload_on": "ON", "payload_off": "OFF"}));
        if d.brightness {
            light.extend(obj(json!({"brightness_command_topic": t.command("brightness"),
                   "brightness_state_topic": state, "brightness_value_template": "{{ value_json.brightness }}",
                   "brightness_scale": 100})));
        }
        add("light", "display", Value::Object(light));
    }
    if e.update && d.update {
        // `payload_install` is what Home Assistant's Install button sends; what to install
        // is the bundle announced on `update_latest`.
        add(
            "update",
            "image",
            json!({"name": "Image", "device_class": "firmware", "state_topic": t.update_state(),
                   "command_topic": t.command("update"), "payload_install": "INSTALL",
                   "entity_category": "config"}),
        );
    }
    if e.zoom {
        add(
            "number",
            "zoom",
            json!({"name": "Zoom", "icon": "mdi:magnify", "command_topic": t.command("zoom"), "min": 0.25,
                   "max": 5, "step": 0.05, "mode": "box", "optimistic": true}),
        );
    }
    if e.screenshot {
        add(
            "image",
            "screenshot",
            json!({"name": "Screenshot", "image_topic": t.screenshot(), "content_type": "image/png"}),
        );
        add(
            "button",
            "screenshot_now",
            json!({"name": "Take screenshot", "icon": "mdi:camera", "command_topic": t.command("screenshot"),
                   "entity_category": "diagnostic"}),
        );
    }
    if e.sensors {
        add(
            "binary_sensor",
            "ready",
            json!({"name": "Ready", "state_topic": state, "value_template": "{{ value_json.ready }}",
                   "entity_category": "diagnostic"}),
        );
        for (object, name, extra) in [
            ("surfaces_up", "Surfaces up", json!({"state_class": "measurement"})),
            ("crashes", "Web process crashes", json!({"state_class": "total_increasing"})),
            ("hangs", "Web process hangs", json!({"state_class": "total_increasing"})),
            ("uptime", "Uptime", json!({"device_class": "duration", "unit_of_measurement": "s"})),
            ("version", "Version", json!({})),
            (
                "memory",
                "Kiosk memory",
                json!({"device_class": "data_size", "unit_of_measurement": "MiB",
                                                "state_class": "measurement"}),
            ),
        ] {
            let mut config = obj(json!({"name": name, "state_topic": state,
                "value_template": format!("{{{{ value_json.{object} }}}}"), "entity_category": "diagnostic"}));
            config.extend(obj(extra));
            add("sensor", object, Value::Object(config));
        }
        if d.temperature {
            add(
                "sensor",
                "cpu_temperature",
                json!({"name": "CPU temperature", "state_topic": state, "device_class": "temperature",
                       "unit_of_measurement": "°C", "state_class": "measurement",
                       "value_template": "{{ value_json.cpu_temperature }}", "entity_category": "diagnostic"}),
            );
        }
    }
    out
}

fn device_block(d: &Device<'_>) -> Value {
    json!({"identifiers": [d.id], "name": d.name, "manufacturer": "Vitrine", "model": "Kiosk",
           "sw_version": d.version})
}

fn origin() -> Value {
    json!({"name": "vitrine mqtt", "sw_version": env!("CARGO_PKG_VERSION")})
}

/// The one device-discovery message: `<prefix>/device/<id>/config`.
pub fn device_config(d: &Device<'_>, t: &Topics) -> (String, Value) {
    let mut components = Map::new();
    for mut e in entities(d, t) {
        e.config.insert("platform".into(), json!(e.component));
        components.insert(format!("{}_{}", d.id, e.object), Value::Object(e.config));
    }
    let payload = json!({"device": device_block(d), "origin": origin(), "availability_topic": t.availability(),
                         "components": components});
    (t.device_config(d.id), payload)
}

/// The per-entity fallback: one `<prefix>/<component>/<id>/<object>/config` each.
pub fn entity_configs(d: &Device<'_>, t: &Topics) -> Vec<(String, Value)> {
    entities(d, t)
        .into_iter()
        .map(|mut e| {
            e.config.insert("device".into(), device_block(d));
            e.config.insert("origin".into(), origin());
            e.config.insert("availability_topic".into(), json!(t.availability()));
            (t.entity_config(e.component, d.id, &e.object), Value::Object(e.config))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device<'a>(overlays: &'a [String]) -> Device<'a> {
        Device {
            id: "vitrine_0123",
            name: "Hall",
            version: "0.1.0",
            overlays,
            entities: Entities::default(),
            temperature: true,
            keyboard: true,
            brightness: true,
            update: true,
        }
    }

    #[test]
    fn every_topic_is_documented_for_plain_mqtt_users() {
        let doc = include_str!("../../docs/mqtt.md");
        let t = Topics { base: "<base>".into(), discovery_prefix: "<discovery_prefix>".into() };
        let mut topics = vec![t.availability(), t.state(), t.screenshot(), t.result(), t.ha_status()];
        topics.extend([t.update_state(), t.update_latest()]);
        topics.extend([t.event_in("<event>"), t.event_out("<event>")]);
        topics.extend(
            [
                "url",
                "home",
                "reload",
                "screenshot",
                "zoom",
                "overlay/<label>",
                "keyboard",
                "display",
                "brightness",
                "update",
            ]
            .map(|c| t.command(c)),
        );
        topics.extend([t.device_config("<id>"), t.entity_config("<component>", "<id>", "<object>")]);
        for topic in topics {
            assert!(doc.contains(&format!("`{topic}`")), "docs/mqtt.md does not list {topic}");
        }
    }

    #[test]
    fn the_id_is_stable_and_depends_on_machine_and_name() {
        let a = device_id("0123456789abcdef0123456789abcdef\n", "Hall");
        assert_eq!(a, device_id("0123456789abcdef0123456789abcdef", "Hall"));
        assert_ne!(a, device_id("0123456789abcdef0123456789abcdee", "Hall"));
        assert_ne!(a, device_id("0123456789abcdef0123456789abcdef", "Lobby"));
        assert_eq!(a.len(), "vitrine_".len() + 24);
        assert!(!a.contains("0123456789abcdef"), "the machine id is not published");
    }

    #[test]
    fn device_discovery_carries_what_home_assistant_requires() {
        let overlays = vec!["toast".to_string()];
        let t = Topics::new("vitrine", "homeassistant", "vitrine_0123");
        let (topic, payload) = device_config(&device(&overlays), &t);
        assert_eq!(topic, "homeassistant/device/vitrine_0123/config");
        assert_eq!(payload["device"]["identifiers"][0], "vitrine_0123");
        assert_eq!(payload["availability_topic"], "vitrine/vitrine_0123/availability");
        let components = payload["components"].as_object().unwrap();
        for (key, c) in components {
            assert!(c["platform"].is_string(), "{key}");
            assert!(c["unique_id"].is_string(), "{key}");
            let p = c["platform"].as_str().unwrap();
            if ["text", "button", "switch", "number"].contains(&p) {
                assert!(c["command_topic"].is_string(), "{key}");
            }
            if ["text", "switch", "sensor", "binary_sensor"].contains(&p) {
                assert!(c["state_topic"].is_string(), "{key}");
            }
        }
        assert_eq!(components["vitrine_0123_overlay_toast"]["command_topic"], "vitrine/vitrine_0123/overlay/toast/set");
        assert_eq!(components["vitrine_0123_keyboard"]["command_topic"], "vitrine/vitrine_0123/keyboard/set");
        assert_eq!(components["vitrine_0123_display"]["platform"], "light");
        assert_eq!(
            components["vitrine_0123_display"]["brightness_command_topic"],
            "vitrine/vitrine_0123/brightness/set"
        );
        assert_eq!(components["vitrine_0123_screenshot"]["image_topic"], "vitrine/vitrine_0123/screenshot");
        assert_eq!(components["vitrine_0123_cpu_temperature"]["device_class"], "temperature");
        let update = &components["vitrine_0123_image"];
        assert_eq!(update["platform"], "update");
        assert_eq!(update["state_topic"], "vitrine/vitrine_0123/update/state");
        assert_eq!(update["command_topic"], "vitrine/vitrine_0123/update/install");
        assert_eq!(update["payload_install"], "INSTALL");
        // No RAUC, no entity.
        let none = Device { update: false, ..device(&overlays) };
        assert!(!device_config(&none, &t).1["components"].as_object().unwrap().contains_key("vitrine_0123_image"));
    }

    #[test]
    fn the_per_entity_fallback_has_one_topic_per_entity_with_the_device() {
        let t = Topics::new("vitrine", "ha", "vitrine_0123");
        let configs = entity_configs(&device(&[]), &t);
        assert!(configs.iter().any(|(topic, _)| topic == "ha/text/vitrine_0123/url/config"));
        assert!(configs.iter().all(|(_, c)| c["device"]["identifiers"][0] == "vitrine_0123"));
        let none =
            Device { entities: Entities { url: false, ..Entities::default() }, temperature: false, ..device(&[]) };
        let configs = entity_configs(&none, &t);
        assert!(!configs.iter().any(|(topic, _)| topic.contains("/text/")));
        assert!(!configs.iter().any(|(topic, _)| topic.contains("cpu_temperature")), "no zone, no sensor");
        let no_keyboard = Device { keyboard: false, ..device(&[]) };
        assert!(!entity_configs(&no_keyboard, &t).iter().any(|(topic, _)| topic.contains("keyboard")));
        let off = Device { entities: Entities { keyboard: false, ..Entities::default() }, ..device(&[]) };
        assert!(!entity_configs(&off, &t).iter().any(|(topic, _)| topic.contains("keyboard")));
        // Without a backlight the light is on/off only.
        let dim = Device { brightness: false, ..device(&[]) };
        let light = entity_configs(&dim, &t).into_iter().find(|(topic, _)| topic.contains("/light/")).expect("light");
        assert!(light.1.get("brightness_command_topic").is_none(), "{}", light.1);
        let off = Device { entities: Entities { display: false, ..Entities::default() }, ..device(&[]) };
        assert!(!entity_configs(&off, &t).iter().any(|(topic, _)| topic.contains("/light/")));
    }
}
