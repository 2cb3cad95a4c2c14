//! The weekly schedule: whether the screen should be on at an instant, and the changes a
//! running kiosk acts on. Pure logic; the clock and the time zone are passed in.
//!
//! Spans are written in local wall-clock time and turned into instants day by day in the
//! zone's rules, so a DST change moves them with the clock: a time that does not exist
//! (spring forward) happens when the clock would have shown it, a time that happens
//! twice (fall back) happens the first time. A span whose `off` is not after its `on`
//! runs past midnight into the next day.
//!
//! The kiosk acts on changes of the scheduled state, not on timers: it evaluates the
//! schedule every second, so a clock that jumps (a board without a real-time clock
//! that syncs a minute after boot) is followed at the next evaluation, and nothing
//! waits for an instant computed from the wrong time. Until the clock can be trusted
//! the schedule turns nothing off.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::config::display::{parse_time, Span as SpanConfig};

/// The earliest instant a trusted clock can show: a board that booted without a
/// real-time clock starts in 1970, or at its last shutdown, until time sync.
pub const PLAUSIBLE_AFTER_SECS: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// Bit `i` set: the span starts on weekday `i` (Monday 0).
    days: u8,
    on: u16,
    off: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    spans: Vec<Span>,
}

impl Schedule {
    /// From the configuration, which `config::display` has checked; a span it would
    /// refuse is left out.
    pub fn new(spans: &[SpanConfig]) -> Self {
        let spans = spans
            .iter()
            .filter_map(|s| {
                let days = s.days.iter().fold(0u8, |m, d| m | 1 << d.index());
                let (on, off) = (parse_time(&s.on)?, parse_time(&s.off)?);
                (on < 24 * 60 && on != off && days != 0).then_some(Span { days, on, off })
            })
            .collect();
        Self { spans }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether the screen is scheduled on at `now` in `tz`. Without spans: always.
    pub fn wants_on(&self, now: Timestamp, tz: &TimeZone) -> bool {
        if self.spans.is_empty() {
            return true;
        }
        let today = now.to_zoned_datetime(tz.clone()).date();
        // A span that started yesterday may run past midnight into today.
        let days = [today.yesterday().ok(), Some(today)];
        days.into_iter().flatten().any(|day| {
            let weekday = day.weekday().to_monday_zero_offset();
            self.spans.iter().filter(|s| s.days & (1 << weekday) != 0).any(|s| {
                let end_day = if s.off <= s.on { day.tomorrow().ok() } else { Some(day) };
                let (Some(start), Some(end)) = (instant(day, s.on, tz), end_day.and_then(|d| instant(d, s.off, tz)))
                else {
                    return false;
                };
                start <= now && now < end
            })
        })
    }
}

/// The instant the wall clock in `tz` shows `minutes` after midnight on `day` (24:00 is
/// the next midnight); a time in a gap is taken after it, one in a fold the first time.
fn instant(day: Date, minutes: u16, tz: &TimeZone) -> Option<Timestamp> {
    let (day, minutes) = if minutes >= 24 * 60 { (day.tomorrow().ok()?, minutes - 24 * 60) } else { (day, minutes) };
    let at: DateTime = day.at(i8::try_from(minutes / 60).ok()?, i8::try_from(minutes % 60).ok()?, 0, 0);
    tz.to_ambiguous_zoned_datetime(at).compatible().ok().map(|z| z.timestamp())
}

/// Whether a clock reading can be acted on: it is after [`PLAUSIBLE_AFTER_SECS`] and
/// the system says it is synchronized (or keeps it in a real-time clock).
pub fn clock_trusted(now: Timestamp, synchronized: bool) -> bool {
    synchronized && now.as_second() >= PLAUSIBLE_AFTER_SECS
}

/// Follows the schedule for a running kiosk: reports each change of the scheduled
/// state once, so that the screen turned on by hand in a scheduled-off time stays on
/// until the schedule changes again.
#[derive(Debug, Clone)]
pub struct Planner {
    schedule: Schedule,
    last: Option<bool>,
}

impl Planner {
    pub fn new(schedule: Schedule) -> Self {
        Self { schedule, last: None }
    }

    /// `Some(on)` when the scheduled state differs from the last one acted on (and at
    /// the first trusted reading, when it is off); `None` otherwise, and always while
    /// the clock is not trusted.
    pub fn tick(&mut self, now: Timestamp, tz: &TimeZone, trusted: bool) -> Option<bool> {
        if self.schedule.is_empty() || !trusted {
            return None;
        }
        let want = self.schedule.wants_on(now, tz);
        let previous = self.last.replace(want);
        match previous {
            // The screen starts on; only an off state needs acting on at first.
            None => (!want).then_some(false),
            Some(p) if p != want => Some(want),
            Some(_) => None,
        }
    }

    /// The scheduled state last seen (`None` before a trusted reading or without spans).
    pub fn scheduled(&self) -> Option<bool> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::display::Weekday::{self, *};

    fn span(days: &[Weekday], on: &str, off: &str) -> SpanConfig {
        SpanConfig { days: days.to_vec(), on: on.into(), off: off.into() }
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("the tz database (package tzdata)")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_span_past_midnight_belongs_to_the_day_it_starts() {
        // Friday 22:00 to Saturday 02:00; 2026-03-06 is a Friday.
        let s = Schedule::new(&[span(&[Fri], "22:00", "02:00")]);
        let tz = TimeZone::UTC;
        assert!(!s.wants_on(at("2026-03-06T21:59:59Z"), &tz));
        assert!(s.wants_on(at("2026-03-06T22:00:00Z"), &tz));
        assert!(s.wants_on(at("2026-03-07T01:59:59Z"), &tz));
        assert!(!s.wants_on(at("2026-03-07T02:00:00Z"), &tz));
        // No span starts on Saturday: Saturday night to Sunday stays off.
        assert!(!s.wants_on(at("2026-03-08T01:00:00Z"), &tz));
        assert!(!s.wants_on(at("2026-03-05T23:00:00Z"), &tz), "Thursday");
    }

    #[test]
    fn spans_follow_the_clock_across_dst_changes() {
        let tz = berlin();
        // Spring forward on Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST.
        let s = Schedule::new(&[span(&[Sat, Sun], "07:00", "20:00")]);
        assert!(!s.wants_on(at("2026-03-29T04:59:00Z"), &tz), "06:59 CEST");
        assert!(s.wants_on(at("2026-03-29T05:00:00Z"), &tz), "07:00 CEST is 05:00 UTC");
        assert!(s.wants_on(at("2026-03-28T06:00:00Z"), &tz), "07:00 CET, the day before, is 06:00 UTC");
        assert!(!s.wants_on(at("2026-03-28T05:59:00Z"), &tz));
        assert!(!s.wants_on(at("2026-03-29T18:00:00Z"), &tz), "20:00 CEST");
        // An off time inside the gap happens when the clock would have shown it.
        let gap = Schedule::new(&[span(&[Sat], "22:00", "02:30")]);
        assert!(gap.wants_on(at("2026-03-29T00:59:00Z"), &tz), "01:59 CET");
        assert!(gap.wants_on(at("2026-03-29T01:20:00Z"), &tz), "03:20 CEST");
        assert!(!gap.wants_on(at("2026-03-29T01:30:00Z"), &tz), "03:30 CEST");
    }

    #[test]
    fn a_time_that_happens_twice_switches_only_the_first_time() {
        let tz = berlin();
        // Fall back on Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET.
        let mut p = Planner::new(Schedule::new(&[span(&[Sat], "20:00", "02:30")]));
        let mut changes = Vec::new();
        let mut t = at("2026-10-24T17:00:00Z");
        while t < at("2026-10-25T06:00:00Z") {
            if let Some(on) = p.tick(t, &tz, true) {
                changes.push((t, on));
            }
            t = t.checked_add(jiff::SignedDuration::from_secs(60)).expect("in range");
        }
        // Off at first (17:00 UTC is 19:00 CEST), on at 20:00 CEST, off once at the
        // first 02:30 (00:30 UTC), and not again at 02:30 CET.
        let want = [
            (at("2026-10-24T17:00:00Z"), false),
            (at("2026-10-24T18:00:00Z"), true),
            (at("2026-10-25T00:30:00Z"), false),
        ];
        assert_eq!(changes, want);
    }

    #[test]
    fn a_clock_jump_at_boot_is_followed_and_an_untrusted_clock_turns_nothing_off() {
        let tz = TimeZone::UTC;
        let mut p = Planner::new(Schedule::new(&[span(&[Mon, Tue, Wed, Thu, Fri], "07:00", "19:00")]));
        // A board without a real-time clock boots in 1970 (a Thursday night) and in a
        // fake-hwclock's stale time: neither turns the screen off.
        let boot = Timestamp::UNIX_EPOCH;
        assert!(!clock_trusted(boot, true));
        assert_eq!(p.tick(boot, &tz, clock_trusted(boot, true)), None);
        let stale = at("2026-03-07T23:00:00Z");
        assert_eq!(p.tick(stale, &tz, clock_trusted(stale, false)), None);
        // Time sync: Monday 10:00, scheduled on; the screen is on already.
        let synced = at("2026-03-09T10:00:00Z");
        assert_eq!(p.tick(synced, &tz, clock_trusted(synced, true)), None);
        assert_eq!(p.scheduled(), Some(true));
        // The clock jumps past the off time (a correction of hours): acted on at once.
        assert_eq!(p.tick(at("2026-03-09T20:00:00Z"), &tz, true), Some(false));
        // And back before it (a wrong correction undone).
        assert_eq!(p.tick(at("2026-03-09T12:00:00Z"), &tz, true), Some(true));
        assert_eq!(p.tick(at("2026-03-09T12:00:01Z"), &tz, true), None);
    }

    #[test]
    fn a_schedule_that_starts_off_turns_the_screen_off_once() {
        let tz = TimeZone::UTC;
        let mut p = Planner::new(Schedule::new(&[span(&[Mon], "07:00", "19:00")]));
        assert_eq!(p.tick(at("2026-03-09T20:00:00Z"), &tz, true), Some(false));
        assert_eq!(p.tick(at("2026-03-09T21:00:00Z"), &tz, true), None);
        assert_eq!(Planner::new(Schedule::default()).tick(at("2026-03-09T20:00:00Z"), &tz, true), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// The reference: minute by minute of the week, in UTC (no DST).
        fn naive(spans: &[(u8, u16, u16)], minute_of_week: u32) -> bool {
            let (day, m) = (minute_of_week / 1440, (minute_of_week % 1440) as u16);
            spans.iter().any(|&(days, on, off)| {
                let today = days & (1 << day) != 0;
                let yesterday = days & (1 << ((day + 6) % 7)) != 0;
                if on < off {
                    today && on <= m && m < off
                } else {
                    (today && m >= on) || (yesterday && m < off)
                }
            })
        }

        fn hhmm(m: u16) -> String {
            format!("{:02}:{:02}", m / 60, m % 60)
        }

        proptest! {
            #[test]
            fn in_utc_the_schedule_is_minute_arithmetic(
                spans in proptest::collection::vec((1u8..128, 0u16..1440, 0u16..1440), 1..4),
                minute in 0u32..7 * 1440,
            ) {
                let spans: Vec<(u8, u16, u16)> = spans.into_iter().filter(|(_, on, off)| on != off).collect();
                // Without spans the screen is always on, which the reference does not model.
                prop_assume!(!spans.is_empty());
                let config: Vec<SpanConfig> = spans.iter().map(|&(days, on, off)| {
                    let days = [Mon, Tue, Wed, Thu, Fri, Sat, Sun].into_iter().filter(|d| days & (1 << d.index()) != 0).collect();
                    SpanConfig { days, on: hhmm(on), off: hhmm(off) }
                }).collect();
                // 2026-03-09 is a Monday.
                let t = at("2026-03-09T00:00:00Z").checked_add(jiff::SignedDuration::from_secs(i64::from(minute) * 60)).expect("in range");
                prop_assert_eq!(Schedule::new(&config).wants_on(t, &TimeZone::UTC), naive(&spans, minute));
            }

            #[test]
            fn the_planner_reports_each_change_once_in_any_zone(
                on in 0u16..1440, off in 0u16..1440, days in 1u8..128,
                zone in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
                start in 0i64..365 * 86_400, steps in proptest::collection::vec(1i64..7_200, 1..200),
            ) {
                prop_assume!(on != off);
                let days: Vec<Weekday> = [Mon, Tue, Wed, Thu, Fri, Sat, Sun].into_iter().filter(|d| days & (1 << d.index()) != 0).collect();
                let schedule = Schedule::new(&[SpanConfig { days, on: hhmm(on), off: hhmm(off) }]);
                let tz = TimeZone::get(zone).expect("zone");
                let mut p = Planner::new(schedule.clone());
                let mut t = at("2026-01-01T00:00:00Z").checked_add(jiff::SignedDuration::from_secs(start)).expect("in range");
                let mut state = true;
                for step in steps {
                    if let Some(on) = p.tick(t, &tz, true) {
                        prop_assert_ne!(on, state, "a change is a change");
                        state = on;
                    }
                    prop_assert_eq!(state, schedule.wants_on(t, &tz));
                    t = t.checked_add(jiff::SignedDuration::from_secs(step)).expect("in range");
                }
            }
        }
    }
}
