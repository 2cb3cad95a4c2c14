//! The shell's side of control requests (`crate::request`), on the main thread: the
//! D-Bus control interface, the tray and notifications act on surfaces only here.
//!
//! Also here: what the shell publishes to the bus (properties, crash and recovery
//! signals, from the resilience tick). Notifications without a server show in the
//! toast overlay ([`super::toast`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;
use webkit2gtk::{SnapshotOptions, SnapshotRegion, WebViewExt as _};
use wry::WebViewExtUnix as _;

use crate::config::{principal_url, Manifest, TrayAction};
use crate::dbus::{BusLink, Notice};
use crate::ipc::{CallResult, Caller, ErrorCode, Host, HttpCall, HttpReply, IpcError, Payload};
use crate::request::{Op, Reply, ReplyTo, Request, RequestError, RequestResult, Snapshot, Status, SurfaceStatus};
use crate::shell::health::Showing;
use crate::shell::navigation::NavigationPolicy;
use crate::shell::screenshot;
use crate::shell::surface::Surface;
use crate::shell::Shell;

pub struct ControlState {
    started: Instant,
    name: String,
    navigation: Vec<String>,
    /// The surfaces control may act on: the configured ones.
    configured: BTreeSet<String>,
    link: Option<BusLink>,
    /// The router's token for each principal's calls (`dbus`, `mqtt`).
    tokens: BTreeMap<&'static str, String>,
    published: Option<Snapshot>,
    counters: BTreeMap<String, (u64, u64)>,
    automation: bool,
    decoders: crate::os::decoders::Decoders,
}

impl ControlState {
    pub(super) fn new(
        manifest: &Manifest,
        link: Option<BusLink>,
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
            automation,
            // Probed once, at start: a few folder reads, never in a GTK callback.
            decoders: crate::os::decoders::probe(),
        }
    }
}

fn not_found(label: &str, known: &BTreeSet<String>) -> RequestError {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    RequestError::NotFound(format!("no surface labelled '{label}' (surfaces: {})", known.join(", ")))
}

fn from_ipc(e: IpcError) -> RequestError {
    match e.code {
        ErrorCode::NotAllowed => RequestError::NotAllowed(e.message),
        ErrorCode::NotFound => RequestError::NotFound(e.message),
        ErrorCode::BadArgs | ErrorCode::TooLarge | ErrorCode::BadMessage | ErrorCode::UnknownCommand => {
            RequestError::BadArgs(e.message)
        }
        _ => RequestError::Failed(e.message),
    }
}

fn emitted(result: CallResult) -> RequestResult {
    match result {
        Ok(Payload::Json(v)) => Ok(Reply::Emitted(v["delivered"].as_u64().unwrap_or(0) as usize)),
        Ok(Payload::Bytes(_)) => Err(RequestError::Failed("event.emit answered bytes".into())),
        Err(e) => Err(from_ipc(e)),
    }
}

impl Shell {
    pub(crate) fn on_request(&mut self, request: Request) {
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

    fn configured(&mut self, label: &str) -> Result<&mut Surface, RequestError> {
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
            update: None,
        }
    }

    fn navigate(&mut self, label: &str, url: &str) -> Result<(), RequestError> {
        let parsed = url::Url::parse(url).map_err(|e| RequestError::BadArgs(format!("'{url}' is not a URL: {e}")))?;
        let patterns = self.control.navigation.clone();
        let s = self.configured(label)?;
        if !NavigationPolicy::new(&s.config.page, &patterns).allows(parsed.as_str()) {
            return Err(RequestError::NotAllowed(format!(
                "surface '{label}' may not navigate to {url}: not its own origin, a core page, or in app.navigation"
            )));
        }
        // What recovery reloads from now on.
        s.page_url = parsed.to_string();
        load(s, parsed.as_str())
    }

    fn reload(&mut self, label: &str) -> Result<(), RequestError> {
        let s = self.configured(label)?;
        let url = s.page_url.clone();
        load(s, &url)
    }

    fn zoom(&mut self, label: &str, factor: f64) -> Result<(), RequestError> {
        let zoom = crate::config::lockdown::Zoom::new(factor).map_err(RequestError::BadArgs)?;
        self.configured(label)?;
        self.surfaces.set_zoom(label, zoom.factor()).map_err(from_ipc)
    }

    fn volume(&mut self, change: &str) -> RequestResult {
        let change = crate::volume::Change::parse(change).map_err(RequestError::BadArgs)?;
        self.surfaces.volume(change).map(Reply::Volume).map_err(from_ipc)
    }

    fn set_shown(&mut self, label: &str, visible: bool) -> Result<(), RequestError> {
        let s = self.configured(label)?;
        if s.container.is_none() {
            return Err(RequestError::BadArgs(format!(
                "'{label}' is the main surface; only overlays can be shown and hidden"
            )));
        }
        self.surfaces.set_visible(label, visible).map_err(from_ipc)
    }

    /// `event.emit` through the router, as `principal` (`dbus`, `mqtt`): the capabilities decide.
    fn emit_as(&mut self, principal: &'static str, event: &str, payload: &str, to: Vec<String>, reply: ReplyTo) {
        let Some(token) = self.control.tokens.get(principal) else {
            return reply.send(Err(RequestError::NotAllowed(format!("'{principal}' is no principal"))));
        };
        let payload: Value = match payload.trim() {
            "" => Value::Null,
            text => match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => return reply.send(Err(RequestError::BadArgs(format!("the payload is not JSON: {e}")))),
            },
        };
        let mut args = serde_json::json!({ "event": event, "payload": payload });
        if !to.is_empty() {
            args["to"] = serde_json::json!(to);
        }
        let body = args.to_string().into_bytes();
        // Without a call id every answer comes back here, never as a script.
        let reply_to = Box::new(move |http| match http {
            HttpReply::Body(result) => reply.send(emitted(result)),
            HttpReply::Settled => reply.send(Err(RequestError::Failed("the answer went elsewhere".into()))),
        });
        let url = principal_url(principal);
        let caller = Caller { label: principal, url: &url };
        let call = HttpCall { token, cmd: "event.emit", binary: false, id: None, body };
        self.router.handle_http(&mut self.surfaces, caller, call, reply_to);
    }

    fn screenshot(&mut self, label: &str, reply: ReplyTo) {
        let s = match self.configured(label) {
            Ok(s) => s,
            Err(e) => return reply.send(Err(e)),
        };
        if !s.visible {
            return reply.send(Err(RequestError::Failed(format!("'{label}' is hidden; show it first"))));
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
                        reply.send(Err(RequestError::Failed(e)));
                    }
                }
            },
        );
    }

    fn tray_action(&mut self, action: TrayAction) -> Result<(), RequestError> {
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
}

/// Starts loading `url` in `s`, as recovery does.
fn load(s: &mut Surface, url: &str) -> Result<(), RequestError> {
    s.health.loading(Showing::Page, Instant::now());
    s.webview.load_url(url).map_err(|e| RequestError::Failed(format!("cannot load {url}: {e}")))
}
