//! The shell: the GTK main thread's world — the toplevel, the surfaces, and the loop
//! that feeds IPC, page loads and signals to them.
//!
//! GTK objects live here and nowhere else. Callbacks from webviews are bound to their
//! surface's label; IPC messages are handled synchronously when the shell is free and
//! queued through the tao event loop otherwise; page loads and signals always go
//! through the loop.

mod assets;
mod automation;
mod fetch;
mod health;
mod host;
pub mod inspector;
mod keyboard;
mod lockdown;
mod loopback;
mod media;
mod navigation;
mod output;
mod permissions;
mod picker;
mod pressure;
mod process;
mod range;
mod requests;
mod resilience;
mod sandbox;
mod screen;
mod screenshot;
mod surface;
mod toast;
mod volume;
pub mod webdata;
mod window;

pub use assets::{mime_type, Assets};
pub use navigation::NavigationPolicy;
pub use window::Screen;

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use gtk::prelude::*;
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoopBuilder, EventLoopProxy};
use wry::http::Request;
use wry::RequestAsyncResponder;

use crate::config::Bundle;
use crate::ipc::document::new_token;
use crate::ipc::{
    register_builtins, Authority, Broadcast, CallKey, CallResult, Caller, Document, HttpCall, ReplySink, Router,
};
use crate::request::RequestSink;
use crate::service::notify;
pub use fetch::on_fetch;
use host::Surfaces;
pub(crate) use sandbox::prepare_environment as prepare_sandbox;
pub(crate) use surface::prepare_rendering;
use surface::BuildCtx;

/// Work for the main loop, sent from callbacks, worker threads and signal handlers.
pub enum CoreEvent {
    Ipc {
        label: String,
        url: String,
        body: String,
    },
    Fetch {
        label: String,
        request: Box<Request<Vec<u8>>>,
        responder: RequestAsyncResponder,
    },
    Reply {
        key: CallKey,
        result: CallResult,
    },
    Broadcast(Broadcast),
    /// A large frame decoded, or a large reply encoded, by a worker.
    Offloaded(crate::ipc::offload::Offloaded),
    PageLoad {
        label: String,
        stage: LoadStage,
        url: String,
    },
    Crashed {
        label: String,
        reason: &'static str,
    },
    LoadFailed {
        label: String,
        url: String,
        reason: String,
    },
    /// A request from the D-Bus control interface, the tray or notifications.
    Request(crate::request::Request),
    /// News from the display thread (`crate::display`).
    Display(crate::display::Report),
    Quit {
        signal: &'static str,
    },
}

/// How far a surface's top-frame load has come.
pub enum LoadStage {
    /// A load started; the document it will commit gets this bridge (none when no
    /// token could be made).
    Started(Option<Document>),
    /// The new document replaced the old one.
    Committed,
    /// The load ended, committed or not.
    Finished,
}

thread_local! {
    /// The shell, for callbacks that must be `Send` (custom protocols) yet run on the
    /// main thread, where this is set.
    static CURRENT: RefCell<Weak<SharedShell>> = const { RefCell::new(Weak::new()) };
}

/// The event loop's proxy as the one way in from other threads: deferred replies, core
/// events and offloaded work ([`ReplySink`]) and control requests ([`RequestSink`]) all
/// reach the main thread as [`CoreEvent`]s.
struct ProxySink(std::sync::Mutex<EventLoopProxy<CoreEvent>>);

impl ProxySink {
    fn proxy(&self) -> EventLoopProxy<CoreEvent> {
        match self.0.lock() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ReplySink for ProxySink {
    fn send(&self, key: CallKey, result: CallResult) {
        if self.proxy().send_event(CoreEvent::Reply { key, result }).is_err() {
            log::debug!("event loop gone; answer to call {key} dropped");
        }
    }

    fn broadcast(&self, broadcast: Broadcast) {
        if self.proxy().send_event(CoreEvent::Broadcast(broadcast)).is_err() {
            log::debug!("event loop gone; core event dropped");
        }
    }

    fn offloaded(&self, offloaded: crate::ipc::offload::Offloaded) {
        if self.proxy().send_event(CoreEvent::Offloaded(offloaded)).is_err() {
            log::debug!("event loop gone; decoded message dropped");
        }
    }
}

impl RequestSink for ProxySink {
    fn submit(&self, request: crate::request::Request) -> bool {
        self.proxy().send_event(CoreEvent::Request(request)).is_ok()
    }
}

/// Handles `event` at once when the shell is free — the common case, and the fastest
/// path for IPC — or queues it for the next loop turn when a callback arrives while the
/// shell is busy further up the stack (GTK can dispatch signals re-entrantly).
pub(crate) fn dispatch(shell: &Weak<SharedShell>, proxy: &EventLoopProxy<CoreEvent>, event: CoreEvent) {
    let Some(shell) = shell.upgrade() else { return };
    let queued = match shell.try_borrow_mut() {
        Ok(mut s) => s.handle(event).map(|signal| CoreEvent::Quit { signal }),
        Err(_) => Some(event),
    };
    if let Some(event) = queued {
        if proxy.send_event(event).is_err() {
            log::debug!("event loop gone; event dropped");
        }
    }
}

/// Runs `f` on the shell every `interval` on the main loop. A frozen main loop runs
/// nothing — which is what starves the watchdog when the core hangs.
/// The page `label` shows, for main-thread callbacks that cannot hold the shell.
pub(crate) fn page_url(label: &str) -> Option<String> {
    let shell = CURRENT.with(|c| c.borrow().upgrade())?;
    let shell = shell.try_borrow().ok()?;
    shell.surfaces.get(label).map(|s| s.url.clone())
}

/// How long the overlays' pages wait at most for the main page's first load.
const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads the held overlays' pages after `delay` if the main page has not done so.
fn release_held_after(delay: std::time::Duration) {
    gtk::glib::timeout_add_local(delay, move || {
        let Some(shell) = CURRENT.with(|c| c.borrow().upgrade()) else {
            return gtk::glib::ControlFlow::Break;
        };
        // Busy (a nested dispatch): the next turn, a few ms later.
        let Ok(mut shell) = shell.try_borrow_mut() else {
            return gtk::glib::ControlFlow::Continue;
        };
        shell.release_held(&format!("the main page has not loaded after {} s", delay.as_secs()));
        gtk::glib::ControlFlow::Break
    });
}

fn every(interval: std::time::Duration, f: fn(&mut Shell)) {
    gtk::glib::timeout_add_local(interval, move || {
        if let Some(shell) = CURRENT.with(|c| c.borrow().upgrade()) {
            if let Ok(mut shell) = shell.try_borrow_mut() {
                f(&mut shell);
            }
        }
        gtk::glib::ControlFlow::Continue
    });
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Window(#[from] window::WindowError),
    #[error("cannot create surface '{label}': {source}")]
    Surface { label: String, source: wry::Error },
    #[error("cannot read random bytes for the surfaces' tokens: {0}")]
    Random(#[from] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] sandbox::SandboxError),
}

pub type SharedShell = RefCell<Shell>;

pub struct Shell {
    router: Router,
    surfaces: Surfaces,
    main_label: String,
    /// The main surface's configured page, where the idle timeout returns.
    home_url: String,
    recovery: crate::config::Recovery,
    kiosk: crate::config::Kiosk,
    timers: resilience::Timers,
    /// Flushed and closed last when the kiosk stops.
    store: Option<crate::store::Store>,
    ready: bool,
    /// Control requests and the bus link (see `requests.rs`).
    control: requests::ControlState,
    /// The toast overlay, when some surface may send notifications (see `toast/`).
    toast: Option<toast::ToastBox>,
    /// The file picker for `file_chooser = "media"` (see `picker.rs`).
    picker: Option<picker::Picker>,
    /// The shared context's web data, for `vitrine ctl web clear`.
    web_data: webdata::Manager,
    /// The area the surfaces share now (the output, in logical pixels).
    output_area: (i32, i32),
    /// Screen power: idle, schedule, wake cover (see `screen.rs`).
    power: screen::SharedPower,
    /// The on-screen keyboard, when `[keyboard]` asks for one (see `keyboard.rs`).
    keyboard: Option<keyboard::Keyboard>,
}

impl Shell {
    pub fn on_ipc(&mut self, label: &str, url: &str, body: &str) {
        if self.on_toast_message(label, body)
            || self.on_picker_message(label, body)
            || self.on_keyboard_message(label, body)
        {
            return;
        }
        self.router.handle_message(&mut self.surfaces, Caller { label, url }, body);
        self.keyboard_requests();
    }

    pub fn on_fetch(&mut self, label: &str, request: Request<Vec<u8>>, responder: RequestAsyncResponder) {
        // The page's URL comes from WebKit, like the script-message path's.
        let url = self.surfaces.get(label).and_then(|s| s.webview.url().ok()).unwrap_or_default();
        let token = fetch::header_str(&request, "X-Vitrine-Token").to_string();
        let cmd = fetch::header_str(&request, "X-Vitrine-Command").to_string();
        let binary = fetch::header_str(&request, "X-Vitrine-Binary") == "1";
        let id = fetch::header_str(&request, "X-Vitrine-Id").parse().ok();
        let reply_to = Box::new(move |reply| responder.respond(fetch::to_response(reply)));
        let caller = Caller { label, url: &url };
        let call = HttpCall { token: &token, cmd: &cmd, binary, id, body: request.into_body() };
        self.router.handle_http(&mut self.surfaces, caller, call, reply_to);
    }

    fn surfaces_mut(&mut self) -> &mut Surfaces {
        &mut self.surfaces
    }

    fn on_reply(&mut self, key: CallKey, result: CallResult) {
        self.router.finish(&mut self.surfaces, key, result);
    }

    /// Handles one event; returns why to quit when it asks the kiosk to stop.
    fn handle(&mut self, event: CoreEvent) -> Option<&'static str> {
        match event {
            CoreEvent::Ipc { label, url, body } => self.on_ipc(&label, &url, &body),
            CoreEvent::Fetch { label, request, responder } => self.on_fetch(&label, *request, responder),
            CoreEvent::Reply { key, result } => self.on_reply(key, result),
            CoreEvent::Broadcast(b) => {
                self.router.broadcast(&mut self.surfaces, &b);
            }
            CoreEvent::Offloaded(o) => {
                self.router.offloaded(&mut self.surfaces, o);
                self.keyboard_requests();
            }
            CoreEvent::PageLoad { label, stage, url } => self.on_page_load(&label, stage, url),
            CoreEvent::Crashed { label, reason } => self.on_crashed(&label, reason),
            CoreEvent::LoadFailed { label, url, reason } => self.on_load_failed(&label, &url, &reason),
            CoreEvent::Request(request) => self.on_request(request),
            CoreEvent::Display(report) => self.power.borrow_mut().on_report(report),
            CoreEvent::Quit { signal } => return Some(signal),
        }
        // Calls answered later (`keyboard.show` by fetch, say) leave requests too.
        self.keyboard_requests();
        None
    }

    fn on_page_load(&mut self, label: &str, stage: LoadStage, url: String) {
        let Some(s) = self.surfaces.get_mut(label) else { return };
        let finished = match stage {
            LoadStage::Started(next) => {
                // From now until the commit, the old page's calls are refused, and its
                // beats are neither asked for nor awaited: the load's own timeout runs.
                s.documents.started(next);
                s.health.loading(resilience::showing_of(&url), std::time::Instant::now());
                self.sync_token(label);
                log::debug!(surface = label; "a new page is loading; calls are refused until it commits");
                return;
            }
            LoadStage::Committed => {
                s.documents.committed();
                self.sync_token(label);
                // The old page, its listeners and its calls are gone.
                self.router.surface_reset(label);
                self.surfaces.forget_queued(label);
                // So is the field the keyboard typed into.
                self.keyboard_page_replaced(label);
                false
            }
            LoadStage::Finished => {
                s.documents.finished();
                self.sync_token(label);
                true
            }
        };
        log::info!(surface = label; "page {} {url}", if finished { "loaded" } else { "loading" });
        self.track_load(label, finished, &url);
        if let Some(s) = self.surfaces.get_mut(label) {
            s.url = url;
        }
        if finished && label == self.main_label && !self.ready {
            self.ready = true;
            notify::ready(&format!("serving {} surfaces", self.surfaces.len()));
        }
        if finished && label == self.main_label {
            self.release_held("the main page has loaded");
        }
    }

    /// Starts loading the pages of the overlays that waited for the main page, one at a
    /// time so that each one's new web process is told apart (`process.rs`).
    fn release_held(&mut self, why: &str) {
        let held: Vec<String> = self.surfaces.iter().filter(|s| s.held).map(|s| s.config.label.clone()).collect();
        for label in held {
            let Some(s) = self.surfaces.get_mut(&label) else { continue };
            s.unhold();
            log::debug!(surface = label.as_str(); "loading {} ({why})", s.page_url);
            let before = crate::service::procs::web_processes();
            if let Err(e) = s.webview.load_url(&s.page_url) {
                log::error!(surface = label.as_str(); "cannot load {}: {e}", s.page_url);
                continue;
            }
            self.surfaces.find_pid(&label, Some(&before));
        }
    }

    /// Tells the router which token `label`'s calls must carry now, if any.
    fn sync_token(&mut self, label: &str) {
        match self.surfaces.get(label).and_then(|s| s.documents.accepted_token()) {
            Some(token) => self.router.set_token(label, token.to_string()),
            None => self.router.revoke_token(label),
        }
    }

    fn quit(&mut self, why: &str) {
        log::info!("{why}: closing surfaces");
        notify::stopping();
        // Dropping a webview destroys it and ends its web process.
        self.surfaces.close_all();
        if let Some(store) = self.store.take() {
            match store.close() {
                Ok(()) => log::info!("store flushed and closed"),
                Err(e) => log::error!("closing the store: {e}"),
            }
        }
    }
}

/// What the shell starts with besides the configuration and the other threads.
pub struct Start {
    /// Sees every IPC call as it arrives (benchmarks; `diagnostics` feature).
    #[cfg(feature = "diagnostics")]
    pub observer: Option<crate::ipc::router::CallObserver>,
    /// The roots pages' `fs.*` paths name.
    pub roots: crate::os::fs::Roots,
    /// Where the pages' web data and HTTP cache live.
    pub web_dirs: Option<webdata::Dirs>,
    /// `--automation`: a WebDriver session may drive the kiosk.
    pub automation: bool,
    /// Hears when GStreamer's registry is up to date (`os::gstreamer`).
    pub media_ready: std::sync::mpsc::Receiver<()>,
}

/// The longest start-up waits for GStreamer's registry before the pages load anyway.
const MEDIA_READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs the kiosk until SIGTERM/SIGINT; exits the process with 0 then. `shell_link` is
/// where other threads' control requests arrive; `bus` the D-Bus side, if it runs.
pub fn run(
    bundle: Bundle,
    store: Result<crate::store::Store, String>,
    shell_link: crate::request::ShellLink,
    bus: Option<crate::dbus::Bus>,
    start: Start,
) -> Result<(), ShellError> {
    let Start {
        #[cfg(feature = "diagnostics")]
        observer,
        roots,
        web_dirs,
        automation,
        media_ready,
    } = start;
    let manifest = bundle.manifest;
    // D-Bus callers and the MQTT bridge are principals of their own (config::bus).
    let labels = manifest.surfaces().map(|s| s.label.as_str()).chain(crate::config::PRINCIPALS);
    let authority = Authority::new(labels, &bundle.capabilities);
    let media_urls = media::Media::new(roots.clone(), authority.clone());
    let toast = toast::wants_toast(&authority, &manifest);
    window::open_display()?;
    let event_loop = EventLoopBuilder::<CoreEvent>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let sink = Arc::new(ProxySink(std::sync::Mutex::new(proxy.clone())));
    {
        // `device.online` reaches the surfaces that listen to it and may.
        let sink = Arc::clone(&sink);
        crate::os::device::watch_online(move |online| {
            let payload = serde_json::json!({ "online": online });
            sink.broadcast(Broadcast { event: "device.online".into(), payload, only_if: None });
        });
    }
    let mut router = Router::new(manifest.clone(), authority, Arc::clone(&sink) as Arc<dyn ReplySink>);
    // Large messages are decoded and encoded on workers: the GTK thread stays free.
    router.offload_from(crate::ipc::offload::MIN_BYTES);
    register_builtins(&mut router);
    // GTK is up (the event loop started it); no web process runs before a surface exists.
    let web_data = webdata::Manager::default();
    // Before the web context exists: WebKit sandboxes a context when it is made.
    pressure::apply(&manifest.memory);
    sandbox::apply(manifest.kiosk.sandbox)?;
    let (mut context, web_setup) = webdata::create_context(&manifest, web_dirs.as_ref(), Rc::clone(&web_data));
    if automation {
        automation::allow(&mut context);
    }
    webdata::register(&mut router, Rc::clone(&web_data));
    crate::ipc::commands::store::register(&mut router, store.clone());
    let link = bus.map(|b| b.link);
    let notifier = crate::dbus::notifications::Notifier::new(link.clone(), shell_link.clone());
    crate::dbus::notifications::register(&mut router, notifier.clone());
    let mut principal_tokens = std::collections::BTreeMap::new();
    for principal in crate::config::PRINCIPALS {
        let token = new_token()?;
        router.set_token(principal, token.clone());
        principal_tokens.insert(principal, token);
    }
    #[cfg(feature = "diagnostics")]
    if let Some(observer) = observer {
        router.set_observer(observer);
    }
    let toplevel = window::create(&event_loop, &manifest.name)?;
    let power = {
        use tao::platform::unix::WindowExtUnix as _;
        let proxy = std::sync::Mutex::new(proxy.clone());
        screen::start(&manifest.display, &toplevel.overlay, toplevel.window.gtk_window().upcast_ref(), move |report| {
            let proxy = match proxy.lock() {
                Ok(p) => p.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            if proxy.send_event(CoreEvent::Display(report)).is_err() {
                log::debug!("event loop gone; display report dropped");
            }
        })
    };
    screen::register(&mut router, &power);
    notify::status("starting surfaces");
    let http = &manifest.http;
    let media = roots.root_dir("MEDIA").map(std::path::Path::to_path_buf);
    let os = crate::ipc::commands::os::OsDeps {
        roots,
        http: crate::os::http::Client::new(
            crate::os::http::load_secrets(&http.secret),
            std::time::Duration::from_millis(http.timeout_ms),
            http.max_response_bytes,
            &manifest.network,
        ),
        display: crate::os::device::Display { width: toplevel.screen.width, height: toplevel.screen.height },
    };
    crate::ipc::commands::os::register(&mut router, os);

    let shell = Rc::new(RefCell::new(Shell {
        router,
        surfaces: Surfaces::with_link(link.clone()),
        main_label: manifest.main.label.clone(),
        home_url: manifest.main.page.url(),
        recovery: manifest.recovery.clone(),
        kiosk: manifest.kiosk.clone(),
        timers: resilience::Timers::new(manifest.recovery.daily_reload.as_deref(), std::time::Instant::now()),
        store: store.ok(),
        ready: false,
        control: requests::ControlState::new(&manifest, link, principal_tokens, automation),
        toast: None,
        picker: None,
        web_data,
        output_area: (
            i32::try_from(toplevel.screen.width).unwrap_or(0),
            i32::try_from(toplevel.screen.height).unwrap_or(0),
        ),
        power,
        keyboard: None,
    }));
    let grants = permissions::Grants::new(manifest.lockdown.clone(), notifier);
    let lockdown = lockdown::Shared::new(&manifest.lockdown, Rc::downgrade(&shell), proxy.clone());
    let mut ctx = BuildCtx {
        context: &mut context,
        overlay: &toplevel.overlay,
        screen: toplevel.screen,
        manifest: &manifest,
        proxy: proxy.clone(),
        shell: Rc::downgrade(&shell),
        assets: Some(Arc::new(Assets::new(&bundle.ui, &media::csp_with(&manifest.csp, media_urls.origin())))),
        media: Some(Arc::new(media_urls)),
        lockdown,
        grants,
        trust: Rc::new(webdata::Trust::new(&manifest.network)),
        web_setup: Some(web_setup),
        shared_process: None,
        hold: false,
    };
    CURRENT.with(|c| *c.borrow_mut() = Rc::downgrade(&shell));
    // Once, before the main loop and the first page: a page that plays at once must
    // find the registry written, or its web process scans the plugins on its main thread
    // and the hang detector ends it. Up to date, this is a few ms; a fresh or upgraded
    // system waits for one scan, in parallel with the window and the bus coming up.
    let waited = std::time::Instant::now();
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = media_ready.recv_timeout(MEDIA_READY_WITHIN) {
        let secs = MEDIA_READY_WITHIN.as_secs();
        log::warn!(reason = "media"; "GStreamer's registry is not ready after {secs} s; loading the pages anyway");
    }
    log::debug!(reason = "media"; "waited {} ms for GStreamer's registry", waited.elapsed().as_millis());
    for cfg in manifest.surfaces() {
        // The main page first: the overlays' first frames would have the core set up
        // GPU compositing on its thread (hundreds of ms with software GL) before the
        // main page's load is heard, and their web process competes with the main one
        // for the board's cores.
        ctx.hold = cfg.label != manifest.main.label;
        // WebKit starts the surface's web process while it is built.
        let before = crate::service::procs::web_processes();
        let s =
            surface::build(cfg, &mut ctx).map_err(|source| ShellError::Surface { label: cfg.label.clone(), source })?;
        if let Some(container) = &s.container {
            // A held overlay is shown when its page loads: an accelerated view sets up
            // GPU compositing as it is first drawn.
            if s.visible && !s.held {
                container.show_all();
            } else {
                container.hide();
            }
        }
        let mut shell = shell.borrow_mut();
        shell.surfaces.push(s);
        let pid = shell.surfaces.find_pid(&cfg.label, Some(&before)).map_or("?".to_string(), |p| p.to_string());
        let how = if cfg.process == crate::config::Process::Shared { ", shared" } else { "" };
        log::info!(surface = cfg.label.as_str(); "surface created for {} (web process {pid}{how})", cfg.page.url());
    }
    ctx.hold = false;
    release_held_after(HOLD_AT_MOST);
    if toast {
        toast::build_toast(&shell, &mut ctx)?;
    }
    let picker = picker::wanted(&manifest);
    if picker {
        let labels = manifest.surfaces().map(|s| s.label.as_str());
        picker::build(&shell, &mut ctx, Authority::new(labels, &bundle.capabilities), media)?;
    }
    let keyboard = manifest.keyboard.as_ref().filter(|k| k.mode == crate::config::KeyboardMode::Auto);
    if let Some(config) = keyboard {
        keyboard::build(&shell, &mut ctx, config)?;
    }
    if let (true, Some(main)) = (automation, shell.borrow().surfaces.iter().next()) {
        automation::name_sessions(&main.webview);
    }
    shell_link.attach(sink);
    output::follow(&toplevel.overlay, toplevel.screen);
    if !manifest.overlays.is_empty() || toast || picker || keyboard.is_some() {
        window::repair_partial_redraws(&toplevel.window);
    }
    notify::status("loading pages");

    every(resilience::TICK, Shell::tick);
    every(screen::CHECK_EVERY, Shell::screen_tick);
    if let Some(interval) = notify::watchdog_interval() {
        log::info!("watchdog: pinging every {} ms while the surfaces are well", interval.as_millis());
        every(interval, Shell::watchdog_tick);
    }

    for (signum, name) in [(15, "SIGTERM"), (2, "SIGINT")] {
        let proxy = proxy.clone();
        gtk::glib::source::unix_signal_add_local(signum, move || {
            let _ = proxy.send_event(CoreEvent::Quit { signal: name });
            gtk::glib::ControlFlow::Continue
        });
    }

    // The web context must outlive every webview; the loop below never returns.
    let _context = context;
    let _window = toplevel.window;
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        let quit = match event {
            Event::UserEvent(e) => shell.borrow_mut().handle(e),
            Event::WindowEvent { event: WindowEvent::CloseRequested, .. } => Some("window closed"),
            _ => None,
        };
        if let Some(why) = quit {
            shell.borrow_mut().quit(why);
            *control_flow = ControlFlow::ExitWithCode(0);
        }
    })
}
