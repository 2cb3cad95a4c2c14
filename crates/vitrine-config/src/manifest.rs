//! `vitrine.toml`: the kiosk's surfaces, its security policy and its limits.
//!
//! ```toml
//! [app]
//! name = "Lobby board"
//! csp = "default-src 'self'"            # optional; a strict default applies
//! navigation = ["https://example.com/*"] # extra top-level URLs a surface may open
//!
//! [limits]                               # optional
//! max_message_bytes = 16777216
//! max_json_depth = 64
//! max_in_flight = 256
//!
//! [main]
//! page = "index.html"                    # under ui/, or an http(s) URL
//!
//! [[overlay]]
//! label = "status"
//! page = "status.html"
//! anchor = "top"                         # fill, center, top, bottom, left, right, top-left, …
//! width = "100%"                         # px as a number or "48px", or a percentage
//! height = 48
//! margin = 0
//! transparent = true
//! visible = true
//! input = "pass-through"                 # or "normal"
//! ```
//!
//! `[recovery]` and `[kiosk]` are described in `config::policy`, `[network]` and `[web]` in
//! `config::network`, `[dbus]` and `[tray]`
//! in `config::bus`, `[keyboard]` in `config::keyboard`.
//!
//! The raw TOML shapes reject unknown keys; [`Manifest::parse`] turns them into the
//! validated, normalized form that is embedded in the binary.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::bus::{Dbus, RawTray, Tray, TrayContext, PRINCIPALS};
use super::error::{line_col, ConfigError, ConfigErrors};
use super::keyboard::{Keyboard, RawKeyboard};
use super::lockdown::{Auth, FileChooser, Grant, Lockdown, Position, Print, Printer, SurfaceLockdown, Zoom};
use super::network::{Network, Web};
use super::os::Http;
use super::policy::{Kiosk, Recovery};

/// The label of the main surface unless `[main] label` says otherwise.
pub const DEFAULT_MAIN_LABEL: &str = "main";

/// A strict policy for local pages: only the app's own scripts, no plugins, no framing.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub csp: String,
    /// URL globs a surface may navigate to at the top level, besides its own pages.
    pub navigation: Vec<String>,
    pub limits: Limits,
    pub recovery: Recovery,
    pub kiosk: Kiosk,
    pub main: SurfaceConfig,
    pub overlays: Vec<SurfaceConfig>,
    /// `[dbus]`: the control interface's bus and name (see `config::bus`).
    pub dbus: Dbus,
    /// `[tray]`: the StatusNotifierItem, if any.
    pub tray: Option<Tray>,
    /// `[http]`: requests through the core and their secrets (see `config::os`).
    pub http: Http,
    /// `[[permission]]`, `[geolocation]`, `[[auth]]` (see `config::lockdown`).
    pub lockdown: Lockdown,
    /// `[network]`: proxy, extra certificate authorities, pinned certificates.
    pub network: Network,
    /// `[web]`: the web data the surfaces keep.
    pub web: Web,
    /// `[display]`: screen power, brightness, rotation (see `config::display`).
    #[serde(default)]
    pub display: super::display::Display,
    /// `[keyboard]`: the built-in on-screen keyboard, if any.
    pub keyboard: Option<Keyboard>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest IPC message a page may send, in bytes.
    pub max_message_bytes: usize,
    /// Deepest nesting of arrays and objects in an IPC message.
    pub max_json_depth: usize,
    /// Calls one surface may have waiting for an answer at once.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_message_bytes: 16 * 1024 * 1024, max_json_depth: 64, max_in_flight: 256 }
    }
}

/// Where a surface's page comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Page {
    /// A file under `ui/`, served as `app://localhost/<path>`.
    Local(String),
    /// An `http`/`https` URL.
    Remote(String),
}

impl Page {
    pub fn url(&self) -> String {
        match self {
            Page::Local(path) => format!("app://localhost/{path}"),
            Page::Remote(url) => url.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    Fill,
    Center,
    Top,
    Bottom,
    Left,
    Right,
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InputMode {
    /// The surface receives pointer and touch input where it lies.
    Normal,
    /// Input goes through to the surface below, everywhere.
    PassThrough,
}

/// A size along one axis.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Length {
    Px(u32),
    Percent(u32),
}

impl Length {
    /// Resolves against the monitor's extent along the same axis.
    pub fn resolve(self, extent: u32) -> u32 {
        match self {
            Length::Px(px) => px.min(extent),
            Length::Percent(p) => (u64::from(extent) * u64::from(p) / 100) as u32,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SurfaceConfig {
    pub label: String,
    pub page: Page,
    pub anchor: Anchor,
    pub width: Length,
    pub height: Length,
    pub margin: u32,
    pub transparent: bool,
    pub visible: bool,
    pub input: InputMode,
    /// `file_chooser`, `print`, `zoom` (see `config::lockdown`).
    pub lockdown: SurfaceLockdown,
}

impl Manifest {
    /// The main surface first, then the overlays in the order declared (bottom to top).
    pub fn surfaces(&self) -> impl Iterator<Item = &SurfaceConfig> {
        std::iter::once(&self.main).chain(self.overlays.iter())
    }

    pub fn surface(&self, label: &str) -> Option<&SurfaceConfig> {
        self.surfaces().find(|s| s.label == label)
    }

    /// Parses and validates the text of `vitrine.toml`; `ui_files` are the paths under `ui/`.
    /// On failure it still returns the surface labels it could read, so that capability
    /// files can be checked against them in the same run.
    pub fn parse(file: &Path, text: &str, ui_files: &BTreeSet<&str>) -> Result<Manifest, (ConfigErrors, Vec<String>)> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let place = e.span().map(|s| line_col(text, s.start)).unwrap_or_default();
            let reason = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
            (ConfigErrors(vec![ConfigError::new(file, place, reason)]), Vec::new())
        })?;
        let labels: Vec<String> = raw
            .main
            .as_ref()
            .map(|m| m.label.clone().unwrap_or_else(|| DEFAULT_MAIN_LABEL.to_string()))
            .into_iter()
            .chain(raw.overlay.iter().filter_map(|o| o.label.clone()))
            .collect();
        let mut errors = ConfigErrors::default();
        let mut err = |place: String, reason: String| errors.push(ConfigError::new(file, place, reason));

        if raw.app.name.trim().is_empty() {
            err("app.name".into(), "must not be empty".into());
        }
        let csp = raw.app.csp.unwrap_or_else(|| DEFAULT_CSP.to_string());
        if csp.trim().is_empty() || csp.contains(['\r', '\n']) {
            err("app.csp".into(), "must be one non-empty line".into());
        }
        for (i, pattern) in raw.app.navigation.iter().enumerate() {
            if let Err(reason) = check_url_pattern(pattern) {
                err(format!("app.navigation[{i}]"), reason);
            }
        }
        let limits = raw.limits;
        if !(1024..=256 * 1024 * 1024).contains(&limits.max_message_bytes) {
            err("limits.max_message_bytes".into(), "must be between 1024 and 268435456".into());
        }
        if !(1..=1000).contains(&limits.max_json_depth) {
            err("limits.max_json_depth".into(), "must be between 1 and 1000".into());
        }
        if !(1..=100_000).contains(&limits.max_in_flight) {
            err("limits.max_in_flight".into(), "must be between 1 and 100000".into());
        }
        let checks = raw.recovery.check().into_iter().chain(raw.dbus.check()).chain(raw.http.check());
        let checks = checks.chain(raw.display.check());
        for (key, reason) in checks.chain(raw.kiosk.check()).chain(raw.network.check()) {
            err(key, reason);
        }
        let mut lockdown =
            Lockdown { permissions: raw.permission, geolocation: raw.geolocation, auth: raw.auth, print: raw.print };
        for (key, reason) in lockdown.check() {
            err(key, reason);
        }

        // Duplicates are found among the labels as written, so each is reported at its
        // own place even when other parts of a surface are broken.
        let main_label = raw.main.as_ref().map(|m| m.label.clone().unwrap_or_else(|| DEFAULT_MAIN_LABEL.to_string()));
        let overlay_labels: Vec<Option<String>> = raw.overlay.iter().map(|o| o.label.clone()).collect();
        let main = raw.main.map(|m| RawSurface {
            label: Some(m.label.unwrap_or_else(|| DEFAULT_MAIN_LABEL.to_string())),
            page: m.page,
            transparent: Some(false),
            file_chooser: m.file_chooser,
            print: m.print,
            zoom: m.zoom,
            ..RawSurface::default()
        });
        let main = match main {
            Some(m) => m.resolve("main", ui_files, &mut err),
            None => {
                err("main".into(), "missing table: the main surface must be declared".into());
                None
            }
        };
        let overlays: Vec<SurfaceConfig> = raw
            .overlay
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| o.resolve(&format!("overlay[{i}]"), ui_files, &mut err))
            .collect();

        let mut seen = BTreeSet::new();
        let places = std::iter::once(("main.label".to_string(), main_label))
            .chain(overlay_labels.into_iter().enumerate().map(|(i, l)| (format!("overlay[{i}].label"), l)));
        for (place, label) in places {
            if let Some(label) = label.filter(|l| !l.is_empty()) {
                if !seen.insert(label.clone()) {
                    err(place, format!("duplicate surface label '{label}'"));
                }
            }
        }

        let silent = main.iter().chain(overlays.iter()).find(|s| s.lockdown.print == Print::Silent);
        if let (Some(s), None) = (silent, &lockdown.print) {
            err("print".into(), format!("surface '{}' prints silently but no [print] printer is configured", s.label));
        }

        let overlay_names: Vec<String> = overlays.iter().map(|o| o.label.clone()).collect();
        let tray = match (raw.tray, &main) {
            (Some(tray), Some(main)) => {
                let cx = TrayContext { app_name: &raw.app.name, main: &main.label, overlays: &overlay_names, ui_files };
                tray.resolve(&cx, &mut err)
            }
            _ => None,
        };

        let keyboard = raw.keyboard.and_then(|k| k.resolve(&labels, &mut err));

        match main {
            Some(main) if errors.is_empty() => {
                let (recovery, kiosk, dbus) = (raw.recovery, raw.kiosk, raw.dbus);
                Ok(Manifest {
                    name: raw.app.name,
                    csp,
                    navigation: raw.app.navigation,
                    limits,
                    recovery,
                    kiosk,
                    main,
                    overlays,
                    dbus,
                    tray,
                    http: raw.http,
                    lockdown,
                    network: raw.network,
                    web: raw.web,
                    display: raw.display,
                    keyboard,
                })
            }
            _ => Err((errors, labels)),
        }
    }
}

/// Checks a URL glob such as `https://example.com/*`.
pub fn check_url_pattern(pattern: &str) -> Result<(), String> {
    let scheme_ok = ["https://", "http://", "app://"].iter().any(|s| pattern.starts_with(s));
    if !scheme_ok {
        return Err(format!("'{pattern}' must start with https://, http:// or app://"));
    }
    super::urlpattern::UrlPattern::new(pattern).map(|_| ())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: RawApp,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    recovery: Recovery,
    #[serde(default)]
    kiosk: Kiosk,
    main: Option<RawMain>,
    #[serde(default)]
    overlay: Vec<RawSurface>,
    #[serde(default)]
    http: Http,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    web: Web,
    #[serde(default)]
    display: super::display::Display,
    #[serde(default)]
    dbus: Dbus,
    tray: Option<RawTray>,
    #[serde(default)]
    permission: Vec<Grant>,
    geolocation: Option<Position>,
    #[serde(default)]
    auth: Vec<Auth>,
    print: Option<Printer>,
    keyboard: Option<RawKeyboard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
    csp: Option<String>,
    #[serde(default)]
    navigation: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMain {
    label: Option<String>,
    page: String,
    file_chooser: Option<FileChooser>,
    print: Option<Print>,
    zoom: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSurface {
    label: Option<String>,
    page: String,
    anchor: Option<Anchor>,
    width: Option<RawLength>,
    height: Option<RawLength>,
    margin: Option<u32>,
    transparent: Option<bool>,
    visible: Option<bool>,
    input: Option<InputMode>,
    file_chooser: Option<FileChooser>,
    print: Option<Print>,
    zoom: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawLength {
    Px(i64),
    Text(String),
}

impl RawLength {
    pub(super) fn resolve(&self) -> Result<Length, String> {
        let len = match self {
            RawLength::Px(px) => Length::Px(u32::try_from(*px).map_err(|_| format!("{px} is not a size"))?),
            RawLength::Text(t) => {
                let t = t.trim();
                if let Some(p) = t.strip_suffix('%') {
                    Length::Percent(p.trim().parse().map_err(|_| format!("'{t}' is not a percentage"))?)
                } else {
                    let px = t.strip_suffix("px").unwrap_or(t).trim();
                    Length::Px(px.parse().map_err(|_| format!("'{t}' is neither pixels nor a percentage"))?)
                }
            }
        };
        match len {
            Length::Px(0) | Length::Percent(0) => Err("must be greater than zero".into()),
            Length::Px(px) if px > 16384 => Err(format!("{px}px is larger than any screen")),
            Length::Percent(p) if p > 100 => Err(format!("{p}% is more than the screen")),
            ok => Ok(ok),
        }
    }
}

impl RawSurface {
    fn resolve(
        self,
        place: &str,
        ui_files: &BTreeSet<&str>,
        err: &mut impl FnMut(String, String),
    ) -> Option<SurfaceConfig> {
        let mut ok = true;
        let label = self.label.unwrap_or_default();
        if let Err(reason) = check_label(&label) {
            err(format!("{place}.label"), reason);
            ok = false;
        }
        let page = match parse_page(&self.page, ui_files) {
            Ok(p) => Some(p),
            Err(reason) => {
                err(format!("{place}.page"), reason);
                None
            }
        };
        let mut length = |key: &str, raw: Option<RawLength>| match raw.map(|r| r.resolve()) {
            None => Some(Length::Percent(100)),
            Some(Ok(l)) => Some(l),
            Some(Err(reason)) => {
                err(format!("{place}.{key}"), reason);
                None
            }
        };
        let width = length("width", self.width);
        let height = length("height", self.height);
        let zoom = match self.zoom.map(Zoom::new) {
            None => Some(Zoom::default()),
            Some(Ok(z)) => Some(z),
            Some(Err(reason)) => {
                err(format!("{place}.zoom"), reason);
                None
            }
        };
        match (page, width, height, zoom) {
            (Some(page), Some(width), Some(height), Some(zoom)) if ok => Some(SurfaceConfig {
                label,
                page,
                anchor: self.anchor.unwrap_or(Anchor::Fill),
                width,
                height,
                margin: self.margin.unwrap_or(0),
                transparent: self.transparent.unwrap_or(true),
                visible: self.visible.unwrap_or(true),
                input: self.input.unwrap_or(InputMode::Normal),
                lockdown: SurfaceLockdown {
                    file_chooser: self.file_chooser.unwrap_or_default(),
                    print: self.print.unwrap_or_default(),
                    zoom,
                },
            }),
            _ => None,
        }
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("missing: every surface needs a label".into());
    }
    if label.len() > 64 || !label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!("'{label}' must be 1-64 characters of a-z, 0-9, '-' and '_'"));
    }
    if PRINCIPALS.contains(&label) {
        return Err(format!("'{label}' is reserved: capabilities name D-Bus callers and the MQTT bridge with it"));
    }
    Ok(())
}

fn parse_page(page: &str, ui_files: &BTreeSet<&str>) -> Result<Page, String> {
    if page.starts_with("https://") || page.starts_with("http://") {
        let url = url::Url::parse(page).map_err(|e| format!("'{page}' is not a valid URL: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("'{page}' has no host"));
        }
        return Ok(Page::Remote(page.to_string()));
    }
    if page.contains("://") {
        return Err(format!("'{page}': only pages under ui/ and http(s) URLs are supported"));
    }
    let path = page.trim_start_matches('/');
    let file = path.split(['?', '#']).next().unwrap_or_default();
    if !ui_files.contains(file) {
        return Err(format!("'{file}' does not exist in ui/"));
    }
    Ok(Page::Local(path.to_string()))
}
