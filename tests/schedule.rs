//! The daily reload's schedule over simulated days: a time zone with DST changes, and
//! the clock jump of a board without a real-time clock, driven through the pure
//! schedule reading by reading.

use std::time::Duration;

use proptest::prelude::*;
use vitrine::schedule::{days_from_civil, Daily, Reading, Verdict};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A time zone one hour east of UTC, two during "summer" (`dst` = [start, end) in UTC).
#[derive(Debug, Clone, Copy)]
struct Zone {
    dst: (i64, i64),
}

impl Zone {
    fn offset(&self, utc: i64) -> i64 {
        if (self.dst.0..self.dst.1).contains(&utc) {
            2 * HOUR
        } else {
            HOUR
        }
    }
}

/// A device's clocks: one that only runs, and a wall clock that may be set.
struct Device {
    zone: Zone,
    elapsed: i64,
    utc: i64,
}

impl Device {
    fn reading(&self) -> Reading {
        let local = self.utc + self.zone.offset(self.utc);
        Reading {
            elapsed: Duration::from_secs(self.elapsed as u64),
            utc: self.utc,
            local_day: local.div_euclid(DAY),
            local_second: local.rem_euclid(DAY) as u32,
        }
    }

    fn run(&mut self, secs: i64) {
        self.elapsed += secs;
        self.utc += secs;
    }
}

/// 2026-03-29 01:00 UTC (02:00 local → 03:00) and 2026-10-25 01:00 UTC (03:00 → 02:00).
fn europe_2026() -> Zone {
    let at = |m, d| days_from_civil(2026, m, d) * DAY + HOUR;
    Zone { dst: (at(3, 29), at(10, 25)) }
}

fn local(zone: Zone, utc: i64) -> (i64, i64) {
    let l = utc + zone.offset(utc);
    (l.div_euclid(DAY), l.rem_euclid(DAY))
}

/// Runs the schedule from `utc` for `secs` in steps of `step`; the local times it fired.
fn fires(daily: &mut Daily, device: &mut Device, secs: i64, step: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let end = device.elapsed + secs;
    while device.elapsed < end {
        if daily.observe(device.reading()) == Verdict::Reload {
            out.push(local(device.zone, device.utc));
        }
        device.run(step);
    }
    out
}

#[test]
fn spring_forward_over_the_reload_time_reloads_once_when_the_clock_jumps() {
    let zone = europe_2026();
    let day = days_from_civil(2026, 3, 29);
    // 02:30 does not exist on that day: 02:00 is followed by 03:00.
    let mut daily = Daily::new(2 * 60 + 30);
    let mut device = Device { zone, elapsed: 100, utc: (day - 1) * DAY + 12 * HOUR };
    let got = fires(&mut daily, &mut device, 3 * DAY, 10);
    assert_eq!(got, [(day, 3 * HOUR), (day + 1, 2 * HOUR + 30 * 60), (day + 2, 2 * HOUR + 30 * 60)]);
}

#[test]
fn fall_back_over_the_reload_time_reloads_once() {
    let zone = europe_2026();
    let day = days_from_civil(2026, 10, 25);
    // 02:30 happens twice on that day.
    let mut daily = Daily::new(2 * 60 + 30);
    let mut device = Device { zone, elapsed: 100, utc: (day - 1) * DAY + 12 * HOUR };
    let got = fires(&mut daily, &mut device, 2 * DAY, 10);
    assert_eq!(got, [(day, 2 * HOUR + 30 * 60), (day + 1, 2 * HOUR + 30 * 60)]);
}

#[test]
fn a_board_without_a_clock_reloads_at_the_real_time_after_ntp_sets_it() {
    let zone = europe_2026();
    // Boots at the epoch, at 00:00:05 local; 04:00 is configured.
    let mut daily = Daily::new(4 * 60);
    let mut device = Device { zone, elapsed: 5, utc: 5 - HOUR };
    // Five minutes of 1970.
    assert_eq!(fires(&mut daily, &mut device, 300, 1), []);
    // NTP: it is 2026-12-05 03:58 local. The jump is a new start, not a crossing.
    let day = days_from_civil(2026, 12, 5);
    device.utc = day * DAY + 3 * HOUR + 58 * 60 - HOUR;
    assert!(matches!(daily.observe(device.reading()), Verdict::ClockSet(s) if s > 50 * 365 * DAY));
    let got = fires(&mut daily, &mut device, 2 * DAY, 1);
    assert_eq!(got, [(day, 4 * HOUR), (day + 1, 4 * HOUR)]);
}

#[test]
fn a_clock_set_past_the_reload_time_is_not_a_reload() {
    let zone = europe_2026();
    let day = days_from_civil(2026, 12, 5);
    // Boots believing it is 03:00 the day before (an image's date), NTP says 15:00.
    let mut daily = Daily::new(4 * 60);
    let mut device = Device { zone, elapsed: 5, utc: (day - 1) * DAY + 3 * HOUR - HOUR };
    assert_eq!(fires(&mut daily, &mut device, 60, 1), []);
    device.utc = day * DAY + 15 * HOUR - HOUR;
    let got = fires(&mut daily, &mut device, DAY, 5);
    assert_eq!(got, [(day + 1, 4 * HOUR)]);
}

#[test]
fn a_clock_set_back_does_not_repeat_a_reload() {
    let zone = europe_2026();
    let day = days_from_civil(2026, 12, 5);
    let mut daily = Daily::new(4 * 60);
    let mut device = Device { zone, elapsed: 5, utc: day * DAY + 3 * HOUR - HOUR };
    assert_eq!(fires(&mut daily, &mut device, 2 * HOUR, 5), [(day, 4 * HOUR)]);
    // Someone sets the clock back to 03:30 the same day: 04:00 comes again.
    device.utc = day * DAY + 3 * HOUR + 30 * 60 - HOUR;
    assert_eq!(fires(&mut daily, &mut device, 2 * HOUR, 5), []);
}

#[test]
fn starting_after_the_reload_time_waits_for_the_next_day() {
    let zone = europe_2026();
    let day = days_from_civil(2026, 12, 5);
    let mut daily = Daily::new(4 * 60);
    let mut device = Device { zone, elapsed: 5, utc: day * DAY + 15 * HOUR - HOUR };
    assert_eq!(fires(&mut daily, &mut device, DAY, 30), [(day + 1, 4 * HOUR)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the reload time, tick length, start, DST dates and one forward clock
    /// jump (from 1970, say): the schedule reloads at the first tick at or after each
    /// local day's reload time, and at no other tick — not at the start or at the
    /// jump, whose day's time, if already past, is skipped, and never twice for a day.
    #[test]
    fn reloads_at_the_first_tick_past_each_days_time(
        minute in 0u32..1440,
        step in 1i64..=120,
        start_day in 0i64..30_000,
        start_second in 0i64..DAY,
        dst_start in 0i64..(4 * DAY),
        dst_length in 0i64..(3 * DAY),
        jump in prop::option::of((0i64..(3 * DAY), (2 * 60i64)..(60 * 365 * DAY))),
    ) {
        let start = start_day * DAY + start_second;
        let zone = Zone { dst: (start + dst_start, start + dst_start + dst_length) };
        let mut device = Device { zone, elapsed: 1000, utc: start };
        let mut daily = Daily::new(minute);
        let at = i64::from(minute) * 60;
        // The latest local day whose reload time some reading has reached.
        let mut past: Option<i64> = None;
        let mut first_of_segment = true;
        let mut jumped = false;
        let mut reloads = 0;
        let mut t = 0;
        while t < 5 * DAY {
            if let Some((when, by)) = jump {
                if !jumped && t >= when {
                    jumped = true;
                    device.utc += by;
                    first_of_segment = true;
                }
            }
            let r = device.reading();
            let verdict = daily.observe(r);
            let reached = if i64::from(r.local_second) >= at { r.local_day } else { r.local_day - 1 };
            let expect = !first_of_segment && past.is_some_and(|p| reached > p);
            past = Some(past.map_or(reached, |p| p.max(reached)));
            prop_assert_eq!(
                verdict == Verdict::Reload,
                expect,
                "at tick {} (local day {}, second {}): {:?}",
                t,
                r.local_day,
                r.local_second,
                verdict
            );
            reloads += usize::from(verdict == Verdict::Reload);
            first_of_segment = false;
            device.run(step);
            t += step;
        }
        // Five days: at least three whole local days without a start or a jump in them.
        prop_assert!(reloads >= 3, "{} reloads in five days", reloads);
    }
}
