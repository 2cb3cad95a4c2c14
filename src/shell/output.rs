//! The output the kiosk covers, followed at run time: overlays are placed again from
//! their anchor, size and margin whenever the area changes (a rotation, a mode change,
//! an output turned off and on or a monitor that came late), and the toplevel is sized
//! to the monitor again where no compositor does it (bare X11).
//!
//! Percentages are what depend on the output: an overlay of `width = "100%"` placed for
//! a 1920 px wide output keeps asking for 1920 px on a 1080 px one, and its page is laid
//! out wider than the screen. Pixel sizes (and the toast's own height, which its page
//! sets) stay as they are.

use std::cell::Cell;
use std::rc::Rc;

use gtk::prelude::*;

use crate::config::Length;
use crate::request::Geometry;
use crate::shell::surface::Surface;
use crate::shell::window::Screen;
use crate::shell::CURRENT;

/// Re-places the overlays after the area the surfaces share changes size. The work
/// runs on the next idle turn: sizes must not be requested from inside an allocation.
pub(super) fn follow(overlay: &gtk::Overlay, start: Screen) {
    let last = Rc::new(Cell::new((i32::try_from(start.width).unwrap_or(0), i32::try_from(start.height).unwrap_or(0))));
    overlay.connect_size_allocate(move |_, rect| {
        let area = (rect.width(), rect.height());
        if area == last.get() || area.0 <= 1 || area.1 <= 1 {
            return;
        }
        let before = last.replace(area);
        log::info!("output area {}x{} (was {}x{}): placing the overlays again", area.0, area.1, before.0, before.1);
        gtk::glib::idle_add_local_once(move || {
            let Some(shell) = CURRENT.with(|c| c.borrow().upgrade()) else { return };
            let Ok(mut shell) = shell.try_borrow_mut() else {
                // Busy further up the stack: the next allocation tries again.
                log::warn!("the shell was busy; overlays are placed at the next change");
                return;
            };
            shell.place_overlays(area);
        });
    });
    follow_monitor_on_x11(overlay);
    follow_monitors();
}

/// A monitor plugged in (or back, or late at boot) or gone: the display thread says
/// again where the kiosk's output is, and the window follows it (`display.output`).
fn follow_monitors() {
    let Some(display) = gtk::gdk::Display::default() else { return };
    let refresh = |what: &str, m: &gtk::gdk::Monitor| {
        log::info!("monitor {} {what}", m.model().map(|s| s.to_string()).unwrap_or_default());
        // The compositor tells its output management of the change a little after the
        // monitor appears (sway on an idle turn): ask now and twice more.
        for delay in [0, 500, 1500] {
            gtk::glib::timeout_add_local_once(std::time::Duration::from_millis(delay), || {
                let Some(shell) = CURRENT.with(|c| c.borrow().upgrade()) else { return };
                let Ok(shell) = shell.try_borrow() else { return };
                let power = shell.power.clone();
                drop(shell);
                let Ok(p) = power.try_borrow() else { return };
                p.refresh();
            });
        }
    };
    display.connect_monitor_added(move |_, m| refresh("added", m));
    display.connect_monitor_removed(move |_, m| refresh("removed", m));
}

/// On X11 without a window manager nobody resizes the toplevel when the screen changes
/// (RandR rotation, a new mode): do it from the monitor, as at start.
fn follow_monitor_on_x11(overlay: &gtk::Overlay) {
    let Some(screen) = gtk::gdk::Screen::default() else { return };
    if !screen.display().type_().name().contains("X11") {
        return;
    }
    let widget = overlay.downgrade();
    screen.connect_size_changed(move |screen| {
        let Some(toplevel) = widget.upgrade().and_then(|w| w.toplevel()) else { return };
        let Ok(window) = toplevel.downcast::<gtk::Window>() else { return };
        let display = screen.display();
        let Some(monitor) = display.primary_monitor().or_else(|| display.monitor(0)) else { return };
        let g = monitor.geometry();
        log::info!("screen changed: the window covers {}x{} at {},{}", g.width(), g.height(), g.x(), g.y());
        window.move_(g.x(), g.y());
        window.resize(g.width(), g.height());
    });
}

/// An overlay's size request for an `area`: percentages resolved anew, pixels kept.
pub(super) fn request_for(width: Length, height: Length, current: (i32, i32), area: (i32, i32)) -> (i32, i32) {
    let resolve = |len: Length, now: i32, extent: i32| match len {
        Length::Percent(_) => i32::try_from(len.resolve(u32::try_from(extent).unwrap_or(0))).unwrap_or(i32::MAX),
        Length::Px(_) => now,
    };
    (resolve(width, current.0, area.0), resolve(height, current.1, area.1))
}

/// Where `s` is drawn now (`None` before it has been allocated).
pub(super) fn geometry(s: &Surface) -> Option<Geometry> {
    let widget: gtk::Widget = match &s.container {
        Some(c) => c.clone().upcast(),
        None => {
            use wry::WebViewExtUnix as _;
            s.webview.webview().upcast()
        }
    };
    if !widget.is_realized() {
        return None;
    }
    let a = widget.allocation();
    let top = widget.toplevel()?;
    let (x, y) = widget.translate_coordinates(&top, 0, 0).unwrap_or((a.x(), a.y()));
    Some(Geometry { x, y, width: a.width(), height: a.height() })
}

impl crate::shell::Shell {
    /// Places every overlay for an `area` again, as at start.
    pub(super) fn place_overlays(&mut self, area: (i32, i32)) {
        for s in self.surfaces.iter() {
            let Some(container) = &s.container else { continue };
            let current = container.size_request();
            let (w, h) = request_for(s.config.width, s.config.height, current, area);
            container.set_size_request(w, h);
            container.queue_resize();
        }
        self.output_area = area;
        // A rotation, most likely: the backend reads the output's transform again.
        if let Ok(p) = self.power.try_borrow() {
            p.refresh();
        }
    }

    pub(super) fn output_status(&self) -> crate::request::OutputStatus {
        let orientation = self.power.try_borrow().ok().and_then(|p| p.orientation);
        crate::request::OutputStatus {
            width: self.output_area.0,
            height: self.output_area.1,
            rotation: orientation.map(|o| o.rotation),
            flipped: orientation.is_some_and(|o| o.flipped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::request_for;
    use crate::config::Length::{Percent, Px};

    #[test]
    fn percentages_follow_the_area_and_pixels_stay() {
        assert_eq!(request_for(Percent(100), Px(100), (1920, 100), (1080, 1920)), (1080, 100));
        assert_eq!(request_for(Percent(25), Percent(50), (480, 540), (1080, 1920)), (270, 960));
        // The toast's height is its page's, not its configuration's.
        assert_eq!(request_for(Px(420), Px(1), (420, 230), (1080, 1920)), (420, 230));
    }
}
