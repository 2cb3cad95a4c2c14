//! Capability resolution: may this surface, showing this page, call this command?
//!
//! Pure and deterministic: built from the surfaces' labels and the capability files, it
//! answers from the caller's label (bound by the core, never read from a message), the
//! URL of the page the call came from, the command, and for scoped commands one value.
//! The rules it implements (deny by default, deny wins, which capabilities apply to
//! which page, scopes) are specified in `docs/capabilities.md`.

use std::collections::BTreeMap;

use crate::config::permissions::{self, Effect};
use crate::config::{Capability, UrlPattern};

/// Origin of the pages the core serves itself.
pub const LOCAL_ORIGIN: &str = "app://localhost";

/// Why a call was refused; the text names the surface, the command and the permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

#[derive(Debug, Clone)]
struct Grant {
    capability: String,
    effect: Effect,
    /// `None`: any value; otherwise the allow scopes.
    allow: Option<Vec<Matcher>>,
    deny: Vec<Matcher>,
}

/// A scope pattern: a glob, or for URL scopes a [`UrlPattern`] (whose `*` cannot leave
/// the host).
#[derive(Debug, Clone)]
enum Matcher {
    Glob(glob::Pattern),
    Url(UrlPattern),
}

impl Matcher {
    fn new(scope: &crate::config::Scope) -> Option<Self> {
        if scope.kind == "url" {
            UrlPattern::new(&scope.pattern).ok().map(Matcher::Url)
        } else {
            glob::Pattern::new(&scope.pattern).ok().map(Matcher::Glob)
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Glob(p) => p.matches(value),
            Matcher::Url(p) => p.matches(value),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ResolvedCapability {
    remote: Vec<UrlPattern>,
    /// Grants keyed by command name.
    grants: BTreeMap<&'static str, Vec<Grant>>,
}

/// The resolved permissions of every surface.
#[derive(Debug, Clone, Default)]
pub struct Authority {
    surfaces: BTreeMap<String, Vec<ResolvedCapability>>,
}

impl Authority {
    /// Resolves `capabilities` for the surfaces `labels`. Permissions and globs that do
    /// not parse are skipped: configuration validation has already refused them, and
    /// skipping can only remove an allow, never add one.
    pub fn new<'a>(labels: impl IntoIterator<Item = &'a str>, capabilities: &[Capability]) -> Self {
        let mut surfaces = BTreeMap::new();
        for label in labels {
            let resolved = capabilities.iter().filter(|c| c.applies_to(label)).map(resolve).collect();
            surfaces.insert(label.to_string(), resolved);
        }
        Self { surfaces }
    }

    /// Whether the page at `url` may invoke at all: local pages always, remote pages only
    /// where a capability of the surface lists them.
    pub fn check_origin(&self, label: &str, url: &str) -> Result<(), Denied> {
        if self.applicable(label, url).next().is_some() || is_local(url) {
            return Ok(());
        }
        Err(Denied(format!(
            "surface '{label}' may not invoke from '{}': the page is not local and no capability lists it in remote.urls",
            origin_of(url)
        )))
    }

    /// Decides one call. `value` is the scope value for scoped commands (an event name,
    /// a store key).
    pub fn check(&self, label: &str, url: &str, command: &str, value: Option<&str>) -> Result<(), Denied> {
        self.checker(label, url, command).check(value)
    }

    /// The grants of one surface's page for one command, detached from the authority so
    /// that work on another thread can check many values (the keys of a store listing).
    pub fn checker(&self, label: &str, url: &str, command: &str) -> Checker {
        let grants = self.applicable(label, url).filter_map(|c| c.grants.get(command)).flatten().cloned().collect();
        Checker { label: label.to_string(), command: command.to_string(), grants }
    }

    fn applicable<'a>(&'a self, label: &str, url: &'a str) -> impl Iterator<Item = &'a ResolvedCapability> + 'a {
        let local = is_local(url);
        self.surfaces.get(label).into_iter().flatten().filter(move |c| local || c.remote.iter().any(|p| p.matches(url)))
    }
}

/// Whether `url` is one of the core's own pages.
pub fn is_local(url: &str) -> bool {
    url.strip_prefix(LOCAL_ORIGIN).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

/// One surface's grants for one command; see [`Authority::checker`].
#[derive(Debug, Clone)]
pub struct Checker {
    label: String,
    command: String,
    grants: Vec<Grant>,
}

impl Checker {
    pub fn check(&self, value: Option<&str>) -> Result<(), Denied> {
        let (label, command) = (&self.label, &self.command);
        let allow_id = permissions::permission_id(command, Effect::Allow);
        let what = match value {
            Some(v) => format!("surface '{label}' may not call '{command}' for '{v}'"),
            None => format!("surface '{label}' may not call '{command}'"),
        };
        if let Some(g) = self.grants.iter().find(|g| g.effect == Effect::Deny) {
            let deny_id = permissions::permission_id(command, Effect::Deny);
            return Err(Denied(format!("{what}: denied by '{deny_id}' in capability '{}'", g.capability)));
        }
        let allows: Vec<&Grant> = self.grants.iter().filter(|g| g.effect == Effect::Allow).collect();
        if allows.is_empty() {
            return Err(Denied(format!("{what}: no capability grants '{allow_id}'")));
        }
        let Some(value) = value else { return Ok(()) };
        if let Some(g) = allows.iter().find(|g| g.deny.iter().any(|p| p.matches(value))) {
            return Err(Denied(format!(
                "{what}: a deny scope of '{allow_id}' in capability '{}' matches",
                g.capability
            )));
        }
        let in_scope = allows.iter().any(|g| g.allow.as_ref().is_none_or(|a| a.iter().any(|p| p.matches(value))));
        if in_scope {
            Ok(())
        } else {
            Err(Denied(format!("{what}: no allow scope of '{allow_id}' matches")))
        }
    }

    pub fn allows(&self, value: &str) -> bool {
        self.check(Some(value)).is_ok()
    }
}

fn resolve(cap: &Capability) -> ResolvedCapability {
    let patterns = |v: &[crate::config::Scope]| -> Vec<Matcher> { v.iter().filter_map(Matcher::new).collect() };
    let mut grants: BTreeMap<&'static str, Vec<Grant>> = BTreeMap::new();
    for p in &cap.permissions {
        let Some((spec, effect)) = permissions::parse_permission(&p.identifier) else {
            continue;
        };
        grants.entry(spec.name).or_default().push(Grant {
            capability: cap.identifier.clone(),
            effect,
            allow: p.allow.as_deref().map(patterns),
            deny: patterns(&p.deny),
        });
    }
    ResolvedCapability { remote: cap.remote_urls.iter().filter_map(|u| UrlPattern::new(u).ok()).collect(), grants }
}
