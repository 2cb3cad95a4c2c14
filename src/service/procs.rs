//! The core's view of WebKit's helper processes, read from `/proc`.
//!
//! WebKitGTK does not say which web process serves which webview, but it starts a
//! surface's process synchronously when the surface loads after having none; so the
//! shell compares the set of child web processes before and after such a load.

use std::collections::BTreeSet;

/// `comm` of WebKit's web content processes (the kernel cuts names at 15 bytes).
pub const WEB_PROCESS: &str = "WebKitWebProces";
/// `comm` of WebKit's network process.
pub const NETWORK_PROCESS: &str = "WebKitNetworkPr";

/// Children of `parent` whose command name is `comm`.
pub fn children(parent: u32, comm: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((name, state, ppid)) = parse_stat(&stat) {
            // A killed process stays a zombie until reaped: it is gone for our purposes.
            if ppid == parent && name == comm && state != 'Z' && state != 'X' {
                out.insert(pid);
            }
        }
    }
    out
}

/// The web processes started by this process. In WebKit's sandbox each runs under
/// bubblewrap (core → bwrap → bwrap as the namespace's init → web process), so they are
/// found among all descendants. A sandbox still setting up (a young `bwrap` of ours with
/// no WebKit process under it, not even a dead one) is waited for, briefly, so that a
/// surface that has just started its process finds it.
pub fn web_processes() -> BTreeSet<u32> {
    let me = std::process::id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        let table = table();
        let now = uptime_ticks();
        let starting = table.iter().any(|(pid, p)| {
            p.ppid == me
                && p.name == "bwrap"
                && now.saturating_sub(p.started) < 2 * ticks_per_second()
                && !descendants_in(&table, *pid)
                    .iter()
                    .any(|d| table.get(d).is_some_and(|c| c.name.starts_with("WebKit")))
        });
        if !starting || std::time::Instant::now() >= deadline {
            return descendants_in(&table, me)
                .into_iter()
                .filter(|p| table.get(p).is_some_and(|c| c.name == WEB_PROCESS && c.alive))
                .collect();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

struct Proc {
    name: String,
    ppid: u32,
    alive: bool,
    /// Start time, in clock ticks after boot.
    started: u64,
}

/// Every process, zombies included (a web process that has just died still marks its
/// sandbox as one that is ending, not starting).
fn table() -> std::collections::BTreeMap<u32, Proc> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        if let Some((name, state, ppid)) = parse_stat(&stat) {
            // Field 22, the start time; 20 fields after the name's closing parenthesis.
            let started = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(19)?.parse().ok());
            let alive = state != 'Z' && state != 'X';
            out.insert(pid, Proc { name: name.to_string(), ppid, alive, started: started.unwrap_or(0) });
        }
    }
    out
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a constant of the system.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100)
}

/// Time since boot in clock ticks, as process start times count it.
fn uptime_ticks() -> u64 {
    let secs: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    (secs * ticks_per_second() as f64) as u64
}

fn descendants_in(table: &std::collections::BTreeMap<u32, Proc>, root: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (child, c) in table {
            if c.ppid == p && out.insert(*child) {
                frontier.push(*child);
            }
        }
    }
    out
}

/// `(comm, state, ppid)` from the text of `/proc/PID/stat`. The name may hold spaces
/// and parentheses, so it ends at the last `)`.
fn parse_stat(stat: &str) -> Option<(&str, char, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, state, ppid))
}

/// Resident set size in KiB, if the process exists.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s).map(|(_, state, _)| state != 'Z' && state != 'X'))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        assert_eq!(parse_stat("42 (WebKitWebProces) S 7 42 42 0"), Some(("WebKitWebProces", 'S', 7)));
        assert_eq!(parse_stat("43 (a) b (c)) Z 9 1"), Some(("a) b (c)", 'Z', 9)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn finds_its_own_children() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = children(std::process::id(), "sleep");
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
