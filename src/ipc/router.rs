//! The router: one table of typed commands behind one authority.
//!
//! Every frame from a page goes through [`Router::handle`]: decode under the limits,
//! check the page's origin, look the command up, check its permission, deserialize its
//! arguments into the command's own type, run it. Each step that fails yields its own
//! error code; nothing a page sends can panic the core.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Limits, Manifest};
use crate::ipc::authority::Authority;
use crate::ipc::events::{check_event_name, EventBus};
use crate::ipc::protocol::{decode, ConsoleLevel, ErrorCode, Inbound, IpcError};

/// Name of the bridge object the injected script keeps on `window`.
pub const BRIDGE: &str = "__vitrine_bridge";

/// Longest console line kept from a page; the rest is cut so a page cannot flood logs.
const MAX_CONSOLE_CHARS: usize = 16 * 1024;

/// A surface as the router and its commands see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurfaceInfo {
    pub label: String,
    pub url: String,
    pub visible: bool,
    pub overlay: bool,
}

/// What the router needs from the shell. Implemented by the GTK shell on the main
/// thread; the router itself holds no GTK state.
pub trait Host {
    fn surfaces(&self) -> Vec<SurfaceInfo>;
    fn set_visible(&mut self, label: &str, visible: bool) -> Result<(), IpcError>;
    /// Runs `script` in the surface `label`'s page.
    fn eval(&mut self, label: &str, script: String);
}

/// The surface a frame came from, as bound by the core.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

/// What a command gets to work with.
pub struct Ctx<'a> {
    pub host: &'a mut dyn Host,
    pub caller: Caller<'a>,
    pub authority: &'a Authority,
    pub events: &'a mut EventBus,
    pub manifest: &'a Manifest,
}

type Handler = Box<dyn Fn(&mut Ctx<'_>, Value) -> Result<Value, IpcError>>;

pub struct Router {
    manifest: Manifest,
    authority: Authority,
    events: EventBus,
    commands: BTreeMap<&'static str, Handler>,
}

impl Router {
    /// A router with no commands; see [`crate::ipc::commands::register_builtins`].
    pub fn new(manifest: Manifest, authority: Authority) -> Self {
        Self { manifest, authority, events: EventBus::default(), commands: BTreeMap::new() }
    }

    pub fn limits(&self) -> &Limits {
        &self.manifest.limits
    }

    pub fn command_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands.keys().copied()
    }

    /// Adds a command whose arguments deserialize into `A` and whose result serializes
    /// from `R`. Absent arguments are treated as `{}`.
    pub fn register<A, R, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(&mut Ctx<'_>, A) -> Result<R, IpcError> + 'static,
    {
        let handler = move |ctx: &mut Ctx<'_>, args: Value| {
            let args = if args.is_null() { Value::Object(Default::default()) } else { args };
            let args: A = serde_json::from_value(args).map_err(|e| {
                IpcError::new(ErrorCode::BadArgs, format!("'{name}' from surface '{}': {e}", ctx.caller.label))
            })?;
            let out = f(ctx, args)?;
            serde_json::to_value(out).map_err(|e| IpcError::new(ErrorCode::Internal, format!("'{name}': {e}")))
        };
        self.commands.insert(name, Box::new(handler));
    }

    /// Handles one raw frame from `caller`. Replies and faults go back through
    /// `host.eval`.
    pub fn handle(&mut self, host: &mut dyn Host, caller: Caller<'_>, raw: &str) {
        let frame = match decode(raw, &self.manifest.limits) {
            Ok(frame) => frame,
            Err(rejection) => {
                log::warn!(surface = caller.label; "rejected message: {}", rejection.error);
                let script = match rejection.id {
                    Some(id) => reply_script(id, Err(&rejection.error)),
                    None => fault_script(&rejection.error),
                };
                host.eval(caller.label, script);
                return;
            }
        };
        match frame {
            Inbound::Console { level, message } => log_console(caller.label, level, &message),
            Inbound::Invoke { id, cmd, args } => {
                let result = self.invoke(host, caller, &cmd, args);
                match &result {
                    Ok(_) => {
                        log::debug!(surface = caller.label, command = cmd.as_str(); "invoke ok")
                    }
                    Err(e) => {
                        log::warn!(surface = caller.label, command = cmd.as_str(); "invoke refused: {e}")
                    }
                }
                host.eval(caller.label, reply_script(id, result.as_ref()));
            }
        }
    }

    fn invoke(&mut self, host: &mut dyn Host, caller: Caller<'_>, cmd: &str, args: Value) -> Result<Value, IpcError> {
        let denied = |d: crate::ipc::authority::Denied| IpcError::new(ErrorCode::NotAllowed, d.0);
        self.authority.check_origin(caller.label, caller.url).map_err(denied)?;
        let Some(handler) = self.commands.get(cmd) else {
            return Err(IpcError::new(ErrorCode::UnknownCommand, format!("no command named '{cmd}'")));
        };
        // A command missing from the catalog has no permission, so it is denied.
        let guard = crate::config::permissions::command(cmd).map_or(cmd, |spec| spec.guarded_by());
        self.authority.check(caller.label, caller.url, guard, None).map_err(denied)?;
        let mut ctx =
            Ctx { host, caller, authority: &self.authority, events: &mut self.events, manifest: &self.manifest };
        handler(&mut ctx, args)
    }

    /// A surface started loading a new page: its subscriptions end with the old page.
    pub fn surface_reset(&mut self, label: &str) {
        self.events.reset(label);
    }

    /// Emits an event from the core itself (not subject to emit permissions; listeners
    /// are still checked). Returns how many surfaces received it.
    pub fn emit_from_core(
        &mut self,
        host: &mut dyn Host,
        event: &str,
        payload: &Value,
        to: Option<&[String]>,
    ) -> usize {
        deliver(host, &self.authority, &self.events, "core", event, payload, to)
    }
}

/// Delivers `event` to the targeted surfaces that subscribed and may listen.
pub fn deliver(
    host: &mut dyn Host,
    authority: &Authority,
    events: &EventBus,
    source: &str,
    event: &str,
    payload: &Value,
    to: Option<&[String]>,
) -> usize {
    if check_event_name(event).is_err() {
        return 0;
    }
    let mut delivered = 0;
    for s in host.surfaces() {
        let targeted = to.is_none_or(|t| t.contains(&s.label));
        if !targeted || !events.is_subscribed(&s.label, event) {
            continue;
        }
        if authority.check(&s.label, &s.url, "event.listen", Some(event)).is_err() {
            continue;
        }
        let frame = serde_json::json!({ "event": event, "payload": payload, "source": source });
        host.eval(&s.label, format!("window.{BRIDGE}&&window.{BRIDGE}.event({frame})"));
        delivered += 1;
    }
    delivered
}

/// The script that settles call `id` in the page.
pub fn reply_script(id: u64, result: Result<&Value, &IpcError>) -> String {
    let (ok, body) = match result {
        Ok(v) => (true, serde_json::to_string(v)),
        Err(e) => (false, serde_json::to_string(e)),
    };
    let body = body.unwrap_or_else(|_| r#"{"code":"internal","message":"unserializable reply"}"#.to_string());
    format!("window.{BRIDGE}&&window.{BRIDGE}.reply({id},{ok},{body})")
}

/// The script that reports an error for a frame whose call could not be identified.
pub fn fault_script(error: &IpcError) -> String {
    let body = serde_json::to_string(error).unwrap_or_default();
    format!("window.{BRIDGE}&&window.{BRIDGE}.fault({body})")
}

fn log_console(label: &str, level: ConsoleLevel, message: &str) {
    let level = match level {
        ConsoleLevel::Debug => log::Level::Debug,
        ConsoleLevel::Log | ConsoleLevel::Info => log::Level::Info,
        ConsoleLevel::Warn => log::Level::Warn,
        ConsoleLevel::Error => log::Level::Error,
    };
    let message = match message.char_indices().nth(MAX_CONSOLE_CHARS) {
        Some((cut, _)) => &message[..cut],
        None => message,
    };
    log::log!(target: "page", level, surface = label; "{message}");
}
