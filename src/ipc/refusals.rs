//! Refused calls in the log, bounded: a page can make tens of thousands of refused
//! calls a second, and one line each would drown the journal (and the core's time).
//!
//! Per surface and kind of refusal (its error code), the first few refusals of a
//! window are logged in full; the rest are counted per command and logged as one
//! summary line when the window ends. A page cannot choose new kinds: there are seven
//! codes. A pure
//! type over explicit instants; the router feeds it and logs what it says.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Refusals logged in full per surface, kind and window.
pub const LOGGED_IN_FULL: usize = 5;
/// How long a window lasts, and so how often a busy surface's summary is logged.
pub const WINDOW: Duration = Duration::from_secs(5);
/// Distinct commands counted apart per window; the rest count as "other". Unknown
/// command names come from the page, so their number must not grow without bound.
const MAX_KINDS: usize = 16;
/// Longest command name kept in a summary.
const MAX_NAME: usize = 64;

/// What to do with one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it in full.
    Log,
    /// Log it in full, and say that further ones are summarized.
    LogLast,
    /// Count it for the summary only.
    Count,
}

/// Refusals counted but not logged in one surface's window of one kind, by command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub label: String,
    pub kind: String,
    pub total: u64,
    pub by_command: BTreeMap<String, u64>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut by: Vec<(&String, &u64)> = self.by_command.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = by.iter().map(|(cmd, n)| format!("{cmd} x{n}")).collect();
        write!(
            f,
            "{} more calls refused ({}) in the last {} s: {}",
            self.total,
            self.kind,
            WINDOW.as_secs(),
            parts.join(", ")
        )
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: usize,
    counted: BTreeMap<String, u64>,
    total: u64,
}

#[derive(Debug, Default)]
pub struct RefusalLog {
    /// By surface and kind.
    windows: BTreeMap<(String, String), Window>,
}

impl RefusalLog {
    /// A refusal of kind `kind` (its error code) of `command` from surface `label` at
    /// `now`.
    pub fn note(&mut self, label: &str, kind: &str, command: &str, now: Instant) -> Verdict {
        let key = (label.to_string(), kind.to_string());
        let window = self.windows.entry(key).or_insert_with(|| Window {
            started: now,
            logged: 0,
            counted: BTreeMap::new(),
            total: 0,
        });
        if window.logged < LOGGED_IN_FULL {
            window.logged += 1;
            return if window.logged == LOGGED_IN_FULL { Verdict::LogLast } else { Verdict::Log };
        }
        let key = if window.counted.contains_key(command) || window.counted.len() < MAX_KINDS {
            short(command)
        } else {
            "other".to_string()
        };
        *window.counted.entry(key).or_default() += 1;
        window.total += 1;
        Verdict::Count
    }

    /// Summaries of the windows that ended by `now` (those that counted anything);
    /// their surfaces start afresh.
    pub fn due(&mut self, now: Instant) -> Vec<Summary> {
        let ended: Vec<(String, String)> = self
            .windows
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.started) >= WINDOW)
            .map(|(key, _)| key.clone())
            .collect();
        let mut out = Vec::new();
        for key in ended {
            if let Some(w) = self.windows.remove(&key) {
                if w.total > 0 {
                    let (label, kind) = key;
                    out.push(Summary { label, kind, total: w.total, by_command: w.counted });
                }
            }
        }
        out
    }
}

fn short(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_first_few_are_logged_then_counted_then_summarized() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        let verdicts: Vec<Verdict> =
            (0..8).map(|i| log.note("main", "not_allowed", "window.hide", t0 + ms(i))).collect();
        assert_eq!(&verdicts[..5], [Verdict::Log, Verdict::Log, Verdict::Log, Verdict::Log, Verdict::LogLast]);
        assert!(verdicts[5..].iter().all(|v| *v == Verdict::Count));
        log.note("main", "not_allowed", "fs.read", t0 + ms(10));
        // Another surface, and another kind, have windows of their own.
        assert_eq!(log.note("side", "not_allowed", "window.hide", t0 + ms(10)), Verdict::Log);
        assert_eq!(log.note("main", "bad_args", "window.show", t0 + ms(10)), Verdict::Log);
        assert!(log.due(t0 + ms(4000)).is_empty());
        let due = log.due(t0 + WINDOW);
        assert_eq!(due.len(), 1, "side and bad_args counted nothing: no summary");
        assert_eq!(due[0].total, 4);
        assert_eq!(
            due[0].to_string(),
            "4 more calls refused (not_allowed) in the last 5 s: window.hide x3, fs.read x1"
        );
        // A new window logs in full again.
        assert_eq!(log.note("main", "not_allowed", "window.hide", t0 + WINDOW + ms(1)), Verdict::Log);
    }

    #[test]
    fn page_chosen_names_cannot_grow_the_counts() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        for i in 0..10_000 {
            log.note("main", "unknown_command", &format!("cmd{i}{}", "x".repeat(200)), t0);
        }
        let due = log.due(t0 + WINDOW);
        assert_eq!(due[0].by_command.len(), MAX_KINDS + 1);
        assert!(due[0].by_command.keys().all(|k| k.chars().count() <= MAX_NAME + 1));
        assert_eq!(due[0].total, 10_000 - LOGGED_IN_FULL as u64);
    }

    proptest! {
        /// Whatever the calls, nothing is lost (logged + summarized = refused) and the
        /// log lines per surface, kind and window stay at most the few plus one summary.
        #[test]
        fn nothing_is_lost_and_lines_are_bounded(
            calls in prop::collection::vec((0usize..3, 0usize..2, 0usize..4, 0u64..200), 0..2000),
        ) {
            let t0 = Instant::now();
            let mut log = RefusalLog::default();
            let mut t = t0;
            let (mut lines, mut logged, mut summarized) = (0u64, 0u64, 0u64);
            for (surface, kind, cmd, step) in &calls {
                t += ms(*step);
                for s in log.due(t) {
                    lines += 1;
                    summarized += s.total;
                }
                if log.note(&format!("s{surface}"), &format!("k{kind}"), &format!("c{cmd}"), t) != Verdict::Count {
                    lines += 1;
                    logged += 1;
                }
            }
            for s in log.due(t + WINDOW) {
                lines += 1;
                summarized += s.total;
            }
            prop_assert_eq!(logged + summarized, calls.len() as u64);
            let span = t.duration_since(t0).as_millis() as u64;
            let windows = span / WINDOW.as_millis() as u64 + 2;
            prop_assert!(lines <= 3 * 2 * windows * (LOGGED_IN_FULL as u64 + 1), "{} lines", lines);
        }
    }
}
