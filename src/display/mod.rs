//! The screen: power, brightness and the output's orientation, through whichever
//! backend the device has.
//!
//! Backends are probed in the configured order at start, each result logged, on a
//! thread of their own ("vitrine-display"): they talk to the compositor, the X server,
//! sysfs, i2c or CEC, none of which the GTK thread may wait on. The shell sends
//! [`Command`]s and hears [`Report`]s through a callback; it owns the policy (idle,
//! schedule, wake) and the black overlay, which is the last backend and always there.
//!
//! * [`wlr`] — wlroots' output power management (and output management, for the
//!   output's transform), on a Wayland connection of its own;
//! * [`x11`] — DPMS on the X server, and ([`x11_output`]) RandR rotation with the touch
//!   screens' transformation matrix following it;
//! * [`touch`] — the matrices that make touch follow a rotation (pure math);
//! * [`cage`] — cage's start-time rotation and the udev rule that turns touch with it;
//!   [`shown`] — each Wayland output's transform, where no backend can turn it;
//! * [`backlight`] — `/sys/class/backlight/*` (`bl_power`, `brightness`) for DSI panels;
//!   also used for brightness, and turned off with whichever backend powers the screen;
//! * [`ddc`] — DDC/CI to monitors over their I2C bus: power mode and brightness;
//! * [`cec`] — HDMI-CEC `<Standby>` and `<Image View On>` to the TV through `/dev/cecN`;
//! * [`schedule`] — the weekly schedule (pure logic).

pub mod backlight;
pub mod cage;
pub mod cec;
pub mod ddc;
pub mod schedule;
pub mod shown;
pub mod touch;
pub mod wlr;
pub mod wlr_output;
pub mod x11;
pub mod x11_output;

use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use crate::config::display::{BackendKind, Display as DisplayConfig};

#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error("not available: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Io(String),
    #[error("not supported by {0}")]
    Unsupported(&'static str),
}

/// Why the screen is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffReason {
    /// No input for `idle_off_secs`.
    Idle,
    /// Outside the weekly schedule.
    Schedule,
    /// Asked for: `vitrine ctl`, D-Bus or a page.
    Request,
}

/// `display` in `vitrine ctl status` and the answer of `display.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisplayStatus {
    /// `"on"` or `"off"`.
    pub power: String,
    /// Off on purpose (idle, schedule, request): not a fault for health checks.
    pub intentional: bool,
    pub reason: Option<OffReason>,
    /// The backend that powers the screen (`overlay`: only blanked), `None` while probing.
    pub backend: Option<String>,
    pub brightness: Option<u8>,
    pub brightness_backend: Option<String>,
    pub idle_off_secs: u64,
    /// Whether the weekly schedule wants the screen on now (`None`: no schedule, or
    /// the clock is not trusted yet).
    pub scheduled_on: Option<bool>,
    /// The last backend error, if the last change had one.
    pub error: Option<String>,
}

/// What the output looks like, as the backend that manages it reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orientation {
    /// Degrees clockwise.
    pub rotation: u16,
    pub flipped: bool,
}

/// One way of turning the screen off and on.
pub trait Backend: Send {
    fn kind(&self) -> BackendKind;
    fn set_power(&mut self, on: bool) -> Result<(), DisplayError>;
    /// Whether it sets brightness (a backlight, a monitor over DDC/CI).
    fn has_brightness(&self) -> bool {
        false
    }
    /// Brightness in percent, where the backend can tell.
    fn brightness(&self) -> Option<u8> {
        None
    }
    fn set_brightness(&mut self, _percent: u8) -> Result<(), DisplayError> {
        Err(DisplayError::Unsupported(self.kind().as_str()))
    }
    /// The output's orientation now, where the backend can tell.
    fn orientation(&mut self) -> Option<Orientation> {
        None
    }
    /// The kiosk's output's name and position (in the compositor's or X screen's
    /// layout), where the backend knows its outputs.
    fn output(&mut self) -> Option<(String, i32, i32)> {
        None
    }
    /// Rotates (and mirrors) the kiosk's output; answers the output's name.
    fn set_orientation(&mut self, _o: Orientation) -> Result<String, DisplayError> {
        Err(DisplayError::Unsupported(self.kind().as_str()))
    }
}

/// What the shell asks of the display thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Power(bool),
    Brightness(u8),
    Rotate(Orientation),
    /// Report the orientation and brightness again.
    Refresh,
}

/// What the display thread tells the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Probing is done: the backend that powers the screen (the overlay when no other
    /// answered) and the one that sets brightness, if any.
    Ready {
        power: BackendKind,
        brightness: Option<BackendKind>,
    },
    /// A power change was applied (or failed: the overlay still blanks the screen).
    Power {
        on: bool,
        error: Option<String>,
    },
    Brightness {
        percent: Option<u8>,
        error: Option<String>,
    },
    Orientation(Orientation),
    /// Where the kiosk's output (`display.output`) is: the shell puts the window there.
    /// Sent only when an output is named, at start and on every refresh.
    Output {
        name: String,
        x: i32,
        y: i32,
    },
    /// A rotation was applied (the orientation follows), or failed.
    Rotated {
        error: Option<String>,
    },
}

/// The shell's end: commands go to the display thread.
#[derive(Clone)]
pub struct Handle(mpsc::Sender<Command>);

impl Handle {
    pub fn send(&self, command: Command) {
        if self.0.send(command).is_err() {
            log::warn!("the display thread is gone; the screen is only blanked by the overlay");
        }
    }
}

/// Probes the backends `cfg` names, in order, on the display thread, and serves commands
/// there. `report` is called on that thread.
pub fn start(cfg: &DisplayConfig, report: impl Fn(Report) + Send + 'static) -> std::io::Result<Handle> {
    let (tx, rx) = mpsc::channel();
    let cfg = cfg.clone();
    std::thread::Builder::new().name("vitrine-display".into()).spawn(move || run(&cfg, &rx, &report))?;
    Ok(Handle(tx))
}

/// The backends that can power the screen, in `cfg`'s order, each probe logged; and the
/// backlight, which also sets brightness.
fn probe(cfg: &DisplayConfig) -> (Option<Box<dyn Backend>>, Option<backlight::Backlight>) {
    let mut power: Option<Box<dyn Backend>> = None;
    let mut light = None;
    for kind in &cfg.backends {
        let found: Result<Option<Box<dyn Backend>>, DisplayError> = match kind {
            BackendKind::Wlr => wlr::Wlr::connect(cfg.output.clone()).map(|b| Some(Box::new(b) as Box<dyn Backend>)),
            BackendKind::Backlight => match backlight::Backlight::find(std::path::Path::new(&cfg.backlight_root)) {
                Ok(b) => {
                    log::info!("display: backlight {} found", b.describe());
                    light = Some(b);
                    // The backlight is a power backend of its own only when none before it is.
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            BackendKind::X11 => x11::X11::connect(cfg.output.clone()).map(|b| Some(Box::new(b) as Box<dyn Backend>)),
            BackendKind::Cec => cec::Cec::open(cfg.cec_device.as_deref()).map(|b| {
                log::info!("display: CEC adapter {}", b.describe());
                Some(Box::new(b) as Box<dyn Backend>)
            }),
            BackendKind::Ddc => ddc::Ddc::probe(&cfg.ddc_devices, std::path::Path::new("/sys")).map(|b| {
                log::info!("display: DDC/CI monitor on {}", b.describe());
                Some(Box::new(b) as Box<dyn Backend>)
            }),
            BackendKind::Overlay => Ok(None),
        };
        match found {
            Ok(Some(b)) if power.is_none() => {
                log::info!("display: backend {} answers; it powers the screen", kind.as_str());
                power = Some(b);
            }
            Ok(Some(_)) => log::info!("display: backend {} answers too (not used)", kind.as_str()),
            Ok(None) => {}
            Err(e) => log::info!("display: backend {}: {e}", kind.as_str()),
        }
    }
    (power, light)
}

fn run(cfg: &DisplayConfig, rx: &mpsc::Receiver<Command>, report: &dyn Fn(Report)) {
    let (mut power, mut light) = probe(cfg);
    let power_kind = match (&power, &light) {
        (Some(p), _) => p.kind(),
        (None, Some(_)) => BackendKind::Backlight,
        (None, None) => BackendKind::Overlay,
    };
    let brightness_kind = dimmer(&mut power, &mut light).map(|b| b.kind());
    log::info!(
        "display: power by {}{}, brightness by {}",
        power_kind.as_str(),
        if power_kind == BackendKind::Overlay { "" } else { " (and the black overlay)" },
        brightness_kind.map_or("nothing", BackendKind::as_str)
    );
    report(Report::Ready { power: power_kind, brightness: brightness_kind });
    if let (Some(percent), Some(l)) = (cfg.brightness, dimmer(&mut power, &mut light)) {
        if let Err(e) = l.set_brightness(percent) {
            log::warn!("display: brightness {percent} % at start: {e}");
        }
    }
    if cfg.rotation != 0 || cfg.flipped {
        let o = Orientation { rotation: cfg.rotation, flipped: cfg.flipped };
        rotate(&mut power, o, cfg.output.as_deref(), report);
    }
    let named = cfg.output.is_some();
    refresh(&mut power, &mut light, named, report);
    while let Ok(command) = rx.recv() {
        match command {
            Command::Power(on) => {
                let mut errors = Vec::new();
                if let Some(p) = power.as_mut() {
                    if let Err(e) = p.set_power(on) {
                        errors.push(format!("{}: {e}", p.kind().as_str()));
                    }
                }
                if let Some(l) = light.as_mut() {
                    if let Err(e) = l.set_power(on) {
                        errors.push(format!("backlight: {e}"));
                    }
                }
                let error = (!errors.is_empty()).then(|| errors.join("; "));
                match &error {
                    Some(e) => log::warn!("display: turning the screen {}: {e}", if on { "on" } else { "off" }),
                    None => log::info!("display: screen {} by {}", if on { "on" } else { "off" }, power_kind.as_str()),
                }
                report(Report::Power { on, error });
            }
            Command::Brightness(percent) => {
                let (percent, error) = match dimmer(&mut power, &mut light) {
                    Some(l) => match l.set_brightness(percent) {
                        Ok(()) => (l.brightness(), None),
                        Err(e) => (l.brightness(), Some(e.to_string())),
                    },
                    None => {
                        (None, Some("no backend here sets brightness (no backlight, no DDC/CI monitor)".to_string()))
                    }
                };
                report(Report::Brightness { percent, error });
            }
            Command::Rotate(o) => {
                rotate(&mut power, o, cfg.output.as_deref(), report);
                refresh(&mut power, &mut light, named, report);
            }
            Command::Refresh => refresh(&mut power, &mut light, named, report),
        }
    }
}

fn rotate(power: &mut Option<Box<dyn Backend>>, o: Orientation, output: Option<&str>, report: &dyn Fn(Report)) {
    let turn = format!("{}°{}", o.rotation, if o.flipped { " flipped" } else { "" });
    let result = match power.as_mut() {
        Some(p) => p.set_orientation(o),
        None => Err(DisplayError::Unavailable("no compositor or X server backend to rotate with".into())),
    };
    // A compositor that turns its output only itself (cage's -r, a sway config) may
    // already show what is asked.
    let result = result.or_else(|e| match already_shown(o, output) {
        Some(name) => {
            log::info!("display: output {name} already shows {turn}: the compositor turned it");
            Ok(name)
        }
        None => Err(match e {
            DisplayError::Unsupported(_) | DisplayError::Unavailable(_)
                if std::env::var_os("WAYLAND_DISPLAY").is_some() =>
            {
                DisplayError::Unavailable(format!(
                    "{e}, and the compositor does not show {turn} (cage turns its output only as it starts: \
                     set display.rotation and restart vitrine-cage)"
                ))
            }
            e => e,
        }),
    });
    let error = match result {
        Ok(output) => {
            log::info!("display: output {output} rotated to {turn}");
            None
        }
        Err(e) => {
            log::warn!("display: cannot rotate to {turn}: {e}");
            Some(format!("rotation: {e}"))
        }
    };
    report(Report::Rotated { error });
}

/// The output (`display.output`, else the first) if a Wayland compositor shows it turned
/// as `o` asks.
fn already_shown(o: Orientation, wanted: Option<&str>) -> Option<String> {
    std::env::var_os("WAYLAND_DISPLAY")?;
    let want = wlr_output::transform(o)?;
    let outputs = shown::outputs().ok()?;
    let output = match wanted {
        Some(w) => outputs.iter().find(|s| s.name == w),
        None => outputs.first(),
    }?;
    (output.transform == want).then(|| output.name.clone())
}

/// What sets brightness: the backlight where there is one, else the power backend if
/// it can (a DDC/CI monitor).
fn dimmer<'a>(
    power: &'a mut Option<Box<dyn Backend>>,
    light: &'a mut Option<backlight::Backlight>,
) -> Option<&'a mut (dyn Backend + 'static)> {
    match light {
        Some(l) => Some(l as &mut dyn Backend),
        None => power.as_deref_mut().filter(|p| p.has_brightness()),
    }
}

fn refresh(
    power: &mut Option<Box<dyn Backend>>,
    light: &mut Option<backlight::Backlight>,
    named: bool,
    report: &dyn Fn(Report),
) {
    if let Some(o) = power.as_mut().and_then(|p| p.orientation()) {
        report(Report::Orientation(o));
    }
    if named {
        if let Some((name, x, y)) = power.as_mut().and_then(|p| p.output()) {
            report(Report::Output { name, x, y });
        }
    }
    if let Some(b) = dimmer(power, light) {
        report(Report::Brightness { percent: b.brightness(), error: None });
    }
}
