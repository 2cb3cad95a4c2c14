//! The health of one surface and what to do about it: a pure state machine over
//! explicit instants, so every rule is unit-tested without WebKit.
//!
//! * A crashed web process is reloaded: the first attempt at once, later ones after an
//!   exponential backoff. Past `max_attempts` the built-in recovery page is shown and the
//!   real page is tried again every `max_backoff_ms`.
//! * A page that stops answering the core's pings for `hang_timeout_ms` (or is still
//!   loading after `load_timeout_secs`) is hung: its web process is ended, and the
//!   crash path takes over.
//! * A page that fails to load shows the built-in offline page and is retried with
//!   backoff until it loads.
//! * A page that stays up `stable_secs` has recovered: attempts count from 0 again.
//! * The watchdog is fed while no surface has been past its budget for `give_up_secs`.
//! * Time the core itself stood still (stopped, swapped out, busy on one long task)
//!   is not a page's silence: no pings went out and no beats were read. [`LoopLag`]
//!   measures how late the main loop's tick ran, and [`Health::core_lagged`] moves
//!   the page's window on by that much, so a page is only ever blamed for core time
//!   in which it could have answered.

use std::time::{Duration, Instant};

use crate::config::Recovery;

/// What the page area currently holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Showing {
    Page,
    Recovery,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Loading {
        since: Instant,
    },
    Live {
        since: Instant,
    },
    /// No usable page; the next attempt is due then.
    Waiting {
        retry_at: Instant,
    },
}

/// What the shell must do for the surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LoadPage,
    ShowRecovery,
    ShowOffline,
    /// End the web process (it hangs); the crash path follows.
    Terminate,
}

#[derive(Debug, Clone)]
pub struct Health {
    policy: Recovery,
    pub phase: Phase,
    pub showing: Showing,
    last_beat: Instant,
    /// Failed attempts since the page was last stable.
    attempts: u32,
    /// When to try the real page again while a built-in page shows.
    next_retry: Option<Instant>,
    past_budget_since: Option<Instant>,
    /// A failure happened since the page was last up.
    recovering: bool,
    pub crashes: u64,
    pub hangs: u64,
    pub load_failures: u64,
    pub recoveries: u64,
    pub last_reason: Option<String>,
}

impl Health {
    pub fn new(policy: Recovery, now: Instant) -> Self {
        Self {
            policy,
            phase: Phase::Loading { since: now },
            showing: Showing::Page,
            last_beat: now,
            attempts: 0,
            next_retry: None,
            past_budget_since: None,
            recovering: false,
            crashes: 0,
            hangs: 0,
            load_failures: 0,
            recoveries: 0,
            last_reason: None,
        }
    }

    /// The shell started loading what `action` asked for.
    pub fn loading(&mut self, showing: Showing, now: Instant) {
        self.showing = showing;
        self.phase = Phase::Loading { since: now };
        self.last_beat = now;
    }

    pub fn loaded(&mut self, now: Instant) {
        self.phase = Phase::Live { since: now };
        self.last_beat = now;
    }

    pub fn beat(&mut self, now: Instant) {
        self.last_beat = now;
    }

    /// The main loop ran `lag` later than it should have. A loop that is merely busy
    /// (late by less than a quarter of the hang timeout) still sends pings and reads
    /// beats between its tasks, so that counts as running. A longer stall is the
    /// core standing still: no ping went out and no beat was read, so the page's
    /// windows (silence, loading) start again that much later. Never past `now`: a
    /// page gets no credit for the future.
    pub fn core_lagged(&mut self, lag: Duration, now: Instant) {
        if lag < self.hang_timeout() / 4 {
            return;
        }
        self.last_beat = (self.last_beat + lag).min(now);
        if let Phase::Loading { since } = &mut self.phase {
            *since = (*since + lag).min(now);
        }
    }

    /// The web process ended (crash, kill, memory, or ended by us for a hang).
    pub fn crashed(&mut self, reason: &str, now: Instant) -> Option<Action> {
        self.crashes += 1;
        self.fail(reason, now);
        if self.attempts > self.policy.max_attempts {
            self.past_budget_since.get_or_insert(now);
            self.next_retry = Some(now + self.max_backoff());
            return Some(Action::ShowRecovery);
        }
        self.phase = Phase::Waiting { retry_at: now + self.backoff() };
        None
    }

    /// The real page could not be loaded (network, DNS, TLS, HTTP 5xx).
    pub fn load_failed(&mut self, reason: &str, now: Instant) -> Option<Action> {
        self.load_failures += 1;
        self.fail(reason, now);
        self.next_retry = Some(now + self.backoff().max(Duration::from_millis(self.policy.backoff_ms)));
        (self.showing != Showing::Offline).then_some(Action::ShowOffline)
    }

    fn fail(&mut self, reason: &str, _now: Instant) {
        self.attempts = self.attempts.saturating_add(1);
        self.recovering = true;
        self.last_reason = Some(reason.to_string());
    }

    /// Called every 100 ms or so; returns what is due.
    pub fn tick(&mut self, now: Instant) -> Option<Action> {
        match self.phase {
            Phase::Waiting { retry_at } if now >= retry_at => {
                self.phase = Phase::Loading { since: now };
                Some(Action::LoadPage)
            }
            Phase::Waiting { .. } => None,
            Phase::Loading { since } if now.duration_since(since) > self.load_timeout() => self.hung(now),
            Phase::Loading { .. } => None,
            Phase::Live { since } => {
                if now.duration_since(self.last_beat) > self.hang_timeout() {
                    return self.hung(now);
                }
                if self.showing != Showing::Page {
                    return match self.next_retry {
                        Some(at) if now >= at => {
                            self.next_retry = None;
                            Some(Action::LoadPage)
                        }
                        _ => None,
                    };
                }
                if self.recovering {
                    self.recovering = false;
                    self.recoveries += 1;
                }
                if self.attempts > 0 && now.duration_since(since) >= Duration::from_secs(self.policy.stable_secs) {
                    self.attempts = 0;
                    self.past_budget_since = None;
                }
                None
            }
        }
    }

    fn hung(&mut self, now: Instant) -> Option<Action> {
        self.hangs += 1;
        // Wait for the termination to be reported; if it never is, retry anyway.
        self.phase = Phase::Waiting { retry_at: now + self.hang_timeout() };
        Some(Action::Terminate)
    }

    /// Whether this surface lets the core tell systemd it is well.
    pub fn watchdog_ok(&self, now: Instant) -> bool {
        self.past_budget_since.is_none_or(|t| now.duration_since(t) < Duration::from_secs(self.policy.give_up_secs))
    }

    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Live { .. }) && self.showing == Showing::Page
    }

    /// Wait before attempt `self.attempts`: none for the first, then doubling.
    fn backoff(&self) -> Duration {
        let n = self.attempts.saturating_sub(2).min(30);
        let ms = if self.attempts <= 1 { 0 } else { self.policy.backoff_ms.saturating_mul(1 << n) };
        Duration::from_millis(ms.min(self.policy.max_backoff_ms))
    }

    fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.policy.max_backoff_ms)
    }

    fn hang_timeout(&self) -> Duration {
        Duration::from_millis(self.policy.hang_timeout_ms)
    }

    fn load_timeout(&self) -> Duration {
        Duration::from_secs(self.policy.load_timeout_secs)
    }
}

/// How late the main loop's periodic tick runs: the time the core itself stood still.
#[derive(Debug, Clone)]
pub struct LoopLag {
    period: Duration,
    last: Option<Instant>,
    /// The longest lateness seen, for the log.
    pub worst: Duration,
}

impl LoopLag {
    pub fn new(period: Duration) -> Self {
        Self { period, last: None, worst: Duration::ZERO }
    }

    /// The tick runs at `now`: returns how much later than one period after the last
    /// tick that is (zero when on time, or on the first tick).
    pub fn observe(&mut self, now: Instant) -> Duration {
        let lag =
            self.last.map_or(Duration::ZERO, |last| now.saturating_duration_since(last).saturating_sub(self.period));
        self.last = Some(now);
        self.worst = self.worst.max(lag);
        lag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn health(t0: Instant) -> Health {
        let policy = Recovery { max_attempts: 3, backoff_ms: 100, max_backoff_ms: 1000, ..Recovery::default() };
        let mut h = Health::new(policy, t0);
        h.loaded(t0);
        h
    }

    /// Runs ticks from `from` to `to` every 10 ms; returns the first action and when.
    fn run(h: &mut Health, from: Instant, to: Instant) -> Option<(Action, Instant)> {
        let mut t = from;
        while t <= to {
            if let Some(a) = h.tick(t) {
                return Some((a, t));
            }
            t += ms(10);
        }
        None
    }

    #[test]
    fn crashes_reload_at_once_then_back_off_then_show_recovery() {
        let t0 = Instant::now();
        let mut h = health(t0);
        let mut t = t0;
        let mut waits = Vec::new();
        for _ in 0..3 {
            assert_eq!(h.crashed("crashed", t), None);
            let (action, at) = run(&mut h, t, t + ms(5000)).unwrap();
            assert_eq!(action, Action::LoadPage);
            waits.push(at.duration_since(t).as_millis());
            h.loaded(at);
            t = at + ms(10);
        }
        assert_eq!(waits, [0, 100, 200]);
        // The fourth crash in a row is past the budget.
        assert_eq!(h.crashed("crashed", t), Some(Action::ShowRecovery));
        h.loading(Showing::Recovery, t);
        h.loaded(t);
        assert!(h.watchdog_ok(t));
        // The real page is tried again after max_backoff, while the recovery page beats.
        for i in 1..=9 {
            h.beat(t + ms(i * 100));
            assert_eq!(h.tick(t + ms(i * 100)), None);
        }
        h.beat(t + ms(1000));
        assert_eq!(h.tick(t + ms(1000)), Some(Action::LoadPage));
        assert_eq!(h.crashes, 4);
    }

    #[test]
    fn a_stable_page_resets_the_budget_and_counts_a_recovery() {
        let t0 = Instant::now();
        let mut h = health(t0);
        h.crashed("crashed", t0);
        assert_eq!(h.tick(t0), Some(Action::LoadPage));
        h.loaded(t0 + ms(50));
        let stable = t0 + ms(50) + Duration::from_secs(10);
        let mut t = t0 + ms(50);
        while t <= stable {
            h.beat(t);
            assert_eq!(h.tick(t), None);
            t += ms(100);
        }
        assert_eq!((h.recoveries, h.attempts), (1, 0));
        // The next crash reloads at once again.
        h.crashed("crashed", t);
        assert_eq!(h.tick(t), Some(Action::LoadPage));
    }

    #[test]
    fn silence_means_a_hang_and_the_process_is_ended() {
        let t0 = Instant::now();
        let mut h = health(t0);
        h.beat(t0 + ms(200));
        assert_eq!(h.tick(t0 + ms(1200)), None);
        assert_eq!(h.tick(t0 + ms(1210)), Some(Action::Terminate));
        assert_eq!(h.hangs, 1);
        // The termination arrives as a crash, which reloads.
        assert_eq!(h.crashed("terminated", t0 + ms(1220)), None);
        assert_eq!(h.tick(t0 + ms(1220)), Some(Action::LoadPage));
    }

    #[test]
    fn a_page_stuck_loading_is_a_hang_too() {
        let t0 = Instant::now();
        let policy = Recovery { load_timeout_secs: 2, ..Recovery::default() };
        let mut h = Health::new(policy, t0);
        assert_eq!(h.tick(t0 + ms(1900)), None);
        assert_eq!(h.tick(t0 + ms(2100)), Some(Action::Terminate));
    }

    #[test]
    fn load_failures_show_the_offline_page_and_retry() {
        let t0 = Instant::now();
        let mut h = Health::new(Recovery { backoff_ms: 100, ..Recovery::default() }, t0);
        assert_eq!(h.load_failed("connection refused", t0), Some(Action::ShowOffline));
        h.loading(Showing::Offline, t0);
        h.loaded(t0 + ms(20));
        let (action, at) = run(&mut h, t0 + ms(20), t0 + ms(5000)).unwrap();
        assert_eq!(action, Action::LoadPage);
        assert!(at.duration_since(t0) >= ms(100), "{:?}", at.duration_since(t0));
        h.loading(Showing::Page, at);
        // Still down: stays on the offline page without reloading it.
        assert_eq!(h.load_failed("connection refused", at), Some(Action::ShowOffline));
    }

    #[test]
    fn the_watchdog_starves_once_past_the_budget_too_long() {
        let t0 = Instant::now();
        let policy = Recovery { max_attempts: 0, give_up_secs: 5, ..Recovery::default() };
        let mut h = Health::new(policy, t0);
        assert_eq!(h.crashed("crashed", t0), Some(Action::ShowRecovery));
        assert!(h.watchdog_ok(t0 + Duration::from_secs(4)));
        assert!(!h.watchdog_ok(t0 + Duration::from_secs(6)));
    }

    #[test]
    fn a_stalled_core_does_not_blame_a_page_that_was_never_asked() {
        let t0 = Instant::now();
        let mut h = health(t0);
        let mut lag = LoopLag::new(ms(100));
        lag.observe(t0);
        h.beat(t0);
        // The core stands still for 2 s: no tick, no ping, no beat read.
        let resumed = t0 + ms(2100);
        h.core_lagged(lag.observe(resumed), resumed);
        assert_eq!(h.tick(resumed), None);
        assert_eq!(lag.worst, ms(2000));
        // Pings flow again; a page that still does not answer is hung a window later.
        assert_eq!(h.tick(resumed + ms(800)), None);
        assert_eq!(h.tick(resumed + ms(1000)), Some(Action::Terminate));
    }

    #[test]
    fn a_stall_while_loading_does_not_count_against_the_load_timeout() {
        let t0 = Instant::now();
        let mut h = Health::new(Recovery { load_timeout_secs: 2, ..Recovery::default() }, t0);
        h.core_lagged(ms(1500), t0 + ms(1600));
        assert_eq!(h.tick(t0 + ms(2100)), None);
        assert_eq!(h.tick(t0 + ms(3600)), Some(Action::Terminate));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const HANG_MS: u64 = 1000;
        const PING_MS: u64 = 250;

        /// Gaps between ticks: on time (with jitter), late, or the core standing still
        /// for up to 6 s.
        fn gaps() -> impl Strategy<Value = Vec<u64>> {
            prop::collection::vec(prop_oneof![8 => 100u64..120, 1 => 120u64..400, 1 => 400u64..6000], 10..120)
        }

        /// Drives `h` through the ticks `gaps` as the shell does: lag first, then the
        /// ping, then the decision. The page answers each ping `answer` ms later until
        /// tick `hung_at`; a beat that falls due in a gap longer than 150 ms (the core
        /// standing still) is read only after the next tick (the worst order). Returns when, and how much
        /// core running time after `hung_at`, the page was ended.
        fn drive(gaps: &[u64], answer: u64, hung_at: Option<usize>) -> (Option<(usize, Duration)>, Option<Instant>) {
            let t0 = Instant::now();
            let policy = Recovery { hang_timeout_ms: HANG_MS, ..Recovery::default() };
            let mut h = Health::new(policy, t0);
            h.loaded(t0);
            let mut lag = LoopLag::new(ms(100));
            lag.observe(t0);
            let (mut t, mut last_ping) = (t0, t0);
            let mut due: Vec<Instant> = Vec::new();
            let mut hung_since: Option<Instant> = None;
            let mut running_since_hang = Duration::ZERO;
            for (i, &gap) in gaps.iter().enumerate() {
                let next = t + ms(gap);
                let stalled = gap >= 150;
                if !stalled {
                    for b in due.iter().filter(|b| **b <= next) {
                        h.beat(*b);
                    }
                    due.retain(|b| *b > next);
                }
                t = next;
                let late = lag.observe(t);
                if hung_since.is_some() {
                    // What the core credits back is not running time.
                    let credited = if late >= ms(HANG_MS) / 4 { late } else { Duration::ZERO };
                    running_since_hang += ms(gap) - credited;
                }
                h.core_lagged(late, t);
                if hung_at == Some(i) {
                    hung_since = Some(t);
                    due.clear();
                }
                if t.duration_since(last_ping) >= ms(PING_MS) {
                    last_ping = t;
                    if hung_since.is_none() {
                        due.push(t + ms(answer));
                    }
                }
                if h.tick(t) == Some(Action::Terminate) {
                    return (Some((i, running_since_hang)), hung_since);
                }
                if stalled {
                    for _ in due.iter().filter(|b| **b <= t) {
                        h.beat(t);
                    }
                    due.retain(|b| *b > t);
                }
            }
            (None, hung_since)
        }

        proptest! {
            #[test]
            fn a_page_that_answers_is_never_ended_whatever_the_core_stalls(gaps in gaps(), answer in 0u64..200) {
                let (ended, _) = drive(&gaps, answer, None);
                prop_assert_eq!(ended, None);
            }

            #[test]
            fn a_hung_page_is_ended_within_the_timeout_of_core_running_time(
                before in gaps(), after in gaps(), answer in 0u64..200,
            ) {
                let mut gaps = before.clone();
                gaps.extend(&after);
                // Enough running time after the hang for the timeout to pass.
                gaps.extend(std::iter::repeat_n(100, 15));
                let (ended, hung_since) = drive(&gaps, answer, Some(before.len() - 1));
                prop_assert!(hung_since.is_some());
                let (at, running) = ended.expect("the hung page was never ended");
                prop_assert!(at >= before.len() - 1, "ended before it hung");
                // One tick of granularity on top of the timeout: at most a busy tick,
                // late by just under a quarter of the timeout.
                prop_assert!(running <= ms(HANG_MS + 100 + HANG_MS / 4), "ended after {:?} of running time", running);
            }
        }
    }
}
