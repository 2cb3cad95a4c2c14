//! When the daily reload (`recovery.daily_reload = "HH:MM"`) is due.
//!
//! Computing one deadline at start from the wall clock goes wrong twice a year and on
//! every board without a real-time clock: across a DST change the deadline is an hour
//! off, and a board that boots at 1970 (or at the date of its image) and then has its
//! clock set by NTP computes the deadline from the wrong day. So the schedule is asked
//! on every tick instead, with what the clocks say now ([`Reading`]), and answers
//! whether the local wall clock has just passed the reload time:
//!
//! * it fires when the local time of day moves from before `HH:MM` to at or after it
//!   (or the local day changes past it), at most once per local day: a spring-forward
//!   that skips `HH:MM` fires when the clock jumps over it, a fall-back that repeats it
//!   fires the first time only;
//! * a jump of the wall clock that elapsed time does not explain (NTP setting the clock
//!   at boot, a person changing it) is a new starting point, never a crossing: the
//!   UTC clock is compared with a clock that only runs (`CLOCK_BOOTTIME`, which also
//!   counts suspend, so a device that slept over `HH:MM` reloads when it wakes);
//! * the first reading only starts the schedule: a kiosk started at 15:00 does not
//!   reload for the 04:00 it missed.
//!
//! Pure: readings come from the caller, so the tests drive whole days, DST changes and
//! clock jumps in microseconds ([`system_reading`] is the real clock).

use std::time::Duration;

/// A wall-clock change larger than this, beyond the elapsed time, is a jump.
pub const JUMP: Duration = Duration::from_secs(90);

/// What the clocks say at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// A clock that only runs forward (time since boot).
    pub elapsed: Duration,
    /// Seconds since the Unix epoch, UTC (the wall clock, which may be set).
    pub utc: i64,
    /// The local calendar day (days since 1970-01-01 in local time).
    pub local_day: i64,
    /// Seconds since local midnight, 0 to 86 399 (86 400 in a leap second).
    pub local_second: u32,
}

/// The daily reload's schedule.
#[derive(Debug, Clone)]
pub struct Daily {
    /// The reload time, in seconds after local midnight.
    at: u32,
    last: Option<Reading>,
    fired_on: Option<i64>,
}

/// What one reading meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Wait,
    /// Reload every surface now.
    Reload,
    /// The wall clock jumped by this many seconds (negative: back); the schedule
    /// starts again from here.
    ClockSet(i64),
}

impl Daily {
    /// A schedule for `minute` minutes after local midnight.
    pub fn new(minute: u32) -> Self {
        Self { at: minute * 60, last: None, fired_on: None }
    }

    /// Takes one reading; readings must come in the order they were taken.
    pub fn observe(&mut self, now: Reading) -> Verdict {
        let Some(last) = self.last.replace(now) else { return Verdict::Wait };
        let ran = now.elapsed.saturating_sub(last.elapsed).as_secs() as i64;
        let moved = now.utc - last.utc;
        if (moved - ran).unsigned_abs() > JUMP.as_secs() {
            return Verdict::ClockSet(moved - ran);
        }
        let crossed = if now.local_day == last.local_day {
            last.local_second < self.at && now.local_second >= self.at
        } else if now.local_day > last.local_day {
            // Past midnight: the old day's time was still ahead, or the new day's is past.
            last.local_second < self.at || now.local_second >= self.at
        } else {
            false
        };
        if !crossed {
            return Verdict::Wait;
        }
        // The day whose reload this is: the new day's once its time is reached.
        let day = if now.local_second >= self.at { now.local_day } else { last.local_day };
        if self.fired_on.is_some_and(|d| d >= day) {
            return Verdict::Wait;
        }
        self.fired_on = Some(day);
        Verdict::Reload
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What the system's clocks say now (`CLOCK_BOOTTIME`, `time`, `localtime_r`), or
/// `None` when the C library cannot say.
pub fn system_reading() -> Option<Reading> {
    // SAFETY: clock_gettime and time write only into the values passed, which live
    // across the calls; localtime_r writes only into `tm`; all-zero values are valid.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) != 0 {
            return None;
        }
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        // time_t is 32 bits on armv7's glibc: widened, not the same type everywhere.
        #[allow(clippy::useless_conversion)]
        let utc = i64::from(t);
        Some(Reading {
            elapsed: Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32),
            utc,
            local_day: days_from_civil(i64::from(tm.tm_year) + 1900, (tm.tm_mon + 1) as u32, tm.tm_mday as u32),
            local_second: (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 5), 20_792);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
