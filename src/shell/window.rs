//! The one toplevel: undecorated, covering the primary monitor, holding a `gtk::Overlay`
//! in which the main surface and the overlays are layered.
//!
//! Kiosk compositors show one fullscreen toplevel and ignore positions, and bare X11 has
//! no window manager to grant fullscreen at all; so the window both asks for fullscreen
//! and sizes and places itself from the monitor.

use gtk::prelude::*;
use tao::dpi::{LogicalPosition, LogicalSize};
use tao::event_loop::EventLoop;
use tao::platform::unix::WindowExtUnix;
use tao::window::{Fullscreen, Window, WindowBuilder};

/// The screen area the kiosk covers, in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

pub struct Toplevel {
    pub window: Window,
    pub overlay: gtk::Overlay,
    pub screen: Screen,
}

#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("cannot open the display: {0}")]
    Display(String),
    #[error("cannot create the window: {0}")]
    Create(#[from] tao::error::OsError),
    #[error("the window has no GTK container to hold the surfaces")]
    NoContainer,
}

pub fn create<T: 'static>(event_loop: &EventLoop<T>, title: &str) -> Result<Toplevel, WindowError> {
    let monitor = event_loop.primary_monitor().or_else(|| event_loop.available_monitors().next());
    let screen = match &monitor {
        Some(m) => {
            let scale = m.scale_factor();
            let size: LogicalSize<u32> = m.size().to_logical(scale);
            let pos: LogicalPosition<i32> = m.position().to_logical(scale);
            Screen { x: pos.x, y: pos.y, width: size.width, height: size.height }
        }
        None => {
            log::warn!("no monitor reported; assuming 1920x1080");
            Screen { x: 0, y: 0, width: 1920, height: 1080 }
        }
    };
    let window = WindowBuilder::new()
        .with_title(title)
        .with_decorations(false)
        .with_fullscreen(Some(Fullscreen::Borderless(monitor)))
        .with_inner_size(LogicalSize::new(screen.width, screen.height))
        .with_position(LogicalPosition::new(screen.x, screen.y))
        .build(event_loop)?;
    let vbox = window.default_vbox().ok_or(WindowError::NoContainer)?;
    let overlay = gtk::Overlay::new();
    vbox.pack_start(&overlay, true, true, 0);
    overlay.show();
    log::info!("window covers {}x{} at {},{}", screen.width, screen.height, screen.x, screen.y);
    Ok(Toplevel { window, overlay, screen })
}

/// Works around a WebKitGTK repaint bug with layered webviews: on a partial redraw the
/// main webview repaints the vertically mirrored rectangle, so a transparent overlay
/// shows stale pixels. Adding only the mirror image is not enough: where the mirror
/// crosses another overlay (a toast at the bottom mirrors onto a status bar at the
/// top) the main page is drawn over that overlay. So every invalidation is widened to
/// the whole window, which repaints every layer in order; measured here it costs about
/// 7 % more CPU during a toast animation than the mirror alone.
pub fn repair_partial_redraws(window: &Window) {
    let Some(gdk_window) = window.gtk_window().window() else {
        log::warn!("toplevel not realized; partial-redraw workaround not installed");
        return;
    };
    // SAFETY: the handler only reads the window's size and edits the region GDK hands
    // it, for the duration of the call; the window outlives the handler (it is the
    // kiosk's only toplevel and lives until exit).
    unsafe {
        gtk::gdk::ffi::gdk_window_set_invalidate_handler(glib_ptr(&gdk_window), Some(invalidate_everything));
    }
}

fn glib_ptr(w: &gtk::gdk::Window) -> *mut gtk::gdk::ffi::GdkWindow {
    use gtk::glib::translate::ToGlibPtr;
    w.to_glib_none().0
}

unsafe extern "C" fn invalidate_everything(
    window: *mut gtk::gdk::ffi::GdkWindow,
    region: *mut gtk::cairo::ffi::cairo_region_t,
) {
    use gtk::cairo::ffi as c;
    // SAFETY: GDK passes a live window and region for the duration of this call.
    unsafe {
        let mut all = c::cairo_rectangle_int_t {
            x: 0,
            y: 0,
            width: gtk::gdk::ffi::gdk_window_get_width(window),
            height: gtk::gdk::ffi::gdk_window_get_height(window),
        };
        c::cairo_region_union_rectangle(region, &mut all);
    }
}

/// How long start-up waits for a display that refuses the connection: a compositor or X
/// server still starting, or an X server resetting (as one does when its last client
/// leaves, so a kiosk restarted on a bare X server meets one).
const DISPLAY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens GTK's display, first asking the display server directly, so that a failure says
/// why (GTK only says it failed). A refusal, of the server or of GTK (the server may begin
/// its reset between the two), is tried again for a while. GTK is initialised here because
/// tao panics where it cannot start.
pub fn open_display() -> Result<(), WindowError> {
    let deadline = std::time::Instant::now() + DISPLAY_WITHIN;
    let mut logged = false;
    loop {
        let why = match probe_display() {
            Ok(()) => match gtk::init() {
                Ok(()) => return Ok(()),
                Err(e) => format!("GTK: {e}"),
            },
            Err(Unreachable::Unset(why)) => return Err(WindowError::Display(why)),
            Err(Unreachable::Refused(why)) => why,
        };
        if std::time::Instant::now() >= deadline {
            return Err(WindowError::Display(why));
        }
        if !logged {
            log::warn!("cannot open the display: {why}; trying again for up to {} s", DISPLAY_WITHIN.as_secs());
            logged = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

enum Unreachable {
    /// No display is named: waiting cannot help.
    Unset(String),
    Refused(String),
}

/// Connects to the display GDK will use (Wayland before X11, unless `GDK_BACKEND` says
/// x11) and hangs up.
fn probe_display() -> Result<(), Unreachable> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let x11_only = var("GDK_BACKEND").is_some_and(|b| b.starts_with("x11"));
    if let (Some(name), false) = (var("WAYLAND_DISPLAY"), x11_only) {
        return wayland_client::Connection::connect_to_env()
            .map(drop)
            .map_err(|e| Unreachable::Refused(format!("Wayland display {name}: {e}")));
    }
    match var("DISPLAY") {
        Some(name) => {
            x11rb::connect(None).map(drop).map_err(|e| Unreachable::Refused(format!("X display {name}: {e}")))
        }
        None => Err(Unreachable::Unset("neither WAYLAND_DISPLAY nor DISPLAY is set".into())),
    }
}
