//! Capability resolution, from fixture folders and from random configurations.
//!
//! Each folder under `tests/fixtures/authority/` is a valid configuration folder plus an
//! `expect.json`, a list of checks:
//!
//! ```json
//! [{ "surface": "main", "url": "app://localhost/index.html", "command": "window.show",
//!    "value": null, "allowed": true, "reason": "optional substring of the denial" }]
//! ```
//!
//! `command` absent (or null) checks the origin only ([`Authority::check_origin`]);
//! `"*"` checks every command of the catalog. `value` is the scope value (optional).
//!
//! The property tests compare [`Authority::check`] against a reference model written
//! here with plain loops over the capabilities, independently of `ipc::authority`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde::Deserialize;
use vitrine::config::permissions::COMMANDS;
use vitrine::config::{Capability, PermissionEntry, Scope};
use vitrine::ipc::{Authority, Denied};

// ---------------------------------------------------------------------------------------
// Fixture folders

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    surface: String,
    url: String,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    value: Option<String>,
    allowed: bool,
    #[serde(default)]
    reason: Option<String>,
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/authority")
}

fn fixture_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixture_root())
        .expect("tests/fixtures/authority")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// Runs the expectations of one fixture folder; returns the failures.
fn run_case(dir: &Path) -> Vec<String> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bundle = vitrine::config::load_dir(dir).unwrap_or_else(|e| panic!("{name}: invalid configuration:\n{e}"));
    let labels: Vec<&str> = bundle.manifest.surfaces().map(|s| s.label.as_str()).collect();
    let authority = Authority::new(labels.iter().copied(), &bundle.capabilities);

    let text = std::fs::read_to_string(dir.join("expect.json")).unwrap_or_else(|e| panic!("{name}/expect.json: {e}"));
    let expectations: Vec<Expectation> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}/expect.json: {e}"));
    assert!(!expectations.is_empty(), "{name}/expect.json lists no checks");

    let mut failures = Vec::new();
    for (i, x) in expectations.iter().enumerate() {
        let commands: Vec<Option<&str>> = match x.command.as_deref() {
            None => vec![None],
            Some("*") => COMMANDS.iter().map(|c| Some(c.name)).collect(),
            Some(c) => vec![Some(c)],
        };
        for command in commands {
            let got = match command {
                None => authority.check_origin(&x.surface, &x.url),
                Some(c) => authority.check(&x.surface, &x.url, c, x.value.as_deref()),
            };
            let what = format!(
                "{name}[{i}]: {} at {} calling {} with {:?}",
                x.surface,
                x.url,
                command.unwrap_or("(origin)"),
                x.value
            );
            match (&got, x.allowed) {
                (Ok(()), true) => {
                    if x.reason.is_some() {
                        failures.push(format!("{what}: a reason is given for an allowed call"));
                    }
                }
                (Ok(()), false) => failures.push(format!("{what}: allowed, expected a denial")),
                (Err(Denied(msg)), true) => failures.push(format!("{what}: denied ({msg}), expected allowed")),
                (Err(Denied(msg)), false) => {
                    if let Some(reason) = &x.reason {
                        if !msg.contains(reason.as_str()) {
                            failures.push(format!("{what}: denial '{msg}' does not contain '{reason}'"));
                        }
                    }
                }
            }
            // A call that passes always comes from an origin that may invoke.
            if command.is_some() && got.is_ok() && authority.check_origin(&x.surface, &x.url).is_err() {
                failures.push(format!("{what}: the call passes but check_origin refuses the page"));
            }
        }
    }
    failures
}

#[test]
fn fixture_folders_meet_their_expectations() {
    let cases = fixture_cases();
    let names: Vec<String> =
        cases.iter().map(|c| c.file_name().expect("a name").to_string_lossy().into_owned()).collect();
    for expected in ["deny-wins", "glob-windows", "nothing-granted", "remote-origins", "scoped-events"] {
        assert!(names.iter().any(|n| n == expected), "fixture '{expected}' is missing: {names:?}");
    }
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(c)).collect();
    assert!(failures.is_empty(), "{} failed expectations:\n{}", failures.len(), failures.join("\n"));
}

/// Guards the harness itself: a wrong expectation must be noticed.
#[test]
fn the_fixture_harness_notices_wrong_expectations() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = fixture_root().join("deny-wins");
    for rel in ["vitrine.toml", "ui/index.html", "capabilities/grant.json", "capabilities/lockdown.json"] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("create folder");
        std::fs::copy(src.join(rel), &to).expect("copy");
    }
    std::fs::write(
        dir.path().join("expect.json"),
        r#"[
          { "surface": "main", "url": "app://localhost/index.html", "command": "window.hide", "allowed": true },
          { "surface": "main", "url": "app://localhost/index.html", "command": "window.show", "allowed": false },
          { "surface": "main", "url": "app://localhost/index.html", "command": "window.hide", "allowed": false, "reason": "nope" },
          { "surface": "main", "url": "https://example.com/", "allowed": true }
        ]"#,
    )
    .expect("write expect.json");
    assert_eq!(run_case(dir.path()).len(), 4);
}

/// The router checks a guarded command (`event.unlisten`) under its guard's permission;
/// the guarded name itself has no permission and is never granted.
#[test]
fn guarded_commands_follow_their_guard() {
    let cap = Capability {
        identifier: "all".into(),
        description: String::new(),
        windows: vec!["*".into()],
        permissions: COMMANDS
            .iter()
            .filter(|c| c.guard.is_none())
            .map(|c| PermissionEntry::plain(&model_id(c.name, "allow")))
            .collect(),
        remote_urls: Vec::new(),
    };
    let authority = Authority::new(["main"], std::slice::from_ref(&cap));
    for c in COMMANDS {
        assert!(authority.check("main", LOCAL, c.guarded_by(), Some("x")).is_ok(), "{}", c.name);
        assert_eq!(authority.check("main", LOCAL, c.name, None).is_ok(), c.guard.is_none(), "{}", c.name);
    }
}

/// `*` in a `remote.urls` glob crosses `/`, so a host wildcard also matches a path on
/// another host.
#[test]
fn host_wildcards_stay_in_the_host() {
    let cap = Capability {
        identifier: "sub".into(),
        description: String::new(),
        windows: vec!["main".into()],
        permissions: vec![PermissionEntry::plain("app:allow-info")],
        remote_urls: vec!["https://*.example.com/*".into()],
    };
    let authority = Authority::new(["main"], std::slice::from_ref(&cap));
    assert!(authority.check("main", "https://board.example.com/x", "app.info", None).is_ok());
    for evil in ["https://evil.net/.example.com/", "https://evil.net/?.example.com/", "https://evil.net/#.example.com/"]
    {
        assert!(authority.check_origin("main", evil).is_err(), "{evil} may invoke");
        assert!(authority.check("main", evil, "app.info", None).is_err(), "{evil} may call app.info");
    }
}

// ---------------------------------------------------------------------------------------
// The reference model

const LOCAL: &str = "app://localhost/index.html";
const LABELS: &[&str] = &["main", "a", "b", "panel-1"];
const WINDOW_GLOBS: &[&str] = &["main", "a", "b", "panel-1", "*", "panel-*"];
const URLS: &[&str] = &[LOCAL, "app://localhost", "https://x.test/p", "https://y.test/q", "https://z.test/"];
const REMOTE_PATTERNS: &[&str] = &["https://x.test/*", "https://*.test/*", "https://y.test/q"];
const SCOPE_PATTERNS: &[&str] = &["a", "b", "a*", "*b", "?", "*", "[ab]a"];
const VALUES: &[&str] = &["a", "b", "ab", "ba", "aa", "c"];
/// A name outside the catalog, always refused.
const UNKNOWN_COMMAND: &str = "window.fly";

/// `window:allow-show` for `window.show`, built without `config::permissions`.
fn model_id(command: &str, verb: &str) -> String {
    let (group, name) = command.split_once('.').expect("group.name");
    format!("{group}:{verb}-{name}")
}

fn glob_matches(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).map(|p| p.matches(text)).unwrap_or(false)
}

fn model_is_local(url: &str) -> bool {
    url == "app://localhost" || url.starts_with("app://localhost/")
}

/// What the model expects of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// (a) an applicable capability holds the deny permission.
    DeniedByPermission,
    /// (b) no applicable capability holds the allow permission.
    NotGranted,
    /// (d) a deny scope of an applicable allow entry matches the value.
    DeniedByScope,
    /// (d) no applicable allow entry is unrestricted or has a matching allow scope.
    OutOfScope,
}

impl Outcome {
    /// The part of the denial message that says why.
    fn reason(self, command: &str) -> Option<String> {
        let allow = model_id(command, "allow");
        match self {
            Outcome::Allowed => None,
            Outcome::DeniedByPermission => Some(format!("denied by '{}'", model_id(command, "deny"))),
            Outcome::NotGranted => Some(format!("no capability grants '{allow}'")),
            Outcome::DeniedByScope => Some(format!("a deny scope of '{allow}'")),
            Outcome::OutOfScope => Some(format!("no allow scope of '{allow}' matches")),
        }
    }
}

struct Model<'a> {
    surfaces: &'a [String],
    caps: &'a [Capability],
}

impl Model<'_> {
    fn applicable(&self, label: &str, url: &str) -> Vec<&Capability> {
        let mut out = Vec::new();
        if !self.surfaces.iter().any(|s| s == label) {
            return out;
        }
        for cap in self.caps {
            let mut window = false;
            for w in &cap.windows {
                if glob_matches(w, label) {
                    window = true;
                }
            }
            let mut page = model_is_local(url);
            for r in &cap.remote_urls {
                if glob_matches(r, url) {
                    page = true;
                }
            }
            if window && page {
                out.push(cap);
            }
        }
        out
    }

    fn origin(&self, label: &str, url: &str) -> bool {
        model_is_local(url) || !self.applicable(label, url).is_empty()
    }

    fn check(&self, label: &str, url: &str, command: &str, value: Option<&str>) -> Outcome {
        let allow_id = model_id(command, "allow");
        let deny_id = model_id(command, "deny");
        let mut allows: Vec<&PermissionEntry> = Vec::new();
        for cap in self.applicable(label, url) {
            for entry in &cap.permissions {
                if entry.identifier == deny_id {
                    return Outcome::DeniedByPermission;
                }
                if entry.identifier == allow_id {
                    allows.push(entry);
                }
            }
        }
        if allows.is_empty() {
            return Outcome::NotGranted;
        }
        let Some(value) = value else { return Outcome::Allowed };
        for entry in &allows {
            for scope in &entry.deny {
                if glob_matches(&scope.pattern, value) {
                    return Outcome::DeniedByScope;
                }
            }
        }
        for entry in &allows {
            match &entry.allow {
                None => return Outcome::Allowed,
                Some(scopes) => {
                    for scope in scopes {
                        if glob_matches(&scope.pattern, value) {
                            return Outcome::Allowed;
                        }
                    }
                }
            }
        }
        Outcome::OutOfScope
    }
}

/// Every (surface, url, command, value) the properties look at; surfaces include one
/// that does not exist.
fn triples() -> Vec<(&'static str, &'static str, &'static str, Option<&'static str>)> {
    let mut out = Vec::new();
    let commands = COMMANDS.iter().map(|c| c.name).chain([UNKNOWN_COMMAND]);
    for command in commands {
        for &label in LABELS.iter().chain(&["ghost"]) {
            for &url in URLS {
                for value in std::iter::once(None).chain(VALUES.iter().copied().map(Some)) {
                    out.push((label, url, command, value));
                }
            }
        }
    }
    out
}

fn answers(surfaces: &[String], caps: &[Capability]) -> Vec<bool> {
    let authority = Authority::new(surfaces.iter().map(String::as_str), caps);
    triples().into_iter().map(|(l, u, c, v)| authority.check(l, u, c, v).is_ok()).collect()
}

// ---------------------------------------------------------------------------------------
// Strategies

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

fn scopes(max: usize) -> impl Strategy<Value = Vec<Scope>> {
    prop::collection::vec(pick(SCOPE_PATTERNS).prop_map(|pattern| Scope { kind: "event".into(), pattern }), 0..=max)
}

/// One permission entry over the catalog, of the shapes validation accepts.
fn entry() -> impl Strategy<Value = PermissionEntry> {
    let own: Vec<&'static str> = COMMANDS.iter().filter(|c| c.guard.is_none()).map(|c| c.name).collect();
    (prop::sample::select(own), any::<bool>(), prop::option::of(scopes(3)), scopes(2)).prop_map(
        |(command, allow, allow_scopes, deny_scopes)| {
            let spec = COMMANDS.iter().find(|c| c.name == command).expect("in the catalog");
            if !allow {
                return PermissionEntry::plain(&model_id(command, "deny"));
            }
            let identifier = model_id(command, "allow");
            match spec.scope {
                None => PermissionEntry::plain(&identifier),
                Some(_) => PermissionEntry {
                    identifier,
                    // An empty allow list is refused by validation; `None` is "any value".
                    allow: allow_scopes.filter(|s| !s.is_empty()),
                    deny: deny_scopes,
                },
            }
        },
    )
}

fn capability() -> impl Strategy<Value = Capability> {
    (
        prop::collection::vec(pick(WINDOW_GLOBS), 1..=2),
        prop::collection::vec(entry(), 0..=6),
        prop::collection::vec(pick(REMOTE_PATTERNS), 0..=1),
    )
        .prop_map(|(windows, permissions, remote_urls)| Capability {
            identifier: String::new(),
            description: String::new(),
            windows,
            permissions,
            remote_urls,
        })
}

/// Surfaces (always `main`) and capabilities with distinct identifiers.
fn config() -> impl Strategy<Value = (Vec<String>, Vec<Capability>)> {
    (prop::sample::subsequence(&LABELS[1..], 0..=LABELS.len() - 1), prop::collection::vec(capability(), 0..=5))
        .prop_map(|(others, mut caps)| {
            let surfaces = std::iter::once("main").chain(others).map(str::to_string).collect();
            for (i, cap) in caps.iter_mut().enumerate() {
                cap.identifier = format!("cap-{i}");
            }
            (surfaces, caps)
        })
}

/// A configuration, and the same with its capabilities and each one's entries shuffled.
fn shuffled_config() -> impl Strategy<Value = (Vec<String>, Vec<Capability>, Vec<Capability>)> {
    config().prop_flat_map(|(surfaces, caps)| {
        let shuffled_entries: Vec<_> = caps
            .iter()
            .map(|cap| {
                let cap = cap.clone();
                Just(cap.permissions.clone())
                    .prop_shuffle()
                    .prop_map(move |permissions| Capability { permissions, ..cap.clone() })
            })
            .collect();
        (Just(surfaces), Just(caps), shuffled_entries.prop_shuffle())
    })
}

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (a)–(d): every answer, and the reason of every denial, is the model's.
    #[test]
    fn check_agrees_with_the_model((surfaces, caps) in config()) {
        let authority = Authority::new(surfaces.iter().map(String::as_str), &caps);
        let model = Model { surfaces: &surfaces, caps: &caps };
        for (label, url, command, value) in triples() {
            let expected = model.check(label, url, command, value);
            let got = authority.check(label, url, command, value);
            match (expected.reason(command), got) {
                (None, Ok(())) => {}
                (None, Err(Denied(msg))) => {
                    prop_assert!(false, "{label} at {url}: {command} {value:?}: expected allowed, got '{msg}'");
                }
                (Some(_), Ok(())) => {
                    prop_assert!(false, "{label} at {url}: {command} {value:?}: allowed, expected {expected:?}");
                }
                (Some(reason), Err(Denied(msg))) => {
                    prop_assert!(
                        msg.contains(&reason) && msg.contains(&format!("surface '{label}'")) && msg.contains(command),
                        "{label} at {url}: {command} {value:?}: expected {expected:?} ('{reason}'), got '{msg}'"
                    );
                }
            }
        }
    }

    /// `check_origin` admits local pages and the remote pages a capability of the surface lists.
    #[test]
    fn check_origin_agrees_with_the_model((surfaces, caps) in config()) {
        let authority = Authority::new(surfaces.iter().map(String::as_str), &caps);
        let model = Model { surfaces: &surfaces, caps: &caps };
        for &label in LABELS.iter().chain(&["ghost"]) {
            for &url in URLS {
                prop_assert_eq!(authority.check_origin(label, url).is_ok(), model.origin(label, url), "{} at {}", label, url);
            }
        }
    }

    /// (e) Adding a deny permission anywhere never turns a refusal into a grant, and
    /// refuses that command wherever the capability applies.
    #[test]
    fn adding_a_deny_never_grants_more(
        (surfaces, caps) in config(),
        which in any::<prop::sample::Index>(),
        command in prop::sample::select(COMMANDS.iter().filter(|c| c.guard.is_none()).map(|c| c.name).collect::<Vec<_>>()),
    ) {
        prop_assume!(!caps.is_empty());
        let before = answers(&surfaces, &caps);
        let mut more = caps.clone();
        let at = which.index(more.len());
        more[at].permissions.push(PermissionEntry::plain(&model_id(command, "deny")));
        let after = answers(&surfaces, &more);
        for (i, (l, u, c, v)) in triples().into_iter().enumerate() {
            prop_assert!(before[i] || !after[i], "{} at {}: {} {:?} became allowed", l, u, c, v);
        }
        let authority = Authority::new(surfaces.iter().map(String::as_str), &more);
        for label in &surfaces {
            if more[at].windows.iter().any(|w| glob_matches(w, label)) {
                prop_assert!(authority.check(label, LOCAL, command, None).is_err(), "{} {}", label, command);
            }
        }
    }

    /// (f) The answer does not depend on the order of the capabilities, nor of their entries.
    #[test]
    fn order_does_not_matter((surfaces, caps, shuffled) in shuffled_config()) {
        let expected = answers(&surfaces, &caps);
        prop_assert_eq!(&answers(&surfaces, &shuffled), &expected);
        let mut reversed = caps.clone();
        reversed.reverse();
        for cap in &mut reversed {
            cap.permissions.reverse();
            cap.windows.reverse();
            cap.remote_urls.reverse();
        }
        prop_assert_eq!(&answers(&surfaces, &reversed), &expected);
    }

    /// Duplicating a capability under another name changes nothing.
    #[test]
    fn duplicating_a_capability_changes_nothing((surfaces, caps) in config(), which in any::<prop::sample::Index>()) {
        prop_assume!(!caps.is_empty());
        let mut more = caps.clone();
        let mut copy = caps[which.index(caps.len())].clone();
        copy.identifier = "copy".into();
        more.push(copy);
        prop_assert_eq!(answers(&surfaces, &more), answers(&surfaces, &caps));
    }
}
