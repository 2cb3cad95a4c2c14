//! The router: one table of typed commands behind one authority.
//!
//! Every call goes through the same steps whichever transport carried it: check the
//! surface's bridge token, decode under the limits, check the page's origin, look the
//! command up, check its permission, deserialize its arguments into the command's own
//! type, run it. Each step that fails yields its own error code; nothing a page sends
//! can panic the core.
//!
//! Commands run on the main thread and answer at once ([`Router::register`]), or defer:
//! they take a [`Responder`] and answer later from any thread
//! ([`Router::register_deferred`]), or run on the worker pool
//! ([`Router::register_blocking`]). Deferred calls wait in a table until
//! [`Router::finish`]; many may be in flight per surface, up to
//! `limits.max_in_flight`, and they may complete in any order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::{Limits, Manifest};
use crate::ipc::authority::{Authority, Denied};
use crate::ipc::call::{
    to_json, Args, Broadcast, CallKey, CallResult, HttpReply, Payload, ReplySink, Respond, Responder, Route,
};
use crate::ipc::events::{check_event_name, EventBus};
use crate::ipc::pool::Pool;
use crate::ipc::protocol::{decode, decode_args, ConsoleLevel, ErrorCode, Inbound, IpcError};
use crate::ipc::script;

/// Why a surface without an accepted token refuses everything.
const REPLACED: &str = "the surface's page is being replaced";

/// Longest console line kept from a page; the rest is cut so a page cannot flood logs.
const MAX_CONSOLE_CHARS: usize = 16 * 1024;

/// Worker threads for blocking commands: kept alive, and at most.
const WORKERS: (usize, usize) = (2, 64);

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
    /// Runs `script` in the surface `label`'s page now.
    fn eval(&mut self, label: &str, script: String);
    /// The number of the document `label` shows, which scripts for it name (see
    /// [`crate::ipc::document`]).
    fn document(&self, label: &str) -> u64;
    /// Delivers an event frame (JSON, see [`script::event_frame`]) soon, batched with
    /// the surface's other events into one script.
    fn post_event(&mut self, label: &str, frame: String) {
        let document = self.document(label);
        self.eval(label, script::events(document, std::slice::from_ref(&frame)));
    }
    /// The page answered a ping.
    fn beat(&mut self, _label: &str) {}
    /// The page saw user input.
    fn activity(&mut self, _label: &str) {}
    /// Sets the surface `label`'s page zoom (a factor already checked).
    fn set_zoom(&mut self, label: &str, _factor: f64) -> Result<(), IpcError> {
        Err(IpcError::new(ErrorCode::Internal, format!("'{label}' cannot be zoomed here")))
    }
}

/// The surface a call came from, as bound by the core.
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
    pub pool: &'a Pool,
    key: CallKey,
    sink: &'a Arc<dyn ReplySink>,
    deferred: bool,
}

impl Ctx<'_> {
    /// Where deferred work sends core events (store changes) from its own thread.
    pub fn sink(&self) -> Arc<dyn ReplySink> {
        Arc::clone(self.sink)
    }

    /// Takes over answering this call; the router waits for the responder.
    pub fn defer(&mut self) -> Responder {
        self.deferred = true;
        Responder::new(self.key, Arc::clone(self.sink))
    }
}

/// Sees every call as it arrives (surface label, command), before any check: for
/// metrics and benchmarks, which time calls on the core's side.
pub type CallObserver = Box<dyn Fn(&str, &str)>;

/// A command: answers now (`Some`) or has deferred (`None`).
type Handler = Box<dyn Fn(&mut Ctx<'_>, Args) -> Result<Option<Payload>, IpcError>>;

/// One call that came by `fetch`: the token, command and call id come from headers,
/// the arguments are the body (JSON text, or raw bytes when `binary`).
pub struct HttpCall<'a> {
    pub token: &'a str,
    pub cmd: &'a str,
    pub binary: bool,
    /// The bridge's call id; without it every answer is the response body.
    pub id: Option<u64>,
    pub body: Vec<u8>,
}

struct Pending {
    label: String,
    route: Route,
}

pub struct Router {
    manifest: Manifest,
    authority: Authority,
    events: EventBus,
    commands: BTreeMap<&'static str, Handler>,
    tokens: BTreeMap<String, String>,
    pending: BTreeMap<CallKey, Pending>,
    next_key: CallKey,
    sink: Arc<dyn ReplySink>,
    pool: Pool,
    observer: Option<CallObserver>,
}

impl Router {
    /// A router with no commands; see [`crate::ipc::commands::register_builtins`].
    pub fn new(manifest: Manifest, authority: Authority, sink: Arc<dyn ReplySink>) -> Self {
        Self {
            manifest,
            authority,
            events: EventBus::default(),
            commands: BTreeMap::new(),
            tokens: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_key: 1,
            sink,
            pool: Pool::new(WORKERS.0, WORKERS.1),
            observer: None,
        }
    }

    pub fn set_observer(&mut self, observer: CallObserver) {
        self.observer = Some(observer);
    }

    pub fn limits(&self) -> &Limits {
        &self.manifest.limits
    }

    pub fn command_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands.keys().copied()
    }

    /// The secret a surface's bridge puts on every call; frames without it (from an
    /// iframe, from a script bypassing the bridge, from a page being replaced) are
    /// refused.
    pub fn set_token(&mut self, label: &str, token: String) {
        debug_assert!(!token.is_empty());
        self.tokens.insert(label.to_string(), token);
    }

    /// Refuses every call from `label` until [`Router::set_token`].
    pub fn revoke_token(&mut self, label: &str) {
        self.tokens.remove(label);
    }

    /// Calls waiting for an answer, for `label` or for all surfaces.
    pub fn in_flight(&self, label: Option<&str>) -> usize {
        self.pending.values().filter(|p| label.is_none_or(|l| p.label == l)).count()
    }

    /// The most general form: `f` sees the raw [`Args`] and may defer.
    pub fn register_raw<F>(&mut self, name: &'static str, f: F)
    where
        F: Fn(&mut Ctx<'_>, Args) -> Result<Option<Payload>, IpcError> + 'static,
    {
        self.commands.insert(name, Box::new(f));
    }

    /// A command answering on the main thread. Arguments deserialize into `A` (absent
    /// arguments count as `{}`); the result serializes from `R`.
    pub fn register<A, R, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(&mut Ctx<'_>, A) -> Result<R, IpcError> + 'static,
    {
        self.register_raw(name, move |ctx, args| {
            let args = json_args(name, ctx.caller.label, args)?;
            to_json(f(ctx, args)?).map(Some)
        });
    }

    /// A command that answers later through its [`Responder`], from any thread.
    pub fn register_deferred<A, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned,
        F: Fn(&mut Ctx<'_>, A, Responder) -> Result<(), IpcError> + 'static,
    {
        self.register_raw(name, move |ctx, args| {
            let args = json_args(name, ctx.caller.label, args)?;
            let responder = ctx.defer();
            f(ctx, args, responder)?;
            Ok(None)
        });
    }

    /// A command that may block (disk, network); it runs on the worker pool.
    pub fn register_blocking<A, R, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(A) -> Result<R, IpcError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.register_deferred(name, move |ctx, args: A, responder| {
            let f = Arc::clone(&f);
            ctx.pool.spawn(move || responder.respond_json(f(args)));
            Ok(())
        });
    }

    /// Handles one frame posted through the script-message handler.
    pub fn handle_message(&mut self, host: &mut dyn Host, caller: Caller<'_>, raw: &str) {
        let Some(raw) = self.strip_token(caller.label, raw) else {
            if !self.tokens.contains_key(caller.label) {
                // Its page is being replaced (see `ipc::document`): no answer, which
                // would only reach a page on its way out and draw more messages.
                log::debug!(surface = caller.label; "refused a message: {REPLACED}");
                return;
            }
            let error = IpcError::new(ErrorCode::BadMessage, "the message did not come from the surface's bridge");
            log::warn!(surface = caller.label; "rejected message: {error}");
            let document = host.document(caller.label);
            host.eval(caller.label, script::fault(document, &error));
            return;
        };
        let frame = match decode(raw, &self.manifest.limits) {
            Ok(frame) => frame,
            Err(rejection) => {
                log::warn!(surface = caller.label; "rejected message: {}", rejection.error);
                let document = host.document(caller.label);
                let reply = match rejection.id {
                    Some(id) => script::reply(document, id, &Err(rejection.error)),
                    None => script::fault(document, &rejection.error),
                };
                host.eval(caller.label, reply);
                return;
            }
        };
        match frame {
            Inbound::Console { level, message } => log_console(caller.label, level, &message),
            Inbound::Beat => host.beat(caller.label),
            Inbound::Activity => host.activity(caller.label),
            Inbound::Invoke { id, cmd, binary, args } => {
                let route = Route::Script { id };
                match if binary { base64_args(args) } else { Ok(Args::Json(args)) } {
                    Ok(args) => self.call(host, caller, &cmd, args, route),
                    Err(e) => answer(host, caller.label, route, Err(e)),
                }
            }
        }
    }

    /// Handles one call sent with `fetch`. Refusals before the call is identified
    /// (token, size, JSON) are the response body.
    pub fn handle_http(&mut self, host: &mut dyn Host, caller: Caller<'_>, request: HttpCall<'_>, respond: Respond) {
        let HttpCall { token, cmd, binary, id, body } = request;
        if !self.tokens.contains_key(caller.label) {
            log::debug!(surface = caller.label; "refused a request: {REPLACED}");
            return respond(HttpReply::Answer(Err(IpcError::new(ErrorCode::BadMessage, REPLACED))));
        }
        if self.tokens.get(caller.label).is_none_or(|t| t != token) {
            let error = IpcError::new(ErrorCode::BadMessage, "the request did not come from the surface's bridge");
            log::warn!(surface = caller.label; "rejected request: {error}");
            return respond(HttpReply::Answer(Err(error)));
        }
        let args = if binary {
            if body.len() > self.manifest.limits.max_message_bytes {
                Err(IpcError::new(ErrorCode::TooLarge, too_large_text(body.len(), &self.manifest.limits)))
            } else {
                Ok(Args::Bytes(body))
            }
        } else {
            decode_args(&body, &self.manifest.limits).map(Args::Json)
        };
        match args {
            Ok(args) => self.call(host, caller, cmd, args, Route::Http { id, respond }),
            Err(error) => {
                log::warn!(surface = caller.label, command = cmd; "rejected request: {error}");
                respond(HttpReply::Answer(Err(error)));
            }
        }
    }

    fn call(&mut self, host: &mut dyn Host, caller: Caller<'_>, cmd: &str, args: Args, route: Route) {
        if let Some(observe) = &self.observer {
            observe(caller.label, cmd);
        }
        let key = self.next_key;
        self.next_key += 1;
        let result = self.dispatch(host, caller, cmd, args, key);
        match &result {
            Ok(_) => log::debug!(surface = caller.label, command = cmd; "invoke ok"),
            Err(e) => log::warn!(surface = caller.label, command = cmd; "invoke refused: {e}"),
        }
        match result {
            Ok(None) => {
                self.pending.insert(key, Pending { label: caller.label.to_string(), route });
            }
            Ok(Some(payload)) => answer(host, caller.label, route, Ok(payload)),
            Err(e) => answer(host, caller.label, route, Err(e)),
        }
    }

    fn dispatch(
        &mut self,
        host: &mut dyn Host,
        caller: Caller<'_>,
        cmd: &str,
        args: Args,
        key: CallKey,
    ) -> Result<Option<Payload>, IpcError> {
        let denied = |d: Denied| IpcError::new(ErrorCode::NotAllowed, d.0);
        self.authority.check_origin(caller.label, caller.url).map_err(denied)?;
        let Some(handler) = self.commands.get(cmd) else {
            return Err(IpcError::new(ErrorCode::UnknownCommand, format!("no command named '{cmd}'")));
        };
        // A command missing from the catalog has no permission, so it is denied.
        let guard = crate::config::permissions::command(cmd).map_or(cmd, |spec| spec.guarded_by());
        self.authority.check(caller.label, caller.url, guard, None).map_err(denied)?;
        let in_flight = self.in_flight(Some(caller.label));
        let max = self.manifest.limits.max_in_flight;
        if in_flight >= max {
            return Err(IpcError::new(
                ErrorCode::TooLarge,
                format!("surface '{}' has {in_flight} calls in flight, the limit is {max}", caller.label),
            ));
        }
        let mut ctx = Ctx {
            host,
            caller,
            authority: &self.authority,
            events: &mut self.events,
            manifest: &self.manifest,
            pool: &self.pool,
            key,
            sink: &self.sink,
            deferred: false,
        };
        let result = handler(&mut ctx, args);
        match (result, ctx.deferred) {
            // Deferred: the responder answers, even if the handler returned a value.
            (Ok(_), true) => Ok(None),
            (Ok(None), false) => Err(IpcError::new(ErrorCode::Internal, format!("'{cmd}' gave no answer"))),
            (other, _) => other,
        }
    }

    /// Delivers a deferred call's answer. Answers for calls whose page is gone are
    /// dropped.
    pub fn finish(&mut self, host: &mut dyn Host, key: CallKey, result: CallResult) {
        match self.pending.remove(&key) {
            Some(p) => answer(host, &p.label, p.route, result),
            None => log::debug!("dropped the answer to call {key}: its page is gone"),
        }
    }

    /// A surface started a new page (or lost its web process): its subscriptions and
    /// calls end with the old page.
    pub fn surface_reset(&mut self, label: &str) {
        self.events.reset(label);
        let gone: Vec<CallKey> = self.pending.iter().filter(|(_, p)| p.label == label).map(|(k, _)| *k).collect();
        for key in gone {
            if let Some(Pending { route: Route::Http { respond, .. }, .. }) = self.pending.remove(&key) {
                // Finish the request so WebKit does not hold it open; nobody reads it.
                respond(HttpReply::Answer(Err(IpcError::new(ErrorCode::Internal, "the page was replaced"))));
            }
        }
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
        deliver(host, &self.authority, &self.events, Delivery { source: "core", event, payload, to, only_if: None })
    }

    /// Delivers a core event sent from another thread.
    pub fn broadcast(&mut self, host: &mut dyn Host, b: &Broadcast) -> usize {
        let only_if = b.only_if.as_ref().map(|(cmd, value)| (*cmd, value.as_str()));
        let d = Delivery { source: "core", event: &b.event, payload: &b.payload, to: None, only_if };
        deliver(host, &self.authority, &self.events, d)
    }

    fn strip_token<'r>(&self, label: &str, raw: &'r str) -> Option<&'r str> {
        let token = self.tokens.get(label)?;
        raw.strip_prefix(token.as_str())
    }
}

/// Deserializes JSON arguments (absent ones count as `{}`) for the command `name`.
pub(crate) fn json_args<A: DeserializeOwned>(name: &str, label: &str, args: Args) -> Result<A, IpcError> {
    let value = match args {
        Args::Json(Value::Null) => Value::Object(Default::default()),
        Args::Json(v) => v,
        Args::Bytes(_) => {
            return Err(IpcError::new(ErrorCode::BadArgs, format!("'{name}' takes JSON arguments, not bytes")));
        }
    };
    serde_json::from_value(value)
        .map_err(|e| IpcError::new(ErrorCode::BadArgs, format!("'{name}' from surface '{label}': {e}")))
}

fn base64_args(args: Value) -> Result<Args, IpcError> {
    use base64::Engine;
    let bad = || IpcError::new(ErrorCode::BadMessage, "binary arguments must be one base64 string");
    let Value::String(text) = args else { return Err(bad()) };
    base64::engine::general_purpose::STANDARD.decode(text).map(Args::Bytes).map_err(|_| bad())
}

fn too_large_text(len: usize, limits: &Limits) -> String {
    format!("message of {len} bytes exceeds the limit of {} bytes", limits.max_message_bytes)
}

/// Answers a call of the document `label` shows: calls of a document it replaced were
/// refused or dropped (see [`crate::ipc::document`]).
fn answer(host: &mut dyn Host, label: &str, route: Route, result: CallResult) {
    let document = host.document(label);
    match route {
        Route::Script { id } => host.eval(label, script::reply(document, id, &result)),
        Route::Http { id: Some(id), respond } if !matches!(result, Ok(Payload::Bytes(_))) => {
            respond(HttpReply::Settled);
            host.eval(label, script::reply(document, id, &result));
        }
        Route::Http { respond, .. } => respond(HttpReply::Answer(result)),
    }
}

/// One event on its way to the surfaces.
pub struct Delivery<'a> {
    pub source: &'a str,
    pub event: &'a str,
    pub payload: &'a Value,
    /// Only these surfaces; `None`: all.
    pub to: Option<&'a [String]>,
    /// A further permission each receiver must hold (command, scope value).
    pub only_if: Option<(&'a str, &'a str)>,
}

/// Delivers an event to the targeted surfaces that subscribed and may listen.
pub fn deliver(host: &mut dyn Host, authority: &Authority, events: &EventBus, d: Delivery<'_>) -> usize {
    if check_event_name(d.event).is_err() {
        return 0;
    }
    let mut delivered = 0;
    let frame = script::event_frame(d.event, d.payload, d.source);
    for s in host.surfaces() {
        let targeted = d.to.is_none_or(|t| t.contains(&s.label));
        if !targeted || !events.is_subscribed(&s.label, d.event) {
            continue;
        }
        if authority.check(&s.label, &s.url, "event.listen", Some(d.event)).is_err() {
            continue;
        }
        if let Some((cmd, value)) = d.only_if {
            if authority.check(&s.label, &s.url, cmd, Some(value)).is_err() {
                continue;
            }
        }
        host.post_event(&s.label, frame.clone());
        delivered += 1;
    }
    delivered
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
