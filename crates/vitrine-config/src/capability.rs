//! `capabilities/*.json`: which surface may call which command.
//!
//! The format (Tauri v2's shape), its validation and its resolution are specified in
//! `docs/capabilities.md`. This file parses one file and validates all of them against
//! each other and the surfaces; resolution happens in `ipc::authority`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::manifest::check_url_pattern;
use super::permissions::{parse_permission, Effect};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Capability {
    pub identifier: String,
    pub description: String,
    /// Globs over surface labels.
    pub windows: Vec<String>,
    pub permissions: Vec<PermissionEntry>,
    /// URL globs of remote pages that may use this capability. Empty: local pages only.
    pub remote_urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PermissionEntry {
    pub identifier: String,
    /// `None`: any scope value. `Some`: only these.
    pub allow: Option<Vec<Scope>>,
    pub deny: Vec<Scope>,
}

impl PermissionEntry {
    pub fn plain(identifier: &str) -> Self {
        Self { identifier: identifier.to_string(), allow: None, deny: Vec::new() }
    }
}

/// A glob over the value a scoped command is checked against.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Scope {
    /// What the glob is over: `event` or `key` (see `permissions::ScopeKind`); empty
    /// when the file named none or several, which validation reports.
    pub kind: String,
    pub pattern: String,
}

impl Capability {
    /// Parses one capability file; semantic checks against the surfaces come later in
    /// [`validate_all`].
    pub fn parse(file: &Path, text: &str) -> Result<Capability, ConfigError> {
        let raw: RawCapability = serde_json::from_str(text).map_err(|e| {
            let place = format!("line {}, column {}", e.line(), e.column());
            let reason = e.to_string();
            // serde_json appends " at line L column C"; the place already says it.
            let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
            ConfigError::new(file, place, reason)
        })?;
        let permissions = raw
            .permissions
            .into_iter()
            .map(|p| match p {
                RawPermission::Id(identifier) => PermissionEntry::plain(&identifier),
                RawPermission::Scoped { identifier, allow, deny } => PermissionEntry {
                    identifier,
                    allow: allow.map(|a| a.into_iter().map(RawScope::into_scope).collect()),
                    deny: deny.into_iter().map(RawScope::into_scope).collect(),
                },
            })
            .collect();
        Ok(Capability {
            identifier: raw.identifier,
            description: raw.description.unwrap_or_default(),
            windows: raw.windows,
            permissions,
            remote_urls: raw.remote.map(|r| r.urls).unwrap_or_default(),
        })
    }

    /// Whether this capability applies to the surface `label`.
    pub fn applies_to(&self, label: &str) -> bool {
        self.windows.iter().any(|w| glob::Pattern::new(w).is_ok_and(|p| p.matches(label)))
    }
}

/// Checks capabilities against each other and against the surfaces' labels.
/// `labels` is `None` when the surfaces could not be read; windows are then only checked
/// for syntax.
pub fn validate_all(caps: &[(std::path::PathBuf, Capability)], labels: Option<&[&str]>) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut ids: BTreeMap<&str, &Path> = BTreeMap::new();
    for (file, cap) in caps {
        let mut err = |place: String, reason: String| errors.push(ConfigError::new(file, place, reason));
        let id_ok = !cap.identifier.is_empty()
            && cap.identifier.chars().all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c));
        if !id_ok {
            err("identifier".into(), format!("'{}' must be non-empty a-z, 0-9, '-', '_', ':', '.'", cap.identifier));
        } else if let Some(other) = ids.insert(&cap.identifier, file) {
            err("identifier".into(), format!("'{}' is also defined in {}", cap.identifier, other.display()));
        }
        if cap.windows.is_empty() {
            err("windows".into(), "must name at least one surface".into());
        }
        for (i, w) in cap.windows.iter().enumerate() {
            match glob::Pattern::new(w) {
                Err(e) => err(format!("windows[{i}]"), format!("'{w}' is not a valid glob: {e}")),
                Ok(p) if labels.is_some_and(|ls| !ls.iter().any(|l| p.matches(l))) => {
                    let all = labels.unwrap_or_default().join(", ");
                    err(format!("windows[{i}]"), format!("'{w}' matches no surface (surfaces: {all})"))
                }
                Ok(_) => {}
            }
        }
        if cap.permissions.is_empty() {
            err("permissions".into(), "grants nothing: list at least one permission".into());
        }
        for (i, p) in cap.permissions.iter().enumerate() {
            let place = format!("permissions[{i}]");
            let Some((spec, effect)) = parse_permission(&p.identifier) else {
                err(place, format!("unknown permission '{}'", p.identifier));
                continue;
            };
            let has_scopes = p.allow.is_some() || !p.deny.is_empty();
            if has_scopes && (spec.scope.is_none() || effect == Effect::Deny) {
                err(place, format!("'{}' takes no scopes", p.identifier));
                continue;
            }
            if p.allow.as_ref().is_some_and(Vec::is_empty) {
                err(format!("{place}.allow"), "is empty: omit it to allow any value".into());
            }
            let scopes = p.allow.iter().flatten().map(|s| ("allow", s)).chain(p.deny.iter().map(|s| ("deny", s)));
            let want = spec.scope.map(|k| k.key()).unwrap_or_default();
            for (j, (list, s)) in scopes.enumerate() {
                if s.kind != want {
                    err(
                        format!("{place}.{list}[{j}]"),
                        format!("'{}' scopes are objects with one key: '{want}'", p.identifier),
                    );
                } else if want == "url" {
                    if let Err(reason) = super::urlpattern::UrlPattern::new(&s.pattern) {
                        err(format!("{place}.{list}[{j}]"), reason);
                    }
                } else if let Err(e) = glob::Pattern::new(&s.pattern) {
                    err(format!("{place}.{list}[{j}]"), format!("'{}' is not a valid glob: {e}", s.pattern));
                }
            }
        }
        for (i, url) in cap.remote_urls.iter().enumerate() {
            if url.starts_with("app://") {
                err(format!("remote.urls[{i}]"), "local pages need no remote entry".into());
            } else if let Err(reason) = check_url_pattern(url) {
                err(format!("remote.urls[{i}]"), reason);
            }
        }
    }
    errors
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapability {
    #[serde(rename = "$schema")]
    _schema: Option<String>,
    identifier: String,
    description: Option<String>,
    windows: Vec<String>,
    permissions: Vec<RawPermission>,
    remote: Option<RawRemote>,
}

#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum RawPermission {
    Id(String),
    Scoped {
        identifier: String,
        allow: Option<Vec<RawScope>>,
        #[serde(default)]
        deny: Vec<RawScope>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    event: Option<String>,
    key: Option<String>,
    path: Option<String>,
    url: Option<String>,
}

impl RawScope {
    fn into_scope(self) -> Scope {
        let given = [("event", self.event), ("key", self.key), ("path", self.path), ("url", self.url)];
        let mut given = given.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
        match (given.next(), given.next()) {
            (Some((kind, pattern)), None) => Scope { kind: kind.into(), pattern },
            _ => Scope { kind: String::new(), pattern: String::new() },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    urls: Vec<String>,
}
