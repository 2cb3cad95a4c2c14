//! `[display]` in `vitrine.toml`: screen power, brightness and rotation.
//!
//! ```toml
//! [display]
//! idle_off_secs = 300          # without input this long the screen turns off (0: never)
//! rotation = 90                # 0, 90, 180 or 270 degrees clockwise, applied at start
//! flipped = false              # mirrored as well
//! brightness = 80              # percent, set at start where a backend can (omit: leave it)
//! backends = ["wlr", "x11", "backlight", "ddc", "cec", "overlay"]   # probed in this order
//! backlight_root = "/sys/class/backlight"
//! ddc_devices = ["/dev/i2c-*"]  # monitors answering DDC/CI
//! cec_device = "/dev/cec0"      # a TV on HDMI-CEC
//! output = "HDMI-A-1"          # the kiosk's output, where there are several
//!
//! [[display.schedule]]          # the screen is on within these spans, local time
//! days = ["mon", "tue", "wed", "thu", "fri"]
//! on = "07:00"
//! off = "19:00"                # before `on`: the span runs past midnight
//! ```
//!
//! Without a schedule the screen is on unless idle or turned off. With one, the screen
//! is off outside its spans; turning it on by hand (a touch, `vitrine ctl display on`)
//! holds until the schedule's next change.

use serde::{Deserialize, Serialize};

use super::policy::parse_hh_mm;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Display {
    pub idle_off_secs: u64,
    pub schedule: Vec<Span>,
    pub rotation: u16,
    pub flipped: bool,
    pub brightness: Option<u8>,
    pub backends: Vec<BackendKind>,
    pub backlight_root: String,
    pub ddc_devices: Vec<String>,
    pub cec_device: Option<String>,
    /// The kiosk's output by name (`HDMI-A-1`, X11's `HDMI-1`); `None`: the first lit.
    pub output: Option<String>,
}

impl Default for Display {
    fn default() -> Self {
        Self {
            idle_off_secs: 0,
            schedule: Vec::new(),
            rotation: 0,
            flipped: false,
            brightness: None,
            backends: BackendKind::ALL.to_vec(),
            backlight_root: "/sys/class/backlight".into(),
            ddc_devices: Vec::new(),
            cec_device: None,
            output: None,
        }
    }
}

/// One span of the weekly schedule, as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub days: Vec<Weekday>,
    pub on: String,
    pub off: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Monday is 0.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// The ways a screen can be turned off, in the default probing order.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// wlroots' output power management (sway, labwc, cage with the protocol).
    Wlr,
    /// DPMS on the X server.
    X11,
    /// `/sys/class/backlight/*`: `bl_power` and `brightness` (DSI panels).
    Backlight,
    /// DDC/CI over `/dev/i2c-*` (monitors).
    Ddc,
    /// HDMI-CEC standby through `/dev/cecN` (TVs).
    Cec,
    /// A black core overlay: always there, turns nothing off.
    Overlay,
}

impl BackendKind {
    pub const ALL: [BackendKind; 6] = [Self::Wlr, Self::X11, Self::Backlight, Self::Ddc, Self::Cec, Self::Overlay];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wlr => "wlr",
            Self::X11 => "x11",
            Self::Backlight => "backlight",
            Self::Ddc => "ddc",
            Self::Cec => "cec",
            Self::Overlay => "overlay",
        }
    }
}

/// `"HH:MM"` or `"24:00"` (the end of a day) → minutes after midnight.
pub fn parse_time(text: &str) -> Option<u16> {
    if text == "24:00" {
        return Some(24 * 60);
    }
    parse_hh_mm(text).and_then(|m| u16::try_from(m).ok())
}

impl Display {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.idle_off_secs > 7 * 86_400 {
            out.push(("display.idle_off_secs".into(), "must be at most 604800 (a week)".into()));
        }
        if ![0, 90, 180, 270].contains(&self.rotation) {
            out.push(("display.rotation".into(), format!("{} is not 0, 90, 180 or 270", self.rotation)));
        }
        if self.brightness.is_some_and(|b| b > 100) {
            out.push(("display.brightness".into(), "must be a percentage, 0 to 100".into()));
        }
        if self.backends.is_empty() {
            out.push(("display.backends".into(), "must name at least one backend (\"overlay\" always works)".into()));
        }
        if !self.backlight_root.starts_with('/') {
            out.push(("display.backlight_root".into(), "must be an absolute path".into()));
        }
        for (i, span) in self.schedule.iter().enumerate() {
            let key = format!("display.schedule[{i}]");
            if span.days.is_empty() {
                out.push((format!("{key}.days"), "must name at least one day".into()));
            }
            let on = parse_time(&span.on).filter(|m| *m < 24 * 60);
            let off = parse_time(&span.off);
            if on.is_none() {
                out.push((format!("{key}.on"), format!("'{}' is not a time as HH:MM", span.on)));
            }
            if off.is_none() {
                out.push((format!("{key}.off"), format!("'{}' is not a time as HH:MM (or 24:00)", span.off)));
            }
            if on.is_some() && on == off {
                out.push((key, "on and off are the same time".into()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        let cfg = Display {
            rotation: 45,
            brightness: Some(101),
            backends: vec![],
            schedule: vec![
                Span { days: vec![], on: "7:00".into(), off: "25:00".into() },
                Span { days: vec![Weekday::Mon], on: "08:00".into(), off: "08:00".into() },
            ],
            ..Display::default()
        };
        let keys: Vec<String> = cfg.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "display.rotation",
                "display.brightness",
                "display.backends",
                "display.schedule[0].days",
                "display.schedule[0].on",
                "display.schedule[0].off",
                "display.schedule[1]",
            ]
        );
        assert!(Display::default().check().is_empty());
        assert_eq!(parse_time("24:00"), Some(1440));
        assert_eq!(parse_time("23:59"), Some(1439));
    }
}
