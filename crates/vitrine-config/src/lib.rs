//! Static configuration: `vitrine.toml`, `capabilities/*.json` and the `ui/` folder.
//!
//! A device build is fixed at compile time. The kiosk's `build.rs` depends on this
//! crate, loads the project folder with [`load_dir`], and embeds the resulting
//! [`Bundle`] as postcard bytes; at run time the binary (where this crate is
//! `vitrine::config`) decodes it with [`Bundle::from_postcard`]. `vitrine check DIR` and
//! `vitrine run --config DIR` go through the same [`load_dir`], so the build, the
//! checker and the development override can never disagree.

pub mod bus;
pub mod capability;
pub mod display;
pub mod error;
pub mod keyboard;
pub mod lockdown;
pub mod manifest;
pub mod network;
pub mod os;
pub mod permissions;
pub mod policy;
pub mod urlpattern;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use bus::principal_url;
pub use bus::{BusKind, Dbus, Tray, TrayAction, TrayIcon, TrayItem, DBUS_PRINCIPAL, MQTT_PRINCIPAL, PRINCIPALS};
pub use capability::{Capability, PermissionEntry, Scope};
pub use error::{ConfigError, ConfigErrors};
pub use keyboard::{Keyboard, KeyboardMode};
pub use lockdown::{Lockdown, Permission, SurfaceLockdown};
pub use manifest::{Anchor, InputMode, Length, Limits, Manifest, Page, SurfaceConfig};
pub use policy::{Kiosk, Recovery};
pub use urlpattern::UrlPattern;

/// Name of the manifest file at the root of a configuration folder.
pub const MANIFEST_FILE: &str = "vitrine.toml";
/// Folder holding capability files.
pub const CAPABILITIES_DIR: &str = "capabilities";
/// Folder holding the pages served over `app://localhost/`.
pub const UI_DIR: &str = "ui";

/// One file of the user interface, served at `app://localhost/<path>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UiFile {
    /// Path relative to `ui/`, with `/` separators.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Everything a device build needs, validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub capabilities: Vec<Capability>,
    pub ui: Vec<UiFile>,
}

impl Bundle {
    pub fn to_postcard(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(self)
    }

    pub fn from_postcard(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// The embedded file at `path` (relative to `ui/`), if any.
    pub fn ui_file(&self, path: &str) -> Option<&UiFile> {
        self.ui.iter().find(|f| f.path == path)
    }
}

/// Loads and validates a configuration folder. Every problem found is reported, not
/// only the first, each with its file, place and reason.
pub fn load_dir(dir: &Path) -> Result<Bundle, ConfigErrors> {
    let mut errors = ConfigErrors::default();

    let ui = match read_ui(&dir.join(UI_DIR)) {
        Ok(ui) => ui,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    let ui_paths: BTreeSet<&str> = ui.iter().map(|f| f.path.as_str()).collect();

    let manifest_path = dir.join(MANIFEST_FILE);
    let mut labels = Vec::new();
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => match Manifest::parse(&manifest_path, &text, &ui_paths) {
            Ok(m) => {
                labels = m.surfaces().map(|s| s.label.clone()).collect();
                Some(m)
            }
            Err((e, seen)) => {
                errors.extend(e);
                labels = seen;
                None
            }
        },
        Err(e) => {
            errors.push(ConfigError::new(&manifest_path, "", format!("cannot read: {e}")));
            None
        }
    };

    // Files that parse are still checked when others do not, so one run shows all.
    let (capabilities, unreadable) = read_capabilities(&dir.join(CAPABILITIES_DIR));
    errors.extend(unreadable);

    // Without a readable manifest the surfaces are unknown: capabilities are still
    // checked, all but whether their windows match a surface.
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let known = (manifest.is_some() || !labels.is_empty()).then_some(labels.as_slice());
    let principal_errors = |e: &ConfigError| principal_only(&capabilities, e);
    errors.extend(capability::validate_all(&capabilities, known).into_iter().filter(|e| !principal_errors(e)));

    match manifest {
        Some(manifest) if errors.is_empty() => {
            Ok(Bundle { manifest, capabilities: capabilities.into_iter().map(|(_, c)| c).collect(), ui })
        }
        _ => Err(errors),
    }
}

/// Whether `e` says a `windows` glob matches no surface when it matches a principal that
/// is no surface ([`PRINCIPALS`]: D-Bus callers, the MQTT bridge): such a glob is valid.
fn principal_only(caps: &[(PathBuf, Capability)], e: &ConfigError) -> bool {
    let index =
        e.place.strip_prefix("windows[").and_then(|r| r.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok());
    let Some(index) = index else { return false };
    let window = caps.iter().find(|(file, _)| *file == e.file).and_then(|(_, c)| c.windows.get(index));
    e.reason.contains("matches no surface")
        && window
            .and_then(|w| glob::Pattern::new(w).ok())
            .is_some_and(|p| PRINCIPALS.iter().any(|principal| p.matches(principal)))
}

/// The capability files that parse, and the errors of those that do not.
fn read_capabilities(dir: &Path) -> (Vec<(PathBuf, Capability)>, ConfigErrors) {
    let mut errors = ConfigErrors::default();
    let mut caps = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No capabilities at all is valid: every command is then denied.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (caps, errors),
        Err(e) => {
            errors.push(ConfigError::new(dir, "", format!("cannot read folder: {e}")));
            return (caps, errors);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => match Capability::parse(&path, &text) {
                Ok(cap) => caps.push((path, cap)),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(ConfigError::new(&path, "", format!("cannot read: {e}"))),
        }
    }
    (caps, errors)
}

fn read_ui(dir: &Path) -> Result<Vec<UiFile>, ConfigError> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Err(ConfigError::new(dir, "", "the ui folder does not exist"));
    }
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<UiFile>) -> Result<(), ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ConfigError::new(dir, "", format!("cannot read folder: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| ConfigError::new(dir, "", format!("cannot read folder: {e}")))?;
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let bytes = std::fs::read(&path).map_err(|e| ConfigError::new(&path, "", format!("cannot read: {e}")))?;
        out.push(UiFile { path: rel, bytes });
    }
    Ok(())
}

/// Every file under `dir` that a build depends on.
pub fn input_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.join(MANIFEST_FILE), dir.join(CAPABILITIES_DIR), dir.join(UI_DIR)];
    if let Ok(ui) = read_ui(&dir.join(UI_DIR)) {
        out.extend(ui.iter().map(|f| dir.join(UI_DIR).join(&f.path)));
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(CAPABILITIES_DIR)) {
        out.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    out
}
