//! Where the core's share of a round trip goes: the router's own work per call, timed
//! in-process with a stand-in [`Host`] (no GTK, no WebKit), on the bench kiosk's real
//! configuration. The bare-wry floor does none of this work, so against the measured
//! round trips these numbers say how much of Vitrine's overhead is the core and how much
//! is the bridge script and WebKit.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use vitrine::ipc::protocol::{decode, decode_args};
use vitrine::ipc::{
    register_builtins, Authority, Broadcast, CallKey, CallResult, Caller, Host, IpcError, Payload, ReplySink,
};
use vitrine::ipc::{HttpCall, HttpReply, Router, SurfaceInfo};

use crate::plan::LISTENERS;

/// One in-process measurement, in microseconds per call.
#[derive(Debug, Clone)]
pub struct CpuStat {
    pub name: &'static str,
    pub p50_us: f64,
    pub mean_us: f64,
    pub iters: usize,
}

struct Stub {
    surfaces: Vec<SurfaceInfo>,
    /// Bytes handed to "WebKit", so that the scripts are not optimized away.
    evaluated: usize,
}

impl Host for Stub {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        self.surfaces.clone()
    }

    fn set_visible(&mut self, _: &str, _: bool) -> Result<(), IpcError> {
        Ok(())
    }

    fn eval(&mut self, _: &str, script: String) {
        self.evaluated += black_box(script).len();
    }
    fn document(&self, _: &str) -> u64 {
        1
    }
}

struct NoSink;

impl ReplySink for NoSink {
    fn send(&self, _: CallKey, _: CallResult) {}
    fn broadcast(&self, _: Broadcast) {}
}

fn stat(name: &'static str, mut us: Vec<f64>) -> CpuStat {
    let iters = us.len();
    let mean_us = us.iter().sum::<f64>() / iters.max(1) as f64;
    us.sort_by(f64::total_cmp);
    CpuStat { name, p50_us: us.get(iters / 2).copied().unwrap_or(f64::NAN), mean_us, iters }
}

/// Times `run` on a fresh `setup()` value `iters` times; only `run` is timed.
fn time<S, T>(name: &'static str, iters: usize, mut setup: impl FnMut() -> S, mut run: impl FnMut(S) -> T) -> CpuStat {
    let mut us = Vec::with_capacity(iters);
    for _ in 0..iters {
        let input = setup();
        let t = Instant::now();
        black_box(run(input));
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    stat(name, us)
}

fn text(bytes: usize) -> String {
    let unit = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
    unit.repeat(bytes / unit.len() + 1)[..bytes.saturating_sub(2)].to_string()
}

/// What the shell's `fetch::to_response` does with a result: the body bytes.
fn response_body(reply: HttpReply) -> Vec<u8> {
    match reply {
        HttpReply::Body(Ok(Payload::Json(v))) => serde_json::to_vec(&v).unwrap_or_default(),
        HttpReply::Body(Ok(Payload::Bytes(b))) => b,
        HttpReply::Body(Err(e)) => serde_json::to_vec(&e).unwrap_or_default(),
        HttpReply::Settled => Vec::new(),
    }
}

/// Nesting depth of a parsed value. serde_json itself refuses more than 128 levels, so
/// this recursion is bounded; it visits containers only, so a long string costs nothing.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

const TOKEN: &str = "00112233445566778899aabbccddeeff";
const MAIN_URL: &str = "app://localhost/bench.html";
const LISTENER_URL: &str = "app://localhost/listener.html";

pub fn measure(kiosk_dir: &Path) -> Result<Vec<CpuStat>, String> {
    // As the kiosk runs: with the allocator tuned for large messages.
    vitrine::service::alloc::tune();
    let bundle = vitrine::check(kiosk_dir).map_err(|e| format!("bench kiosk folder: {e}"))?;
    let labels: Vec<String> = bundle.manifest.surfaces().map(|s| s.label.clone()).collect();
    let limits = bundle.manifest.limits;
    let authority = Authority::new(labels.iter().map(String::as_str), &bundle.capabilities);
    let mut router = Router::new(bundle.manifest.clone(), authority, Arc::new(NoSink));
    register_builtins(&mut router);
    for label in &labels {
        router.set_token(label, TOKEN.to_string());
    }
    let surfaces = labels
        .iter()
        .map(|l| SurfaceInfo {
            label: l.clone(),
            url: if l == "main" { MAIN_URL } else { LISTENER_URL }.to_string(),
            visible: true,
            overlay: l != "main",
        })
        .collect();
    let mut host = Stub { surfaces, evaluated: 0 };
    let main = Caller { label: "main", url: MAIN_URL };
    let answered = Arc::new(AtomicUsize::new(0));
    let mut out = Vec::new();

    let frame = |id: u64, cmd: &str, args: &str| {
        format!("{TOKEN}{{\"id\":{id},\"kind\":\"invoke\",\"cmd\":\"{cmd}\",\"args\":{args}}}")
    };
    let small = serde_json::to_string(&text(16)).unwrap_or_default();
    let small_frame = frame(1, "ipc.echo", &small);
    out.push(time(
        "16 B echo: postMessage frame -> reply script",
        20_000,
        || (),
        |()| router.handle_message(&mut host, main, &small_frame),
    ));
    out.push(time(
        "  of which: protocol::decode of the frame",
        20_000,
        || (),
        |()| decode(&small_frame[TOKEN.len()..], &limits).is_ok(),
    ));

    let mut http = |name: &'static str, iters: usize, cmd: &'static str, binary: bool, body: Vec<u8>| {
        let answered = Arc::clone(&answered);
        time(
            name,
            iters,
            || body.clone(),
            |body| {
                let answered = Arc::clone(&answered);
                let reply_to = Box::new(move |reply: HttpReply| {
                    answered.fetch_add(black_box(response_body(reply)).len().min(1), Ordering::Relaxed);
                });
                // As the bridge sends it: with a call id, so JSON answers go by script.
                let call = HttpCall { token: TOKEN, cmd, binary, id: Some(1), body };
                router.handle_http(&mut host, main, call, reply_to)
            },
        )
    };
    let json = |bytes: usize| serde_json::to_vec(&text(bytes)).unwrap_or_default();
    let bytes = |n: usize| (0..n).map(|i| (i * 31) as u8).collect::<Vec<u8>>();
    out.push(http("64 KiB JSON echo: fetch body -> reply script", 500, "ipc.echo", false, json(64 * 1024)));
    out.push(http("64 KiB bytes echo: fetch body -> response body", 500, "ipc.echo", true, bytes(64 * 1024)));
    out.push(http("1 MiB JSON echo: fetch body -> reply script", 60, "ipc.echo", false, json(1 << 20)));
    out.push(http("1 MiB bytes echo: fetch body -> response body", 60, "ipc.echo", true, bytes(1 << 20)));
    out.push(http("1 MiB JSON upload: ipc.sink", 60, "ipc.sink", false, json(1 << 20)));

    let big = json(1 << 20);
    out.push(time(
        "  of which: decode_args 1 MiB (limit, depth scan, parse)",
        60,
        || (),
        |()| decode_args(&big, &limits).is_ok(),
    ));
    out.push(time(
        "  of which: serde_json::from_slice 1 MiB alone",
        60,
        || (),
        |()| serde_json::from_slice::<Value>(&big).is_ok(),
    ));
    out.push(time(
        "  alternative: parse, then check depth on the Value",
        60,
        || (),
        |()| serde_json::from_slice::<Value>(&big).map(|v| depth(&v) <= limits.max_json_depth).unwrap_or(false),
    ));
    let value = Value::String(text(1 << 20));
    out.push(time(
        "  of which: serde_json::to_vec 1 MiB (the response)",
        60,
        || (),
        |()| serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0),
    ));
    out.push(time(
        "  alternative: to_writer into a Vec sized from the request",
        60,
        || (),
        |()| {
            let mut buf = Vec::with_capacity(big.len() + 64);
            serde_json::to_writer(&mut buf, &value).map(|()| buf.len()).unwrap_or(0)
        },
    ));

    for (i, label) in LISTENERS.iter().enumerate() {
        let caller = Caller { label, url: LISTENER_URL };
        let listen = frame(i as u64 + 1, "event.listen", r#"{"event":"bench-fan"}"#);
        router.handle_message(&mut host, caller, &listen);
    }
    let fan = frame(2, "event.emit", r#"{"event":"bench-fan","payload":7,"to":["fan-a","fan-b","fan-c"]}"#);
    let before = host.evaluated;
    router.handle_message(&mut host, main, &fan);
    if host.evaluated == before {
        return Err("the fan-out emit delivered nothing in-process".into());
    }
    out.push(time(
        "fan-out: emit delivered to 3 (+ reply)",
        5_000,
        || (),
        |()| router.handle_message(&mut host, main, &fan),
    ));
    let ack = frame(3, "ipc.echo", "7");
    let acker = Caller { label: LISTENERS[0], url: LISTENER_URL };
    out.push(time(
        "fan-out: one ack (ipc.echo from a listener)",
        5_000,
        || (),
        |()| router.handle_message(&mut host, acker, &ack),
    ));

    if answered.load(Ordering::Relaxed) == 0 || host.evaluated == 0 {
        return Err("the in-process router answered nothing".into());
    }
    Ok(out)
}
