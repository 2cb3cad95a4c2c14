//! The shell: the GTK main thread's world — the toplevel, the surfaces, and the loop
//! that feeds IPC, page loads and signals to them.
//!
//! GTK objects live here and nowhere else. Callbacks from webviews are bound to their
//! surface's label; IPC messages are handled synchronously when the shell is free and
//! queued through the tao event loop otherwise; page loads and signals always go
//! through the loop.

mod assets;
mod navigation;
mod surface;
mod window;

pub use assets::{mime_type, Assets};
pub use navigation::NavigationPolicy;
pub use window::Screen;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use gtk::prelude::*;
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use wry::WebContext;

use crate::config::Bundle;
use crate::ipc::{register_builtins, Authority, Caller, Host, IpcError, Router, SurfaceInfo};
use crate::service::notify;
use surface::{BuildCtx, Surface};

/// Work for the main loop, sent from callbacks and signal handlers.
#[derive(Debug)]
pub enum CoreEvent {
    Ipc { label: String, url: String, body: String },
    PageLoad { label: String, finished: bool, url: String },
    Quit { signal: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error(transparent)]
    Window(#[from] window::WindowError),
    #[error("cannot create surface '{label}': {source}")]
    Surface { label: String, source: wry::Error },
}

pub type SharedShell = RefCell<Shell>;

/// The surfaces, as the router's [`Host`].
#[derive(Default)]
pub struct Surfaces(Vec<Surface>);

impl Surfaces {
    fn get(&self, label: &str) -> Option<&Surface> {
        self.0.iter().find(|s| s.config.label == label)
    }

    fn get_mut(&mut self, label: &str) -> Option<&mut Surface> {
        self.0.iter_mut().find(|s| s.config.label == label)
    }
}

impl Host for Surfaces {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        self.0
            .iter()
            .map(|s| SurfaceInfo {
                label: s.config.label.clone(),
                url: s.url.clone(),
                visible: s.visible,
                overlay: s.container.is_some(),
            })
            .collect()
    }

    fn set_visible(&mut self, label: &str, visible: bool) -> Result<(), IpcError> {
        let Some(s) = self.get_mut(label) else {
            return Err(IpcError::new(crate::ipc::ErrorCode::NotFound, format!("no surface labelled '{label}'")));
        };
        if let Some(container) = &s.container {
            // Hide the box, not the webview: the web process and its scripts keep running.
            if visible {
                container.show_all();
            } else {
                container.hide();
            }
            s.visible = visible;
            log::info!(surface = label; "{}", if visible { "shown" } else { "hidden" });
        }
        Ok(())
    }

    fn eval(&mut self, label: &str, script: String) {
        let Some(s) = self.get(label) else { return };
        if let Err(e) = s.webview.evaluate_script(&script) {
            log::warn!(surface = label; "cannot deliver to page: {e}");
        }
    }
}

pub struct Shell {
    router: Router,
    surfaces: Surfaces,
    main_label: String,
    ready: bool,
}

impl Shell {
    pub fn on_ipc(&mut self, label: &str, url: &str, body: &str) {
        self.router.handle(&mut self.surfaces, Caller { label, url }, body);
    }

    fn on_page_load(&mut self, label: &str, finished: bool, url: String) {
        if !finished {
            // The old page and its listeners are gone.
            self.router.surface_reset(label);
        }
        log::info!(surface = label; "page {} {url}", if finished { "loaded" } else { "loading" });
        if let Some(s) = self.surfaces.get_mut(label) {
            s.url = url;
        }
        if finished && label == self.main_label && !self.ready {
            self.ready = true;
            notify::ready(&format!("serving {} surfaces", self.surfaces.0.len()));
        }
    }

    fn quit(&mut self, why: &str) {
        log::info!("{why}: closing surfaces");
        notify::stopping();
        // Dropping a webview destroys it and ends its web process.
        self.surfaces.0.clear();
    }
}

/// Runs the kiosk until SIGTERM/SIGINT; exits the process with 0 then.
pub fn run(bundle: Bundle) -> Result<(), ShellError> {
    let manifest = bundle.manifest;
    let labels: Vec<&str> = manifest.surfaces().map(|s| s.label.as_str()).collect();
    let authority = Authority::new(labels, &bundle.capabilities);
    let mut router = Router::new(manifest.clone(), authority);
    register_builtins(&mut router);

    let event_loop = EventLoopBuilder::<CoreEvent>::with_user_event().build();
    let proxy = event_loop.create_proxy();
    let toplevel = window::create(&event_loop, &manifest.name)?;
    notify::status("starting surfaces");

    let shell = Rc::new(RefCell::new(Shell {
        router,
        surfaces: Surfaces::default(),
        main_label: manifest.main.label.clone(),
        ready: false,
    }));
    let mut context = WebContext::new(None);
    let mut ctx = BuildCtx {
        context: &mut context,
        overlay: &toplevel.overlay,
        screen: toplevel.screen,
        manifest: &manifest,
        proxy: proxy.clone(),
        shell: Rc::downgrade(&shell),
        assets: Some(Arc::new(Assets::new(&bundle.ui, &manifest.csp))),
    };
    for cfg in manifest.surfaces() {
        let s =
            surface::build(cfg, &mut ctx).map_err(|source| ShellError::Surface { label: cfg.label.clone(), source })?;
        if let Some(container) = &s.container {
            if s.visible {
                container.show_all();
            } else {
                container.hide();
            }
        }
        log::info!(surface = cfg.label.as_str(); "surface created for {}", cfg.page.url());
        shell.borrow_mut().surfaces.0.push(s);
    }
    if !manifest.overlays.is_empty() {
        window::repair_partial_redraws(&toplevel.window);
    }
    notify::status("loading pages");

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
            Event::UserEvent(CoreEvent::Ipc { label, url, body }) => {
                shell.borrow_mut().on_ipc(&label, &url, &body);
                None
            }
            Event::UserEvent(CoreEvent::PageLoad { label, finished, url }) => {
                shell.borrow_mut().on_page_load(&label, finished, url);
                None
            }
            Event::UserEvent(CoreEvent::Quit { signal }) => Some(signal),
            Event::WindowEvent { event: WindowEvent::CloseRequested, .. } => Some("window closed"),
            _ => None,
        };
        if let Some(why) = quit {
            shell.borrow_mut().quit(why);
            *control_flow = ControlFlow::ExitWithCode(0);
        }
    })
}
