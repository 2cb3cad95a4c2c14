//! The shell's side of control requests (`crate::control`), on the main thread: the
//! D-Bus control interface, the tray and notifications act on surfaces only here.
//!
//! Also here: what the shell publishes to the bus (properties, crash and recovery
//! signals, from the resilience tick) and the built-in toast overlay that shows
//! notifications when no notification server runs. The toast is a core-owned surface
//! (`app://localhost/__vitrine/toast.html`), built at start-up only when some surface may
//! send notifications; it has no capabilities, and its two messages (`toast.layout`,
//! `toast.action`) are handled here before the router sees them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gtk::prelude::*;
use serde_json::Value;
use tao::event_loop::EventLoopProxy;
use webkit2gtk::{SnapshotOptions, SnapshotRegion, WebViewExt as _};
use wry::WebViewExtUnix as _;

use crate::config::{principal_url, Anchor, InputMode, Length, Manifest, Page, SurfaceConfig, TrayAction};
use crate::control::{
    Answer, ControlError, ControlSink, Op, Relay, Reply, Request, Responder, Snapshot, Status, SurfaceStatus, Toast,
};
use crate::dbus::notifications::ACTION_EVENT;
use crate::dbus::{Link, Notice};
use crate::ipc::protocol::{decode, Inbound};
use crate::ipc::{script, Authority, CallResult, Caller, ErrorCode, Host, HttpCall, HttpReply, IpcError, Payload};
use crate::shell::health::Showing;
use crate::shell::navigation::NavigationPolicy;
use crate::shell::screenshot;
use crate::shell::surface::{self, BuildCtx, Surface};
use crate::shell::{CoreEvent, SharedShell, Shell, ShellError};

/// The toast overlay's label: not a valid configured label, so it can never clash.
pub const TOAST_LABEL: &str = "vitrine.toast";
const TOAST_PAGE: &str = "__vitrine/toast.html";
const TOAST_WIDTH: u32 = 420;
/// Toasts remembered for their action clicks.
const MAX_REMEMBERED: usize = 64;
/// Toasts waiting for the toast page (loading, or reloading after a crash); the page
/// shows four at most, so older ones would only scroll by unseen.
const MAX_WAITING: usize = 16;

/// Control requests reach the main loop as core events.
struct ProxySink(Mutex<EventLoopProxy<CoreEvent>>);

impl ControlSink for ProxySink {
    fn submit(&self, request: Request) -> bool {
        let proxy = match self.0.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        proxy.send_event(CoreEvent::Control(request)).is_ok()
    }
}

/// Points `relay` at this event loop.
pub(super) fn attach(relay: &Relay, proxy: EventLoopProxy<CoreEvent>) {
    relay.attach(Arc::new(ProxySink(Mutex::new(proxy))));
}

/// The built-in toast overlay.
struct ToastBox {
    width: i32,
    /// Its page has loaded and said so; until then toasts wait.
    ready: bool,
    crashes_seen: u64,
    pending: VecDeque<Toast>,
    /// Waiting toasts dropped (oldest first) since the page was last ready.
    dropped: u64,
    /// Shown toasts by id, for their action clicks (oldest dropped first).
    shown: BTreeMap<u32, Toast>,
}

pub struct ControlState {
    started: Instant,
    name: String,
    navigation: Vec<String>,
    /// The surfaces control may act on: the configured ones.
    configured: BTreeSet<String>,
    link: Option<Link>,
    /// The router's token for each principal's calls (`dbus`, `mqtt`).
    tokens: BTreeMap<&'static str, String>,
    published: Option<Snapshot>,
    counters: BTreeMap<String, (u64, u64)>,
    toast: Option<ToastBox>,
    automation: bool,
    decoders: crate::os::decoders::Decoders,
}

impl ControlState {
    pub(super) fn new(
        manifest: &Manifest,
        link: Option<Link>,
        tokens: BTreeMap<&'static str, String>,
        automation: bool,
    ) -> Self {
        Self {
            started: Instant::now(),
            name: manifest.name.clone(),
            navigation: manifest.navigation.clone(),
            configured: manifest.surfaces().map(|s| s.label.clone()).collect(),
            link,
            tokens,
            published: None,
            counters: BTreeMap::new(),
            toast: None,
            automation,
            // Probed once, at start: a few folder reads, never in a GTK callback.
            decoders: crate::os::decoders::probe(),
        }
    }
}

/// Whether any surface may send notifications, so that the toast may be needed.
pub(super) fn wants_toast(authority: &Authority, manifest: &Manifest) -> bool {
    let local = "app://localhost/";
    manifest.surfaces().any(|s| authority.check(&s.label, local, "notification.send", None).is_ok())
        || manifest.lockdown.any_grant(crate::config::Permission::Notifications)
}

/// Builds the toast overlay (hidden), above every configured surface.
pub(super) fn build_toast(shell: &Rc<SharedShell>, ctx: &mut BuildCtx<'_>) -> Result<(), ShellError> {
    let cfg = SurfaceConfig {
        label: TOAST_LABEL.to_string(),
        page: Page::Local(TOAST_PAGE.to_string()),
        anchor: Anchor::TopRight,
        width: Length::Px(TOAST_WIDTH),
        height: Length::Px(1),
        margin: 12,
        transparent: true,
        visible: false,
        input: InputMode::Normal,
        process: crate::config::Process::Own,
        acceleration: None,
        lockdown: crate::config::SurfaceLockdown::default(),
    };
    let before = crate::service::procs::web_processes();
    let mut s =
        surface::build(&cfg, ctx).map_err(|source| ShellError::Surface { label: TOAST_LABEL.to_string(), source })?;
    let started: Vec<u32> = crate::service::procs::web_processes().difference(&before).copied().collect();
    if let [pid] = started[..] {
        s.pid = Some(pid);
    }
    if let Some(container) = &s.container {
        container.hide();
    }
    let width = i32::try_from(cfg.width.resolve(ctx.screen.width)).unwrap_or(TOAST_WIDTH as i32);
    log::info!(surface = TOAST_LABEL; "toast overlay created for notifications without a server");
    let mut shell = shell.borrow_mut();
    shell.control.toast = Some(ToastBox {
        width,
        ready: false,
        crashes_seen: 0,
        pending: VecDeque::new(),
        dropped: 0,
        shown: BTreeMap::new(),
    });
    shell.surfaces.push(s);
    Ok(())
}

fn not_found(label: &str, known: &BTreeSet<String>) -> ControlError {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    ControlError::NotFound(format!("no surface labelled '{label}' (surfaces: {})", known.join(", ")))
}

fn from_ipc(e: IpcError) -> ControlError {
    match e.code {
        ErrorCode::NotAllowed => ControlError::NotAllowed(e.message),
        ErrorCode::NotFound => ControlError::NotFound(e.message),
        ErrorCode::BadArgs | ErrorCode::TooLarge | ErrorCode::BadMessage | ErrorCode::UnknownCommand => {
            ControlError::BadArgs(e.message)
        }
        _ => ControlError::Failed(e.message),
    }
}

fn emitted(result: CallResult) -> Answer {
    match result {
        Ok(Payload::Json(v)) => Ok(Reply::Emitted(v["delivered"].as_u64().unwrap_or(0) as usize)),
        Ok(Payload::Bytes(_)) => Err(ControlError::Failed("event.emit answered bytes".into())),
        Err(e) => Err(from_ipc(e)),
    }
}

impl Shell {
    pub(crate) fn on_control(&mut self, request: Request) {
        let Request { op, reply } = request;
        match op {
            Op::Ping => reply.send(Ok(Reply::Pong)),
            Op::Status => reply.send(Ok(Reply::Status(Box::new(self.status())))),
            Op::Navigate { label, url } => reply.send(self.navigate(&label, &url).map(|()| Reply::Done)),
            Op::Reload { label } => reply.send(self.reload(&label).map(|()| Reply::Done)),
            Op::SetVisible { label, visible } => reply.send(self.set_shown(&label, visible).map(|()| Reply::Done)),
            Op::Emit { principal, event, payload, to } => self.emit_as(principal, &event, &payload, to, reply),
            Op::Screenshot { label } => self.screenshot(&label, reply),
            Op::Zoom { label, factor } => reply.send(self.zoom(&label, factor).map(|()| Reply::Done)),
            Op::ClearWebData { what } => self.clear_web_data(&what, reply),
            Op::Keyboard { show } => reply.send(self.keyboard_control(show).map(|()| Reply::Done)),
            Op::Volume { change } => reply.send(self.volume(&change)),
            Op::Toast(toast) => {
                self.show_toast(toast);
                reply.send(Ok(Reply::Done));
            }
            Op::Deliver { label, event, payload } => {
                let n = self.router.emit_from_core(
                    &mut self.surfaces,
                    &event,
                    &payload,
                    Some(std::slice::from_ref(&label)),
                );
                log::info!(surface = label.as_str(); "'{event}' delivered: {}", n > 0);
                reply.send(Ok(Reply::Done));
            }
            Op::Display(op) => reply.send(self.display_op(op)),
            Op::Tray(action) => {
                let done = self.tray_action(action);
                if let Err(e) = &done {
                    log::warn!("tray: {e}");
                }
                reply.send(done.map(|()| Reply::Done));
            }
        }
        // What changed shows in the properties at once, not at the next tick.
        self.publish();
    }

    fn configured(&mut self, label: &str) -> Result<&mut Surface, ControlError> {
        if !self.control.configured.contains(label) {
            return Err(not_found(label, &self.control.configured));
        }
        self.surfaces.get_mut(label).ok_or_else(|| not_found(label, &self.control.configured))
    }

    fn status(&self) -> Status {
        Status {
            name: self.control.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_secs: self.control.started.elapsed().as_secs_f64(),
            ready: self.ready,
            automation: self.control.automation,
            surfaces: self
                .surfaces
                .iter()
                .map(|s| SurfaceStatus {
                    label: s.config.label.clone(),
                    url: s.url.clone(),
                    visible: s.visible,
                    overlay: s.container.is_some(),
                    up: s.health.is_up(),
                    pid: s.pid,
                    crashes: s.health.crashes,
                    hangs: s.health.hangs,
                    recoveries: s.health.recoveries,
                    load_failures: s.health.load_failures,
                    geometry: crate::shell::output::geometry(s),
                })
                .collect(),
            decoders: self.control.decoders.clone(),
            output: self.output_status(),
            display: self.power.try_borrow().map(|p| p.status()).unwrap_or_default(),
            keyboard: self.keyboard_status(),
        }
    }

    fn navigate(&mut self, label: &str, url: &str) -> Result<(), ControlError> {
        let parsed = url::Url::parse(url).map_err(|e| ControlError::BadArgs(format!("'{url}' is not a URL: {e}")))?;
        let patterns = self.control.navigation.clone();
        let s = self.configured(label)?;
        if !NavigationPolicy::new(&s.config.page, &patterns).allows(parsed.as_str()) {
            return Err(ControlError::NotAllowed(format!(
                "surface '{label}' may not navigate to {url}: not its own origin, a core page, or in app.navigation"
            )));
        }
        // What recovery reloads from now on.
        s.page_url = parsed.to_string();
        load(s, parsed.as_str())
    }

    fn reload(&mut self, label: &str) -> Result<(), ControlError> {
        let s = self.configured(label)?;
        let url = s.page_url.clone();
        load(s, &url)
    }

    fn zoom(&mut self, label: &str, factor: f64) -> Result<(), ControlError> {
        let zoom = crate::config::lockdown::Zoom::new(factor).map_err(ControlError::BadArgs)?;
        self.configured(label)?;
        self.surfaces.set_zoom(label, zoom.factor()).map_err(from_ipc)
    }

    fn volume(&mut self, change: &str) -> Answer {
        let change = crate::volume::Change::parse(change).map_err(ControlError::BadArgs)?;
        self.surfaces.volume(change).map(Reply::Volume).map_err(from_ipc)
    }

    fn set_shown(&mut self, label: &str, visible: bool) -> Result<(), ControlError> {
        let s = self.configured(label)?;
        if s.container.is_none() {
            return Err(ControlError::BadArgs(format!(
                "'{label}' is the main surface; only overlays can be shown and hidden"
            )));
        }
        self.surfaces.set_visible(label, visible).map_err(from_ipc)
    }

    /// `event.emit` through the router, as `principal` (`dbus`, `mqtt`): the capabilities decide.
    fn emit_as(&mut self, principal: &'static str, event: &str, payload: &str, to: Vec<String>, reply: Responder) {
        let Some(token) = self.control.tokens.get(principal) else {
            return reply.send(Err(ControlError::NotAllowed(format!("'{principal}' is no principal"))));
        };
        let payload: Value = match payload.trim() {
            "" => Value::Null,
            text => match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => return reply.send(Err(ControlError::BadArgs(format!("the payload is not JSON: {e}")))),
            },
        };
        let mut args = serde_json::json!({ "event": event, "payload": payload });
        if !to.is_empty() {
            args["to"] = serde_json::json!(to);
        }
        let body = args.to_string().into_bytes();
        // Without a call id every answer comes back here, never as a script.
        let respond = Box::new(move |answer| match answer {
            HttpReply::Answer(result) => reply.send(emitted(result)),
            HttpReply::Settled => reply.send(Err(ControlError::Failed("the answer went elsewhere".into()))),
        });
        let url = principal_url(principal);
        let caller = Caller { label: principal, url: &url };
        let call = HttpCall { token, cmd: "event.emit", binary: false, id: None, body };
        self.router.handle_http(&mut self.surfaces, caller, call, respond);
    }

    fn screenshot(&mut self, label: &str, reply: Responder) {
        let s = match self.configured(label) {
            Ok(s) => s,
            Err(e) => return reply.send(Err(e)),
        };
        if !s.visible {
            return reply.send(Err(ControlError::Failed(format!("'{label}' is hidden; show it first"))));
        }
        if let Err(e) = screenshot::begin() {
            return reply.send(Err(e));
        }
        let label = label.to_string();
        s.webview.webview().snapshot(
            SnapshotRegion::Visible,
            SnapshotOptions::NONE,
            None::<&gtk::gio::Cancellable>,
            move |result| {
                // Only the copy happens here; PNG compression runs on its own thread.
                match result.map_err(|e| format!("WebKit could not take the picture: {e}")).and_then(screenshot::copy) {
                    Ok(pixels) => screenshot::encode_and_answer(pixels, label, reply),
                    Err(e) => {
                        screenshot::abandon();
                        reply.send(Err(ControlError::Failed(e)));
                    }
                }
            },
        );
    }

    fn tray_action(&mut self, action: TrayAction) -> Result<(), ControlError> {
        match action {
            TrayAction::Reload { surface } => self.reload(&surface),
            TrayAction::Show { surface } => self.set_shown(&surface, true),
            TrayAction::Hide { surface } => self.set_shown(&surface, false),
            TrayAction::Event { event, payload, to } => {
                let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
                let to = (!to.is_empty()).then_some(to);
                let n = self.router.emit_from_core(&mut self.surfaces, &event, &payload, to.as_deref());
                log::info!("tray: event '{event}' delivered to {n} surfaces");
                Ok(())
            }
        }
    }

    /// Sends what changed to the bus thread; called every tick.
    pub(crate) fn publish(&mut self) {
        self.check_toast_page();
        self.check_keyboard_page();
        let Some(link) = self.control.link.clone() else { return };
        for s in self.surfaces.iter() {
            let label = s.config.label.clone();
            let now = (s.health.crashes, s.health.recoveries);
            let before = self.control.counters.insert(label.clone(), now).unwrap_or((0, 0));
            if now.0 > before.0 {
                let reason = s.health.last_reason.clone().unwrap_or_default();
                let _ = link.send(Notice::Crashed { label: label.clone(), reason });
            }
            if now.1 > before.1 {
                let _ = link.send(Notice::Recovered { label });
            }
        }
        let snapshot = Snapshot {
            ready: self.ready,
            visible: self.surfaces.iter().filter(|s| s.visible).map(|s| s.config.label.clone()).collect(),
            urls: self.surfaces.iter().map(|s| (s.config.label.clone(), s.url.clone())).collect(),
            crashes: self.surfaces.iter().map(|s| s.health.crashes).sum(),
            recoveries: self.surfaces.iter().map(|s| s.health.recoveries).sum(),
            screen_on: self.power.try_borrow().map_or(true, |p| p.is_on()),
            display_backend: self.power.try_borrow().ok().and_then(|p| p.status().backend).unwrap_or_default(),
        };
        if self.control.published.as_ref() != Some(&snapshot) {
            self.control.published = Some(snapshot.clone());
            let _ = link.send(Notice::State(snapshot));
        }
    }

    /// A toast page that lost its web process is not ready until its new page says so.
    fn check_toast_page(&mut self) {
        let Some(toast) = &mut self.control.toast else { return };
        let crashes = self.surfaces.get(TOAST_LABEL).map_or(0, |s| s.health.crashes);
        if crashes != toast.crashes_seen {
            toast.crashes_seen = crashes;
            toast.ready = false;
        }
    }

    fn show_toast(&mut self, toast: Toast) {
        let Some(tb) = &mut self.control.toast else {
            log::warn!(surface = toast.sender.as_str(); "no toast overlay for notification '{}'", toast.title);
            return;
        };
        log::info!(surface = toast.sender.as_str(); "notification {} shown as a toast: {}", toast.id, toast.title);
        if tb.shown.len() >= MAX_REMEMBERED {
            tb.shown.pop_first();
        }
        tb.shown.insert(toast.id, toast.clone());
        if tb.ready {
            self.surfaces.eval(TOAST_LABEL, toast_script(&toast));
        } else if let Some(old) = push_bounded(&mut tb.pending, toast, MAX_WAITING) {
            tb.dropped += 1;
            // One line for the first; the rest are counted when the page is back.
            if tb.dropped == 1 {
                log::warn!(
                    surface = old.sender.as_str();
                    "toast queue full ({MAX_WAITING} waiting for the toast page): dropped the oldest, '{}'",
                    old.title
                );
            }
        }
    }

    /// Handles the toast page's own messages; false for everything else (pings,
    /// console), which the router handles as for any surface.
    pub(crate) fn on_toast_message(&mut self, label: &str, body: &str) -> bool {
        if label != TOAST_LABEL {
            return false;
        }
        if self.control.toast.is_none() {
            return false;
        }
        // The token of the toast page's current document, as for any surface.
        let token = self.surfaces.get(TOAST_LABEL).and_then(|s| s.documents.accepted_token());
        let Some(raw) = token.and_then(|t| body.strip_prefix(t)) else { return false };
        let Ok(Inbound::Invoke { id, cmd, args, .. }) = decode(raw, self.router.limits()) else { return false };
        match cmd.as_str() {
            "toast.layout" => self.toast_layout(&args),
            "toast.action" => self.toast_action(&args),
            _ => return false,
        }
        let document = self.surfaces.document(TOAST_LABEL);
        self.surfaces.eval(TOAST_LABEL, script::reply(document, id, &Ok(Payload::Json(Value::Null))));
        true
    }

    /// The toast page's content changed height: fit the overlay to it (hidden at 0), so
    /// it covers nothing but its toasts.
    fn toast_layout(&mut self, args: &Value) {
        let height = args["height"].as_u64().unwrap_or(0).min(4096) as i32;
        let Some(tb) = &mut self.control.toast else { return };
        let pending = if tb.ready { VecDeque::new() } else { std::mem::take(&mut tb.pending) };
        if !tb.ready && tb.dropped > 0 {
            log::warn!("{} toasts were dropped while the toast page was not ready", tb.dropped);
            tb.dropped = 0;
        }
        tb.ready = true;
        let width = tb.width;
        if let Some(s) = self.surfaces.get_mut(TOAST_LABEL) {
            if let Some(container) = &s.container {
                if height > 0 {
                    container.set_size_request(width, height);
                    container.show_all();
                } else {
                    container.hide();
                }
            }
            s.visible = height > 0;
        }
        for toast in pending {
            self.surfaces.eval(TOAST_LABEL, toast_script(&toast));
        }
    }

    fn toast_action(&mut self, args: &Value) {
        let (Some(id), Some(action)) = (args["id"].as_u64(), args["action"].as_str()) else { return };
        let Some(tb) = &mut self.control.toast else { return };
        let Some(toast) = u32::try_from(id).ok().and_then(|id| tb.shown.get(&id)) else { return };
        if !toast.actions.iter().any(|a| a.id == action) {
            return;
        }
        let sender = toast.sender.clone();
        log::info!(surface = sender.as_str(); "toast {id}: action '{action}'");
        let payload = serde_json::json!({ "id": id, "action": action });
        self.router.emit_from_core(&mut self.surfaces, ACTION_EVENT, &payload, Some(&[sender]));
    }
}

/// Starts loading `url` in `s`, as recovery does.
fn load(s: &mut Surface, url: &str) -> Result<(), ControlError> {
    s.health.loading(Showing::Page, Instant::now());
    s.webview.load_url(url).map_err(|e| ControlError::Failed(format!("cannot load {url}: {e}")))
}

/// Appends `item`; past `max` items the oldest is dropped and returned.
fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, max: usize) -> Option<T> {
    queue.push_back(item);
    (queue.len() > max).then(|| queue.pop_front()).flatten()
}

fn toast_script(t: &Toast) -> String {
    let view = serde_json::json!({
        "id": t.id, "title": t.title, "body": t.body, "icon": t.icon,
        "urgency": t.urgency, "timeout": t.timeout_ms, "actions": t.actions,
    });
    format!("window.vitrineToast&&window.vitrineToast.show({view})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_queue_drops_the_oldest_past_its_bound() {
        let mut q = VecDeque::new();
        let dropped: Vec<u32> = (0..20).filter_map(|i| push_bounded(&mut q, i, MAX_WAITING)).collect();
        assert_eq!(dropped, [0, 1, 2, 3]);
        assert_eq!(q.len(), MAX_WAITING);
        assert_eq!((q.front(), q.back()), (Some(&4), Some(&19)));
    }
}
