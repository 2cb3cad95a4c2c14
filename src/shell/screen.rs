//! Screen power on the main thread: the policy (idle, weekly schedule, requests from
//! ctl, D-Bus and pages), the wake cover, and the status. The backends run on the
//! display thread (`crate::display`); this side only sends commands and hears reports.
//!
//! While the screen is off, a core-owned black cover lies above every surface and takes
//! all pointer and touch input, and the toplevel takes every key: the first touch,
//! click or key wakes the screen and reaches no page. Where no backend can turn the
//! screen off (bare X11, a compositor without the protocol), the cover is what the
//! viewer sees: black.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use gtk::prelude::*;
use serde::Deserialize;

use crate::config::display::{BackendKind, Display as DisplayConfig};
use crate::display::schedule::{self, Planner, Schedule};
use crate::display::{self as backends, Command, DisplayStatus, OffReason, Orientation, Report};
use crate::ipc::{ErrorCode, IpcError, Router};

/// How often the idle timer and the schedule are looked at.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(500);

pub struct Power {
    idle_off: Option<Duration>,
    on: bool,
    reason: Option<OffReason>,
    backend: Option<BackendKind>,
    brightness_backend: Option<BackendKind>,
    brightness: Option<u8>,
    pub(super) orientation: Option<Orientation>,
    error: Option<String>,
    planner: Planner,
    tz: jiff::tz::TimeZone,
    /// The last input the cover or a page saw.
    last_input: Instant,
    handle: Option<backends::Handle>,
    /// Looks for the kiosk's output's monitor since the last success.
    output_retries: u32,
    cover: gtk::EventBox,
    overlay: gtk::Overlay,
}

pub type SharedPower = Rc<RefCell<Power>>;

impl Power {
    pub fn status(&self) -> DisplayStatus {
        DisplayStatus {
            power: if self.on { "on" } else { "off" }.into(),
            intentional: !self.on,
            reason: self.reason,
            backend: self.backend.map(|b| b.as_str().to_string()),
            brightness: self.brightness,
            brightness_backend: self.brightness_backend.map(|b| b.as_str().to_string()),
            idle_off_secs: self.idle_off.map_or(0, |d| d.as_secs()),
            scheduled_on: self.planner.scheduled(),
            error: self.error.clone(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Why the screen is off, in a word.
    pub fn off_reason(&self) -> &'static str {
        match self.reason {
            Some(OffReason::Idle) => "idle",
            Some(OffReason::Schedule) => "schedule",
            Some(OffReason::Request) | None => "request",
        }
    }

    /// Turns the screen on or off for `reason` (`None`: on).
    pub fn set(&mut self, on: bool, reason: Option<OffReason>) {
        self.last_input = Instant::now();
        if on == self.on {
            if !on {
                self.reason = reason;
            }
            return;
        }
        self.on = on;
        self.reason = if on { None } else { reason };
        match reason {
            Some(r) if !on => log::info!("screen off ({r:?})"),
            _ => log::info!("screen on"),
        }
        if on {
            self.cover.hide();
        } else {
            // Above everything, overlays built later included.
            self.overlay.reorder_overlay(&self.cover, -1);
            self.cover.show();
        }
        if let Some(h) = &self.handle {
            h.send(Command::Power(on));
        }
    }

    pub fn set_brightness(&mut self, percent: u8) -> Result<(), IpcError> {
        if percent > 100 {
            return Err(IpcError::new(ErrorCode::BadArgs, format!("brightness {percent}: a percentage, 0 to 100")));
        }
        match (&self.handle, self.brightness_backend) {
            (Some(h), Some(_)) => {
                h.send(Command::Brightness(percent));
                self.brightness = Some(percent);
                Ok(())
            }
            _ => Err(IpcError::new(
                ErrorCode::NotFound,
                "no backend here sets brightness (no backlight, no DDC/CI monitor)",
            )),
        }
    }

    pub(super) fn on_report(&mut self, report: Report) {
        match report {
            Report::Ready { power, brightness } => {
                self.backend = Some(power);
                self.brightness_backend = brightness;
                // A change asked for while probing is applied now.
                if !self.on {
                    if let Some(h) = &self.handle {
                        h.send(Command::Power(false));
                    }
                }
            }
            Report::Power { on, error } => {
                if on == self.on {
                    self.error = error;
                }
            }
            Report::Brightness { percent, error } => {
                self.brightness = percent;
                self.error = error;
            }
            Report::Orientation(o) => self.orientation = Some(o),
            Report::Output { name, x, y } => self.move_to_output(&name, x, y),
            Report::Rotated { error } => self.error = error,
        }
    }

    /// The idle timer and the schedule; `page_input` is when a page last saw input.
    pub(super) fn check(&mut self, page_input: Instant) {
        if page_input > self.last_input {
            self.last_input = page_input;
        }
        let now = jiff::Timestamp::now();
        if let Some(on) = self.planner.tick(now, &self.tz, schedule::clock_trusted(now, clock_synchronized())) {
            self.set(on, Some(OffReason::Schedule));
        }
        if let (true, Some(idle)) = (self.on, self.idle_off) {
            if self.last_input.elapsed() >= idle {
                self.set(false, Some(OffReason::Idle));
            }
        }
    }

    /// Input on the cover or the window while off: the screen wakes.
    fn wake(&mut self, what: &str) {
        if !self.on {
            log::info!("{what} while the screen was off: waking it (the input reaches no page)");
            self.set(true, None);
        }
    }

    pub fn rotate(&mut self, o: Orientation) -> Result<(), IpcError> {
        if ![0, 90, 180, 270].contains(&o.rotation) {
            return Err(IpcError::new(ErrorCode::BadArgs, format!("rotation {}: 0, 90, 180 or 270", o.rotation)));
        }
        match &self.handle {
            Some(h) => {
                h.send(Command::Rotate(o));
                Ok(())
            }
            None => Err(IpcError::new(ErrorCode::Internal, "the display thread is not running")),
        }
    }

    /// Puts the window, fullscreen, on the monitor at (x, y): the kiosk's output
    /// (`display.output`), which may have come late or back.
    fn move_to_output(&mut self, name: &str, x: i32, y: i32) {
        let Some(window) = self.overlay.toplevel().and_then(|t| t.downcast::<gtk::Window>().ok()) else { return };
        let screen = gtk::prelude::GtkWindowExt::screen(&window);
        let Some(screen) = screen else { return };
        let display = screen.display();
        let found = (0..display.n_monitors()).find(|i| {
            display.monitor(*i).is_some_and(|m| {
                let g = m.geometry();
                (g.x(), g.y()) == (x, y)
            })
        });
        let Some(index) = found else {
            // GDK may learn of a new monitor's place after the compositor told us.
            log::info!("output {name} at {x},{y}: no monitor there yet; looking again");
            if self.output_retries < 10 {
                self.output_retries += 1;
                if let Some(h) = self.handle.clone() {
                    gtk::glib::timeout_add_local_once(Duration::from_millis(300), move || h.send(Command::Refresh));
                }
            }
            return;
        };
        self.output_retries = 0;
        let current = window.window().and_then(|w| display.monitor_at_window(&w));
        if current.is_some_and(|m| (m.geometry().x(), m.geometry().y()) == (x, y)) {
            log::debug!("the window is on the kiosk's output {name} already");
            return;
        }
        log::info!("the kiosk's output {name} is at {x},{y} (monitor {index}): the window goes there, fullscreen");
        window.fullscreen_on_monitor(&screen, index);
    }

    pub(super) fn refresh(&self) {
        if let Some(h) = &self.handle {
            h.send(Command::Refresh);
        }
    }
}

/// Whether the system clock is kept: synchronized (adjtimex), or read from a real-time
/// clock at boot. A board without either runs on a clock that jumps at time sync.
fn clock_synchronized() -> bool {
    // SAFETY: adjtimex with modes 0 only reads the kernel's clock state into `tx`.
    let state = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx.status)
    };
    let synced = state.0 >= 0 && state.0 != libc::TIME_ERROR && state.1 & libc::STA_UNSYNC == 0;
    synced || std::path::Path::new("/sys/class/rtc/rtc0").exists()
}

/// Builds the cover (hidden), starts the display thread and hooks the wake inputs.
pub(super) fn start(
    cfg: &DisplayConfig,
    overlay: &gtk::Overlay,
    window: &gtk::Window,
    report: impl Fn(Report) + Send + 'static,
) -> SharedPower {
    let cover = gtk::EventBox::new();
    cover.set_visible_window(true);
    cover.set_no_show_all(true);
    cover.set_widget_name("vitrine-wake-cover");
    cover.add_events(
        gtk::gdk::EventMask::BUTTON_PRESS_MASK
            | gtk::gdk::EventMask::BUTTON_RELEASE_MASK
            | gtk::gdk::EventMask::TOUCH_MASK
            | gtk::gdk::EventMask::SCROLL_MASK,
    );
    cover.connect_draw(|_, cr| {
        cr.set_source_rgb(0.0, 0.0, 0.0);
        let _ = cr.paint();
        gtk::glib::Propagation::Stop
    });
    overlay.add_overlay(&cover);
    let handle = match backends::start(cfg, report) {
        Ok(h) => Some(h),
        Err(e) => {
            log::error!("cannot start the display thread: {e}; the screen is only blanked by the overlay");
            None
        }
    };
    let tz = jiff::tz::TimeZone::try_system().unwrap_or_else(|e| {
        log::warn!("no local time zone ({e}); the schedule runs in UTC");
        jiff::tz::TimeZone::UTC
    });
    let power = Rc::new(RefCell::new(Power {
        idle_off: (cfg.idle_off_secs > 0).then(|| Duration::from_secs(cfg.idle_off_secs)),
        on: true,
        reason: None,
        backend: None,
        brightness_backend: None,
        brightness: None,
        orientation: None,
        error: None,
        planner: Planner::new(Schedule::new(&cfg.schedule)),
        tz,
        last_input: Instant::now(),
        handle,
        output_retries: 0,
        cover: cover.clone(),
        overlay: overlay.clone(),
    }));
    let weak = Rc::downgrade(&power);
    // Press, release, touch and scroll all stop here; the release (or the end of the
    // touch) wakes, so that no half of the gesture is left for a page.
    cover.connect_button_press_event(|_, _| gtk::glib::Propagation::Stop);
    cover.connect_scroll_event(|_, _| gtk::glib::Propagation::Stop);
    cover.connect_button_release_event(wake_on(weak.clone(), "a click"));
    let w = weak.clone();
    cover.connect_touch_event(move |_, event| {
        if event.event_type() == gtk::gdk::EventType::TouchEnd {
            with(&w, |p| p.wake("a touch"));
        }
        gtk::glib::Propagation::Stop
    });
    let w = weak.clone();
    // The last key seen while on: WebKit hands a key its page did not consume back to
    // the window later, and that key (which may have turned the screen off through
    // the page) must not wake it again.
    let seen_on = std::cell::Cell::new(0u32);
    // The waking key's release is swallowed too: no half of it is left for a page.
    let waking_key = Rc::new(std::cell::Cell::new(None::<u16>));
    let waking = Rc::clone(&waking_key);
    window.connect_key_press_event(move |_, event| {
        let off = w.upgrade().and_then(|p| p.try_borrow().ok().map(|p| !p.on)).unwrap_or(false);
        if !off {
            seen_on.set(seen_on.get().max(event.time()));
            return gtk::glib::Propagation::Proceed;
        }
        if event.time() <= seen_on.get() {
            // WebKit's own hand-back of a key the page saw: GTK's default handling
            // (stopping it here leaves WebKit waiting, and the page gets no more keys).
            return gtk::glib::Propagation::Proceed;
        }
        waking.set(Some(event.hardware_keycode()));
        with(&w, |p| p.wake("a key"));
        gtk::glib::Propagation::Stop
    });
    window.connect_key_release_event(move |_, event| {
        if waking_key.get() == Some(event.hardware_keycode()) {
            waking_key.set(None);
            return gtk::glib::Propagation::Stop;
        }
        gtk::glib::Propagation::Proceed
    });
    power
}

fn with(power: &Weak<RefCell<Power>>, f: impl FnOnce(&mut Power)) {
    if let Some(p) = power.upgrade() {
        match p.try_borrow_mut() {
            Ok(mut p) => f(&mut p),
            Err(_) => log::warn!("screen state busy; input ignored"),
        }
    }
}

fn wake_on(
    power: Weak<RefCell<Power>>,
    what: &'static str,
) -> impl Fn(&gtk::EventBox, &gtk::gdk::EventButton) -> gtk::glib::Propagation {
    move |_, _| {
        with(&power, |p| p.wake(what));
        gtk::glib::Propagation::Stop
    }
}

/// `display.status`, `display.on`, `display.off`, `display.brightness` for pages (and
/// the `dbus` principal), as their capabilities allow.
pub(super) fn register(router: &mut Router, power: &SharedPower) {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoArgs {}
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Brightness {
        percent: u8,
    }
    let p = Rc::clone(power);
    router.register("display.status", move |_, _: NoArgs| Ok(borrow(&p)?.status()));
    let p = Rc::clone(power);
    router.register("display.on", move |ctx, _: NoArgs| {
        log::info!(surface = ctx.caller.label; "display.on");
        let mut p = borrow(&p)?;
        p.set(true, None);
        Ok(p.status())
    });
    let p = Rc::clone(power);
    router.register("display.off", move |ctx, _: NoArgs| {
        log::info!(surface = ctx.caller.label; "display.off");
        let mut p = borrow(&p)?;
        p.set(false, Some(OffReason::Request));
        Ok(p.status())
    });
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rotate {
        rotation: u16,
        #[serde(default)]
        flipped: bool,
    }
    let p = Rc::clone(power);
    router.register("display.rotate", move |ctx, Rotate { rotation, flipped }| {
        log::info!(surface = ctx.caller.label; "display.rotate {rotation} flipped={flipped}");
        let mut p = borrow(&p)?;
        p.rotate(Orientation { rotation, flipped })?;
        Ok(p.status())
    });
    let p = Rc::clone(power);
    router.register("display.brightness", move |ctx, Brightness { percent }| {
        log::info!(surface = ctx.caller.label; "display.brightness {percent}");
        let mut p = borrow(&p)?;
        p.set_brightness(percent)?;
        Ok(p.status())
    });
}

fn borrow(p: &SharedPower) -> Result<std::cell::RefMut<'_, Power>, IpcError> {
    p.try_borrow_mut().map_err(|_| IpcError::new(ErrorCode::Internal, "the screen state is busy; try again"))
}

impl super::Shell {
    /// `vitrine ctl display …` and the D-Bus display methods.
    pub(super) fn display_op(&mut self, op: crate::request::DisplayOp) -> crate::request::RequestResult {
        use crate::request::{DisplayOp, Reply, RequestError};
        let mut p = self.power.try_borrow_mut().map_err(|_| RequestError::Failed("the screen state is busy".into()))?;
        match op {
            DisplayOp::Status => {}
            DisplayOp::On => p.set(true, None),
            DisplayOp::Off => p.set(false, Some(OffReason::Request)),
            DisplayOp::Rotate(o) => p.rotate(o).map_err(|e| RequestError::BadArgs(e.message))?,
            DisplayOp::Brightness(percent) => p.set_brightness(percent).map_err(|e| match e.code {
                ErrorCode::BadArgs => RequestError::BadArgs(e.message),
                _ => RequestError::NotFound(e.message),
            })?,
        }
        Ok(Reply::Display(p.status()))
    }

    /// The idle timer and the schedule.
    pub(super) fn screen_tick(&mut self) {
        let input = self.surfaces.last_activity;
        match self.power.try_borrow_mut() {
            Ok(mut p) => p.check(input),
            Err(_) => log::debug!("screen state busy; checked next time"),
        }
    }
}
