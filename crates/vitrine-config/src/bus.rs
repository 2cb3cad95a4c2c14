//! `[dbus]` and `[tray]` in `vitrine.toml`: where the control interface lives, and the
//! StatusNotifierItem a desktop shows for the kiosk.
//!
//! ```toml
//! [dbus]
//! bus = "session"                 # "session" (default), "system", or "none": no D-Bus at all
//! name = "org.vitrine.Vitrine1"   # the well-known name owned (one kiosk per name and bus)
//!
//! [tray]                          # optional: no table, no tray item
//! title = "Lobby board"           # default: app.name
//! icon = "video-display"          # an icon-theme name, or a PNG file in ui/ ("icons/tray.png")
//!
//! [[tray.menu]]
//! label = "Reload"
//! action = "reload"               # reload | show | hide
//! surface = "main"                # reload: default main; show/hide: an overlay
//!
//! [[tray.menu]]
//! label = "Call staff"
//! event = "staff-called"          # a core event: reaches surfaces that listen and may listen
//! payload = { desk = 3 }          # optional, any TOML value (sent as JSON)
//! to = ["main"]                   # optional: only these surfaces
//! ```
//!
//! D-Bus callers are a principal of their own in the capabilities: the label
//! [`DBUS_PRINCIPAL`] (`"dbus"`), which `windows` globs match like any surface label
//! (so `"*"` includes it). It is checked for `Emit` only; the other control methods are
//! guarded by the bus itself (same user on the session bus, the policy file on the
//! system bus).
//!
//! The MQTT bridge (`vitrine mqtt`) is another: [`MQTT_PRINCIPAL`] (`"mqtt"`). Its
//! `event:allow-emit` scopes are the events MQTT may send to the pages; its
//! `event:allow-listen` scopes are the events that leave the kiosk for the broker.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The bus name owned unless `[dbus] name` says otherwise.
pub const DEFAULT_BUS_NAME: &str = "org.vitrine.Vitrine1";

/// The label D-Bus callers have in `capabilities/*.json` (`"windows": ["dbus"]`). No
/// surface may take it.
pub const DBUS_PRINCIPAL: &str = "dbus";

/// The label of the MQTT bridge in `capabilities/*.json` (`"windows": ["mqtt"]`): what it
/// may emit to the pages, and which events it hears (and publishes). No surface may take it.
pub const MQTT_PRINCIPAL: &str = "mqtt";

/// The callers that are not surfaces, in the order their capabilities are resolved.
pub const PRINCIPALS: [&str; 2] = [DBUS_PRINCIPAL, MQTT_PRINCIPAL];

/// The page URL a principal's calls carry: a local one, so that capabilities for local
/// pages apply to it.
pub fn principal_url(principal: &str) -> String {
    format!("app://localhost/__vitrine/{principal}")
}

/// Longest event name accepted, in the configuration and from pages alike.
pub const MAX_EVENT_NAME: usize = 128;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    #[default]
    Session,
    System,
    /// No D-Bus: no control interface, tray or notification server (toasts only).
    None,
}

impl BusKind {
    /// `VITRINE_BUS` (`session`, `system`, `none`) overrides `[dbus] bus` on one device:
    /// the shipped unit runs the kiosk as a system service, which has no session bus.
    pub fn from_env() -> Option<BusKind> {
        match std::env::var("VITRINE_BUS").ok()?.as_str() {
            "session" => Some(BusKind::Session),
            "system" => Some(BusKind::System),
            "none" => Some(BusKind::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BusKind::Session => "session",
            BusKind::System => "system",
            BusKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Dbus {
    pub bus: BusKind,
    pub name: String,
}

impl Default for Dbus {
    fn default() -> Self {
        Self { bus: BusKind::Session, name: DEFAULT_BUS_NAME.to_string() }
    }
}

impl Dbus {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        match check_bus_name(&self.name) {
            Ok(()) => Vec::new(),
            Err(reason) => vec![("dbus.name".into(), reason)],
        }
    }
}

/// A well-known bus name: 2+ dot-separated elements of `A-Z a-z 0-9 _ -`, none starting
/// with a digit, at most 255 characters (the D-Bus specification's rule).
fn check_bus_name(name: &str) -> Result<(), String> {
    let elements: Vec<&str> = name.split('.').collect();
    let element_ok = |e: &&str| {
        !e.is_empty()
            && !e.starts_with(|c: char| c.is_ascii_digit())
            && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if name.len() > 255 || elements.len() < 2 || !elements.iter().all(element_ok) {
        return Err(format!(
            "'{name}' is not a well-known bus name (like org.example.Kiosk: dot-separated, a-z A-Z 0-9 _ -)"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tray {
    pub title: String,
    pub icon: TrayIcon,
    pub menu: Vec<TrayItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TrayIcon {
    None,
    /// A name from the icon theme (`video-display`).
    Name(String),
    /// A PNG file under `ui/`, sent as pixels.
    File(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrayItem {
    pub label: String,
    pub action: TrayAction,
}

/// What a tray menu entry does when clicked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TrayAction {
    Reload {
        surface: String,
    },
    Show {
        surface: String,
    },
    Hide {
        surface: String,
    },
    /// A core event; `payload` is JSON text, `to` empty means every surface.
    Event {
        event: String,
        payload: String,
        to: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTray {
    title: Option<String>,
    icon: Option<String>,
    #[serde(default)]
    menu: Vec<RawTrayItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrayItem {
    #[serde(default)]
    label: String,
    action: Option<String>,
    surface: Option<String>,
    event: Option<String>,
    payload: Option<toml::Value>,
    #[serde(default)]
    to: Vec<String>,
}

/// What tray validation needs to know about the rest of the manifest.
pub(super) struct TrayContext<'a> {
    pub app_name: &'a str,
    pub main: &'a str,
    pub overlays: &'a [String],
    pub ui_files: &'a BTreeSet<&'a str>,
}

impl RawTray {
    pub(super) fn resolve(self, cx: &TrayContext<'_>, err: &mut impl FnMut(String, String)) -> Option<Tray> {
        let mut ok = true;
        let title = self.title.unwrap_or_else(|| cx.app_name.to_string());
        if title.trim().is_empty() {
            err("tray.title".into(), "must not be empty".into());
            ok = false;
        }
        let icon = match self.icon.as_deref().map(str::trim) {
            None | Some("") => TrayIcon::None,
            Some(icon) if icon.contains('/') || icon.to_ascii_lowercase().ends_with(".png") => {
                let file = icon.trim_start_matches('/');
                if cx.ui_files.contains(file) && file.to_ascii_lowercase().ends_with(".png") {
                    TrayIcon::File(file.to_string())
                } else {
                    err("tray.icon".into(), format!("'{icon}' is neither an icon name nor a PNG file in ui/"));
                    ok = false;
                    TrayIcon::None
                }
            }
            Some(icon) if icon.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => {
                TrayIcon::Name(icon.to_string())
            }
            Some(icon) => {
                err("tray.icon".into(), format!("'{icon}' is not an icon name (a-z, 0-9, '-', '_', '.')"));
                ok = false;
                TrayIcon::None
            }
        };
        let mut menu = Vec::new();
        for (i, item) in self.menu.into_iter().enumerate() {
            match item.resolve(&format!("tray.menu[{i}]"), cx, err) {
                Some(item) => menu.push(item),
                None => ok = false,
            }
        }
        ok.then_some(Tray { title, icon, menu })
    }
}

impl RawTrayItem {
    fn resolve(self, place: &str, cx: &TrayContext<'_>, err: &mut impl FnMut(String, String)) -> Option<TrayItem> {
        let mut ok = true;
        let mut bad = |key: &str, reason: String| {
            err(format!("{place}.{key}"), reason);
            ok = false;
        };
        if self.label.trim().is_empty() {
            bad("label", "missing: every menu entry needs a label".into());
        }
        let is_surface = |l: &str| l == cx.main || cx.overlays.iter().any(|o| o == l);
        let action = match (self.action.as_deref(), self.event) {
            (Some(_), Some(_)) | (None, None) => {
                bad("action", "give either 'action' (reload, show, hide) or 'event'".into());
                None
            }
            (Some(action), None) => {
                for (key, given) in [("payload", self.payload.is_some()), ("to", !self.to.is_empty())] {
                    if given {
                        bad(key, "only event entries take it".into());
                    }
                }
                let surface = self.surface.clone();
                match action {
                    "reload" => {
                        let surface = surface.unwrap_or_else(|| cx.main.to_string());
                        if !is_surface(&surface) {
                            bad("surface", format!("'{surface}' is no surface"));
                        }
                        Some(TrayAction::Reload { surface })
                    }
                    "show" | "hide" => match surface {
                        Some(s) if cx.overlays.contains(&s) => Some(if action == "show" {
                            TrayAction::Show { surface: s }
                        } else {
                            TrayAction::Hide { surface: s }
                        }),
                        Some(s) => {
                            bad("surface", format!("'{s}' is no overlay; only overlays are shown and hidden"));
                            None
                        }
                        None => {
                            bad("surface", format!("'{action}' needs the overlay's label"));
                            None
                        }
                    },
                    other => {
                        bad("action", format!("unknown action '{other}' (reload, show, hide)"));
                        None
                    }
                }
            }
            (None, Some(event)) => {
                if self.surface.is_some() {
                    bad("surface", "event entries take 'to', not 'surface'".into());
                }
                if let Err(reason) = check_event_name(&event) {
                    bad("event", reason);
                }
                for (j, l) in self.to.iter().enumerate() {
                    if !is_surface(l) {
                        bad(&format!("to[{j}]"), format!("'{l}' is no surface"));
                    }
                }
                let payload = match self.payload.map(|v| serde_json::to_string(&v)) {
                    None => Some("null".to_string()),
                    Some(Ok(json)) => Some(json),
                    Some(Err(e)) => {
                        bad("payload", format!("cannot be sent as JSON: {e}"));
                        None
                    }
                };
                payload.map(|payload| TrayAction::Event { event, payload, to: self.to })
            }
        };
        match action {
            Some(action) if ok => Some(TrayItem { label: self.label, action }),
            _ => None,
        }
    }
}

/// Event names are short and plain so that they can be scoped with globs and logged; the
/// one rule for the configuration and for `ipc::events`.
pub fn check_event_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EVENT_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_:./".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' must be 1-{MAX_EVENT_NAME} characters of a-z, A-Z, 0-9, '-', '_', ':', '.', '/'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_names_follow_the_specification() {
        for good in ["org.vitrine.Vitrine1", "a.b", "com.example.kiosk_2", "org.ex-ample.K"] {
            assert!(check_bus_name(good).is_ok(), "{good}");
        }
        for bad in ["vitrine", "org..x", "org.1x", ".org.x", "org.x.", "org.x y", ":1.2", &"a.b".repeat(100)] {
            assert!(check_bus_name(bad).is_err(), "{bad}");
        }
    }

    fn resolve(toml_text: &str) -> (Option<Tray>, Vec<String>) {
        let raw: RawTray = toml::from_str(toml_text).expect("parses");
        let overlays = vec!["toast".to_string()];
        let ui: BTreeSet<&str> = ["icon.png", "index.html"].into_iter().collect();
        let cx = TrayContext { app_name: "Kiosk", main: "main", overlays: &overlays, ui_files: &ui };
        let mut errors = Vec::new();
        let tray = raw.resolve(&cx, &mut |place, reason| errors.push(format!("{place}: {reason}")));
        (tray, errors)
    }

    /// A folder with `vitrine.toml` (plus `extra` TOML) and one capability file.
    fn folder(extra: &str, label: &str, windows: &str) -> Result<super::super::Bundle, Vec<String>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = format!("[app]\nname = \"K\"\n[main]\nlabel = \"{label}\"\npage = \"index.html\"\n{extra}");
        std::fs::write(dir.path().join("vitrine.toml"), toml).expect("write");
        std::fs::create_dir_all(dir.path().join("ui")).expect("mkdir");
        std::fs::write(dir.path().join("ui/index.html"), "<p>").expect("write");
        std::fs::create_dir_all(dir.path().join("capabilities")).expect("mkdir");
        let cap = format!(r#"{{"identifier": "ops", "windows": {windows}, "permissions": ["event:allow-emit"]}}"#);
        std::fs::write(dir.path().join("capabilities/ops.json"), cap).expect("write");
        super::super::load_dir(dir.path()).map_err(|e| e.iter().map(|e| format!("{}: {}", e.place, e.reason)).collect())
    }

    #[test]
    fn the_dbus_principal_is_a_window_and_a_reserved_label() {
        let bundle = folder("", "main", r#"["dbus"]"#).expect("'dbus' names D-Bus callers");
        assert_eq!(bundle.manifest.dbus, Dbus::default());
        assert_eq!(bundle.manifest.tray, None);
        assert!(folder("", "main", r#"["main", "db*"]"#).is_ok());
        let errors = folder("", "main", r#"["ghost"]"#).expect_err("still checked");
        assert!(errors[0].starts_with("windows[0]: 'ghost' matches no surface (surfaces: main)"), "{errors:?}");
        let errors = folder("", "dbus", r#"["dbus"]"#).expect_err("reserved");
        assert!(errors.iter().any(|e| e.starts_with("main.label: 'dbus' is reserved")), "{errors:?}");
    }

    #[test]
    fn the_mqtt_principal_is_a_window_and_a_reserved_label() {
        assert!(folder("", "main", r#"["mqtt"]"#).is_ok(), "'mqtt' names the MQTT bridge");
        assert!(folder("", "main", r#"["mq*"]"#).is_ok());
        let errors = folder("", "mqtt", r#"["main"]"#).expect_err("reserved");
        assert!(errors.iter().any(|e| e.starts_with("main.label: 'mqtt' is reserved")), "{errors:?}");
    }

    #[test]
    fn the_dbus_table_is_validated() {
        let none = folder("[dbus]\nbus = \"none\"\nname = \"com.example.Kiosk\"\n", "main", r#"["main"]"#);
        let dbus = none.expect("valid").manifest.dbus;
        assert_eq!((dbus.bus, dbus.name.as_str()), (BusKind::None, "com.example.Kiosk"));
        let errors =
            folder("[dbus]\nbus = \"system\"\nname = \"kiosk\"\n", "main", r#"["main"]"#).expect_err("bad name");
        assert!(errors.iter().any(|e| e.starts_with("dbus.name: 'kiosk' is not a well-known bus name")), "{errors:?}");
        let errors = folder("[dbus]\nbus = \"usb\"\n", "main", r#"["main"]"#).expect_err("bad bus");
        assert!(errors.iter().any(|e| e.contains("unknown variant `usb`")), "{errors:?}");
    }

    #[test]
    fn menus_resolve_to_actions_and_events() {
        let (tray, errors) = resolve(
            r#"
            icon = "icon.png"
            [[menu]]
            label = "Reload"
            action = "reload"
            [[menu]]
            label = "Hide toast"
            action = "hide"
            surface = "toast"
            [[menu]]
            label = "Hello"
            event = "tray-hello"
            payload = { n = 1 }
            to = ["main"]
            "#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let tray = tray.expect("valid");
        assert_eq!(tray.title, "Kiosk");
        assert_eq!(tray.icon, TrayIcon::File("icon.png".into()));
        assert_eq!(tray.menu[0].action, TrayAction::Reload { surface: "main".into() });
        assert_eq!(tray.menu[1].action, TrayAction::Hide { surface: "toast".into() });
        assert_eq!(
            tray.menu[2].action,
            TrayAction::Event { event: "tray-hello".into(), payload: r#"{"n":1}"#.into(), to: vec!["main".into()] }
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let (tray, errors) = resolve(
            r#"
            icon = "missing.png"
            [[menu]]
            label = ""
            action = "explode"
            [[menu]]
            label = "x"
            action = "show"
            surface = "main"
            [[menu]]
            label = "y"
            event = "bad name"
            to = ["ghost"]
            [[menu]]
            label = "z"
            "#,
        );
        assert!(tray.is_none());
        let expected = [
            "tray.icon: 'missing.png' is neither",
            "tray.menu[0].label: missing",
            "tray.menu[0].action: unknown action 'explode'",
            "tray.menu[1].surface: 'main' is no overlay",
            "tray.menu[2].event: 'bad name' must be",
            "tray.menu[2].to[0]: 'ghost' is no surface",
            "tray.menu[3].action: give either",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (e, want) in errors.iter().zip(expected) {
            assert!(e.starts_with(want), "{e} / {want}");
        }
    }
}
