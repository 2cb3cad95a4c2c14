//! The catalog of commands and the permissions that guard them.
//!
//! Every command `group.name` is guarded by the pair `group:allow-name` /
//! `group:deny-name`. Scoped commands also accept the object form of a permission
//! (`{"identifier": …, "allow": [scopes], "deny": [scopes]}`); their scope is matched
//! against one string of the call (an event name, for instance).
//! The router's command table is tested against this catalog, so a command cannot
//! exist without a permission, nor a permission without a command.

/// What a scoped command matches its scope patterns against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The scope's `event` key, a glob over event names.
    Event,
    /// The scope's `key` key, a glob over store keys.
    Key,
    /// The scope's `path` key, a glob over `$ROOT/…` paths (`*` also crosses `/`).
    Path,
    /// The scope's `url` key, a URL pattern (see `config::urlpattern`).
    Url,
}

impl ScopeKind {
    /// The key scope objects use for this kind.
    pub fn key(self) -> &'static str {
        match self {
            ScopeKind::Event => "event",
            ScopeKind::Key => "key",
            ScopeKind::Path => "path",
            ScopeKind::Url => "url",
        }
    }
}

/// One command known to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub scope: Option<ScopeKind>,
    /// Another command whose permission guards this one (`event.unlisten` goes with
    /// `event.listen`); such a command has no permission of its own.
    pub guard: Option<&'static str>,
    pub summary: &'static str,
}

impl CommandSpec {
    /// The command whose permission decides calls to this one.
    pub fn guarded_by(&self) -> &'static str {
        self.guard.unwrap_or(self.name)
    }
}

/// Every built-in command.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "app.info", scope: None, guard: None, summary: "name, version and surfaces of the kiosk" },
    CommandSpec { name: "window.list", scope: None, guard: None, summary: "the surfaces and whether they are visible" },
    CommandSpec { name: "window.show", scope: None, guard: None, summary: "show an overlay" },
    CommandSpec { name: "window.hide", scope: None, guard: None, summary: "hide an overlay" },
    CommandSpec { name: "window.zoom", scope: None, guard: None, summary: "set a surface's page zoom" },
    CommandSpec {
        name: "display.status",
        scope: None,
        guard: None,
        summary: "the screen's power, backend and brightness",
    },
    CommandSpec { name: "display.on", scope: None, guard: None, summary: "turn the screen on" },
    CommandSpec { name: "display.off", scope: None, guard: None, summary: "turn the screen off (a touch wakes it)" },
    CommandSpec { name: "display.rotate", scope: None, guard: None, summary: "rotate (and mirror) the screen" },
    CommandSpec {
        name: "display.brightness",
        scope: None,
        guard: None,
        summary: "set the screen's brightness, in percent",
    },
    CommandSpec {
        name: "media.volume",
        scope: None,
        guard: None,
        summary: "read or set the kiosk's volume and mute, for every surface",
    },
    CommandSpec {
        name: "event.emit",
        scope: Some(ScopeKind::Event),
        guard: None,
        summary: "emit an event to all or to named surfaces",
    },
    CommandSpec {
        name: "event.listen",
        scope: Some(ScopeKind::Event),
        guard: None,
        summary: "receive events of a name",
    },
    CommandSpec {
        name: "ipc.echo",
        scope: None,
        guard: None,
        summary: "return the arguments unchanged (JSON or bytes), for health checks",
    },
    CommandSpec {
        name: "ipc.sink",
        scope: None,
        guard: None,
        summary: "take any arguments and answer only their kind and size, for upload checks",
    },
    CommandSpec {
        name: "ipc.blob",
        scope: None,
        guard: None,
        summary: "answer a generated payload of a given length (bytes or text), for download checks",
    },
    CommandSpec {
        name: "ipc.delay",
        scope: None,
        guard: None,
        summary: "answer with a value after a delay, off the main thread, for diagnostics",
    },
    CommandSpec {
        name: "store.get",
        scope: Some(ScopeKind::Key),
        guard: None,
        summary: "read a value of the core's store",
    },
    CommandSpec { name: "store.set", scope: Some(ScopeKind::Key), guard: None, summary: "write a value, durably" },
    CommandSpec { name: "store.delete", scope: Some(ScopeKind::Key), guard: None, summary: "delete a value, durably" },
    CommandSpec {
        name: "store.list",
        scope: Some(ScopeKind::Key),
        guard: None,
        summary: "list keys and values by prefix (only keys in scope)",
    },
    CommandSpec {
        name: "store.update",
        scope: Some(ScopeKind::Key),
        guard: None,
        summary: "compare-and-set several keys in one transaction",
    },
    CommandSpec {
        name: "notification.send",
        scope: None,
        guard: None,
        summary: "show a desktop notification (or the built-in toast when no server runs)",
    },
    CommandSpec {
        name: "fs.read",
        scope: Some(ScopeKind::Path),
        guard: None,
        summary: "read a file, as text or bytes",
    },
    CommandSpec { name: "fs.write", scope: Some(ScopeKind::Path), guard: None, summary: "replace a file atomically" },
    CommandSpec { name: "fs.list", scope: Some(ScopeKind::Path), guard: None, summary: "list a directory" },
    CommandSpec {
        name: "fs.stat",
        scope: Some(ScopeKind::Path),
        guard: None,
        summary: "size, kind and time of a file",
    },
    CommandSpec {
        name: "fs.remove",
        scope: Some(ScopeKind::Path),
        guard: None,
        summary: "remove a file or empty directory",
    },
    CommandSpec {
        name: "http.fetch",
        scope: Some(ScopeKind::Url),
        guard: None,
        summary: "an HTTP request from the core, with core-held credentials attached",
    },
    CommandSpec {
        name: "device.info",
        scope: None,
        guard: None,
        summary: "hostname, OS, uptime, network, display, version",
    },
    CommandSpec {
        name: "web.clear",
        scope: None,
        guard: None,
        summary: "clear the surfaces' cookies, HTTP cache or all web data ({what: cookies|cache|all})",
    },
    CommandSpec {
        name: "keyboard.show",
        scope: None,
        guard: None,
        summary: "show the on-screen keyboard for the calling surface ({pad?: text|numeric|tel})",
    },
    CommandSpec { name: "keyboard.hide", scope: None, guard: None, summary: "hide the on-screen keyboard" },
    CommandSpec {
        name: "event.unlisten",
        scope: None,
        guard: Some("event.listen"),
        summary: "stop receiving events of a name",
    },
];

pub fn command(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Whether a permission allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// `window:allow-show` for `window.show`.
pub fn permission_id(command: &str, effect: Effect) -> String {
    let (group, name) = command.split_once('.').unwrap_or(("", command));
    let verb = match effect {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    format!("{group}:{verb}-{name}")
}

/// Resolves a permission identifier to the command it guards and its effect.
pub fn parse_permission(id: &str) -> Option<(&'static CommandSpec, Effect)> {
    let (group, rest) = id.split_once(':')?;
    let (effect, name) = if let Some(n) = rest.strip_prefix("allow-") {
        (Effect::Allow, n)
    } else if let Some(n) = rest.strip_prefix("deny-") {
        (Effect::Deny, n)
    } else {
        return None;
    };
    let spec = COMMANDS.iter().find(|c| c.guard.is_none() && c.name.split_once('.') == Some((group, name)))?;
    Some((spec, effect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_permissions() {
        for c in COMMANDS.iter().filter(|c| c.guard.is_none()) {
            for effect in [Effect::Allow, Effect::Deny] {
                let id = permission_id(c.name, effect);
                assert_eq!(parse_permission(&id), Some((c, effect)), "{id}");
            }
        }
    }

    #[test]
    fn guards_name_commands_with_their_own_permission() {
        for c in COMMANDS.iter().filter(|c| c.guard.is_some()) {
            let guard = command(c.guarded_by()).expect("guard exists");
            assert!(guard.guard.is_none(), "{} is guarded by a guarded command", c.name);
        }
    }

    #[test]
    fn unknown_permissions_are_rejected() {
        for id in [
            "event:allow-unlisten",
            "window:allow-fly",
            "window:show",
            "nope",
            "window:allow-",
            ":allow-show",
            "app:permit-info",
        ] {
            assert_eq!(parse_permission(id), None, "{id}");
        }
    }
}
