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

struct Stats {
    mean: f64,
    p50: f64,
    p90: f64,
    max: f64,
}

fn stats(name: &str, mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    let s = Stats { mean: v.iter().sum::<f64>() / v.len() as f64, p50: at(0.5), p90: at(0.9), max: at(1.0) };
    println!(
        "{name:<24} calls {:>4}  mean {:>7.2} ms  p50 {:>6.1} ms  p90 {:>6.1} ms  max {:>7.1} ms",
        v.len(),
        s.mean,
        s.p50,
        s.p90,
        s.max
    );
    s
}

fn times(kiosk: &Kiosk, name: &str) -> Vec<f64> {
    let line = kiosk
        .result_within(name, Duration::from_secs(120))
        .unwrap_or_else(|| panic!("no RESULT {name}; log:\n{}", kiosk.dump()));
    serde_json::from_str(&line).expect("a JSON array of milliseconds")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let kiosk = Kiosk::start("bench-stall");
    kiosk.wait_ready();
    let base = stats("small call, alone", times(&kiosk, "base"));
    let flood = stats("small call, during flood", times(&kiosk, "flood"));
    let frames = kiosk.result_within("flood-frames", Duration::from_secs(20)).unwrap_or_default();
    let stalls = common::count(&kiosk.log, "main loop stood still");
    drop(kiosk);
    println!();
    println!(
        "during / alone: mean {:.1}x, p90 {:.1}x, max {:.1}x; 8 MiB messages during the probe: {frames}; \
         stalls logged: {stalls}",
        flood.mean / base.mean,
        flood.p90 / base.p90.max(1.0),
        flood.max / base.max.max(1.0)
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let json = serde_json::json!({
        "alone": { "mean_ms": base.mean, "p50_ms": base.p50, "p90_ms": base.p90, "max_ms": base.max },
        "during_flood": { "mean_ms": flood.mean, "p50_ms": flood.p50, "p90_ms": flood.p90, "max_ms": flood.max },
        "mean_ratio": flood.mean / base.mean,
        "large_messages": frames,
        "stalls_logged": stalls,
        "load_average": std::fs::read_to_string("/proc/loadavg").ok(),
    });
    let _ = std::fs::write(out.join("stall.json"), serde_json::to_string_pretty(&json).unwrap_or_default());
}
