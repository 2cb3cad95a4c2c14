//! What a page may ask of the toolkit and of the device: per-surface `file_chooser`,
//! `print` and `zoom`, and the top-level `[[permission]]`, `[geolocation]` and `[[auth]]`
//! tables of `vitrine.toml`.
//!
//! ```toml
//! [main]
//! page = "https://ha.local/"
//! file_chooser = "off"     # no file chooser ever opens; "media": the kiosk's own picker
//! print = "off"            # window.print() and Ctrl+P do nothing; "silent": to [print] printer
//! zoom = 1.25              # page zoom, 0.25 to 5
//!
//! [[permission]]           # denied unless granted here, per origin
//! origin = "https://ha.local"
//! allow = ["notifications", "geolocation"]
//!
//! [geolocation]            # the position every granted origin sees
//! latitude = 48.8584
//! longitude = 2.2945
//! accuracy = 50            # metres
//!
//! [print]                  # where print = "silent" prints, without any dialog
//! printer = "Office"       # a CUPS queue, or "Print to File"
//! output = "/run/vitrine/print.pdf"   # for "Print to File": the file written
//!
//! [[auth]]                 # answers HTTP authentication for one origin
//! origin = "https://grafana.local"
//! user = "kiosk"
//! credential = "grafana-password"   # a name in $CREDENTIALS_DIRECTORY, or a root-only file
//! ```

use serde::{Deserialize, Serialize};

/// `file_chooser`: what `<input type=file>` may open.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FileChooser {
    /// Nothing: the request is cancelled and logged.
    #[default]
    Off,
    /// The kiosk's own picker, offering only the `$MEDIA` files the page may `fs.read`.
    Media,
}

/// `print`: what `window.print()` does.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Print {
    /// Nothing: the request is dropped and logged.
    #[default]
    Off,
    /// Straight to `[print] printer`, without a dialog.
    Silent,
}

/// Page zoom, in thousandths (so that the configuration stays `Eq`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Zoom(u32);

impl Default for Zoom {
    fn default() -> Self {
        Zoom(1000)
    }
}

impl Zoom {
    pub const MIN: f64 = 0.25;
    pub const MAX: f64 = 5.0;

    /// A factor between [`Zoom::MIN`] and [`Zoom::MAX`].
    pub fn new(factor: f64) -> Result<Zoom, String> {
        if !factor.is_finite() || !(Self::MIN..=Self::MAX).contains(&factor) {
            return Err(format!("{factor} is not a zoom factor between {} and {}", Self::MIN, Self::MAX));
        }
        Ok(Zoom((factor * 1000.0).round() as u32))
    }

    pub fn factor(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

/// How one surface treats the toolkit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SurfaceLockdown {
    pub file_chooser: FileChooser,
    pub print: Print,
    pub zoom: Zoom,
}

/// Something a page can ask the user for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    Notifications,
    Geolocation,
    Camera,
    Microphone,
    Clipboard,
    Fullscreen,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Notifications => "notifications",
            Permission::Geolocation => "geolocation",
            Permission::Camera => "camera",
            Permission::Microphone => "microphone",
            Permission::Clipboard => "clipboard",
            Permission::Fullscreen => "fullscreen",
        }
    }
}

/// `[[permission]]`: what one origin is granted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub origin: String,
    pub allow: Vec<Permission>,
}

/// `[geolocation]`: the fixed position of the device.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    /// Metres.
    #[serde(default = "default_accuracy")]
    pub accuracy: f64,
}

fn default_accuracy() -> f64 {
    100.0
}

/// `[[auth]]`: the answer to HTTP authentication for one origin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub origin: String,
    pub user: String,
    /// The password: a name in `$CREDENTIALS_DIRECTORY`, or an absolute root-only file.
    pub credential: String,
}

/// `[print]`: the printer `print = "silent"` uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Printer {
    /// The printer's name as GTK lists it (a CUPS queue, or "Print to File").
    pub printer: String,
    /// For file printers: the absolute path written.
    pub output: Option<String>,
}

/// The top-level tables, validated.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Lockdown {
    pub permissions: Vec<Grant>,
    pub geolocation: Option<Position>,
    pub auth: Vec<Auth>,
    pub print: Option<Printer>,
}

impl Lockdown {
    /// Normalizes origins (no trailing `/`); problems as (key, reason).
    pub fn check(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, g) in self.permissions.iter_mut().enumerate() {
            match normalize_origin(&g.origin, true) {
                Ok(o) => {
                    if !seen.insert(o.clone()) {
                        out.push((format!("permission[{i}].origin"), format!("'{o}' is granted twice")));
                    }
                    g.origin = o;
                }
                Err(reason) => out.push((format!("permission[{i}].origin"), reason)),
            }
            if g.allow.is_empty() {
                out.push((format!("permission[{i}].allow"), "grants nothing".into()));
            }
            if g.allow.contains(&Permission::Geolocation) && self.geolocation.is_none() {
                out.push((
                    format!("permission[{i}].allow"),
                    "geolocation is granted but no [geolocation] position is configured".into(),
                ));
            }
        }
        if let Some(p) = &self.geolocation {
            if !(-90.0..=90.0).contains(&p.latitude) {
                out.push(("geolocation.latitude".into(), "must be between -90 and 90".into()));
            }
            if !(-180.0..=180.0).contains(&p.longitude) {
                out.push(("geolocation.longitude".into(), "must be between -180 and 180".into()));
            }
            if !(p.accuracy.is_finite() && p.accuracy > 0.0) {
                out.push(("geolocation.accuracy".into(), "must be a positive number of metres".into()));
            }
        }
        if let Some(p) = &self.print {
            if p.printer.trim().is_empty() {
                out.push(("print.printer".into(), "must name a printer".into()));
            }
            if p.output.as_deref().is_some_and(|o| !o.starts_with('/')) {
                out.push(("print.output".into(), "must be an absolute path".into()));
            }
        }
        for (i, a) in self.auth.iter_mut().enumerate() {
            match normalize_origin(&a.origin, false) {
                Ok(o) => a.origin = o,
                Err(reason) => out.push((format!("auth[{i}].origin"), reason)),
            }
            if a.user.is_empty() {
                out.push((format!("auth[{i}].user"), "must not be empty".into()));
            }
            let cred_ok = !a.credential.is_empty() && (a.credential.starts_with('/') || !a.credential.contains('/'));
            if !cred_ok {
                out.push((
                    format!("auth[{i}].credential"),
                    "a credential name, or an absolute path to a root-only file".into(),
                ));
            }
        }
        out
    }

    /// Whether `origin` (as [`origin_of`] spells it) is granted `what`.
    pub fn grants(&self, origin: &str, what: Permission) -> bool {
        self.permissions.iter().any(|g| g.origin == origin && g.allow.contains(&what))
    }

    pub fn any_grant(&self, what: Permission) -> bool {
        self.permissions.iter().any(|g| g.allow.contains(&what))
    }
}

/// `scheme://host[:port]` of a URL, with the scheme's default port left out; `None` for
/// URLs without a host (data:, about:).
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str().filter(|h| !h.is_empty())?;
    Some(match u.port() {
        Some(port) => format!("{}://{host}:{port}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// An origin as configured: `http(s)://host[:port]` (or `app://localhost` where
/// `local` is allowed), no path, no wildcard.
fn normalize_origin(text: &str, local: bool) -> Result<String, String> {
    let bad = || format!("'{text}' must be an origin such as https://example.com:8443, without a path");
    let u = url::Url::parse(text).map_err(|_| bad())?;
    let scheme_ok = matches!(u.scheme(), "http" | "https") || (local && u.scheme() == "app");
    if !scheme_ok || u.path() != "/" && !u.path().is_empty() || u.query().is_some() || text.contains('*') {
        return Err(bad());
    }
    origin_of(text).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize_and_match_exactly() {
        assert_eq!(origin_of("https://ha.local:443/lovelace?x=1").as_deref(), Some("https://ha.local"));
        assert_eq!(origin_of("http://127.0.0.2:8123/").as_deref(), Some("http://127.0.0.2:8123"));
        assert_eq!(origin_of("app://localhost/index.html").as_deref(), Some("app://localhost"));
        assert_eq!(origin_of("about:blank"), None);
        let mut l = Lockdown {
            permissions: vec![Grant {
                origin: "http://127.0.0.1:8080/".into(),
                allow: vec![Permission::Notifications],
            }],
            ..Lockdown::default()
        };
        assert!(l.check().is_empty());
        assert!(l.grants("http://127.0.0.1:8080", Permission::Notifications));
        assert!(!l.grants("http://127.0.0.1:8081", Permission::Notifications));
        assert!(!l.grants("http://127.0.0.1:8080", Permission::Camera));
        assert!(!l.grants("https://127.0.0.1:8080", Permission::Notifications));
    }

    #[test]
    fn bad_grants_are_named() {
        let mut l = Lockdown {
            permissions: vec![
                Grant { origin: "https://*.example.com".into(), allow: vec![Permission::Camera] },
                Grant { origin: "https://a.example/path".into(), allow: vec![] },
                Grant { origin: "https://ha.local".into(), allow: vec![Permission::Geolocation] },
                Grant { origin: "https://ha.local:443".into(), allow: vec![Permission::Camera] },
            ],
            geolocation: None,
            auth: vec![Auth { origin: "app://localhost".into(), user: String::new(), credential: "a/b".into() }],
            print: Some(Printer { printer: " ".into(), output: Some("out.pdf".into()) }),
        };
        let keys: Vec<String> = l.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "permission[0].origin",
                "permission[1].origin",
                "permission[1].allow",
                "permission[2].allow",
                "permission[3].origin",
                "print.printer",
                "print.output",
                "auth[0].origin",
                "auth[0].user",
                "auth[0].credential"
            ]
        );
    }

    #[test]
    fn zoom_is_bounded() {
        assert_eq!(Zoom::new(1.25).map(Zoom::factor), Ok(1.25));
        assert_eq!(Zoom::default().factor(), 1.0);
        for bad in [0.0, 0.1, 5.5, f64::NAN, f64::INFINITY, -1.0] {
            assert!(Zoom::new(bad).is_err(), "{bad}");
        }
    }
}
