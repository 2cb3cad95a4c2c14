//! One surface: a wry webview with its own web process, and for overlays the box that
//! places it inside the toplevel's `gtk::Overlay`.
//!
//! Every callback a webview gets is bound to the surface's label here, by the core;
//! that binding is what makes the sender of an IPC message unforgeable.

use std::cell::{Cell, RefCell};
use std::rc::Weak;
use std::sync::Arc;

use gtk::prelude::*;
use tao::event_loop::EventLoopProxy;
use wry::{NewWindowResponse, WebContext, WebView, WebViewBuilder, WebViewBuilderExtUnix, WebViewExtUnix};

use std::time::Instant;

use webkit2gtk::{SettingsExt, URIResponseExt, UserContentManagerExt, WebResourceExt, WebViewExt};

use crate::config::memory::Memory;
use crate::config::memory::{CacheModel, Painting, WebHeap};
use crate::config::policy::{Acceleration, Autoplay};
use crate::config::{Anchor, InputMode, Kiosk, Manifest, Process, Recovery, SurfaceConfig};
use crate::ipc::{bridge_script, Document, Documents};
use crate::shell::assets::{Assets, SCHEME};
use crate::shell::health::Health;
use crate::shell::media::MEDIA_PREFIX;
use crate::shell::navigation::NavigationPolicy;
use crate::shell::window::Screen;
use crate::shell::{dispatch, CoreEvent, LoadStage, SharedShell};

pub struct Surface {
    pub config: SurfaceConfig,
    pub webview: WebView,
    /// The box placing an overlay; `None` for the main surface.
    pub container: Option<gtk::Box>,
    pub visible: bool,
    /// The URL of the page the surface shows now.
    pub url: String,
    /// The last page of its own it showed (not a built-in page): what recovery reloads.
    pub page_url: String,
    pub health: Health,
    /// Its web process, when known.
    pub pid: Option<u32>,
    /// The web process that served it last before a crash (to tell who shared it).
    pub ended_pid: Option<u32>,
    /// Why the core ended the web process itself (hang, memory), for the crash report.
    pub exit_reason: Option<&'static str>,
    pub last_ping: Instant,
    /// Which document may call, and which one the core's scripts name.
    pub documents: Documents,
    /// The kiosk's volume for documents loaded from now on (`shell::volume`).
    pub volume_script: Option<webkit2gtk::UserScript>,
    /// Its page waits for the main page's first load (`Shell::release_held`).
    pub held: bool,
}

impl Surface {
    /// Ends the wait for the main page: shows the overlay if it should be seen.
    pub fn unhold(&mut self) {
        if !std::mem::replace(&mut self.held, false) {
            return;
        }
        if let (true, Some(container)) = (self.visible, &self.container) {
            container.show_all();
        }
    }

    fn new(config: &SurfaceConfig, webview: WebView, container: Option<gtk::Box>, recovery: &Recovery) -> Self {
        let url = config.page.url();
        let now = Instant::now();
        Self {
            visible: container.is_none() || config.visible,
            config: config.clone(),
            webview,
            container,
            page_url: url.clone(),
            url,
            health: Health::new(recovery.clone(), now),
            pid: None,
            ended_pid: None,
            exit_reason: None,
            last_ping: now,
            documents: Documents::default(),
            volume_script: None,
            held: false,
        }
    }
}

/// What every surface shares while being built.
pub struct BuildCtx<'a> {
    pub context: &'a mut WebContext,
    pub overlay: &'a gtk::Overlay,
    pub screen: Screen,
    pub manifest: &'a Manifest,
    pub proxy: EventLoopProxy<CoreEvent>,
    pub shell: Weak<SharedShell>,
    /// Given to the first surface built: the scheme lives on the shared context.
    pub assets: Option<Arc<Assets>>,
    /// The `$MEDIA` URLs, served by the same handler.
    pub media: Option<Arc<crate::shell::media::Media>>,
    /// Toolkit dialogs refused, HTTP logins answered (see `lockdown.rs`).
    pub lockdown: std::rc::Rc<crate::shell::lockdown::Shared>,
    /// Permission requests decided (see `permissions.rs`).
    pub grants: std::rc::Rc<crate::shell::permissions::Grants>,
    /// Certificates the core trusts beyond WebKit's (`[network]`).
    pub trust: std::rc::Rc<crate::shell::webdata::Trust>,
    /// Applied by the first surface built, before its first load.
    pub web_setup: Option<crate::shell::webdata::Setup>,
    /// The first `process = "shared"` overlay's view: later ones are related to it, so
    /// WebKit runs their pages in its web process.
    pub shared_process: Option<webkit2gtk::WebView>,
    /// The surface being built waits to load its page until the main page has loaded.
    pub hold: bool,
}

/// Builds the surface `cfg` and starts loading its page, unless `ctx.hold` says to wait.
pub fn build(cfg: &SurfaceConfig, ctx: &mut BuildCtx<'_>) -> Result<Surface, wry::Error> {
    let url = cfg.page.url();
    let is_main = cfg.label == ctx.manifest.main.label;
    let label = cfg.label.clone();

    // Every surface opens its page only once it and the shared web context are prepared
    // (grants, cookie storage, proxy, TLS: `permissions::prepare_context`,
    // `webdata::Setup`), so that no request leaves before the settings are in place.
    let first = ctx.assets.is_some();
    let mut builder = WebViewBuilder::new_with_web_context(ctx.context)
        .with_id(&label)
        .with_transparent(cfg.transparent)
        .with_devtools(cfg!(debug_assertions) || crate::shell::inspector::requested())
        .with_hotkeys_zoom(false)
        // wry gives the view website policies that let media start with sound; without
        // them WebKit's own default applies: muted media starts, media with sound waits
        // for a tap. The policies are a construction property of the view, and the
        // navigation decisions (which could carry others) are wry's: this is the one
        // place to choose.
        .with_autoplay(ctx.manifest.kiosk.autoplay == Autoplay::Allow)
        .with_ipc_handler(ipc_handler(label.clone(), ctx.shell.clone(), ctx.proxy.clone()))
        .with_navigation_handler(navigation_handler(
            label.clone(),
            NavigationPolicy::new(&cfg.page, &ctx.manifest.navigation),
        ))
        .with_new_window_req_handler({
            let label = label.clone();
            move |url, _| {
                log::warn!(surface = label.as_str(); "refused to open a new window for {url}");
                NewWindowResponse::Deny
            }
        });
    let shared = cfg.process == Process::Shared;
    if let (true, Some(view)) = (shared, &ctx.shared_process) {
        builder = builder.with_related_view(view.clone());
    }
    if let Some(assets) = ctx.assets.take() {
        let proxy = ctx.proxy.clone();
        let media = ctx.media.take();
        builder = builder.with_asynchronous_custom_protocol(SCHEME.to_string(), move |id, request, responder| {
            let path = request.uri().path();
            let local = request.uri().host() == Some("localhost");
            if request.method() == wry::http::Method::POST && path == crate::ipc::IPC_PATH {
                crate::shell::on_fetch(id.to_string(), request, responder, &proxy);
            } else if let (Some(rel), Some(media), true) = (path.strip_prefix(MEDIA_PREFIX), &media, local) {
                // This runs on the GTK thread (WebKit's callback), where the shell is.
                let page = crate::shell::page_url(id);
                media.serve(id, page.as_deref(), rel, &request, responder);
            } else if let (Some(media), Some("resolve"), true) = (&media, request.uri().query(), local) {
                // A file of ui/ for a media element, which cannot play app:// URLs.
                match assets.ui_file(path) {
                    Some(bytes) => {
                        let name = path.trim_start_matches('/').to_string();
                        responder.respond(media.resolve(id, crate::shell::loopback::Source::Ui(name, bytes)))
                    }
                    None => responder.respond(assets.respond(&request)),
                }
            } else {
                responder.respond(assets.respond(&request));
            }
        });
    }

    builder = builder.with_download_started_handler({
        let label = label.clone();
        move |url, _| {
            log::warn!(surface = label.as_str(); "refused a download of {url}");
            false
        }
    });

    let (webview, container) = if is_main {
        (builder.build_gtk(ctx.overlay)?, None)
    } else {
        let container = gtk::Box::new(gtk::Orientation::Vertical, 0);
        place(&container, cfg, ctx.screen);
        keep_to_requested_size(ctx.overlay, &container);
        ctx.overlay.add_overlay(&container);
        let webview = builder.build_gtk(&container)?;
        if cfg.input == InputMode::PassThrough {
            pass_input_through(ctx.overlay, &container, &webview);
        }
        (webview, Some(container))
    };
    watch_web_process(&label, &webview, ctx);
    let native = webview.webview();
    if shared && ctx.shared_process.is_none() {
        ctx.shared_process = Some(native.clone());
    }
    if first {
        if let (Some(context), CacheModel::Viewer) = (native.context(), ctx.manifest.memory.cache) {
            use webkit2gtk::WebContextExt as _;
            context.set_cache_model(webkit2gtk::CacheModel::DocumentViewer);
        }
        if let Some(context) = native.context() {
            crate::shell::permissions::prepare_context(&context, &ctx.grants);
        }
    }
    crate::shell::lockdown::apply(&native, cfg, &ctx.lockdown);
    crate::shell::permissions::apply(&native, &label, &ctx.grants);
    if cfg.lockdown.zoom.factor() != 1.0 {
        native.set_zoom_level(cfg.lockdown.zoom.factor());
    }
    let tls = (ctx.shell.clone(), ctx.proxy.clone());
    crate::shell::webdata::watch_tls(&label, &native, &ctx.trust, tls.0, tls.1);
    if let Some(setup) = ctx.web_setup.take() {
        setup.apply(&native);
    }
    bind_documents(&label, &webview, ctx);
    apply_kiosk_policy(&webview, cfg, &ctx.manifest.kiosk);
    log_rendering(&webview, ctx.manifest);
    // Only now: the first document must find its bridge installed, and the context
    // its settings.
    if !ctx.hold {
        webview.load_url(&url)?;
    }
    let mut surface = Surface::new(cfg, webview, container, &ctx.manifest.recovery);
    surface.held = ctx.hold;
    Ok(surface)
}

/// Gives each document of the top frame a bridge of its own (see `ipc::document`):
/// when a load starts, the next document's bridge replaces the last one in the
/// webview's content manager. That happens here, in the signal, and not on the shell's
/// next turn: the new document reads its scripts when it commits, and the shell may
/// be busy. The shell then hears of every stage, at once when it can, so that the old
/// page is refused from the start of the load and its calls are dropped at the commit.
fn bind_documents(label: &str, webview: &WebView, ctx: &BuildCtx<'_>) {
    let native = webview.webview();
    let Some(manager) = native.user_content_manager() else {
        log::error!(surface = label; "the webview has no content manager; its pages get no bridge");
        return;
    };
    let installed: RefCell<Option<webkit2gtk::UserScript>> = RefCell::new(None);
    let numbers = Cell::new(0u64);
    let (shell, proxy, label) = (ctx.shell.clone(), ctx.proxy.clone(), label.to_string());
    native.connect_load_changed(move |view, event| {
        let stage = match event {
            webkit2gtk::LoadEvent::Started => {
                numbers.set(numbers.get() + 1);
                let document = match Document::new(numbers.get()) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        log::error!(surface = label.as_str(); "no token for the next page, which gets no bridge: {e}");
                        None
                    }
                };
                if let Some(old) = installed.borrow_mut().take() {
                    manager.remove_script(&old);
                }
                if let Some(document) = &document {
                    let script = webkit2gtk::UserScript::new(
                        &bridge_script(document),
                        webkit2gtk::UserContentInjectedFrames::TopFrame,
                        webkit2gtk::UserScriptInjectionTime::Start,
                        &[],
                        &[],
                    );
                    manager.add_script(&script);
                    *installed.borrow_mut() = Some(script);
                }
                LoadStage::Started(document)
            }
            webkit2gtk::LoadEvent::Committed => LoadStage::Committed,
            webkit2gtk::LoadEvent::Finished => LoadStage::Finished,
            _ => return,
        };
        let url = view.uri().map(|u| u.to_string()).unwrap_or_default();
        dispatch(&shell, &proxy, CoreEvent::PageLoad { label: label.clone(), stage, url });
    });
}

/// Crashes, load failures and error responses become core events.
fn watch_web_process(label: &str, webview: &WebView, ctx: &BuildCtx<'_>) {
    let native = webview.webview();
    let (shell, proxy, l) = (ctx.shell.clone(), ctx.proxy.clone(), label.to_string());
    native.connect_web_process_terminated(move |_, reason| {
        let reason = match reason {
            webkit2gtk::WebProcessTerminationReason::Crashed => "crashed",
            webkit2gtk::WebProcessTerminationReason::ExceededMemoryLimit => "exceeded memory limit",
            webkit2gtk::WebProcessTerminationReason::TerminatedByApi => "terminated",
            _ => "ended",
        };
        dispatch(&shell, &proxy, CoreEvent::Crashed { label: l.clone(), reason });
    });
    let (shell, proxy, l) = (ctx.shell.clone(), ctx.proxy.clone(), label.to_string());
    native.connect_load_failed(move |_, _, uri, error| {
        // Navigations the policy refused or that a newer load replaced are not failures.
        let benign =
            error.kind::<webkit2gtk::PolicyError>().is_some() || error.matches(webkit2gtk::NetworkError::Cancelled);
        if !benign {
            let failure = CoreEvent::LoadFailed { label: l.clone(), url: uri.to_string(), reason: error.to_string() };
            dispatch(&shell, &proxy, failure);
        }
        // Handled: WebKit's own error page would show a raw error on the kiosk.
        true
    });
    let (shell, proxy, l) = (ctx.shell.clone(), ctx.proxy.clone(), label.to_string());
    native.connect_load_changed(move |view, event| {
        if event != webkit2gtk::LoadEvent::Committed {
            return;
        }
        let status = view.main_resource().and_then(|r| r.response()).map_or(0, |r| r.status_code());
        if status >= 500 {
            let url = view.uri().map(|u| u.to_string()).unwrap_or_default();
            let failure = CoreEvent::LoadFailed { label: l.clone(), url, reason: format!("HTTP {status}") };
            dispatch(&shell, &proxy, failure);
        }
    });
}

/// `[kiosk] dmabuf_renderer = false`: WebKit reads the variable when it starts rendering,
/// and its web processes inherit it. Called once at start-up, before any other thread
/// exists, since changing the environment races with threads reading it.
pub(crate) fn prepare_rendering(kiosk: &Kiosk, memory: &Memory) {
    if !kiosk.dmabuf_renderer {
        std::env::set_var(DISABLE_DMABUF, "1");
    }
    // Read by each web process as it starts; they inherit the core's environment.
    if memory.painting == Painting::Cpu {
        std::env::set_var(CPU_PAINTING, "1");
    }
    if memory.web_heap == WebHeap::Compact {
        let tunables = match std::env::var(GLIBC_TUNABLES) {
            Ok(old) if !old.is_empty() => format!("{old}:{COMPACT_HEAP}"),
            _ => COMPACT_HEAP.to_string(),
        };
        std::env::set_var(GLIBC_TUNABLES, tunables);
    }
    // GTK reads it once, when it opens the display; pages see it as devicePixelRatio.
    if kiosk.scale > 0 {
        std::env::set_var("GDK_SCALE", kiosk.scale.to_string());
        log::info!("device scale {} (GDK_SCALE, [kiosk] scale)", kiosk.scale);
    }
}

const DISABLE_DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";
/// WebKit's switch for painting with Skia on the CPU while compositing stays as it is.
const CPU_PAINTING: &str = "WEBKIT_SKIA_ENABLE_CPU_RENDERING";
const GLIBC_TUNABLES: &str = "GLIBC_TUNABLES";
/// `memory.web_heap = "compact"`: measured on the default kiosk, about 6 MB less per
/// web process at idle (held free memory in extra arenas and at the heap top).
const COMPACT_HEAP: &str = "glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=131072";

/// Logs, once, the WebKit version and how it renders; warns when the rendering switches
/// cost transparent overlays their transparency (measured: an opaque black box instead).
fn log_rendering(webview: &WebView, manifest: &Manifest) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain getters of constants compiled into libwebkit2gtk.
        let version = unsafe {
            use webkit2gtk::ffi;
            (ffi::webkit_get_major_version(), ffi::webkit_get_minor_version(), ffi::webkit_get_micro_version())
        };
        let policy = WebViewExt::settings(&webview.webview()).map(|s| s.hardware_acceleration_policy());
        let policy = match policy {
            Some(webkit2gtk::HardwareAccelerationPolicy::Always) => "always",
            Some(webkit2gtk::HardwareAccelerationPolicy::Never) => "never",
            Some(webkit2gtk::HardwareAccelerationPolicy::OnDemand) => "on-demand",
            _ => "unknown",
        };
        // WebKit's own test: set and not "0".
        let dmabuf_off = std::env::var_os(DISABLE_DMABUF).is_some_and(|v| !v.is_empty() && v != "0");
        let why = if !manifest.kiosk.dmabuf_renderer {
            " (vitrine.toml)"
        } else if dmabuf_off {
            " (environment)"
        } else {
            ""
        };
        log::info!(
            "WebKitGTK {}.{}.{}; hardware acceleration {} on the main surface (vitrine.toml: {}); DMA-BUF renderer {}{why}",
            version.0,
            version.1,
            version.2,
            policy,
            manifest.main.acceleration.unwrap_or(manifest.kiosk.acceleration).as_str(),
            if dmabuf_off { "off" } else { "on" },
        );
        // Only an overlay's own policy matters for its transparency: an opaque main
        // surface may paint without acceleration under accelerated overlays.
        let never = |o: &&SurfaceConfig| o.acceleration.unwrap_or(manifest.kiosk.acceleration) == Acceleration::Never;
        let transparent: Vec<&str> = manifest
            .overlays
            .iter()
            .filter(|o| o.transparent && (dmabuf_off || never(o)))
            .map(|o| o.label.as_str())
            .collect();
        if !transparent.is_empty() {
            log::warn!(
                "transparent overlays ({}) are drawn as opaque boxes over the main surface when {}; \
                 keep the DMA-BUF renderer and hardware acceleration on where the board allows",
                transparent.join(", "),
                if dmabuf_off { "the DMA-BUF renderer is off" } else { "hardware acceleration is off" }
            );
        }
    });
}

/// No context menu, no pointer, unless the configuration wants them; the surface's
/// hardware-acceleration policy.
fn apply_kiosk_policy(webview: &WebView, cfg: &SurfaceConfig, kiosk: &Kiosk) {
    let native = webview.webview();
    let policy = match cfg.acceleration.unwrap_or(kiosk.acceleration) {
        Acceleration::Default => None,
        Acceleration::Always => Some(webkit2gtk::HardwareAccelerationPolicy::Always),
        Acceleration::Never => Some(webkit2gtk::HardwareAccelerationPolicy::Never),
    };
    if let Some(settings) = WebViewExt::settings(&native) {
        if let Some(policy) = policy {
            settings.set_hardware_acceleration_policy(policy);
        }
        // A page restored from the back/forward cache would come back with the bridge
        // of a document that has ended, whose token is refused.
        settings.set_enable_page_cache(false);
        // Muted media always starts by itself (the website policy decides about sound).
        settings.set_media_playback_requires_user_gesture(false);
    }
    if !kiosk.context_menu {
        native.connect_context_menu(|_, _, _, _| true);
    }
    if kiosk.hide_pointer {
        if let Some(manager) = native.user_content_manager() {
            let sheet = webkit2gtk::UserStyleSheet::new(
                "*, *::before, *::after { cursor: none !important; }",
                webkit2gtk::UserContentInjectedFrames::AllFrames,
                webkit2gtk::UserStyleLevel::User,
                &[],
                &[],
            );
            manager.add_style_sheet(&sheet);
        }
    }
}

/// Sizes and anchors an overlay's box inside the screen.
fn place(container: &gtk::Box, cfg: &SurfaceConfig, screen: Screen) {
    use gtk::Align::{Center, End, Fill, Start};
    let width = cfg.width.resolve(screen.width);
    let height = cfg.height.resolve(screen.height);
    container.set_size_request(i32::try_from(width).unwrap_or(i32::MAX), i32::try_from(height).unwrap_or(i32::MAX));
    let (h, v) = match cfg.anchor {
        Anchor::Fill => (Fill, Fill),
        Anchor::Center => (Center, Center),
        Anchor::Top => (Center, Start),
        Anchor::Bottom => (Center, End),
        Anchor::Left => (Start, Center),
        Anchor::Right => (End, Center),
        Anchor::TopLeft => (Start, Start),
        Anchor::TopRight => (End, Start),
        Anchor::BottomLeft => (Start, End),
        Anchor::BottomRight => (End, End),
    };
    container.set_halign(h);
    container.set_valign(v);
    let margin = i32::try_from(cfg.margin).unwrap_or(0);
    container.set_margin_top(margin);
    container.set_margin_bottom(margin);
    container.set_margin_start(margin);
    container.set_margin_end(margin);
}

/// Allocates the overlay's box exactly its size request (plus margins), anchored by its
/// alignment. `gtk::Overlay` would size it by its preferred size instead, which for a
/// webview is its page's contents size: a page laid out larger than the box (the toast
/// page is first laid out at the screen's size while hidden, and any page may overflow)
/// grows the box, up to the whole screen, and keeps it so since the contents then fill
/// the larger viewport. Transparent or not, the box's window then takes every click
/// meant for the surfaces under it.
fn keep_to_requested_size(overlay: &gtk::Overlay, container: &gtk::Box) {
    let own = container.downgrade();
    overlay.connect_get_child_position(move |overlay, child| {
        let own = own.upgrade()?;
        if child != own.upcast_ref::<gtk::Widget>() {
            return None;
        }
        let (width, height) = own.size_request();
        let margins = (own.margin_start() + own.margin_end(), own.margin_top() + own.margin_bottom());
        let area = (overlay.allocated_width(), overlay.allocated_height());
        let (x, w) = span(own.halign(), width, margins.0, area.0);
        let (y, h) = span(own.valign(), height, margins.1, area.1);
        Some(gtk::gdk::Rectangle::new(x, y, w, h))
    });
}

/// Offset and length of a box along one axis of `area`: its requested `size` plus
/// `margins`, at most the area, placed by `align` (GTK puts margins outside the box).
fn span(align: gtk::Align, size: i32, margins: i32, area: i32) -> (i32, i32) {
    use gtk::Align::{Center, End, Fill};
    let wanted = if size < 0 { area } else { size.saturating_add(margins).min(area) };
    match align {
        Fill => (0, area),
        End => (area - wanted, wanted),
        Center => ((area - wanted) / 2, wanted),
        _ => (0, wanted),
    }
}

/// Input must skip both the overlay's slot in the `gtk::Overlay` and the webview's own
/// GDK window, or clicks stop at the (transparent) overlay.
fn pass_input_through(overlay: &gtk::Overlay, container: &gtk::Box, webview: &WebView) {
    overlay.set_overlay_pass_through(container, true);
    let native = webview.webview();
    let apply = |w: &webkit2gtk::WebView| {
        if let Some(win) = w.window() {
            win.set_pass_through(true);
            win.input_shape_combine_region(&gtk::cairo::Region::create(), 0, 0);
        }
    };
    if native.is_realized() {
        apply(&native);
    }
    native.connect_realize(apply);
}

fn ipc_handler(
    label: String,
    shell: Weak<SharedShell>,
    proxy: EventLoopProxy<CoreEvent>,
) -> impl Fn(wry::http::Request<String>) + 'static {
    move |request| {
        let url = request.uri().to_string();
        let body = request.into_body();
        dispatch(&shell, &proxy, CoreEvent::Ipc { label: label.clone(), url, body });
    }
}

fn navigation_handler(label: String, policy: NavigationPolicy) -> impl Fn(String) -> bool + 'static {
    move |url| {
        let allowed = policy.allows(&url);
        if !allowed {
            log::warn!(surface = label.as_str(); "navigation to {url} refused: not in the allow-list");
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::span;
    use gtk::Align::{Center, End, Fill, Start};

    #[test]
    fn a_box_spans_its_request_and_margins_wherever_it_is_anchored() {
        assert_eq!(span(End, 420, 24, 1920), (1476, 444));
        assert_eq!(span(Start, 120, 24, 1080), (0, 144));
        assert_eq!(span(Center, 400, 0, 1080), (340, 400));
        assert_eq!(span(Fill, 1, 24, 1920), (0, 1920));
    }

    #[test]
    fn a_box_never_outgrows_the_screen() {
        assert_eq!(span(End, 5000, 24, 1920), (0, 1920));
        assert_eq!(span(Start, i32::MAX, 24, 1080), (0, 1080));
        assert_eq!(span(Center, -1, 0, 1080), (0, 1080));
    }
}
