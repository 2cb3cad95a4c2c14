//! IPC benchmark: Vitrine's `invoke` against the bare wry transports it is built on,
//! measured in the same run on the same display.
//!
//! `cargo bench --bench ipc` needs no display: it starts its own `Xvfb`, prints a table,
//! and writes `ipc.json` and `ipc.svg` to `<target dir>/bench/`.
//!
//! # Method
//!
//! * **Processes.** tao's event loop never returns and only one may exist per process,
//!   so every measurement runs in a child process of this binary (`--child raw`,
//!   `--child vitrine DIR`) on the parent's Xvfb. A child prints its raw samples as
//!   `SAMPLES {json}` lines and exits; the parent pools them over `IPC_BENCH_ROUNDS`
//!   (default 8) pairs of raw and Vitrine runs, interleaved (raw first in even rounds,
//!   Vitrine first in odd ones), so slow drift of the machine hits both.
//! * **Timing on the Rust side.** WebKitGTK's `performance.now()` has 1 ms resolution
//!   here, so the page only runs a tight sequential loop (`for (…) await call()`), and the
//!   Rust side stamps `Instant::now()` as each call arrives: the gap between consecutive
//!   arrivals is exactly one full round trip (reply delivery, promise resolution, the
//!   next call's send). Warm-up iterations are dropped. Vitrine is stamped by the
//!   `RunOptions::observer`, which the router calls on the main thread for every call
//!   before any check; the raw handlers stamp on entry. Where in the handler the stamp
//!   is taken does not matter: the offset is the same for every call of a case.
//! * **Vitrine side** ([`kiosk`]): `vitrine::run` on `benches/ipc/kiosk` (a main page and
//!   three listener overlays), every call through `window.vitrine`. Between cases the
//!   page invokes `app.info`; `window.list` means done.
//! * **Floor** ([`raw`]): a tao window with the same webview layout on one shared
//!   `WebContext`, an IPC handler (postMessage in, `evaluate_script` out) and an
//!   asynchronous custom protocol (fetch POST in, HTTP response out) that only stamp
//!   and echo. The page loop (`benches/ipc/kiosk/ui/common.js`) is the very same file.
//!   The raw child also prices designs Vitrine could adopt (fetch in + `evaluate_script`
//!   out, `call_async_javascript_function`, base64 + `Uint8Array.fromBase64` replies,
//!   fan-out acks that are answered like invokes); they appear in the raw table only.
//! * **Fan-out.** The main page emits to three listeners, each acks with an invoke; the
//!   sample is the emit's arrival to the third ack's arrival. Its floor is one
//!   `evaluate_script` into one bare webview whose page acks by postMessage, timed from
//!   the handler that evaluates it to the ack. Rounds are paced (`FANOUT_PACE_MS`).
//! * **The core's share** ([`core_cpu`]): the router's work per call, timed in-process
//!   with a stub host, to tell the core's overhead from the bridge's and WebKit's.
//!
//! The ratio of a case is the median over the rounds of Vitrine's p50 over the lowest
//! p50 among the raw transports that do the same work in the same round: each pair ran
//! back to back, so a load that comes and goes cancels out of each round's ratio. The
//! pooled ratio (p50 of all samples over p50 of all samples) is reported beside it.
//!
//! Knobs: `IPC_BENCH_ROUNDS=N` (child runs per side), `IPC_BENCH_SCALE=F` (loop lengths
//! times F), `IPC_BENCH_ONLY=a,b` (only cases whose id contains a or b).

// A bench target's root is like a mod.rs: its modules would be looked up in benches/.
#[path = "ipc/core_cpu.rs"]
mod core_cpu;
#[path = "ipc/kiosk.rs"]
mod kiosk;
#[path = "ipc/plan.rs"]
mod plan;
#[path = "ipc/raw.rs"]
mod raw;
#[path = "ipc/report.rs"]
mod report;

#[path = "support/child.rs"]
mod child;
#[path = "support/common.rs"]
mod common;
#[path = "support/xvfb.rs"]
mod xvfb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use common::{load_average, target_dir};
use serde_json::{json, Value};
use xvfb::Xvfb;

/// Child runs per side: enough pairs that the median of the per-round ratios holds on
/// a loaded machine (measured with 3: 1.36x on a loaded machine against 1.08x quiet).
const DEFAULT_ROUNDS: usize = 8;

/// Longest a child may take; a healthy one needs well under a minute.
const CHILD_TIMEOUT: Duration = Duration::from_secs(240);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench` (and any filter); only `--child` changes the role.
    if let Some(at) = args.iter().position(|a| a == "--child") {
        match (args.get(at + 1).map(String::as_str), args.get(at + 2)) {
            (Some("raw"), _) => raw::run(),
            (Some("vitrine"), Some(dir)) => kiosk::run(PathBuf::from(dir)),
            _ => {
                eprintln!("usage: ipc --child raw | --child vitrine CONFIG_DIR");
                return ExitCode::FAILURE;
            }
        }
    }
    match parent() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one child to completion and returns its `SAMPLES` lines.
fn run_child(kind: &str, kiosk_dir: &Path, display: &str, work: &Path, round: usize) -> Result<Vec<String>, String> {
    let home = work.join(format!("home-{kind}-{round}"));
    let log = work.join(format!("{kind}-{round}.log"));
    let mut args = vec![std::ffi::OsStr::new(kind)];
    if kind == "vitrine" {
        args.push(kiosk_dir.as_os_str());
    }
    let mut cmd = child::command(&args, display, &home, &log)?;
    cmd.env("STATE_DIRECTORY", home.join("state"));
    child::samples(cmd, &format!("{kind} child"), "ipc", &log, CHILD_TIMEOUT)
}

fn machine(load_before: Option<f64>, load_after: Option<f64>) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let webkit = Command::new("pkg-config")
        .args(["--modversion", "webkit2gtk-4.1"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu": cpu,
        "webkit2gtk": webkit,
        "display": "Xvfb 1280x800x24",
        "load_average_before": load_before,
        "load_average_after": load_after,
    })
}

fn parent() -> Result<(), String> {
    let rounds = match std::env::var("IPC_BENCH_ROUNDS") {
        Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or(format!("IPC_BENCH_ROUNDS={v}: not a count"))?,
        Err(_) => DEFAULT_ROUNDS,
    };
    let work = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let kiosk_dir = work.path().join("kiosk");
    kiosk::write_folder(&kiosk_dir).map_err(|e| format!("cannot write the bench kiosk: {e}"))?;
    vitrine::check(&kiosk_dir).map_err(|e| format!("the bench kiosk does not validate:\n{e}"))?;

    let started = Instant::now();
    let load_before = load_average();
    let cpus = std::thread::available_parallelism().map(|n| n.get() as f64).unwrap_or(1.0);
    if load_before.is_some_and(|l| l > cpus * 0.5) {
        eprintln!(
            "ipc bench: load average {:.1} on {cpus} CPUs before starting: other work competes, expect noisy ratios",
            load_before.unwrap_or_default()
        );
    }
    // Samples per case, one list per round: pooled for the percentiles, per round for
    // the spread of the ratio (raw and Vitrine of one round ran back to back).
    let mut per_round: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    let mut lost: BTreeMap<String, usize> = BTreeMap::new();
    {
        let xvfb = Xvfb::start()?;
        eprintln!("ipc bench: Xvfb on {}, {rounds} rounds", xvfb.display);
        for round in 0..rounds {
            // Interleaved: raw first in even rounds, Vitrine first in odd ones, so that a
            // load that rises or falls during the run hits both sides alike.
            let order = if round % 2 == 0 { ["raw", "vitrine"] } else { ["vitrine", "raw"] };
            for kind in order {
                let empty = if kind == "raw" { plan::raw_cases() } else { plan::vitrine_cases() }.is_empty();
                if empty {
                    continue;
                }
                let t = Instant::now();
                let lines = run_child(kind, &kiosk_dir, &xvfb.display, work.path(), round)?;
                for line in &lines {
                    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad SAMPLES line {line}: {e}"))?;
                    let id = v["case"].as_str().unwrap_or_default().to_string();
                    let ms =
                        v["ms"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
                    per_round.entry(id.clone()).or_default().push(ms);
                    *lost.entry(id).or_default() += v["lost"].as_u64().unwrap_or(0) as usize;
                }
                eprintln!(
                    "ipc bench: round {}/{rounds} {kind}: {} cases in {:.1} s",
                    round + 1,
                    lines.len(),
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    let cpu = core_cpu::measure(&kiosk_dir)?;

    let mut stats = BTreeMap::new();
    let mut round_p50 = BTreeMap::new();
    for (id, rounds) in &per_round {
        if let Some(s) = report::Stats::of(&rounds.concat()) {
            stats.insert(id.clone(), s);
        }
        let p50s = rounds.iter().filter_map(|ms| report::Stats::of(ms).map(|s| s.p50)).collect::<Vec<f64>>();
        round_p50.insert(id.clone(), p50s);
    }
    let report = report::Report { stats, round_p50, lost, cpu, rounds };
    println!("{}", report.table());

    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let json_path = out.join("ipc.json");
    let text =
        serde_json::to_string_pretty(&report.json(machine(load_before, load_average()))).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    let svg_path = out.join("ipc.svg");
    std::fs::write(&svg_path, report.svg()).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!("wrote {} and {} ({:.0} s)", json_path.display(), svg_path.display(), started.elapsed().as_secs_f64());
    Ok(())
}
