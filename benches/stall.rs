//! How much large messages on one surface slow another surface's small calls, on the
//! real binary under Xvfb: the probe surface times 300 sequential `ipc.echo` calls
//! alone (the baseline, same run), then as many as fit in 5 s while the flooder
//! surface sends and receives 8 MiB messages back to back, four at a time. With decode and encode off the GTK thread, the
//! flood costs the probe little; on the GTK thread, each large message stalls it.
//! Page-side times (`performance.now()`, 1 ms resolution here): the medians of the
//! baseline are sub-millisecond, so compare tails (p90, max) and means.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Kiosk;

/// What the probe page reports for one phase (milliseconds).
#[derive(serde::Deserialize, serde::Serialize)]
struct Stats {
    calls: usize,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn stats(kiosk: &Kiosk, result: &str, name: &str) -> Stats {
    let line = kiosk
        .result_within(result, Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no RESULT {result}; log:\n{}", kiosk.dump()));
    let s: Stats = serde_json::from_str(&line).expect("the probe's summary");
    println!(
        "{name:<24} calls {:>5}  mean {:>6.2} ms  p50 {:>5.1} ms  p90 {:>5.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        s.calls, s.mean, s.p50, s.p90, s.p99, s.max
    );
    s
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let kiosk = Kiosk::start("bench-stall");
    kiosk.wait_ready();
    let base = stats(&kiosk, "base", "small call, alone");
    let flood = stats(&kiosk, "flood", "small call, during flood");
    let frames = kiosk.result_within("flood-frames", Duration::from_secs(20)).unwrap_or_default();
    let stalls = common::count(&kiosk.log, "main loop stood still");
    drop(kiosk);
    println!();
    println!(
        "during / alone: mean {:.1}x, p99 {:.1}x, max {:.1}x; 8 MiB messages during the probe: {frames}; \
         stalls logged: {stalls}",
        flood.mean / base.mean,
        flood.p99 / base.p99.max(1.0),
        flood.max / base.max.max(1.0)
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let json = serde_json::json!({
        "alone_ms": base,
        "during_flood_ms": flood,
        "mean_ratio": flood.mean / base.mean,
        "large_messages": frames,
        "stalls_logged": stalls,
        "load_average": std::fs::read_to_string("/proc/loadavg").ok(),
    });
    let _ = std::fs::write(out.join("stall.json"), serde_json::to_string_pretty(&json).unwrap_or_default());
}
