//! Turning pooled samples into the table, `ipc.json` and `ipc.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::core_cpu::CpuStat;

/// Latency statistics of one case, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub p50: f64,
    pub p99: f64,
    pub mean: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        // Nearest-rank percentiles: always a sample that was actually seen.
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Some(Stats { p50: rank(0.50), p99: rank(0.99), mean: s.iter().sum::<f64>() / s.len() as f64, n: s.len() })
    }
}

/// One line of the main table: a Vitrine case against the best raw transport.
pub struct Row {
    pub name: &'static str,
    /// `None`: Vitrine has no command for this case (see `note`).
    pub vitrine: Option<&'static str>,
    /// Raw cases that do the same work; the floor is the one with the lowest p50.
    pub floors: &'static [&'static str],
    pub target: Option<f64>,
    /// Paced cases (fan-out) have no meaningful calls/s.
    pub paced: bool,
    pub note: &'static str,
}

pub fn rows() -> Vec<Row> {
    const NONE: &str = "";
    vec![
        Row {
            name: "invoke 16 B echo (JSON; postMessage)",
            vitrine: Some("vitrine/echo-16B-json"),
            floors: &["raw/post/echo-16B-json", "raw/fetch/echo-16B-json"],
            target: Some(1.15),
            paced: false,
            note: NONE,
        },
        Row {
            name: "invoke 64 KiB echo, JSON string (fetch)",
            vitrine: Some("vitrine/echo-64KiB-json"),
            floors: &["raw/post/echo-64KiB-json", "raw/fetch/echo-64KiB-json"],
            target: None,
            paced: false,
            note: NONE,
        },
        Row {
            name: "invoke 64 KiB echo, ArrayBuffer (fetch)",
            vitrine: Some("vitrine/echo-64KiB-bytes"),
            floors: &["raw/fetch/echo-64KiB-bytes"],
            target: None,
            paced: false,
            note: NONE,
        },
        Row {
            name: "invoke 1 MiB echo, JSON string (fetch)",
            vitrine: Some("vitrine/echo-1MiB-json"),
            floors: &["raw/post/echo-1MiB-json", "raw/fetch/echo-1MiB-json"],
            target: Some(1.1),
            paced: false,
            note: NONE,
        },
        Row {
            name: "  (info) same, floor incl. fetch in + evaluate_script out",
            vitrine: Some("vitrine/echo-1MiB-json"),
            floors: &["raw/post/echo-1MiB-json", "raw/fetch/echo-1MiB-json", "raw/hybrid/echo-1MiB-json"],
            target: None,
            paced: false,
            note: "",
        },
        Row {
            name: "invoke 1 MiB echo, ArrayBuffer (fetch)",
            vitrine: Some("vitrine/echo-1MiB-bytes"),
            floors: &["raw/fetch/echo-1MiB-bytes"],
            target: Some(1.1),
            paced: false,
            note: NONE,
        },
        Row {
            name: "1 MiB upload, small reply, JSON string (ipc.sink)",
            vitrine: Some("vitrine/upload-1MiB-json"),
            floors: &["raw/post/upload-1MiB-json", "raw/fetch/upload-1MiB-json"],
            target: Some(1.1),
            paced: false,
            note: NONE,
        },
        Row {
            name: "1 MiB upload, small reply, ArrayBuffer (ipc.sink)",
            vitrine: Some("vitrine/upload-1MiB-bytes"),
            floors: &["raw/fetch/upload-1MiB-bytes"],
            target: Some(1.1),
            paced: false,
            note: NONE,
        },
        Row {
            name: "1 MiB download, small request, JSON string (ipc.blob)",
            vitrine: Some("vitrine/download-1MiB-json"),
            floors: &["raw/post/download-1MiB-json", "raw/fetch/download-1MiB-json"],
            target: None,
            paced: false,
            note: NONE,
        },
        Row {
            name: "1 MiB download, small request, ArrayBuffer (ipc.blob)",
            vitrine: Some("vitrine/download-1MiB-bytes"),
            floors: &["raw/fetch/download-1MiB-bytes", "raw/post/download-1MiB-base64"],
            target: None,
            paced: false,
            note: "a small request goes by postMessage, so the bytes come back as base64 in a script",
        },
        Row {
            name: "event fan-out to 3 surfaces, until the 3rd ack",
            vitrine: Some("vitrine/fanout-3"),
            floors: &["raw/eval/fanout-1"],
            target: Some(1.3),
            paced: true,
            note: "floor: one evaluate_script to one bare webview, acked by postMessage",
        },
        Row {
            name: "  (info) same, floor = bare fan-out to 3 webviews",
            vitrine: Some("vitrine/fanout-3"),
            floors: &["raw/eval/fanout-3", "raw/callfn/fanout-3"],
            target: None,
            paced: true,
            note: "",
        },
        Row {
            name: "  (info) same, floor = bare fan-out to 3, acks answered",
            vitrine: Some("vitrine/fanout-3"),
            floors: &["raw/eval/fanout-3-acked"],
            target: None,
            paced: true,
            note: "",
        },
    ]
}

/// What a raw case does, for the tables.
fn about(id: &str) -> &'static str {
    match id {
        "raw/eval/fanout-3-acked" => "as fanout-3, and every ack answered with a script (as an invoke is)",
        i if i.starts_with("raw/eval/fanout") => "evaluate_script into k webviews, each acks by postMessage",
        "raw/callfn/fanout-3" => "as fanout, by call_async_javascript_function (fixed body, data as args)",
        i if i.starts_with("raw/callfn/") => "postMessage in, call_async_javascript_function out (fixed body)",
        i if i.starts_with("raw/hybrid/") => "fetch POST in, evaluate_script out (empty HTTP response)",
        "raw/post/download-1MiB-base64" => "postMessage in, evaluate_script with base64 + Uint8Array.fromBase64",
        i if i.starts_with("raw/post/") => "postMessage in, evaluate_script(\"__reply(<JSON>)\") out",
        i if i.starts_with("raw/fetch/") => "fetch POST in, custom-protocol response out",
        _ => "",
    }
}

pub struct Report {
    pub stats: BTreeMap<String, Stats>,
    /// The p50 of each child run (round), in run order.
    pub round_p50: BTreeMap<String, Vec<f64>>,
    pub lost: BTreeMap<String, usize>,
    pub cpu: Vec<CpuStat>,
    pub rounds: usize,
}

fn fmt_ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 1.0 => format!("{v:.3}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

struct Line<'a> {
    row: &'a Row,
    vitrine: Option<Stats>,
    floor: Option<(&'static str, Stats)>,
    /// Vitrine's p50 over the best floor's p50 within each round.
    round_ratios: Vec<f64>,
}

impl Line<'_> {
    fn ratio_range(&self) -> Option<(f64, f64)> {
        let min = self.round_ratios.iter().copied().reduce(f64::min)?;
        let max = self.round_ratios.iter().copied().reduce(f64::max)?;
        Some((min, max))
    }

    /// The median of the per-round ratios (the pooled one without rounds).
    fn ratio(&self) -> Option<f64> {
        let mut r = self.round_ratios.clone();
        if r.is_empty() {
            return self.pooled_ratio();
        }
        r.sort_by(f64::total_cmp);
        let n = r.len();
        Some(if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 })
    }

    /// Vitrine's p50 over the floor's, all rounds' samples pooled.
    fn pooled_ratio(&self) -> Option<f64> {
        Some(self.vitrine?.p50 / self.floor?.1.p50)
    }

    fn meets(&self) -> Option<bool> {
        Some(self.ratio()? <= self.row.target?)
    }
}

impl Report {
    fn lines<'a>(&self, rows: &'a [Row]) -> Vec<Line<'a>> {
        rows.iter()
            .map(|row| {
                let vitrine = row.vitrine.and_then(|id| self.stats.get(id).copied());
                let floor = row
                    .floors
                    .iter()
                    .filter_map(|id| self.stats.get(*id).map(|s| (*id, *s)))
                    .min_by(|a, b| a.1.p50.total_cmp(&b.1.p50));
                let rounds = |id: &str| self.round_p50.get(id).cloned().unwrap_or_default();
                let mut round_ratios = Vec::new();
                if let Some(v) = row.vitrine.map(rounds) {
                    for (r, vp50) in v.iter().enumerate() {
                        let best = row.floors.iter().filter_map(|id| rounds(id).get(r).copied()).reduce(f64::min);
                        if let Some(best) = best {
                            round_ratios.push(vp50 / best);
                        }
                    }
                }
                Line { row, vitrine, floor, round_ratios }
            })
            .collect()
    }

    /// The tables for stdout.
    pub fn table(&self) -> String {
        let rows = rows();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nVitrine invoke vs the best bare-wry transport (p50/p99 over {} child runs; ms per round trip)\n",
            self.rounds
        );
        let _ = writeln!(
            out,
            "{:<58} {:>8} {:>8} {:>8} {:>9} {:>6} {:>11} {:>11}  floor transport",
            "case", "p50 ms", "p99 ms", "calls/s", "floor p50", "ratio", "per round", "target"
        );
        for line in self.lines(&rows) {
            let calls = match (line.vitrine, line.row.paced) {
                (Some(s), false) => format!("{:.0}", 1e3 / s.mean),
                _ => "-".into(),
            };
            let target = match (line.row.target, line.meets()) {
                (Some(t), Some(true)) => format!("{t:.2} ok"),
                (Some(t), Some(false)) => format!("{t:.2} MISS"),
                (Some(t), None) => format!("{t:.2} n/a"),
                (None, _) => "-".into(),
            };
            let range = line.ratio_range().map_or("-".into(), |(lo, hi)| format!("{lo:.2}-{hi:.2}"));
            let _ = writeln!(
                out,
                "{:<58} {:>8} {:>8} {:>8} {:>9} {:>6} {:>11} {:>11}  {}",
                line.row.name,
                fmt_ms(line.vitrine.map(|s| s.p50)),
                fmt_ms(line.vitrine.map(|s| s.p99)),
                calls,
                fmt_ms(line.floor.map(|f| f.1.p50)),
                line.ratio().map_or("-".into(), |r| format!("{r:.2}")),
                range,
                target,
                line.floor.map_or("-", |f| f.0),
            );
        }
        let notes: Vec<&Row> = rows.iter().filter(|r| !r.note.is_empty()).collect();
        if !notes.is_empty() {
            let _ = writeln!(out);
            for r in notes {
                let _ = writeln!(out, "  {}: {}", r.name.trim(), r.note);
            }
        }

        let _ = writeln!(out, "\nBare wry transports (the floors)\n");
        let _ = writeln!(out, "{:<34} {:>8} {:>8} {:>8} {:>6}  how", "raw case", "p50 ms", "p99 ms", "calls/s", "n");
        for (id, s) in self.stats.iter().filter(|(id, _)| id.starts_with("raw/")) {
            let calls = if id.contains("fanout") { "-".into() } else { format!("{:.0}", 1e3 / s.mean) };
            let (p50, p99) = (fmt_ms(Some(s.p50)), fmt_ms(Some(s.p99)));
            let _ = writeln!(out, "{id:<34} {p50:>8} {p99:>8} {calls:>8} {:>6}  {}", s.n, about(id));
        }
        let lost: Vec<String> = self.lost.iter().filter(|(_, n)| **n > 0).map(|(id, n)| format!("{id}: {n}")).collect();
        if !lost.is_empty() {
            let _ = writeln!(out, "\nfan-out rounds without every ack before the next round: {}", lost.join(", "));
        }

        let _ = writeln!(out, "\nThe core's own CPU per call (in-process router, stub host; no WebKit)\n");
        let _ = writeln!(out, "{:<58} {:>9} {:>9} {:>7}", "work", "p50 us", "mean us", "iters");
        for c in &self.cpu {
            let _ = writeln!(out, "{:<58} {:>9.1} {:>9.1} {:>7}", c.name, c.p50_us, c.mean_us, c.iters);
        }
        out
    }

    pub fn json(&self, machine: Value) -> Value {
        let rows = rows();
        let cases: Vec<Value> = self
            .lines(&rows)
            .iter()
            .map(|l| {
                json!({
                    "name": l.row.name.trim(),
                    "vitrine_case": l.row.vitrine,
                    "p50_ms": l.vitrine.map(|s| s.p50),
                    "p99_ms": l.vitrine.map(|s| s.p99),
                    "calls_per_s": l.vitrine.filter(|_| !l.row.paced).map(|s| 1e3 / s.mean),
                    "samples": l.vitrine.map(|s| s.n),
                    "floor_p50_ms": l.floor.map(|f| f.1.p50),
                    "floor_case": l.floor.map(|f| f.0),
                    "ratio": l.ratio(),
                    "ratio_pooled": l.pooled_ratio(),
                    "ratio_per_round": l.round_ratios,
                    "target_ratio": l.row.target,
                    "meets_target": l.meets(),
                    "note": l.row.note,
                })
            })
            .collect();
        let raw: Vec<Value> = self
            .stats
            .iter()
            .filter(|(id, _)| id.starts_with("raw/"))
            .map(|(id, s)| {
                json!({
                    "name": id,
                    "about": about(id),
                    "p50_ms": s.p50,
                    "p99_ms": s.p99,
                    "mean_ms": s.mean,
                    "p50_ms_per_round": self.round_p50.get(id),
                    "samples": s.n,
                })
            })
            .collect();
        let cpu: Vec<Value> = self
            .cpu
            .iter()
            .map(|c| json!({"name": c.name.trim(), "p50_us": c.p50_us, "mean_us": c.mean_us, "iters": c.iters}))
            .collect();
        json!({
            "method": "round trips timed on the Rust side: gaps between consecutive call arrivals of a \
                       sequential page loop (fan-out: emit arrival to the last ack); warm-up dropped",
            "rounds": self.rounds,
            "machine": machine,
            "cases": cases,
            "raw": raw,
            "core_cpu": cpu,
        })
    }

    /// A dot plot on a log scale: per case the Vitrine p50 (bar), its p99 (whisker) and
    /// the floor's p50 (black tick), with the ratio against the target on the right.
    pub fn svg(&self) -> String {
        let rows = rows();
        let lines = self.lines(&rows);
        let (left, plot_w, right, top, row_h) = (400.0, 520.0, 150.0, 64.0, 34.0);
        let height = top + row_h * lines.len() as f64 + 30.0;
        let width = left + plot_w + right;
        let (lo, hi) = (0.05_f64.log10(), 50.0_f64.log10());
        let x = |ms: f64| left + (ms.clamp(0.05, 50.0).log10() - lo) / (hi - lo) * plot_w;
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="12" y="22" font-size="15" font-weight="bold">Vitrine IPC round trips vs the bare-wry floor (p50, log scale)</text>"#
        );
        let _ = writeln!(
            s,
            r##"<text x="12" y="42" fill="#555">bar: Vitrine p50 - whisker: to p99 - black tick: best raw transport p50 - right: ratio (target)</text>"##
        );
        for tick in [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
            let tx = x(tick);
            let bottom = top + row_h * lines.len() as f64;
            let _ = writeln!(s, r##"<line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{bottom}" stroke="#e3e3e3"/>"##);
            let _ = writeln!(
                s,
                r##"<text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{tick} ms</text>"##,
                bottom + 16.0
            );
        }
        for (i, l) in lines.iter().enumerate() {
            let y = top + row_h * i as f64;
            let mid = y + row_h / 2.0;
            if i % 2 == 1 {
                let _ = writeln!(
                    s,
                    r##"<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f6f6f6" fill-opacity="0.6"/>"##
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 8.0,
                mid + 4.0,
                esc(l.row.name.trim())
            );
            match l.vitrine {
                Some(v) => {
                    let (x0, x50, x99) = (x(0.05), x(v.p50), x(v.p99));
                    let _ = writeln!(
                        s,
                        r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="12" fill="#4a7bd0"/>"##,
                        mid - 6.0,
                        x50 - x0
                    );
                    let _ = writeln!(
                        s,
                        r##"<line x1="{x50:.1}" y1="{mid:.1}" x2="{x99:.1}" y2="{mid:.1}" stroke="#4a7bd0" stroke-width="2"/>"##
                    );
                    let _ = writeln!(
                        s,
                        r##"<line x1="{x99:.1}" y1="{:.1}" x2="{x99:.1}" y2="{:.1}" stroke="#4a7bd0" stroke-width="2"/>"##,
                        mid - 5.0,
                        mid + 5.0
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" fill="#999">no Vitrine command</text>"##,
                        x(0.05) + 4.0,
                        mid + 4.0
                    );
                }
            }
            if let Some((_, f)) = l.floor {
                let fx = x(f.p50);
                let _ = writeln!(
                    s,
                    r##"<line x1="{fx:.1}" y1="{:.1}" x2="{fx:.1}" y2="{:.1}" stroke="#000" stroke-width="3"/>"##,
                    mid - 10.0,
                    mid + 10.0
                );
            }
            let (label, color) = match (l.ratio(), l.row.target, l.meets()) {
                (Some(r), Some(t), Some(true)) => (format!("{r:.2}x (<= {t:.2})"), "#1a7f37"),
                (Some(r), Some(t), _) => (format!("{r:.2}x (> {t:.2})"), "#c62828"),
                (Some(r), None, _) => (format!("{r:.2}x"), "#333"),
                (None, _, _) => ("-".to_string(), "#999"),
            };
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" fill="{color}">{}</text>"#,
                left + plot_w + 10.0,
                mid + 4.0,
                esc(&label)
            );
        }
        let _ = writeln!(s, "</svg>");
        s
    }
}
