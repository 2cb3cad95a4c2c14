//! The cases, shared by the parent and both children, and the one way arrival stamps
//! become samples.
//!
//! The Rust plan is the single source of truth: the children hand it to their pages as
//! `plan.js`, so a page can never run cases in another order than the one the samples
//! are split by.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Listener surfaces (Vitrine overlays, bare webviews) for the fan-out cases.
pub const LISTENERS: [&str; 3] = ["fan-a", "fan-b", "fan-c"];

/// Pause between fan-out rounds, so that every round starts from an idle system and
/// the three acks of one round cannot mix with the next emit.
pub const FANOUT_PACE_MS: u64 = 10;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// One measured loop: `n` sequential calls of `op` in the page, the first `warmup`
/// samples dropped.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: &'static str,
    /// What the page does per call; the page scripts know each op by this name.
    pub op: &'static str,
    /// Payload size (for JSON: the length of the JSON text).
    pub bytes: usize,
    pub n: usize,
    pub warmup: usize,
    /// Fan-out only: how many listeners each round reaches.
    pub listeners: usize,
    /// Raw fan-out only: how the listeners are reached (see `raw_cases`).
    pub variant: &'static str,
}

impl Case {
    pub fn is_fanout(&self) -> bool {
        self.listeners > 0
    }
}

/// `IPC_BENCH_SCALE=F` multiplies every loop's length: below 1 to work on the bench
/// itself (the numbers are then too noisy to quote), above 1 to profile a case.
fn scale(n: usize) -> usize {
    let factor = std::env::var("IPC_BENCH_SCALE").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(1.0);
    ((n as f64 * factor).round() as usize).max(20)
}

/// `IPC_BENCH_ONLY=a,b` keeps the cases whose id contains one of the comma-separated
/// parts (both children read the same variable, so their plans still agree).
fn selected(cases: Vec<Case>) -> Vec<Case> {
    match std::env::var("IPC_BENCH_ONLY") {
        Ok(only) if !only.trim().is_empty() => {
            cases.into_iter().filter(|c| only.split(',').any(|part| c.id.contains(part.trim()))).collect()
        }
        _ => cases,
    }
}

fn case(id: &'static str, op: &'static str, bytes: usize) -> Case {
    // Enough samples for a stable median and a meaningful p99 in a few seconds each.
    let (n, warmup) = match bytes {
        b if b >= MIB => (110, 10),
        b if b >= 64 * KIB => (300, 50),
        _ => (550, 50),
    };
    Case { id, op, bytes, n: scale(n), warmup: scale(warmup).min(warmup), listeners: 0, variant: "" }
}

fn fanout(id: &'static str, listeners: usize, variant: &'static str) -> Case {
    Case { id, op: "fanout", bytes: 0, n: scale(280), warmup: 30.min(scale(30)), listeners, variant }
}

/// What the Vitrine page runs, in order.
pub fn vitrine_cases() -> Vec<Case> {
    selected(vec![
        case("vitrine/echo-16B-json", "echo-json", 16),
        case("vitrine/echo-64KiB-json", "echo-json", 64 * KIB),
        case("vitrine/echo-64KiB-bytes", "echo-bytes", 64 * KIB),
        case("vitrine/echo-1MiB-json", "echo-json", MIB),
        case("vitrine/echo-1MiB-bytes", "echo-bytes", MIB),
        case("vitrine/upload-1MiB-json", "sink-json", MIB),
        case("vitrine/upload-1MiB-bytes", "sink-bytes", MIB),
        case("vitrine/download-1MiB-json", "download-json", MIB),
        case("vitrine/download-1MiB-bytes", "download-bytes", MIB),
        fanout("vitrine/fanout-3", 3, ""),
    ])
}

/// What the bare-wry page runs, in order.
pub fn raw_cases() -> Vec<Case> {
    selected(vec![
        case("raw/post/echo-16B-json", "post-echo-json", 16),
        case("raw/fetch/echo-16B-json", "fetch-echo-json", 16),
        case("raw/post/echo-64KiB-json", "post-echo-json", 64 * KIB),
        case("raw/fetch/echo-64KiB-json", "fetch-echo-json", 64 * KIB),
        case("raw/fetch/echo-64KiB-bytes", "fetch-echo-bytes", 64 * KIB),
        case("raw/post/echo-1MiB-json", "post-echo-json", MIB),
        case("raw/fetch/echo-1MiB-json", "fetch-echo-json", MIB),
        case("raw/fetch/echo-1MiB-bytes", "fetch-echo-bytes", MIB),
        case("raw/post/upload-1MiB-json", "post-sink-json", MIB),
        case("raw/fetch/upload-1MiB-json", "fetch-sink-json", MIB),
        case("raw/fetch/upload-1MiB-bytes", "fetch-sink-bytes", MIB),
        case("raw/post/download-1MiB-json", "post-download-json", MIB),
        case("raw/fetch/download-1MiB-json", "fetch-download-json", MIB),
        case("raw/fetch/download-1MiB-bytes", "fetch-download-bytes", MIB),
        fanout("raw/eval/fanout-1", 1, ""),
        fanout("raw/eval/fanout-3", 3, ""),
        case("raw/callfn/echo-16B-json", "post-echo-json-callfn", 16),
        case("raw/callfn/echo-1MiB-json", "post-echo-json-callfn", MIB),
        case("raw/hybrid/echo-1MiB-json", "fetch-eval-echo-json", MIB),
        case("raw/callfn/download-1MiB-json", "post-download-json-callfn", MIB),
        case("raw/post/download-1MiB-base64", "post-download-b64", MIB),
        fanout("raw/callfn/fanout-3", 3, "callfn"),
        fanout("raw/eval/fanout-3-acked", 3, "acked"),
    ])
}

/// The size every download case returns.
pub const DOWNLOAD_BYTES: usize = MIB;

/// `plan.js` for a page: `const PLAN = {…};`.
pub fn plan_js(cases: &[Case]) -> String {
    let cases: Vec<Value> = cases
        .iter()
        .map(|c| json!({"id": c.id, "op": c.op, "bytes": c.bytes, "n": c.n, "listeners": c.listeners, "variant": c.variant}))
        .collect();
    let plan = json!({"cases": cases, "listeners": LISTENERS, "pace_ms": FANOUT_PACE_MS});
    format!("// Written by benches/ipc.rs for this run.\nconst PLAN = {plan};\n")
}

/// What a child saw, in arrival order, stamped on the Rust side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    /// The page is about to start the next case.
    Marker,
    /// A measured call from the bench page (for fan-out: the start of a round).
    Call,
    /// A fan-out listener's acknowledgement.
    Ack(usize),
}

/// The samples of one case from one child run.
#[derive(Debug, Clone)]
pub struct CaseSamples {
    pub id: String,
    pub ms: Vec<f64>,
    /// Fan-out rounds that did not see every ack before the next round began.
    pub lost: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Splits the stamps at the markers (everything before the first marker is start-up)
/// and turns each case's stamps into samples: for a sequential loop the gap between
/// consecutive calls is one full round trip; for fan-out, the time from a round's
/// start to its last ack.
pub fn samples(cases: &[Case], events: &[(Instant, Ev)]) -> Result<Vec<CaseSamples>, String> {
    let mut segments: Vec<Vec<(Instant, Ev)>> = Vec::new();
    for &(t, ev) in events {
        match (ev, segments.last_mut()) {
            (Ev::Marker, _) => segments.push(Vec::new()),
            (_, Some(seg)) => seg.push((t, ev)),
            (_, None) => {}
        }
    }
    if segments.len() != cases.len() {
        return Err(format!("the page ran {} cases, the plan has {}", segments.len(), cases.len()));
    }
    let mut out = Vec::new();
    for (c, seg) in cases.iter().zip(&segments) {
        let calls: Vec<usize> = seg.iter().enumerate().filter(|(_, (_, e))| *e == Ev::Call).map(|(i, _)| i).collect();
        if calls.len() != c.n {
            return Err(format!("{}: {} calls arrived, the page sent {}", c.id, calls.len(), c.n));
        }
        let (ms_all, lost) = if c.is_fanout() {
            let mut rounds = Vec::new();
            let mut lost = 0;
            for (k, &start) in calls.iter().enumerate() {
                let end = calls.get(k + 1).copied().unwrap_or(seg.len());
                let mut seen = vec![false; LISTENERS.len()];
                let mut last = None;
                for &(t, e) in &seg[start + 1..end] {
                    if let Ev::Ack(i) = e {
                        if let Some(s) = seen.get_mut(i) {
                            *s = true;
                            last = Some(t);
                        }
                    }
                }
                match last {
                    Some(t) if seen.iter().filter(|s| **s).count() == c.listeners => {
                        rounds.push(ms(t - seg[start].0));
                    }
                    _ => lost += 1,
                }
            }
            (rounds, lost)
        } else {
            (calls.windows(2).map(|w| ms(seg[w[1]].0 - seg[w[0]].0)).collect(), 0)
        };
        let ms = ms_all.into_iter().skip(c.warmup).collect();
        out.push(CaseSamples { id: c.id.to_string(), ms, lost });
    }
    Ok(out)
}

/// Prints the samples for the parent (one `SAMPLES` JSON line per case, then `DONE`)
/// and ends the child. Called from inside the event loop, which never returns.
pub fn finish(cases: &[Case], events: &[(Instant, Ev)]) -> ! {
    use std::io::Write;
    match samples(cases, events) {
        Ok(all) => {
            let mut out = std::io::stdout().lock();
            for s in all {
                let line = json!({"case": s.id, "ms": s.ms, "lost": s.lost});
                let _ = writeln!(out, "SAMPLES {line}");
            }
            let _ = writeln!(out, "DONE");
            let _ = out.flush();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("ipc bench child: {e}");
            std::process::exit(1)
        }
    }
}
