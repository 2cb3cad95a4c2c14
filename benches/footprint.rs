//! Footprint benchmark: memory, start-up and binary size of Vitrine against bare wry
//! in the same run, as ratios (issue: a kiosk for 512 MB and 1 GB Raspberry Pi boards).
//!
//! `cargo bench --bench footprint` needs no display: it starts its own 1920x1080 Xvfb,
//! prints a table and writes `<target dir>/bench/footprint.json`.
//!
//! * **Memory.** The real binary runs the default kiosk (the configuration embedded at
//!   build time: main plus two overlays sharing one web process) and `examples/small`;
//!   the baseline is three bare wry webviews of the same pages and sizes, each with its
//!   own web context ([`bare`]). Each is measured alone, one after the other, after
//!   `FOOTPRINT_IDLE_SECS` (default 60) of idling past start-up, and 10 s after any
//!   web process the kiosk replaced (the count is reported): PSS and RSS of every
//!   process of its tree, and the memory the tree would take alone on a device
//!   ([`memory::alone_kib`]): PSS here is shared with whatever other WebKit processes
//!   the machine runs, which the report counts.
//! * **Start-up.** Default kiosk start → `READY=1` (the main page loaded) against a
//!   bare wry window's start → its page's first IPC message (at `load`), both timed
//!   from the spawn by this process, each with caches warmed by an untimed first start. `FOOTPRINT_ROUNDS` (default 15) pairs, in an
//!   interleaved order (bare first in even rounds, Vitrine first in odd ones) so that
//!   drift in the machine's load hits both; the ratio is the median of the per-round
//!   ratios.
//! * **Binary.** The size of `<target dir>/release/vitrine` (what `cargo bench` built,
//!   with the release profile), and whether it is stripped; `FOOTPRINT_BUILD=1` runs
//!   `cargo build --release` first.

#[path = "footprint/bare.rs"]
mod bare;
#[path = "footprint/memory.rs"]
mod memory;

#[path = "support/common.rs"]
mod common;
#[path = "support/xvfb.rs"]
mod xvfb;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{load_average, target_dir};
use serde_json::{json, Value};
use xvfb::Xvfb;

const UP_TIMEOUT: Duration = Duration::from_secs(90);
const MB: f64 = 1024.0;

/// The targets.
const DEFAULT_PSS_MB: f64 = 320.0;
const DEFAULT_RSS_MB: f64 = 700.0;
const SHARED_VS_BARE: f64 = 0.6;
const SMALL_PSS_MB: f64 = 220.0;
const STARTUP_RATIO: f64 = 1.1;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        match (args.get(at + 1).map(String::as_str), args.get(at + 2).and_then(|n| n.parse().ok())) {
            (Some("bare"), Some(n)) => bare::run(n),
            _ => {
                eprintln!("usage: footprint --child bare N");
                return ExitCode::FAILURE;
            }
        }
    }
    match parent() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("footprint bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone)]
enum Kind {
    /// The real binary; `None`: the embedded (default) kiosk.
    Kiosk(Option<PathBuf>),
    /// `n` bare wry webviews.
    Bare(usize),
}

struct Running {
    child: std::process::Child,
    started: Instant,
    /// `READY=1` (kiosk) or `UP i` (bare), as they arrive.
    events: mpsc::Receiver<String>,
    log: PathBuf,
    _socket_dir: tempfile::TempDir,
}

fn spawn(kind: &Kind, display: &str, work: &Path, tag: &str) -> Result<Running, String> {
    let home = work.join(tag);
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let log = work.join(format!("{tag}.log"));
    let socket_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (tx, events) = mpsc::channel::<String>();
    let mut cmd = match kind {
        Kind::Kiosk(config) => {
            let socket_path = socket_dir.path().join("notify.sock");
            let socket = UnixDatagram::bind(&socket_path).map_err(|e| format!("cannot bind NOTIFY_SOCKET: {e}"))?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = socket.recv(&mut buf) {
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        if tx.send(line.to_string()).is_err() {
                            return;
                        }
                    }
                }
            });
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitrine"));
            cmd.arg("run");
            if let Some(dir) = config {
                cmd.arg("--config").arg(dir);
            }
            cmd.arg("--state-dir").arg(home.join("state")).arg("--cache-dir").arg(home.join("cache"));
            cmd.env("NOTIFY_SOCKET", &socket_path).env("VITRINE_BUS", "none").env("VITRINE_LOG", "info");
            cmd.stdout(Stdio::null());
            cmd
        }
        Kind::Bare(n) => {
            let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
            let mut cmd = Command::new(exe);
            cmd.args(["--child", "bare", &n.to_string()]).stdout(Stdio::piped());
            cmd
        }
    };
    let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.env("DISPLAY", display)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &home)
        .env("XDG_CACHE_HOME", home.join("xdg-cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("xdg-state"))
        .env("GDK_BACKEND", "x11")
        .env("NO_AT_BRIDGE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("VITRINE_URL")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stderr(stderr);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {tag}: {e}"))?;
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Ok(Running { child, started, events, log, _socket_dir: socket_dir })
}

impl Running {
    /// Waits for `wanted` (all of them); the time from spawn to the first.
    fn wait_for(&self, wanted: &[String]) -> Result<Duration, String> {
        let deadline = self.started + UP_TIMEOUT;
        let mut first = None;
        let mut missing: Vec<&String> = wanted.iter().collect();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.events.recv_timeout(left).map_err(|_| {
                format!(
                    "no {missing:?} within {UP_TIMEOUT:?}; log ({}):\n{}",
                    self.log.display(),
                    xvfb::tail(&self.log, 30)
                )
            })?;
            if let Some(at) = missing.iter().position(|w| line == **w) {
                first.get_or_insert_with(|| self.started.elapsed());
                missing.remove(at);
            }
        }
        Ok(first.unwrap_or_default())
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready_events(kind: &Kind) -> Vec<String> {
    match kind {
        Kind::Kiosk(_) => vec!["READY=1".to_string()],
        Kind::Bare(n) => (0..*n).map(|i| format!("UP {i}")).collect(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v}: not a number")),
        Err(_) => Ok(default),
    }
}

/// Which surfaces each web process of the kiosk serves, from its log ("surface=L …
/// web process N"; the last mention of each label counts).
fn surfaces_by_pid(log: &Path) -> std::collections::BTreeMap<u32, Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut last: std::collections::BTreeMap<String, u32> = Default::default();
    for line in text.lines() {
        let Some(label) = line.split_whitespace().find_map(|w| w.strip_prefix("surface=")) else { continue };
        let Some((_, rest)) = line.rsplit_once("web process ") else { continue };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(pid) = digits.parse() {
            last.insert(label.to_string(), pid);
        }
    }
    let mut by_pid: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for (label, pid) in last {
        by_pid.entry(pid).or_default().push(label);
    }
    by_pid
}

/// Web processes the kiosk saw end, from its log.
fn restarts(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| l.contains("web process") && l.contains(" ended (")).count()
}

/// One kiosk or baseline, measured after idling.
fn memory_of(kind: &Kind, name: &str, display: &str, work: &Path, idle: Duration) -> Result<Value, String> {
    let running = spawn(kind, display, work, name)?;
    running.wait_for(&ready_events(kind))?;
    std::thread::sleep(idle);
    // Not while a web process is being replaced (on a loaded machine the hang detector
    // can end a healthy page): wait, up to a minute, for 10 s without a restart.
    let ended = || restarts(&running.log);
    for _ in 0..6 {
        let before = ended();
        std::thread::sleep(Duration::from_secs(10));
        if ended() == before {
            break;
        }
    }
    let procs = memory::measure(running.child.id());
    let pids: Vec<u32> = procs.iter().map(|p| p.pid).collect();
    let alone = memory::alone_kib(&pids);
    let others = memory::other_webkit_processes(&pids);
    let labels = match kind {
        Kind::Kiosk(_) => surfaces_by_pid(&running.log),
        Kind::Bare(_) => Default::default(),
    };
    // A web process ended and replaced while idling (a loaded machine can make the hang
    // detector fire) leaves the numbers between two processes: said in the report.
    let restarts = restarts(&running.log);
    let core = running.child.id();
    running.stop();
    let mut rows = Vec::new();
    let (mut pss, mut rss) = (0u64, 0u64);
    for p in &procs {
        pss += p.pss_kib;
        rss += p.rss_kib;
        let role = if p.pid == core {
            "core".to_string()
        } else if p.name.starts_with("WebKitNetwork") {
            "network process".to_string()
        } else if p.name.starts_with("WebKitWebProces") {
            match labels.get(&p.pid) {
                Some(l) => format!("web process ({})", l.join(", ")),
                None => "web process (not named in the log)".to_string(),
            }
        } else {
            p.name.clone()
        };
        rows.push(
            json!({ "role": role, "pid": p.pid, "pss_mb": p.pss_kib as f64 / MB, "rss_mb": p.rss_kib as f64 / MB }),
        );
    }
    Ok(json!({
        "processes": rows,
        "pss_mb": pss as f64 / MB,
        "rss_mb": rss as f64 / MB,
        "alone_mb": alone.map(|k| k as f64 / MB),
        "other_webkit_processes": others,
        "web_process_restarts": restarts,
    }))
}

fn startup(display: &str, work: &Path, rounds: u64) -> Result<Value, String> {
    let kiosk = Kind::Kiosk(None);
    let bare = Kind::Bare(1);
    let (mut v_ms, mut b_ms, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let tag = |kind: &Kind| if matches!(kind, Kind::Bare(_)) { "start-bare" } else { "start-vitrine" };
    // One home per side for every round, warmed by an untimed start: a device starts
    // with its caches (GStreamer's registry, fontconfig, WebKit's) already written.
    for kind in [&bare, &kiosk] {
        let running = spawn(kind, display, work, tag(kind))?;
        running.wait_for(&ready_events(kind)[..1])?;
        running.stop();
    }
    for round in 0..rounds {
        let order = if round % 2 == 0 { [&bare, &kiosk] } else { [&kiosk, &bare] };
        let mut this = [0.0f64; 2];
        for kind in order {
            let running = spawn(kind, display, work, tag(kind))?;
            let t = running.wait_for(&ready_events(kind)[..1])?.as_secs_f64() * 1000.0;
            running.stop();
            this[usize::from(matches!(kind, Kind::Kiosk(_)))] = t;
        }
        eprintln!(
            "footprint bench: start-up round {}/{rounds}: bare {:.0} ms, vitrine {:.0} ms",
            round + 1,
            this[0],
            this[1]
        );
        b_ms.push(this[0]);
        v_ms.push(this[1]);
        ratios.push(this[1] / this[0]);
    }
    let ratio = median(ratios.clone());
    Ok(json!({
        "vitrine_ready_ms": v_ms, "bare_first_ipc_ms": b_ms,
        "vitrine_p50_ms": median(v_ms.clone()), "bare_p50_ms": median(b_ms.clone()),
        "ratio_per_round": ratios, "ratio": ratio, "target_ratio": STARTUP_RATIO, "meets": ratio <= STARTUP_RATIO,
    }))
}

fn binary() -> Result<Value, String> {
    if std::env::var_os("FOOTPRINT_BUILD").is_some_and(|v| v == "1") {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "vitrine"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .map_err(|e| format!("cannot run cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release failed: {status}"));
        }
    }
    let path = target_dir().join("release/vitrine");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(json!({ "path": path, "bytes": null })) };
    // A stripped ELF keeps no symbol table.
    let stripped = !bytes.windows(8).any(|w| w == b".symtab\0");
    Ok(json!({ "path": path, "bytes": bytes.len(), "mb": bytes.len() as f64 / MB / MB, "stripped": stripped }))
}

fn parent() -> Result<(), String> {
    let idle = Duration::from_secs(env_number("FOOTPRINT_IDLE_SECS", 60)?);
    let rounds = env_number("FOOTPRINT_ROUNDS", 15)?.max(1);
    let work = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/small");
    let load_before = load_average();
    let started = Instant::now();
    let xvfb = Xvfb::start_screen("1920x1080x24")?;
    eprintln!("footprint bench: Xvfb on {}, {}s idle, {rounds} start-up rounds", xvfb.display, idle.as_secs());

    let mut mem = serde_json::Map::new();
    for (name, kind) in
        [("default", Kind::Kiosk(None)), ("bare3", Kind::Bare(3)), ("small", Kind::Kiosk(Some(small.clone())))]
    {
        let t = Instant::now();
        let m = memory_of(&kind, name, &xvfb.display, work.path(), idle)?;
        eprintln!("footprint bench: {name} measured in {:.0} s", t.elapsed().as_secs_f64());
        mem.insert(name.to_string(), m);
    }
    let startup = startup(&xvfb.display, work.path(), rounds)?;
    drop(xvfb);
    let binary = binary()?;

    let get = |kiosk: &str, key: &str| mem.get(kiosk).and_then(|m| m[key].as_f64());
    // On a device only the kiosk runs: compare what each takes alone where known.
    let basis = |kiosk: &str| get(kiosk, "alone_mb").or_else(|| get(kiosk, "pss_mb"));
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let checks = json!({
        "default_pss_mb": { "value": basis("default"), "target": DEFAULT_PSS_MB, "meets": basis("default").map(|v| v <= DEFAULT_PSS_MB) },
        "default_rss_mb": { "value": get("default", "rss_mb"), "target": DEFAULT_RSS_MB, "meets": get("default", "rss_mb").map(|v| v <= DEFAULT_RSS_MB) },
        "shared_vs_bare3": {
            "value": ratio(basis("default"), basis("bare3")),
            "pss_ratio": ratio(get("default", "pss_mb"), get("bare3", "pss_mb")),
            "rss_ratio": ratio(get("default", "rss_mb"), get("bare3", "rss_mb")),
            "target": SHARED_VS_BARE,
            "meets": ratio(basis("default"), basis("bare3")).map(|v| v <= SHARED_VS_BARE),
        },
        "small_pss_mb": { "value": basis("small"), "target": SMALL_PSS_MB, "meets": basis("small").map(|v| v <= SMALL_PSS_MB) },
        "startup_ratio": { "value": startup["ratio"], "target": STARTUP_RATIO, "meets": startup["meets"] },
    });

    println!("{}", table(&mem, &startup, &binary, &checks));
    let report = json!({
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "display": "Xvfb 1920x1080x24",
            "idle_secs": idle.as_secs(),
        },
        "memory": mem,
        "startup": startup,
        "binary": binary,
        "checks": checks,
    });
    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = out.join("footprint.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

fn table(mem: &serde_json::Map<String, Value>, startup: &Value, binary: &Value, checks: &Value) -> String {
    let mut out = String::new();
    let f = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.1}"));
    for (name, m) in mem {
        out += &format!(
            "{name}: PSS {} MB, RSS {} MB, alone {} MB ({} other WebKit processes on the machine, {} web process restarts)\n",
            f(&m["pss_mb"]),
            f(&m["rss_mb"]),
            f(&m["alone_mb"]),
            m["other_webkit_processes"],
            m["web_process_restarts"]
        );
        for p in m["processes"].as_array().into_iter().flatten() {
            out += &format!(
                "    {:<40} {:>7}  PSS {:>7} MB  RSS {:>7} MB\n",
                p["role"].as_str().unwrap_or("?"),
                p["pid"],
                f(&p["pss_mb"]),
                f(&p["rss_mb"])
            );
        }
    }
    out += &format!(
        "start-up: Vitrine start -> READY=1 p50 {} ms, bare wry start -> first IPC p50 {} ms\n",
        f(&startup["vitrine_p50_ms"]),
        f(&startup["bare_p50_ms"])
    );
    out += &match binary["mb"].as_f64() {
        Some(mb) => format!(
            "binary: {} {mb:.2} MB{}\n",
            binary["path"].as_str().unwrap_or("?"),
            if binary["stripped"] == true { " (stripped)" } else { " (not stripped)" }
        ),
        None => "binary: no release binary\n".to_string(),
    };
    out += "check                      value     target   meets\n";
    for (name, c) in checks.as_object().into_iter().flatten() {
        let meets = match c["meets"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        out += &format!("{name:<24} {:>8} {:>8}   {meets}\n", f(&c["value"]), f(&c["target"]));
    }
    out
}
