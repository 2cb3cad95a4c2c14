//! `[recovery]` and `[kiosk]` in `vitrine.toml`: how surfaces heal and how a kiosk
//! behaves towards the people in front of it.
//!
//! ```toml
//! [recovery]
//! max_attempts = 5        # reloads after crashes before the recovery page shows
//! backoff_ms = 250        # the first reload is immediate, then 250, 500, 1000 … ms
//! max_backoff_ms = 30000  # the longest wait between attempts (also on the recovery page)
//! stable_secs = 10        # a page up this long has recovered: attempts start again at 0
//! hang_timeout_ms = 1000  # a page silent this long is hung: its web process is ended
//! load_timeout_secs = 30  # a page still loading after this long counts as hung
//! give_up_secs = 300      # on the recovery page this long: stop feeding the watchdog
//! memory_limit_mb = 0     # a web process above this RSS is reloaded (0: no limit)
//! daily_reload = "04:00"  # optional: reload every surface at this local time
//!
//! [kiosk]
//! hide_pointer = true
//! context_menu = false
//! idle_timeout_secs = 0   # after this long without input the main surface goes home (0: off)
//! acceleration = "default" # WebKit's hardware acceleration: "default", "always" or "never"
//! dmabuf_renderer = true  # false sets WEBKIT_DISABLE_DMABUF_RENDERER=1 before WebKit starts
//! scale = 2               # device scale for HiDPI panels (GDK_SCALE); 0: the toolkit's choice
//! autoplay = "muted"      # media starts without a tap only when muted; "allow": with sound too
//! ```
//!
//! The two rendering switches are for boards where WebKitGTK shows a blank window: try
//! `dmabuf_renderer = false` first, then `acceleration = "never"`. Both cost transparent
//! overlays their transparency on the machines measured (an opaque black box); the core
//! logs a warning when a configuration combines them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Recovery {
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    pub stable_secs: u64,
    pub hang_timeout_ms: u64,
    pub load_timeout_secs: u64,
    pub give_up_secs: u64,
    pub memory_limit_mb: u64,
    /// `HH:MM`, local time.
    pub daily_reload: Option<String>,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff_ms: 250,
            max_backoff_ms: 30_000,
            stable_secs: 10,
            hang_timeout_ms: 1000,
            load_timeout_secs: 30,
            give_up_secs: 300,
            memory_limit_mb: 0,
            daily_reload: None,
        }
    }
}

impl Recovery {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut range = |key: &str, v: u64, lo: u64, hi: u64| {
            if !(lo..=hi).contains(&v) {
                out.push((format!("recovery.{key}"), format!("must be between {lo} and {hi}")));
            }
        };
        range("max_attempts", u64::from(self.max_attempts), 0, 1000);
        range("backoff_ms", self.backoff_ms, 1, 3_600_000);
        range("max_backoff_ms", self.max_backoff_ms, self.backoff_ms.max(1), 3_600_000);
        range("stable_secs", self.stable_secs, 1, 86_400);
        range("hang_timeout_ms", self.hang_timeout_ms, 300, 600_000);
        range("load_timeout_secs", self.load_timeout_secs, 1, 3600);
        range("give_up_secs", self.give_up_secs, 1, 86_400 * 7);
        range("memory_limit_mb", self.memory_limit_mb, 0, 1 << 20);
        if let Some(t) = &self.daily_reload {
            if parse_hh_mm(t).is_none() {
                out.push(("recovery.daily_reload".into(), format!("'{t}' is not a time as HH:MM")));
            }
        }
        out
    }
}

/// `"04:30"` → minutes after midnight.
pub fn parse_hh_mm(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Kiosk {
    pub hide_pointer: bool,
    pub context_menu: bool,
    pub idle_timeout_secs: u64,
    /// WebKit's hardware-acceleration policy for every surface.
    pub acceleration: Acceleration,
    /// WebKitGTK's DMA-BUF renderer; `false` sets `WEBKIT_DISABLE_DMABUF_RENDERER=1`
    /// before the first surface starts.
    pub dmabuf_renderer: bool,
    /// WebKit's bubblewrap sandbox for web processes (`shell::sandbox`); `false` only
    /// for a board that cannot run it, and logged as an error at every start.
    pub sandbox: bool,
    /// Device scale (`GDK_SCALE`) for HiDPI panels: 1 to 4, or 0 to leave it to GTK.
    pub scale: u32,
    /// Whether media may start with sound before anyone touched the screen.
    pub autoplay: Autoplay,
}

impl Default for Kiosk {
    fn default() -> Self {
        Self {
            hide_pointer: true,
            context_menu: false,
            idle_timeout_secs: 0,
            acceleration: Acceleration::Default,
            dmabuf_renderer: true,
            sandbox: true,
            scale: 0,
            autoplay: Autoplay::Muted,
        }
    }
}

impl Kiosk {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        if self.scale > 4 {
            return vec![("kiosk.scale".into(), "must be 0 (the toolkit's choice) or 1 to 4".into())];
        }
        Vec::new()
    }
}

/// `[kiosk] acceleration`: WebKit's `hardware-acceleration-policy` setting.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Acceleration {
    /// Whatever this WebKit does by default (accelerated when a GL driver works).
    #[default]
    Default,
    /// Always composite with the GPU.
    Always,
    /// Never: software rendering, for GPUs whose driver shows a blank window.
    Never,
}

impl Acceleration {
    pub fn as_str(self) -> &'static str {
        match self {
            Acceleration::Default => "default",
            Acceleration::Always => "always",
            Acceleration::Never => "never",
        }
    }
}

/// `[kiosk] autoplay`: the web views' autoplay policy (WebKit's website policies).
/// Muted media starts without a gesture either way.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Autoplay {
    /// Media with sound waits for a tap (`play()` rejects with `NotAllowedError`), as in
    /// browsers; muted media starts.
    #[default]
    Muted,
    /// Media starts with sound too: signage with a soundtrack and no one to tap.
    Allow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_strictly() {
        assert_eq!(parse_hh_mm("04:30"), Some(270));
        assert_eq!(parse_hh_mm("00:00"), Some(0));
        for bad in ["4:30", "24:00", "12:60", "noon", "12:3x", "1230"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }

    #[test]
    fn rendering_switches_parse_and_default_to_webkits_own_choice() {
        let k: Kiosk = toml::from_str("acceleration = \"never\"\ndmabuf_renderer = false").unwrap();
        assert_eq!((k.acceleration, k.dmabuf_renderer), (Acceleration::Never, false));
        let k: Kiosk = toml::from_str("").unwrap();
        assert_eq!((k.acceleration, k.dmabuf_renderer), (Acceleration::Default, true));
        let err = toml::from_str::<Kiosk>("acceleration = \"sometimes\"").unwrap_err().to_string();
        assert!(err.contains("unknown variant `sometimes`") && err.contains("`always`"), "{err}");
    }

    #[test]
    fn autoplay_is_muted_unless_allowed() {
        assert_eq!(toml::from_str::<Kiosk>("").unwrap().autoplay, Autoplay::Muted);
        assert_eq!(toml::from_str::<Kiosk>("autoplay = \"allow\"").unwrap().autoplay, Autoplay::Allow);
        let err = toml::from_str::<Kiosk>("autoplay = true").unwrap_err().to_string();
        assert!(err.contains("autoplay"), "{err}");
    }

    #[test]
    fn defaults_are_valid_and_bad_values_named() {
        assert!(Recovery::default().check().is_empty());
        let bad = Recovery { hang_timeout_ms: 10, daily_reload: Some("25:00".into()), ..Recovery::default() };
        let keys: Vec<String> = bad.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["recovery.hang_timeout_ms", "recovery.daily_reload"]);
    }
}
