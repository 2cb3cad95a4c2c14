//! One surface: a wry webview with its own web process, and for overlays the box that
//! places it inside the toplevel's `gtk::Overlay`.
//!
//! Every callback a webview gets is bound to the surface's label here, by the core;
//! that binding is what makes the sender of an IPC message unforgeable.

use std::rc::Weak;
use std::sync::Arc;

use gtk::prelude::*;
use tao::event_loop::EventLoopProxy;
use wry::{
    NewWindowResponse, PageLoadEvent, WebContext, WebView, WebViewBuilder, WebViewBuilderExtUnix, WebViewExtUnix,
};

use crate::config::{Anchor, InputMode, Manifest, SurfaceConfig};
use crate::ipc::bridge_script;
use crate::shell::assets::{Assets, SCHEME};
use crate::shell::navigation::NavigationPolicy;
use crate::shell::window::Screen;
use crate::shell::{dispatch, CoreEvent, SharedShell};

pub struct Surface {
    pub config: SurfaceConfig,
    pub webview: WebView,
    /// The box placing an overlay; `None` for the main surface.
    pub container: Option<gtk::Box>,
    pub visible: bool,
    /// The URL of the page the surface shows now.
    pub url: String,
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
}

/// Builds the surface `cfg`; `token` is the secret its bridge puts on every call.
pub fn build(cfg: &SurfaceConfig, token: &str, ctx: &mut BuildCtx<'_>) -> Result<Surface, wry::Error> {
    let url = cfg.page.url();
    let is_main = cfg.label == ctx.manifest.main.label;
    let label = cfg.label.clone();

    let mut builder = WebViewBuilder::new_with_web_context(ctx.context)
        .with_id(&label)
        .with_url(&url)
        .with_transparent(cfg.transparent)
        .with_devtools(cfg!(debug_assertions))
        .with_hotkeys_zoom(false)
        .with_initialization_script_for_main_only(bridge_script(token), true)
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
        })
        .with_on_page_load_handler({
            let label = label.clone();
            let (shell, proxy) = (ctx.shell.clone(), ctx.proxy.clone());
            // Handled at once, so the old page's calls are dropped before the new page
            // can make any.
            move |event, url| {
                let finished = matches!(event, PageLoadEvent::Finished);
                dispatch(&shell, &proxy, CoreEvent::PageLoad { label: label.clone(), finished, url });
            }
        });
    if let Some(assets) = ctx.assets.take() {
        let proxy = ctx.proxy.clone();
        builder = builder.with_asynchronous_custom_protocol(SCHEME.to_string(), move |id, request, responder| {
            if request.method() == wry::http::Method::POST && request.uri().path() == crate::ipc::IPC_PATH {
                crate::shell::on_fetch(id.to_string(), request, responder, &proxy);
            } else {
                responder.respond(assets.respond(&request));
            }
        });
    }

    if is_main {
        let webview = builder.build_gtk(ctx.overlay)?;
        return Ok(Surface { config: cfg.clone(), webview, container: None, visible: true, url });
    }

    let container = gtk::Box::new(gtk::Orientation::Vertical, 0);
    place(&container, cfg, ctx.screen);
    ctx.overlay.add_overlay(&container);
    let webview = builder.build_gtk(&container)?;
    if cfg.input == InputMode::PassThrough {
        pass_input_through(ctx.overlay, &container, &webview);
    }
    Ok(Surface { config: cfg.clone(), webview, container: Some(container), visible: cfg.visible, url })
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
