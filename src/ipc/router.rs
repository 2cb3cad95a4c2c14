//! The router: one table of typed commands behind one authority.
//!
//! Every call goes through the same steps whichever transport carried it: check the
//! surface's bridge token, decode under the limits, check the page's origin, look the
//! command up, check its permission, deserialize its arguments into the command's own
//! type, run it. Each step that fails yields its own error code; nothing a page sends
//! can panic the core.
//!
//! Commands run on the main thread and answer at once ([`Router::register`]), or defer:
//! they take a [`ReplyTo`] and answer later from any thread
//! ([`Router::register_deferred`]), or run on the worker pool
//! ([`Router::register_blocking`]). Deferred calls wait in a table until
//! [`Router::finish`]; many may be in flight per surface, up to
//! `limits.max_in_flight`, and they may complete in any order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::config::{principal_url, Limits, Manifest, MQTT_PRINCIPAL};
use crate::ipc::authority::{Authority, Denied};
use crate::ipc::call::{
    to_json, Args, Broadcast, CallKey, CallResult, HttpReply, HttpReplyTo, Payload, ReplyRoute, ReplySink, ReplyTo,
};
use crate::ipc::events::{check_event_name, EventBus};
use crate::ipc::offload::{self, Done, Lanes, Offloaded, Queued};
use crate::ipc::pool::{OwnedPool, Pool};
use crate::ipc::protocol::{decode, decode_args, ConsoleLevel, ErrorCode, Inbound, IpcError, Rejection};
use crate::ipc::refusals::{RefusalLog, Verdict};
use crate::ipc::script;
use crate::ipc::shape::{self, ArgShape};

/// Why a surface without an accepted token refuses everything.
const REPLACED: &str = "the surface's page is being replaced";

/// Longest console line kept from a page; the rest is cut so a page cannot flood logs.
const MAX_CONSOLE_CHARS: usize = 16 * 1024;

/// Worker threads for blocking commands: kept alive, and at most.
const WORKERS: (usize, usize) = (2, 64);
/// Worker threads decoding and encoding large messages (CPU work: few).
const CODEC_WORKERS: (usize, usize) = (1, 4);

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
    /// Hands an event to a principal that listens from outside the kiosk (the MQTT
    /// bridge); the capabilities have allowed it. `payload` is the event's JSON.
    fn post_to_principal(&mut self, _principal: &str, _event: &str, _payload: &Value, _source: &str) {}
    /// The page answered a ping.
    fn beat(&mut self, _label: &str) {}
    /// The page saw user input.
    fn activity(&mut self, _label: &str) {}
    /// A request for the on-screen keyboard from the surface `label`.
    fn keyboard(&mut self, _label: &str, _request: crate::keyboard::Request) -> Result<(), IpcError> {
        Err(IpcError::new(ErrorCode::NotFound, "this kiosk has no on-screen keyboard ([keyboard] in vitrine.toml)"))
    }
    /// Changes the kiosk's volume (an empty change only reads it).
    fn volume(&mut self, _change: crate::volume::Change) -> Result<crate::volume::Volume, IpcError> {
        Err(IpcError::new(ErrorCode::Internal, "no volume here"))
    }
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
    /// Worker threads; jobs count against the calling surface's fair share.
    pub pool: OwnedPool<'a>,
    key: CallKey,
    sink: &'a Arc<dyn ReplySink>,
    deferred: bool,
}

impl Ctx<'_> {
    /// Where deferred work sends core events (store changes) from its own thread.
    pub fn sink(&self) -> Arc<dyn ReplySink> {
        Arc::clone(self.sink)
    }

    /// Takes over answering this call; the router waits for the [`ReplyTo`] it returns.
    pub fn defer(&mut self) -> ReplyTo {
        self.deferred = true;
        ReplyTo::new(self.key, Arc::clone(self.sink))
    }
}

/// Sees every call as it arrives (surface label, command), before any check: for
/// benchmarks, which time calls on the core's side (`diagnostics` feature).
#[cfg(feature = "diagnostics")]
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
    route: ReplyRoute,
}

pub struct Router {
    manifest: Manifest,
    authority: Authority,
    events: EventBus,
    commands: BTreeMap<&'static str, Handler>,
    /// What each command's arguments look like, for holding the docs against the code.
    shapes: BTreeMap<&'static str, ArgShape>,
    tokens: BTreeMap<String, String>,
    pending: BTreeMap<CallKey, Pending>,
    next_key: CallKey,
    sink: Arc<dyn ReplySink>,
    pool: Pool,
    #[cfg(feature = "diagnostics")]
    observer: Option<CallObserver>,
    refusals: RefusalLog,
    /// Messages at least this large are decoded and encoded off this thread.
    offload: Option<usize>,
    codec: Pool,
    lanes: Lanes,
    /// Offloaded work not yet back through [`Router::offloaded`].
    offloading: usize,
}

impl Router {
    /// A router with no commands; see [`crate::ipc::commands::register_builtins`].
    pub fn new(manifest: Manifest, authority: Authority, sink: Arc<dyn ReplySink>) -> Self {
        Self {
            manifest,
            authority,
            events: EventBus::default(),
            commands: BTreeMap::new(),
            shapes: BTreeMap::new(),
            tokens: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_key: 1,
            sink,
            pool: Pool::new(WORKERS.0, WORKERS.1),
            #[cfg(feature = "diagnostics")]
            observer: None,
            refusals: RefusalLog::default(),
            offload: None,
            codec: Pool::new(CODEC_WORKERS.0, CODEC_WORKERS.1),
            lanes: Lanes::default(),
            offloading: 0,
        }
    }

    #[cfg(feature = "diagnostics")]
    pub fn set_observer(&mut self, observer: CallObserver) {
        self.observer = Some(observer);
    }

    /// Decodes frames and encodes replies of at least `min_bytes` on worker threads,
    /// whose results come back through the sink's [`ReplySink::offloaded`] and
    /// [`Router::offloaded`] (see [`crate::ipc::offload`]). Off by default: everything
    /// is then handled on the calling thread, as tests and benchmarks expect.
    pub fn offload_from(&mut self, min_bytes: usize) {
        self.offload = Some(min_bytes);
    }

    pub fn limits(&self) -> &Limits {
        &self.manifest.limits
    }

    pub fn command_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands.keys().copied()
    }

    /// The argument fields `name` takes, as its registration declared them.
    pub fn arg_shape(&self, name: &str) -> Option<&ArgShape> {
        self.shapes.get(name)
    }

    /// Declares the arguments of a command registered raw that reads them as `A`.
    pub fn declare_args<A: DeserializeOwned>(&mut self, name: &'static str) {
        self.shapes.insert(name, shape::of::<A>());
    }

    /// The secret a surface's bridge puts on every call; frames without it (from an
    /// iframe, from a script bypassing the bridge, from a page being replaced) are
    /// refused.
    pub fn set_token(&mut self, label: &str, token: String) {
        debug_assert!(!token.is_empty());
        self.tokens.insert(label.to_string(), token);
    }

    /// Work sent to the codec workers whose result has not come back yet.
    pub fn offloading(&self) -> usize {
        self.offloading
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
        self.shapes.entry(name).or_insert(ArgShape::Any);
    }

    /// A command answering on the main thread. Arguments deserialize into `A` (absent
    /// arguments count as `{}`); the result serializes from `R`.
    pub fn register<A, R, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(&mut Ctx<'_>, A) -> Result<R, IpcError> + 'static,
    {
        self.declare_args::<A>(name);
        self.register_raw(name, move |ctx, args| {
            let args = json_args(name, ctx.caller.label, args)?;
            to_json(f(ctx, args)?).map(Some)
        });
    }

    /// A command that answers later through its [`ReplyTo`], from any thread.
    pub fn register_deferred<A, F>(&mut self, name: &'static str, f: F)
    where
        A: DeserializeOwned,
        F: Fn(&mut Ctx<'_>, A, ReplyTo) -> Result<(), IpcError> + 'static,
    {
        self.declare_args::<A>(name);
        self.register_raw(name, move |ctx, args| {
            let args = json_args(name, ctx.caller.label, args)?;
            let reply = ctx.defer();
            f(ctx, args, reply)?;
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
        self.register_deferred(name, move |ctx, args: A, reply| {
            let f = Arc::clone(&f);
            ctx.pool.spawn(move || reply.send_json(f(args)));
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
            self.refused(
                caller.label,
                "(message)",
                error.code,
                |more| log::warn!(surface = caller.label; "rejected message: {error}{more}"),
            );
            let document = host.document(caller.label);
            host.eval(caller.label, script::fault(document, &error));
            return;
        };
        self.message(host, caller, raw);
    }

    /// A frame whose token was checked: handled now, decoded off this thread when
    /// large, or queued behind a frame of its surface that is being decoded.
    fn message(&mut self, host: &mut dyn Host, caller: Caller<'_>, raw: &str) {
        let limits = &self.manifest.limits;
        let large = self.offload.is_some_and(|min| raw.len() >= min) && raw.len() <= limits.max_message_bytes;
        if large {
            let (url, raw, limits) = (caller.url.to_string(), raw.to_string(), *limits);
            if self.lanes.is_busy(caller.label) {
                return self.enqueue(host, caller.label, Queued::Message { url, raw });
            }
            return self.offload_work(caller.label, true, move || {
                let mut frame = decode(&raw, &limits);
                // Bytes sent as base64 are turned back into bytes here too.
                let bytes = match &mut frame {
                    Ok(Inbound::Invoke { binary: true, args, .. }) => Some(base64_bytes(std::mem::take(args))),
                    _ => None,
                };
                Done::Message { url, frame, bytes }
            });
        }
        let frame = decode(raw, limits);
        if self.lanes.is_busy(caller.label) {
            // Beats and input have no order to keep; a page is not silent while its
            // big frame is decoded.
            match frame {
                Ok(Inbound::Beat) => host.beat(caller.label),
                Ok(Inbound::Activity) => host.activity(caller.label),
                Ok(Inbound::Focus { field }) => {
                    let _ = host.keyboard(caller.label, crate::keyboard::Request::Focus(field));
                }
                frame => self.enqueue(host, caller.label, Queued::Frame { url: caller.url.to_string(), frame }),
            }
            return;
        }
        self.frame(host, caller, frame, None);
    }

    /// Handles a decoded frame; `bytes`: a binary call's arguments, already decoded.
    fn frame(
        &mut self,
        host: &mut dyn Host,
        caller: Caller<'_>,
        frame: Result<Inbound, Rejection>,
        bytes: Option<Result<Vec<u8>, IpcError>>,
    ) {
        let frame = match frame {
            Ok(frame) => frame,
            Err(rejection) => {
                let error = &rejection.error;
                self.refused(
                    caller.label,
                    "(message)",
                    error.code,
                    |more| log::warn!(surface = caller.label; "rejected message: {error}{more}"),
                );
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
            Inbound::Focus { field } => {
                // Without a keyboard there is nothing to tell.
                let _ = host.keyboard(caller.label, crate::keyboard::Request::Focus(field));
            }
            Inbound::Invoke { id, cmd, binary, args } => {
                let route = ReplyRoute::Script { id };
                let args = match (binary, bytes) {
                    (true, Some(bytes)) => bytes.map(Args::Bytes),
                    (true, None) => base64_bytes(args).map(Args::Bytes),
                    (false, _) => Ok(Args::Json(args)),
                };
                match args {
                    Ok(args) => self.call(host, caller, &cmd, args, route),
                    Err(e) => self.answer(host, caller.label, route, Err(e)),
                }
            }
        }
    }

    /// Handles one call sent with `fetch`. Refusals before the call is identified
    /// (token, size, JSON) are the response body.
    pub fn handle_http(
        &mut self,
        host: &mut dyn Host,
        caller: Caller<'_>,
        request: HttpCall<'_>,
        reply_to: HttpReplyTo,
    ) {
        let HttpCall { token, cmd, binary, id, body } = request;
        if !self.tokens.contains_key(caller.label) {
            log::debug!(surface = caller.label; "refused a request: {REPLACED}");
            return reply_to(HttpReply::Body(Err(IpcError::new(ErrorCode::BadMessage, REPLACED))));
        }
        if self.tokens.get(caller.label).is_none_or(|t| t != token) {
            let error = IpcError::new(ErrorCode::BadMessage, "the request did not come from the surface's bridge");
            self.refused(
                caller.label,
                "(request)",
                error.code,
                |more| log::warn!(surface = caller.label; "rejected request: {error}{more}"),
            );
            return reply_to(HttpReply::Body(Err(error)));
        }
        self.http(host, caller, HttpCall { token, cmd, binary, id, body }, reply_to);
    }

    /// A `fetch` call whose token was checked: as [`Router::message`].
    fn http(&mut self, host: &mut dyn Host, caller: Caller<'_>, request: HttpCall<'_>, reply_to: HttpReplyTo) {
        let HttpCall { cmd, binary, id, body, .. } = request;
        let limits = &self.manifest.limits;
        let busy = self.lanes.is_busy(caller.label);
        let large =
            !binary && self.offload.is_some_and(|min| body.len() >= min) && body.len() <= limits.max_message_bytes;
        if busy || large {
            let (url, cmd) = (caller.url.to_string(), cmd.to_string());
            if busy {
                return self.enqueue(host, caller.label, Queued::Http { url, cmd, binary, id, body, reply_to });
            }
            let limits = *limits;
            let work = move || Done::Http { url, cmd, id, args: decode_args(&body, &limits), reply_to };
            return self.offload_work(caller.label, true, work);
        }
        let args = if binary {
            if body.len() > limits.max_message_bytes {
                Err(IpcError::new(ErrorCode::TooLarge, too_large_text(body.len(), limits)))
            } else {
                Ok(Args::Bytes(body))
            }
        } else {
            decode_args(&body, limits).map(Args::Json)
        };
        self.http_args(host, caller, cmd, id, args, reply_to);
    }

    fn http_args(
        &mut self,
        host: &mut dyn Host,
        caller: Caller<'_>,
        cmd: &str,
        id: Option<u64>,
        args: Result<Args, IpcError>,
        reply_to: HttpReplyTo,
    ) {
        match args {
            Ok(args) => self.call(host, caller, cmd, args, ReplyRoute::Http { id, reply_to }),
            Err(error) => {
                self.refused(
                    caller.label,
                    cmd,
                    error.code,
                    |more| log::warn!(surface = caller.label, command = cmd; "rejected request: {error}{more}"),
                );
                reply_to(HttpReply::Body(Err(error)));
            }
        }
    }

    /// Runs `work` on a codec worker; its result comes back through
    /// [`Router::offloaded`]. `in_order`: the surface's later frames wait for it.
    fn offload_work(&mut self, label: &str, in_order: bool, work: impl FnOnce() -> Done + Send + 'static) {
        let lane = self.lanes.get(label);
        lane.busy |= in_order;
        let generation = lane.generation;
        self.offloading += 1;
        let sink = Arc::clone(&self.sink);
        let owner = label.to_string();
        self.codec.spawn(label, move || sink.offloaded(Offloaded { label: owner, generation, done: work() }));
    }

    /// Puts a frame in line behind the one of its surface being decoded; past
    /// `max_in_flight` waiting frames it is refused instead.
    fn enqueue(&mut self, host: &mut dyn Host, label: &str, queued: Queued) {
        let max = self.manifest.limits.max_in_flight;
        let lane = self.lanes.get(label);
        if lane.queue.len() < max {
            lane.queue.push_back(queued);
            return;
        }
        let error = IpcError::new(
            ErrorCode::TooLarge,
            format!("surface '{label}' has {max} messages waiting behind a large one, the limit"),
        );
        self.refused(
            label,
            "(queue)",
            error.code,
            |more| log::warn!(surface = label; "rejected message: {error}{more}"),
        );
        match queued {
            Queued::Http { reply_to, .. } => reply_to(HttpReply::Body(Err(error))),
            Queued::Frame { frame: Ok(Inbound::Invoke { id, .. }), .. } => {
                let document = host.document(label);
                host.eval(label, script::reply(document, id, &Err(error)))
            }
            Queued::Frame { .. } | Queued::Message { .. } => {
                let document = host.document(label);
                host.eval(label, script::fault(document, &error))
            }
        }
    }

    /// Work done off this thread is back: a decoded frame is handled, then what waited
    /// behind it; a reply is delivered. What was done for a page since replaced is
    /// dropped.
    pub fn offloaded(&mut self, host: &mut dyn Host, offloaded: Offloaded) {
        let Offloaded { label, generation, done } = offloaded;
        self.offloading = self.offloading.saturating_sub(1);
        if generation != self.lanes.generation(&label) {
            log::debug!(surface = label.as_str(); "dropped work done for a page since replaced");
            if let Done::Http { reply_to, .. } = done {
                reply_to(HttpReply::Body(Err(IpcError::new(ErrorCode::Internal, "the page was replaced"))));
            }
            return;
        }
        match done {
            Done::Reply { script } => host.eval(&label, script),
            Done::Message { url, frame, bytes } => {
                self.lanes.get(&label).busy = false;
                self.frame(host, Caller { label: &label, url: &url }, frame, bytes);
                self.drain(host, &label);
            }
            Done::Http { url, cmd, id, args, reply_to } => {
                self.lanes.get(&label).busy = false;
                self.http_args(host, Caller { label: &label, url: &url }, &cmd, id, args.map(Args::Json), reply_to);
                self.drain(host, &label);
            }
        }
    }

    /// Handles, in order, what waited behind a decoded frame, until another large one
    /// leaves for a worker.
    fn drain(&mut self, host: &mut dyn Host, label: &str) {
        while !self.lanes.is_busy(label) {
            let Some(next) = self.lanes.get(label).queue.pop_front() else { break };
            match next {
                Queued::Message { url, raw } => self.message(host, Caller { label, url: &url }, &raw),
                Queued::Frame { url, frame } => self.frame(host, Caller { label, url: &url }, frame, None),
                Queued::Http { url, cmd, binary, id, body, reply_to } => {
                    let call = HttpCall { token: "", cmd: &cmd, binary, id, body };
                    self.http(host, Caller { label, url: &url }, call, reply_to);
                }
            }
        }
    }

    fn call(&mut self, host: &mut dyn Host, caller: Caller<'_>, cmd: &str, args: Args, route: ReplyRoute) {
        #[cfg(feature = "diagnostics")]
        if let Some(observe) = &self.observer {
            observe(caller.label, cmd);
        }
        let key = self.next_key;
        self.next_key += 1;
        let result = self.dispatch(host, caller, cmd, args, key);
        match &result {
            Ok(_) => log::debug!(surface = caller.label, command = cmd; "invoke ok"),
            Err(e) => self.refused(
                caller.label,
                cmd,
                e.code,
                |more| log::warn!(surface = caller.label, command = cmd; "invoke refused: {e}{more}"),
            ),
        }
        match result {
            Ok(None) => {
                self.pending.insert(key, Pending { label: caller.label.to_string(), route });
            }
            Ok(Some(payload)) => self.answer(host, caller.label, route, Ok(payload)),
            Err(e) => self.answer(host, caller.label, route, Err(e)),
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
            pool: self.pool.owned_by(caller.label),
            key,
            sink: &self.sink,
            deferred: false,
        };
        let result = handler(&mut ctx, args);
        match (result, ctx.deferred) {
            // Deferred: its `ReplyTo` answers, even if the handler returned a value.
            (Ok(_), true) => Ok(None),
            (Ok(None), false) => Err(IpcError::new(ErrorCode::Internal, format!("'{cmd}' gave no answer"))),
            (other, _) => other,
        }
    }

    /// Delivers a deferred call's answer. Answers for calls whose page is gone are
    /// dropped.
    pub fn finish(&mut self, host: &mut dyn Host, key: CallKey, result: CallResult) {
        match self.pending.remove(&key) {
            Some(p) => self.answer(host, &p.label, p.route, result),
            None => log::debug!("dropped the answer to call {key}: its page is gone"),
        }
    }

    /// A surface started a new page (or lost its web process): its subscriptions and
    /// calls end with the old page.
    pub fn surface_reset(&mut self, label: &str) {
        self.events.reset(label);
        for queued in self.lanes.reset(label) {
            if let Queued::Http { reply_to, .. } = queued {
                reply_to(HttpReply::Body(Err(IpcError::new(ErrorCode::Internal, "the page was replaced"))));
            }
        }
        let gone: Vec<CallKey> = self.pending.iter().filter(|(_, p)| p.label == label).map(|(k, _)| *k).collect();
        for key in gone {
            if let Some(Pending { route: ReplyRoute::Http { reply_to, .. }, .. }) = self.pending.remove(&key) {
                // Finish the request so WebKit does not hold it open; nobody reads it.
                reply_to(HttpReply::Body(Err(IpcError::new(ErrorCode::Internal, "the page was replaced"))));
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

    fn answer(&mut self, host: &mut dyn Host, label: &str, route: ReplyRoute, result: CallResult) {
        match route {
            ReplyRoute::Script { id } => self.reply(host, label, id, result),
            ReplyRoute::Http { id: Some(id), reply_to } if !matches!(result, Ok(Payload::Bytes(_))) => {
                reply_to(HttpReply::Settled);
                self.reply(host, label, id, result);
            }
            ReplyRoute::Http { reply_to, .. } => reply_to(HttpReply::Body(result)),
        }
    }

    /// Settles call `id` in the document the surface shows (calls of a document it
    /// replaced were refused or dropped: see [`crate::ipc::document`]); a large answer is
    /// encoded off this thread.
    fn reply(&mut self, host: &mut dyn Host, label: &str, id: u64, result: CallResult) {
        let document = host.document(label);
        if self.offload.is_some_and(|min| offload::is_large(&result, min)) {
            self.offload_work(label, false, move || Done::Reply { script: script::reply(document, id, &result) });
        } else {
            host.eval(label, script::reply(document, id, &result));
        }
    }

    /// Logs a refusal through `log` (given what to append), or only counts it once the
    /// surface has had its few full lines of this `code` this window (see [`crate::ipc::refusals`]).
    fn refused(&mut self, label: &str, what: &str, code: ErrorCode, log: impl FnOnce(&str)) {
        match self.refusals.note(label, code.as_str(), what, std::time::Instant::now()) {
            Verdict::Log => log(""),
            Verdict::LogLast => log(" (further refusals of this kind from this surface are counted and summarized)"),
            Verdict::Count => {}
        }
    }

    /// Logs the summaries of refusals counted but not logged; called by the shell's
    /// periodic tick.
    pub fn tick(&mut self, now: std::time::Instant) {
        for summary in self.refusals.due(now) {
            log::warn!(surface = summary.label.as_str(); "{summary}");
        }
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

fn base64_bytes(args: Value) -> Result<Vec<u8>, IpcError> {
    use base64::Engine;
    let bad = || IpcError::new(ErrorCode::BadMessage, "binary arguments must be one base64 string");
    let Value::String(text) = args else { return Err(bad()) };
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| bad())
}

fn too_large_text(len: usize, limits: &Limits) -> String {
    format!("message of {len} bytes exceeds the limit of {} bytes", limits.max_message_bytes)
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
    // Principals that listen from outside (the MQTT bridge) hear what their capabilities
    // allow, sent to all or to them, never their own events back. Not counted: `delivered`
    // counts surfaces.
    for principal in LISTENING_PRINCIPALS {
        let targeted = d.to.is_none_or(|t| t.iter().any(|l| l == principal));
        if !targeted || d.source == principal || d.only_if.is_some() {
            continue;
        }
        if authority.check(principal, &principal_url(principal), "event.listen", Some(d.event)).is_ok() {
            host.post_to_principal(principal, d.event, d.payload, d.source);
        }
    }
    delivered
}

/// The principals events can be delivered to besides surfaces (see [`Host::post_to_principal`]).
pub const LISTENING_PRINCIPALS: [&str; 1] = [MQTT_PRINCIPAL];

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
