//! What a process tree takes: PSS and RSS per process from `smaps_rollup`, and the
//! memory the tree would take alone on a device.
//!
//! PSS divides each shared page among every process on the machine that maps it, so
//! here, where other WebKit processes (other kiosks, tests) may run, a kiosk's PSS
//! drops as the machine gets busier. On a device only the kiosk runs; what it takes
//! there is the number of distinct physical pages its processes map, which
//! [`alone_kib`] counts from `/proc/PID/pagemap` (page frame numbers need root).

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};

#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub name: String,
    pub pss_kib: u64,
    pub rss_kib: u64,
}

/// `pid` and every descendant that is still there, with their command names.
pub fn tree(pid: u32) -> Vec<(u32, String)> {
    let mut table = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n.to_string()).unwrap_or_default();
        let Some(ppid) = tail.split_whitespace().nth(1).and_then(|v| v.parse::<u32>().ok()) else { continue };
        table.push((p, ppid, name));
    }
    let mut out: Vec<(u32, String)> =
        table.iter().filter(|(p, _, _)| *p == pid).map(|(p, _, n)| (*p, n.clone())).collect();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].0;
        out.extend(table.iter().filter(|(_, pp, _)| *pp == parent).map(|(p, _, n)| (*p, n.clone())));
        i += 1;
    }
    out
}

/// PSS and RSS of each process of the tree.
pub fn measure(pid: u32) -> Vec<Proc> {
    tree(pid)
        .into_iter()
        .filter_map(|(pid, name)| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            let field = |key: &str| {
                text.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            Some(Proc { pid, name, pss_kib: field("Pss:"), rss_kib: field("Rss:") })
        })
        .collect()
}

/// The distinct resident pages mapped by `pids`, in KiB; `None` without page frame
/// numbers (not root).
pub fn alone_kib(pids: &[u32]) -> Option<u64> {
    let page = 4096u64;
    let mut frames: HashSet<u64> = HashSet::new();
    let mut any_frame = false;
    for pid in pids {
        let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else { continue };
        let Ok(mut pagemap) = std::fs::File::open(format!("/proc/{pid}/pagemap")) else { continue };
        let mut range: Option<(u64, u64)> = None;
        for line in smaps.lines() {
            if let Some((start, end)) = vma_range(line) {
                range = Some((start, end));
                continue;
            }
            // Only ranges with something resident: WebKit reserves gigabytes it never touches.
            let Some(rss) = line.strip_prefix("Rss:") else { continue };
            let resident = rss.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let Some((start, end)) = range.take().filter(|_| resident > 0) else { continue };
            let pages = (end - start) / page;
            let mut buf = vec![0u8; (pages * 8) as usize];
            if pagemap.seek(SeekFrom::Start(start / page * 8)).is_err() || pagemap.read_exact(&mut buf).is_err() {
                continue;
            }
            for entry in buf.chunks_exact(8) {
                let v = u64::from_le_bytes(entry.try_into().unwrap_or([0; 8]));
                if v >> 63 == 1 {
                    let frame = v & ((1 << 55) - 1);
                    any_frame |= frame != 0;
                    frames.insert(frame);
                }
            }
        }
    }
    any_frame.then(|| frames.len() as u64 * page / 1024)
}

/// `start-end perms …`: a mapping's header line in `smaps`.
fn vma_range(line: &str) -> Option<(u64, u64)> {
    let range = line.split_whitespace().next()?;
    let (a, b) = range.split_once('-')?;
    if a.is_empty() || !a.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
}

/// WebKit processes on the machine outside `mine`: what PSS is divided with.
pub fn other_webkit_processes(mine: &[u32]) -> usize {
    tree(1).iter().filter(|(p, n)| n.starts_with("WebKit") && !mine.contains(p)).count()
}
