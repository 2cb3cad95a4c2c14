//! Keeping the surfaces alive: crashes, hangs, load failures, memory, the idle
//! timeout, the daily reload, and the systemd watchdog that all of it feeds.
//!
//! The decisions are [`Health`]'s (pure, unit-tested); this file carries them out on
//! the webviews. A tick every 100 ms pings each page (every 250 ms), asks each surface's
//! health what is due, and checks memory every 2 s. It also measures how late it runs:
//! that is time the core itself stood still, which no page is blamed for.

use std::time::{Duration, Instant};

use webkit2gtk::WebViewExt as _;
use wry::WebViewExtUnix;

use crate::config::policy::parse_hh_mm;
use crate::ipc::script;
use crate::service::{notify, procs};
use crate::shell::assets::{builtin_url, certificate_url, BUILTIN_PREFIX};
use crate::shell::health::{Action, LoopLag, Showing};
use crate::shell::webdata::CERTIFICATE_REASON;
use crate::shell::Shell;

pub const TICK: Duration = Duration::from_millis(100);
const PING_EVERY: Duration = Duration::from_millis(250);
const MEMORY_EVERY: Duration = Duration::from_secs(2);
/// A tick this late is worth a line in the log (at most one per `LAG_LOG_EVERY`).
const LAG_WORTH_LOGGING: Duration = Duration::from_millis(250);
const LAG_LOG_EVERY: Duration = Duration::from_secs(10);

/// What a URL shows, from the core's point of view.
pub fn showing_of(url: &str) -> Showing {
    let builtin = url.strip_prefix("app://localhost/").and_then(|p| p.strip_prefix(BUILTIN_PREFIX));
    match builtin {
        Some(p) if p.starts_with("recovery.html") => Showing::Recovery,
        // The certificate page is retried like the offline page.
        Some(p) if p.starts_with("offline.html") || p.starts_with("certificate.html") => Showing::Offline,
        _ => Showing::Page,
    }
}

/// State of the timers that are not per surface.
pub struct Timers {
    last_memory_check: Instant,
    daily_reload: Option<crate::schedule::Daily>,
    status: String,
    starving: bool,
    lag: LoopLag,
    lag_logged: Option<Instant>,
}

impl Timers {
    pub fn new(daily_reload: Option<&str>, now: Instant) -> Self {
        Self {
            last_memory_check: now,
            daily_reload: daily_reload.and_then(parse_hh_mm).map(crate::schedule::Daily::new),
            status: String::new(),
            starving: false,
            lag: LoopLag::new(TICK),
            lag_logged: None,
        }
    }
}

impl Shell {
    pub(crate) fn on_crashed(&mut self, label: &str, reason: &'static str) {
        let now = Instant::now();
        self.router.surface_reset(label);
        self.surfaces.forget_queued(label);
        let Some(s) = self.surfaces.get_mut(label) else { return };
        s.documents.ended();
        self.sync_token(label);
        let Some(s) = self.surfaces.get_mut(label) else { return };
        let reason = s.exit_reason.take().unwrap_or(reason);
        // A first crash reloads at once, not at the next tick.
        let action = s.health.crashed(reason, now).or_else(|| s.health.tick(now));
        let pid = s.pid.take();
        s.ended_pid = pid;
        let crashes = s.health.crashes;
        // Every surface of a shared process hears of its end and reloads on its own;
        // each says which others went with it.
        let with = self.surfaces.sharing(label, pid);
        let with = if with.is_empty() {
            String::new()
        } else {
            format!("; it was shared with {}, which reload too", with.join(", "))
        };
        log::warn!(
            surface = label, reason = reason;
            "web process {} ended ({reason}); crash {crashes} of this surface, recovering{with}",
            pid.map_or("?".to_string(), |p| p.to_string()),
        );
        if let Some(action) = action {
            self.perform(label, action);
        }
        self.update_status();
    }

    pub(crate) fn on_load_failed(&mut self, label: &str, url: &str, reason: &str) {
        if showing_of(url) != Showing::Page {
            return;
        }
        if label == self.main_label {
            self.release_held("the main page failed to load");
        }
        let Some(s) = self.surfaces.get_mut(label) else { return };
        log::warn!(surface = label, reason = reason; "cannot load {url}: {reason}");
        // What failed is what is retried (and named on the certificate page), also when
        // it was a navigation away from a page that had loaded.
        s.page_url = url.to_string();
        if let Some(action) = s.health.load_failed(reason, Instant::now()) {
            self.perform(label, action);
        }
        self.update_status();
    }

    /// Keeps track of page loads for health and for the web process's pid.
    pub(crate) fn track_load(&mut self, label: &str, finished: bool, url: &str) {
        let now = Instant::now();
        let Some(s) = self.surfaces.get_mut(label) else { return };
        // Recovery loaded it already.
        s.unhold();
        if finished {
            s.health.loaded(now);
        } else {
            let showing = showing_of(url);
            s.health.loading(showing, now);
            if showing == Showing::Page {
                s.page_url = url.to_string();
            }
        }
        // A new web process may serve the page (after a crash, or a cross-site swap).
        if s.pid.is_none_or(|p| !procs::alive(p)) {
            self.surfaces.find_pid(label, None);
        }
    }

    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        let late = self.timers.lag.observe(now);
        self.log_lag(late, now);
        let mut due = Vec::new();
        for s in self.surfaces.iter_mut() {
            // Before any decision: the time the core stood still is not the page's.
            s.health.core_lagged(late, now);
            // A page that may not call (being replaced, or gone) could not answer.
            let callable = s.documents.accepted_token().is_some();
            if callable && now.duration_since(s.last_ping) >= PING_EVERY {
                s.last_ping = now;
                if let Err(e) = s.webview.evaluate_script(&script::ping()) {
                    log::debug!("ping failed: {e}");
                }
            }
            if let Some(action) = s.health.tick(now) {
                due.push((s.config.label.clone(), action));
            }
        }
        for (label, action) in due {
            self.perform(&label, action);
        }
        if now.duration_since(self.timers.last_memory_check) >= MEMORY_EVERY {
            self.timers.last_memory_check = now;
            self.check_memory();
        }
        self.check_idle(now);
        self.check_daily_reload();
        self.router.tick(now);
        self.update_status();
        // Properties, crash and recovery signals for the D-Bus control interface.
        self.publish();
    }

    fn log_lag(&mut self, late: Duration, now: Instant) {
        if late < LAG_WORTH_LOGGING || self.timers.lag_logged.is_some_and(|t| now.duration_since(t) < LAG_LOG_EVERY) {
            return;
        }
        self.timers.lag_logged = Some(now);
        log::warn!(
            "the core's main loop stood still for {} ms (longest so far {} ms); no page is blamed for that time",
            late.as_millis(),
            self.timers.lag.worst.as_millis()
        );
    }

    fn perform(&mut self, label: &str, action: Action) {
        let Some(s) = self.surfaces.get_mut(label) else { return };
        let reason = s.health.last_reason.clone().unwrap_or_default();
        let (url, showing) = match action {
            Action::Terminate => {
                log::warn!(surface = label; "page unresponsive; ending its web process");
                s.exit_reason.get_or_insert("unresponsive");
                s.webview.webview().terminate_web_process();
                return;
            }
            Action::LoadPage => (s.page_url.clone(), Showing::Page),
            Action::ShowRecovery => (builtin_url("recovery.html", label, &reason), Showing::Recovery),
            Action::ShowOffline => match reason.strip_prefix(CERTIFICATE_REASON) {
                Some(problem) => (certificate_url(label, &s.page_url, problem), Showing::Offline),
                None => (builtin_url("offline.html", label, &reason), Showing::Offline),
            },
        };
        if showing == Showing::Recovery {
            log::error!(surface = label; "recovery budget spent; showing the recovery page and retrying in the background");
        }
        s.health.loading(showing, Instant::now());
        // A surface without a web process gets a new one while the load starts.
        let before = s.pid.is_none().then(procs::web_processes);
        if let Err(e) = s.webview.load_url(&url) {
            log::error!(surface = label; "cannot load {url}: {e}");
        }
        if let Some(before) = before {
            self.surfaces.find_pid(label, Some(&before));
        }
        self.router.surface_reset(label);
        self.surfaces.forget_queued(label);
    }

    fn check_memory(&mut self) {
        let limit_kib = self.recovery.memory_limit_mb * 1024;
        if limit_kib == 0 {
            return;
        }
        for s in self.surfaces.iter_mut() {
            let Some(rss) = s.pid.and_then(procs::rss_kib) else { continue };
            if rss > limit_kib && s.exit_reason.is_none() {
                log::warn!(
                    surface = s.config.label.as_str();
                    "web process uses {} MiB, over the limit of {} MiB; reloading",
                    rss / 1024,
                    limit_kib / 1024
                );
                s.exit_reason = Some("memory limit");
                s.webview.webview().terminate_web_process();
            }
        }
    }

    fn check_idle(&mut self, now: Instant) {
        let timeout = self.kiosk.idle_timeout_secs;
        if timeout == 0 || now.duration_since(self.surfaces.last_activity) < Duration::from_secs(timeout) {
            return;
        }
        self.surfaces.last_activity = now;
        let main = self.main_label.clone();
        let home = self.home_url.clone();
        let Some(s) = self.surfaces.get_mut(&main) else { return };
        if s.url != home && s.health.is_up() {
            log::info!(surface = main.as_str(); "idle for {timeout} s; back to {home}");
            s.page_url = home.clone();
            if let Err(e) = s.webview.load_url(&home) {
                log::error!("cannot load {home}: {e}");
            }
        }
    }

    /// Asked every tick, with the clocks as they are now: see [`crate::schedule`] for
    /// why a deadline computed once goes wrong.
    fn check_daily_reload(&mut self) {
        let Some(daily) = self.timers.daily_reload.as_mut() else { return };
        let Some(reading) = crate::schedule::system_reading() else { return };
        match daily.observe(reading) {
            crate::schedule::Verdict::Wait => {}
            crate::schedule::Verdict::ClockSet(by) => {
                log::info!("the wall clock was set ({by:+} s); the daily reload follows the new time");
            }
            crate::schedule::Verdict::Reload => {
                log::info!("daily reload of every surface");
                let labels: Vec<String> = self.surfaces.iter().map(|s| s.config.label.clone()).collect();
                for label in labels {
                    self.perform(&label, Action::LoadPage);
                }
            }
        }
    }

    /// Whether systemd should hear that all is well.
    pub(crate) fn watchdog_tick(&mut self) {
        let now = Instant::now();
        let stuck: Vec<&str> =
            self.surfaces.iter().filter(|s| !s.health.watchdog_ok(now)).map(|s| s.config.label.as_str()).collect();
        if stuck.is_empty() {
            self.timers.starving = false;
            notify::watchdog();
        } else if !self.timers.starving {
            self.timers.starving = true;
            log::error!("surfaces {stuck:?} cannot be recovered; no longer feeding the watchdog");
        }
    }

    fn update_status(&mut self) {
        let up = self.surfaces.iter().filter(|s| s.health.is_up()).count();
        let crashes: u64 = self.surfaces.iter().map(|s| s.health.crashes).sum();
        let hangs: u64 = self.surfaces.iter().map(|s| s.health.hangs).sum();
        let recovering: Vec<&str> =
            self.surfaces.iter().filter(|s| !s.health.is_up()).map(|s| s.config.label.as_str()).collect();
        let mut status = format!("{up}/{} surfaces up, {crashes} crashes, {hangs} hangs", self.surfaces.len());
        if !recovering.is_empty() {
            status.push_str(&format!("; waiting for {}", recovering.join(", ")));
        }
        // Off on purpose is said, so that nobody reading the status takes it for a fault.
        if let Some(why) = self.power.try_borrow().ok().filter(|p| !p.is_on()).map(|p| p.off_reason()) {
            status.push_str(&format!("; screen off on purpose ({why})"));
        }
        if status != self.timers.status && self.ready {
            notify::status(&status);
            self.timers.status = status;
        }
    }
}
