//! D-Bus end to end: a private `dbus-daemon` per test, the real kiosk under Xvfb, and
//! real peers — `busctl` and `vitrine ctl` as clients, `dunst` as the notification
//! server, `status-notifier-watcher` as the tray's watcher, `setpriv` for a caller
//! under another uid.
//!
//! The private session bus uses `tests/fixtures/dbus-bus/session.conf`: the stock
//! session configuration less service activation, so that only the peers a test starts
//! are on it (an installed dunst would otherwise be activated by the first notification).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{count, ctl_env, fixture, kill, vitrine_bin, wait_until, web_pid, Kiosk, PrivateBus, Xvfb, STARTUP};
use serde_json::Value;

const NAME: &str = "org.vitrine.Vitrine1";
const PATH: &str = "/org/vitrine/Vitrine1";
const IFACE: &str = "org.vitrine.Vitrine1";

/// The control interface through `busctl`.
impl PrivateBus {
    fn busctl(&self, args: &[&str]) -> Output {
        Command::new("busctl").arg(format!("--address={}", self.address)).args(args).output().expect("busctl")
    }

    /// Calls a control method with busctl; the reply's data (JSON) or the error text.
    fn call(&self, method: &str, signature: &str, args: &[&str]) -> Result<Value, String> {
        let mut argv = vec!["--json=short", "call", NAME, PATH, IFACE, method];
        if !signature.is_empty() {
            argv.push(signature);
            argv.push("--");
            argv.extend_from_slice(args);
        }
        let out = self.busctl(&argv);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        Ok(reply["data"].clone())
    }

    fn property(&self, name: &str) -> Value {
        let out = self.busctl(&["--json=short", "get-property", NAME, PATH, IFACE, name]);
        assert!(out.status.success(), "get-property {name}: {out:?}");
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON")["data"].clone()
    }

    /// Waits for a property to take `want` (the shell publishes within a tick).
    fn wait_property(&self, name: &str, want: Value) {
        let ok = wait_until(Duration::from_secs(3), || self.property(name) == want);
        assert!(ok, "{name} is {}, not {want}", self.property(name));
    }

    fn status(&self) -> Value {
        let data = self.call("Status", "", &[]).expect("Status");
        serde_json::from_str(data[0].as_str().expect("a string")).expect("Status is JSON")
    }
}

/// A helper process (dunst, the watcher, dbus-monitor), ended when dropped.
struct Peer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    fn start(cmd: &mut Command) -> Peer {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start peer");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Peer { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dbus-monitor` for everything the control object sends.
fn monitor(bus: &PrivateBus) -> Peer {
    let peer = Peer::start(Command::new("dbus-monitor").args([
        "--address",
        &bus.address,
        &format!("type='signal',path='{PATH}'"),
    ]));
    // It prints its own NameAcquired once it listens.
    assert!(wait_until(Duration::from_secs(5), || peer.text().contains("NameAcquired")), "dbus-monitor did not start");
    peer
}

/// Starts the `dbus` fixture on `bus` and waits until its pages listen.
fn kiosk_on(bus: &PrivateBus, extra: &[(&str, &str)]) -> Kiosk {
    let mut env: Vec<(&str, &str)> = bus.env().to_vec();
    env.extend_from_slice(extra);
    let kiosk = Kiosk::start_with("dbus", &env);
    kiosk.wait_ready();
    kiosk.result("main-listening");
    kiosk.result("side-listening");
    kiosk
}

/// Waits until `needle` has been logged more than `seen` times.
fn wait_count(kiosk: &Kiosk, needle: &str, seen: usize) {
    let ok = wait_until(Duration::from_secs(10), || count(&kiosk.log, needle) > seen);
    assert!(ok, "'{needle}' not logged again; log:\n{}", kiosk.dump());
}

/// One pixel of a PNG file, as RGB (ImageMagick; not the `convert` of another package).
fn pixel(png: &Path, x: u32, y: u32) -> [u8; 3] {
    let out = Command::new("/usr/bin/convert")
        .arg(png)
        .args(["-crop", &format!("1x1+{x}+{y}"), "-depth", "8", "rgb:-"])
        .output()
        .expect("ImageMagick");
    assert!(out.status.success() && out.stdout.len() == 3, "convert: {out:?}");
    [out.stdout[0], out.stdout[1], out.stdout[2]]
}

fn identify(png: &Path) -> String {
    let out = Command::new("identify").args(["-format", "%m %w %h"]).arg(png).output().expect("identify");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn surface<'a>(status: &'a Value, label: &str) -> &'a Value {
    status["surfaces"].as_array().and_then(|a| a.iter().find(|s| s["label"] == label)).expect("surface in status")
}

#[test]
fn every_control_method_works_against_the_running_kiosk() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);
    let signals = monitor(&bus);

    // Introspection is clean and complete.
    let out = bus.busctl(&["introspect", NAME, PATH]);
    assert!(out.status.success() && out.stderr.is_empty(), "introspect: {out:?}");
    let all = String::from_utf8_lossy(&out.stdout);
    let text = all.split_once("\norg.vitrine.Vitrine1 ").map(|(_, ours)| ours).unwrap_or_default();
    for (member, signature) in [
        (".Ping ", "method    -         s"),
        (".Status ", "method    -         s"),
        (".Navigate ", "method    ss        -"),
        (".Reload ", "method    s         -"),
        (".Show ", "method    s         -"),
        (".Hide ", "method    s         -"),
        (".Emit ", "method    ssas      u"),
        (".Screenshot ", "method    s         ay"),
        (".ScreenshotToFile ", "method    ss        uu"),
        (".Volume ", "method    s         ib"),
        (".KeyboardShow ", "method    s         -"),
        (".KeyboardHide ", "method    -         -"),
        (".Ready ", "property  b"),
        (".Visible ", "property  as"),
        (".Urls ", "property  a{ss}"),
        (".Crashes ", "property  t"),
        (".SurfaceCrashed ", "signal    ss"),
        (".SurfaceRecovered ", "signal    s"),
    ] {
        let line = text.lines().find(|l| l.starts_with(member)).unwrap_or_else(|| panic!("no {member} in:\n{text}"));
        assert!(line.contains(signature), "{line}");
    }
    let xml = bus.busctl(&["introspect", "--xml-interface", NAME, PATH]);
    let xml = String::from_utf8_lossy(&xml.stdout);
    assert!(xml.contains(r#"<arg name="payload_json" type="s" direction="in"/>"#), "{xml}");
    assert!(xml.contains(r#"<arg name="png" type="ay" direction="out"/>"#), "{xml}");

    // Ping and Status.
    assert_eq!(bus.call("Ping", "", &[]).expect("Ping"), serde_json::json!(["pong"]));
    let status = bus.status();
    assert_eq!(status["name"], "dbus fixture");
    assert_eq!(status["pid"], kiosk.pid());
    assert_eq!(status["ready"], true);
    let labels: Vec<&str> =
        status["surfaces"].as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["main", "side", "hidden", "vitrine.toast"]);
    let side = surface(&status, "side");
    assert_eq!(side["pid"].as_u64().map(|p| p as u32), web_pid(&kiosk.log, "side"));
    assert_eq!((side["visible"].clone(), side["crashes"].clone()), (Value::Bool(true), Value::from(0)));
    assert_eq!(surface(&status, "hidden")["visible"], false);
    bus.wait_property("Ready", Value::Bool(true));

    // Emit goes through the event ACL as the principal "dbus".
    let seen_side = count(&kiosk.log, "RESULT side-got");
    assert_eq!(
        bus.call("Emit", "ssas", &["from-dbus", r#"{"n":1}"#, "1", "main"]).expect("Emit"),
        serde_json::json!([1])
    );
    assert_eq!(kiosk.result("main-got"), r#"{"n":1} from dbus"#);
    assert_eq!(bus.call("Emit", "ssas", &["from-dbus", r#"{"n":2}"#, "0"]).expect("Emit"), serde_json::json!([2]));
    kiosk.log.wait_for(r#"RESULT side-got {"n":2} from dbus"#, STARTUP).expect("side got the untargeted event");
    assert_eq!(count(&kiosk.log, "RESULT side-got"), seen_side + 1, "side got the event targeted at main");
    assert!(!kiosk.log.contains("RESULT hidden-got"), "an overlay without the capability heard it");
    let secret = bus.call("Emit", "ssas", &["secret", "{}", "0"]).expect_err("not in the dbus scope");
    assert!(secret.contains("surface 'dbus' may not call 'event.emit' for 'secret'"), "{secret}");
    let bad = bus.call("Emit", "ssas", &["from-dbus", "{nope", "0"]).expect_err("not JSON");
    assert!(bad.contains("not JSON"), "{bad}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!kiosk.log.contains("RESULT main-secret"), "a refused event was delivered");

    // Navigate really changes the page, within the allow-list only.
    bus.call("Navigate", "ss", &["main", "app://localhost/page2.html"]).expect("Navigate");
    assert!(kiosk.result("page2-loaded").starts_with("app://localhost/page2.html"));
    let urls = wait_until(Duration::from_secs(3), || bus.property("Urls")["main"] == "app://localhost/page2.html");
    assert!(urls, "{}", bus.property("Urls"));
    let refused = bus.call("Navigate", "ss", &["main", "https://example.com/"]).expect_err("outside the allow-list");
    assert!(refused.contains("may not navigate"), "{refused}");
    let missing = bus.call("Navigate", "ss", &["ghost", "app://localhost/page2.html"]).expect_err("no such surface");
    assert!(missing.contains("no surface labelled 'ghost'"), "{missing}");

    // Reload.
    let listening = count(&kiosk.log, "RESULT side-listening");
    bus.call("Reload", "s", &["side"]).expect("Reload");
    wait_count(&kiosk, "RESULT side-listening", listening);

    // Hide and Show, with PropertiesChanged.
    bus.call("Hide", "s", &["side"]).expect("Hide");
    bus.wait_property("Visible", serde_json::json!(["main"]));
    assert!(wait_until(Duration::from_secs(3), || signals.text().contains("member=PropertiesChanged")));
    bus.call("Show", "s", &["side"]).expect("Show");
    bus.wait_property("Visible", serde_json::json!(["main", "side"]));
    assert_eq!(surface(&bus.status(), "side")["visible"], true);
    let main_refused = bus.call("Hide", "s", &["main"]).expect_err("main cannot hide");
    assert!(main_refused.contains("only overlays"), "{main_refused}");

    // Screenshots: a real PNG of the surface's size and content.
    let dir = tempfile::tempdir().expect("tempdir");
    let shot = dir.path().join("main.png");
    let size = bus.call("ScreenshotToFile", "ss", &["main", shot.to_str().unwrap()]).expect("ScreenshotToFile");
    assert_eq!(size, serde_json::json!([1920, 1080]));
    assert_eq!(identify(&shot), "PNG 1920 1080");
    assert!(common::near(pixel(&shot, 200, 600), [0xc0, 0x30, 0x20]), "page2 is red: {:?}", pixel(&shot, 200, 600));
    let again = bus.call("ScreenshotToFile", "ss", &["main", shot.to_str().unwrap()]).expect_err("exists");
    assert!(again.contains("File exists"), "{again}");
    let relative = bus.call("ScreenshotToFile", "ss", &["main", "shot.png"]).expect_err("relative");
    assert!(relative.contains("not an absolute path"), "{relative}");
    let side_shot = dir.path().join("side.png");
    let size = bus.call("ScreenshotToFile", "ss", &["side", side_shot.to_str().unwrap()]).expect("side");
    assert_eq!(size, serde_json::json!([400, 300]));
    assert!(common::near(pixel(&side_shot, 200, 150), [0x30, 0xa0, 0x50]));
    let hidden = bus.call("ScreenshotToFile", "ss", &["hidden", "/tmp/never.png"]).expect_err("hidden");
    assert!(hidden.contains("hidden; show it first"), "{hidden}");

    // A crashed web process: SurfaceCrashed, then SurfaceRecovered, and the counts.
    let pid = surface(&bus.status(), "side")["pid"].as_u64().expect("side's web process") as u32;
    let loads = count(&kiosk.log, "RESULT side-loaded");
    kill(pid, "KILL");
    wait_count(&kiosk, "RESULT side-loaded", loads);
    let crashed = wait_until(Duration::from_secs(5), || {
        let t = signals.text();
        t.contains("member=SurfaceCrashed") && t.contains("member=SurfaceRecovered")
    });
    assert!(crashed, "signals:\n{}", signals.text());
    let t = signals.text();
    let after = t.split("member=SurfaceCrashed").nth(1).unwrap_or_default();
    assert!(after.trim_start().starts_with("string \"side\""), "{t}");
    let side = surface(&bus.status(), "side").clone();
    assert_eq!((side["crashes"].as_u64(), side["recoveries"].as_u64()), (Some(1), Some(1)), "{side}");
    assert_ne!(side["pid"].as_u64(), Some(u64::from(pid)));
    bus.wait_property("Crashes", Value::from(1));
}

#[test]
fn vitrine_ctl_drives_every_method() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);

    let (code, out, err) = bus.ctl(&["ping"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("pong from {NAME} (pid {})", kiosk.pid())), "{out}");
    let (_, out, _) = bus.ctl(&["--json", "ping"]);
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON")["pid"], kiosk.pid());
    let config = fixture("dbus-system");
    let (code, _, err) = bus.ctl(&["--config", config.to_str().unwrap(), "ping"]);
    assert_eq!(code, 3, "that folder's kiosk is on the system bus: {err}");
    let (code, _, _) = bus.ctl(&["--config", fixture("dbus").to_str().unwrap(), "--session", "ping"]);
    assert_eq!(code, 0);

    let (code, out, _) = bus.ctl(&["status"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("dbus fixture — vitrine "), "{out}");
    let columns = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let head = columns(out.lines().nth(1).unwrap_or_default());
    assert_eq!(head, ["SURFACE", "VISIBLE", "STATE", "PID", "CRASHES", "HANGS", "RECOVERED", "URL"], "{out}");
    let side = out.lines().map(columns).find(|c| c[0] == "side").expect("a row for side");
    let pid = surface(&bus.status(), "side")["pid"].to_string();
    assert_eq!(side, ["side", "yes", "up", &pid, "0", "0", "0", "app://localhost/side.html"], "{out}");
    // The decoders GStreamer offers here (scripts/packages/media.txt) and no V4L2 device.
    assert!(out.lines().any(|l| l.starts_with("decoders: ") && l.contains("vp8 (vp8dec)")), "{out}");
    assert!(out.contains("hardware decoders: none (software decoding)"), "{out}");
    let (_, out, _) = bus.ctl(&["status", "--json"]);
    let status: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(surface(&status, "hidden")["visible"], false);
    assert!(status["decoders"]["software"].as_array().is_some_and(|d| !d.is_empty()), "{out}");

    let (code, out, _) = bus.ctl(&["navigate", "main", "app://localhost/page2.html"]);
    assert_eq!((code, out.trim()), (0, "main: opening app://localhost/page2.html"));
    kiosk.result("page2-loaded");
    let (code, _, err) = bus.ctl(&["navigate", "main", "https://example.com/"]);
    assert_eq!(code, 1);
    assert!(err.contains("may not navigate"), "{err}");

    let listening = count(&kiosk.log, "RESULT side-listening");
    let (code, out, _) = bus.ctl(&["reload", "side"]);
    assert_eq!((code, out.trim()), (0, "side: reloading"));
    wait_count(&kiosk, "RESULT side-listening", listening);

    let (code, out, _) = bus.ctl(&["hide", "side"]);
    assert_eq!((code, out.trim()), (0, "side: hidden"));
    bus.wait_property("Visible", serde_json::json!(["main"]));
    let (code, out, _) = bus.ctl(&["show", "side"]);
    assert_eq!((code, out.trim()), (0, "side: shown"));
    let (code, _, err) = bus.ctl(&["show", "ghost"]);
    assert_eq!(code, 1);
    assert!(err.contains("no surface labelled 'ghost'"), "{err}");

    let (code, out, _) = bus.ctl(&["emit", "from-dbus", r#"{"via":"ctl"}"#, "--to", "side"]);
    assert_eq!((code, out.trim()), (0, "'from-dbus' delivered to 1 surface"));
    kiosk.log.wait_for(r#"RESULT side-got {"via":"ctl"} from dbus"#, STARTUP).expect("side got it");
    let (code, out, err) = bus.ctl(&["--json", "emit", "secret"]);
    assert_eq!(code, 1, "{err}");
    let error: Value = serde_json::from_str(&out).expect("JSON error");
    assert_eq!(error["error"]["code"], "not_allowed", "{error}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shot.png");
    let (code, out, err) = bus.ctl(&["screenshot", "main", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("main: 1920x1080 PNG written to"), "{out}");
    assert_eq!(identify(&file), "PNG 1920 1080");
    let (_, out, _) = bus.ctl(&["--json", "screenshot", "side", dir.path().join("s.png").to_str().unwrap()]);
    let shot: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!((shot["width"].as_u64(), shot["height"].as_u64()), (Some(400), Some(300)));
}

#[test]
fn without_a_kiosk_ctl_fails_clearly_and_a_second_vitrine_stops_or_forwards() {
    let bus = PrivateBus::session();
    let (code, _, err) = bus.ctl(&["ping"]);
    assert_eq!(code, 3);
    assert!(err.contains(&format!("vitrine is not running: nobody owns {NAME} on the session bus")), "{err}");
    let (code, out, _) = bus.ctl(&["--json", "status"]);
    assert_eq!(code, 3);
    assert_eq!(serde_json::from_str::<Value>(&out).expect("JSON")["error"]["code"], "not_running");
    let (code, _, err) = ctl_env(&[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")], &["ping"]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot reach the session bus"), "{err}");

    let kiosk = kiosk_on(&bus, &[]);
    // A second kiosk on the same bus: no display needed, it stops before GTK.
    let second = |extra: &[&str]| {
        let home = tempfile::tempdir().expect("tempdir");
        Command::new(vitrine_bin())
            .args(["run", "--config"])
            .arg(fixture("dbus"))
            .args(extra)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_RUNTIME_DIR", home.path())
            .env("HOME", home.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("JOURNAL_STREAM")
            .output()
            .expect("run a second vitrine")
    };
    let out = second(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "vitrine is already running: {NAME} on the session bus is owned by process {}",
            kiosk.pid()
        )),
        "{err}"
    );
    let out = second(&["--url", "page2.html"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("asked it to open app://localhost/page2.html"), "{err}");
    assert!(kiosk.result("page2-loaded").starts_with("app://localhost/page2.html"));
}

/// WebDriver clients open sessions back to back: the kiosk of the next session may start
/// while the last one still owns the name, and WebKitWebDriver would wait for ever for a
/// kiosk that stopped. So one started with `--automation` queues for the name, a while.
#[test]
fn a_kiosk_for_webdriver_waits_for_the_name_while_the_last_one_exits() {
    let bus = PrivateBus::session();
    let mut first = kiosk_on(&bus, &[]);
    let automation = || Kiosk::start_with_args("dbus", &bus.env(), &["--automation"]);
    let owner = |kiosk: &Kiosk| {
        let (code, out, err) = bus.ctl(&["--json", "status"]);
        assert_eq!(code, 0, "{err}\nlog:\n{}", kiosk.dump());
        serde_json::from_str::<Value>(&out).expect("JSON")["pid"].as_u64()
    };
    let waits_for = |kiosk: &Kiosk, pid: u32| {
        let line = format!("{NAME} is owned (process {pid}); waiting up to 30 s for it to be free");
        kiosk
            .log
            .wait_for(&line, STARTUP)
            .unwrap_or_else(|| panic!("not waiting for the name; log:\n{}", kiosk.dump()));
    };

    let second = automation();
    waits_for(&second, first.pid());
    assert_eq!(owner(&first), Some(first.pid().into()), "the queued kiosk took the name");
    first.signal("TERM");
    assert!(first.wait_exit(STARTUP).is_some(), "the first kiosk did not exit");
    second.wait_ready();
    assert_eq!(owner(&second), Some(second.pid().into()));

    // Not for ever: one that never gets the name stops with the usual error.
    let mut third = automation();
    waits_for(&third, second.pid());
    let status = third.wait_exit(Duration::from_secs(60)).expect("the third kiosk still waits after 60 s");
    let waited = third.started.elapsed();
    assert_eq!(status.code(), Some(1), "log:\n{}", third.dump());
    assert!(waited >= Duration::from_secs(30), "stopped after {waited:?}");
    let stopped = format!("vitrine is already running: {NAME} on the session bus is owned by process {}", second.pid());
    assert!(third.log.contains(&stopped), "log:\n{}", third.dump());
    assert_eq!(owner(&second), Some(second.pid().into()));
}

/// WebKitWebDriver kills the kiosk when the session ends, unless the client stops the driver
/// first; the kiosk must not run on, orphaned, with the bus name. `sh` stands in for the
/// driver here: it starts the kiosk, and is killed.
#[test]
fn a_kiosk_for_webdriver_stops_with_the_process_that_started_it() {
    let bus = PrivateBus::session();
    let xvfb = Xvfb::start(800, 600);
    let home = tempfile::tempdir().expect("tempdir");
    let log = home.path().join("kiosk.log");
    let mut starter = Command::new("sh")
        .args(["-c", "\"$0\" run --config \"$1\" --automation 2>\"$2\" & echo $!; wait", vitrine_bin()])
        .arg(fixture("dbus"))
        .arg(&log)
        .envs(bus.env())
        .env("DISPLAY", &xvfb.display)
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh");
    let mut line = String::new();
    BufReader::new(starter.stdout.take().expect("piped")).read_line(&mut line).expect("the kiosk's pid");
    let pid: u32 = line.trim().parse().expect("a pid");
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let serving = || {
        let (code, out, _) = bus.ctl(&["--json", "status"]);
        code == 0 && serde_json::from_str::<Value>(&out).is_ok_and(|v| v["pid"] == pid)
    };
    assert!(wait_until(STARTUP, serving), "the kiosk did not come up; log:\n{}", said());
    assert!(
        said().contains(&format!("the kiosk stops when the process that started it (process {}) ends", starter.id()))
    );

    starter.kill().expect("kill sh");
    starter.wait().expect("reap sh");
    // Reparented, it is reaped elsewhere: gone, or a zombie, is ended.
    let ended = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
    };
    assert!(wait_until(STARTUP, ended), "the kiosk runs on without its starter; log:\n{}", said());
    assert!(said().contains("SIGTERM: closing surfaces"), "not a clean stop; log:\n{}", said());
    let (code, _, err) = bus.ctl(&["ping"]);
    assert_eq!(code, 3, "the name is still owned: {err}");
}

#[test]
fn notifications_reach_dunst_and_action_clicks_come_back() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);
    // What reaches the server, as the bus carries it.
    let calls = Peer::start(Command::new("dbus-monitor").args([
        "--address",
        &bus.address,
        "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
    ]));
    let home = tempfile::tempdir().expect("tempdir");
    let _dunst = Peer::start(
        Command::new("dunst")
            .env("DISPLAY", &kiosk.xvfb.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path()),
    );
    let dunstctl = |args: &[&str]| {
        let out = Command::new("dunstctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .output()
            .expect("dunstctl (package dunst)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert!(wait_until(Duration::from_secs(10), || dunstctl(&["count", "displayed"]) == "0"), "dunst did not start");

    let note = r#"{"notify":{"title":"Door open","body":"Back entrance","icon":"dialog-warning","urgency":"critical","timeout":0,"actions":[{"id":"default","label":"Show"},{"id":"ack","label":"Acknowledge"}]}}"#;
    bus.call("Emit", "ssas", &["from-dbus", note, "1", "main"]).expect("Emit");
    let sent: Value = serde_json::from_str(&kiosk.result("notify-sent")).expect("JSON");
    assert_eq!(sent["shown"], "server", "{}", kiosk.dump());
    assert!(wait_until(Duration::from_secs(5), || dunstctl(&["count", "displayed"]) == "1"));

    // The default action, as a click on the notification in dunst.
    dunstctl(&["action", "0"]);
    let action: Value = serde_json::from_str(&kiosk.result("action")).expect("JSON");
    assert_eq!(action, serde_json::json!({ "id": sent["id"], "action": "default" }));

    dunstctl(&["close-all"]);
    let history: Value = serde_json::from_str(&dunstctl(&["history"])).expect("dunstctl history is JSON");
    let seen = history["data"][0].as_array().and_then(|n| n.iter().find(|n| n["summary"]["data"] == "Door open"));
    let seen = seen.unwrap_or_else(|| panic!("not in dunst's history: {history}"));
    assert_eq!(seen["body"]["data"], "Back entrance");
    assert_eq!(seen["appname"]["data"], "dbus fixture");
    assert_eq!(seen["id"]["data"], sent["id"]);
    // Icon, urgency, timeout and actions, as sent (dunst's history keeps none of them).
    let notify = calls.text();
    let notify = notify.split("member=Notify").nth(1).unwrap_or_else(|| panic!("no Notify call seen: {notify}"));
    for part in [
        r#"string "dbus fixture""#,
        r#"string "dialog-warning""#,
        r#"string "Door open""#,
        r#"string "default""#,
        r#"string "Acknowledge""#,
        r#"string "urgency""#,
        "byte 2",
        "int32 0",
    ] {
        assert!(notify.contains(part), "no {part} in the Notify call:\n{notify}");
    }
    assert!(!kiosk.log.contains("shown as a toast"));
}

#[test]
fn without_a_notification_server_the_toast_shows_and_clicks_come_back() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);
    let note = r#"{"notify":{"title":"Toast here","body":"no server","timeout":0,"actions":[{"id":"default","label":"Open"},{"id":"ack","label":"Acknowledge"}]}}"#;
    bus.call("Emit", "ssas", &["from-dbus", note, "1", "main"]).expect("Emit");
    let sent: Value = serde_json::from_str(&kiosk.result("notify-sent")).expect("JSON");
    assert_eq!(sent["shown"], "toast");
    assert!(kiosk.log.wait_for("surface=vitrine.toast vitrine: toast", STARTUP).is_some(), "{}", kiosk.dump());
    assert!(kiosk.log.contains("no notification server"));
    assert!(wait_until(Duration::from_secs(5), || bus.property("Visible").to_string().contains("vitrine.toast")));

    // The toast is drawn in the top-right corner, over the main page's blue.
    let blue = [0x20, 0x40, 0x60];
    let outside = [(1400, 40), (1600, 250)];
    let drawn = |s: &common::Image| {
        !common::near(s.pixel(1600, 40), blue) && outside.iter().all(|&(x, y)| common::near(s.pixel(x, y), blue))
    };
    let shot = kiosk.xvfb.screenshot_when(drawn, Duration::from_secs(20));
    assert!(!common::near(shot.pixel(1600, 40), blue), "no toast drawn");
    for (x, y) in outside {
        assert!(common::near(shot.pixel(x, y), blue), "the toast covers ({x},{y}): {:?}", shot.pixel(x, y));
    }

    // A click on it is its default action, and comes back to the sender.
    kiosk.xvfb.xdotool(&["mousemove", "1600", "40", "click", "1"]);
    let action: Value = serde_json::from_str(&kiosk.result("action")).expect("JSON");
    assert_eq!(action, serde_json::json!({ "id": sent["id"], "action": "default" }));
    // The empty toast overlay hides again, so it covers nothing.
    assert!(wait_until(Duration::from_secs(3), || !bus.property("Visible").to_string().contains("vitrine.toast")));
}

#[test]
fn while_a_toast_shows_the_main_surface_still_takes_every_click() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);
    // Before any toast, a press reaches the main page.
    let press = |n: usize, x: u32, y: u32| {
        let (xs, ys) = (x.to_string(), y.to_string());
        kiosk.xvfb.xdotool(&["mousemove", &xs, &ys, "click", "1"]);
        for event in ["main-pointerdown", "main-click"] {
            let needle = format!("RESULT {event} {n} {x} {y}");
            let got = kiosk.log.wait_for(&needle, Duration::from_secs(3));
            assert!(
                got.is_some(),
                "press {n} at ({x},{y}) never reached the main page as {event}; log:\n{}",
                kiosk.dump()
            );
        }
    };
    press(1, 300, 300);
    let note = r#"{"notify":{"title":"Toast here","body":"clicks elsewhere still count","timeout":0,"actions":[{"id":"default","label":"Open"}]}}"#;
    bus.call("Emit", "ssas", &["from-dbus", note, "1", "main"]).expect("Emit");
    let sent: Value = serde_json::from_str(&kiosk.result("notify-sent")).expect("JSON");
    assert_eq!(sent["shown"], "toast");
    assert!(wait_until(Duration::from_secs(5), || bus.property("Visible").to_string().contains("vitrine.toast")));
    let blue = [0x20, 0x40, 0x60];
    let shot = kiosk.xvfb.screenshot_when(|s| !common::near(s.pixel(1600, 40), blue), Duration::from_secs(20));
    assert!(!common::near(shot.pixel(1600, 40), blue), "no toast drawn");

    // Around the toast (left of it, below it, far from it) and elsewhere on the screen:
    // each press reaches the main page, in order, while the toast stays up.
    let spots = [(300, 300), (1300, 40), (1600, 250), (960, 540), (100, 1000), (1450, 100), (1700, 1000), (600, 20)];
    for (n, &(x, y)) in spots.iter().enumerate() {
        press(n + 2, x, y);
    }
    assert!(bus.property("Visible").to_string().contains("vitrine.toast"), "the toast went away early");

    // A click on the toast is its default action, and the main page does not see it.
    kiosk.xvfb.xdotool(&["mousemove", "1600", "40", "click", "1"]);
    let action: Value = serde_json::from_str(&kiosk.result("action")).expect("JSON");
    assert_eq!(action, serde_json::json!({ "id": sent["id"], "action": "default" }));
    assert!(wait_until(Duration::from_secs(3), || !bus.property("Visible").to_string().contains("vitrine.toast")));
    assert!(!kiosk.log.contains("1600 40"), "the click on the toast reached the main page");

    // With the toast gone, the main page takes a press where it was.
    press(spots.len() + 2, 1600, 60);
}

/// The tray item's bus name, once registered with the watcher.
fn registered_item(bus: &PrivateBus, kiosk: &Kiosk, timeout: Duration) -> Option<String> {
    let wanted = format!("org.kde.StatusNotifierItem-{}-", kiosk.pid());
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let out = bus.busctl(&[
            "--json=short",
            "get-property",
            "org.kde.StatusNotifierWatcher",
            "/StatusNotifierWatcher",
            "org.kde.StatusNotifierWatcher",
            "RegisteredStatusNotifierItems",
        ]);
        let items: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let found =
            items["data"].as_array().into_iter().flatten().filter_map(Value::as_str).find(|i| i.contains(&wanted));
        if let Some(item) = found {
            return Some(item.split('/').next().unwrap_or(item).to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn watcher(bus: &PrivateBus) -> Peer {
    let peer = Peer::start(
        Command::new("status-notifier-watcher").env("DBUS_SESSION_BUS_ADDRESS", &bus.address).env("HOME", "/tmp"),
    );
    let up = wait_until(Duration::from_secs(10), || {
        bus.busctl(&["status", "org.kde.StatusNotifierWatcher"]).status.success()
    });
    assert!(up, "status-notifier-watcher did not start (package haskell-status-notifier-item-utils)");
    peer
}

#[test]
fn the_tray_registers_and_its_menu_reaches_the_page() {
    let bus = PrivateBus::session();
    let _watcher = watcher(&bus);
    let kiosk = kiosk_on(&bus, &[]);
    let item = registered_item(&bus, &kiosk, Duration::from_secs(10)).unwrap_or_else(|| panic!("{}", kiosk.dump()));

    let title = bus.busctl(&["get-property", &item, "/StatusNotifierItem", "org.kde.StatusNotifierItem", "Title"]);
    assert_eq!(String::from_utf8_lossy(&title.stdout).trim(), r#"s "Fixture tray""#);
    let pixmap =
        bus.busctl(&["get-property", &item, "/StatusNotifierItem", "org.kde.StatusNotifierItem", "IconPixmap"]);
    // One 16x16 icon, opaque red in ARGB.
    assert!(String::from_utf8_lossy(&pixmap.stdout).starts_with("a(iiay) 1 16 16 1024 255 255 0 0 "), "{pixmap:?}");

    // The menu as a host sees it, then clicks as a host sends them.
    let out = bus.busctl(&[
        "--json=short",
        "call",
        &item,
        "/MenuBar",
        "com.canonical.dbusmenu",
        "GetLayout",
        "iias",
        "--",
        "0",
        "-1",
        "0",
    ]);
    let layout: Value = serde_json::from_slice(&out.stdout).expect("GetLayout JSON");
    let id_of = |label: &str| {
        layout["data"][1][2]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["data"][1]["label"]["data"] == label))
            .and_then(|i| i["data"][0].as_i64())
            .unwrap_or_else(|| panic!("no '{label}' in {layout}"))
            .to_string()
    };
    let click = |id: &str| {
        let out = bus.busctl(&[
            "call",
            &item,
            "/MenuBar",
            "com.canonical.dbusmenu",
            "Event",
            "isvu",
            id,
            "clicked",
            "s",
            "",
            "0",
        ]);
        assert!(out.status.success(), "Event: {out:?}");
    };
    click(&id_of("Say hello"));
    assert_eq!(kiosk.result("tray-hello"), r#"{"n":1} from core"#);
    click(&id_of("Hide side"));
    bus.wait_property("Visible", serde_json::json!(["main"]));
}

#[test]
fn the_tray_registers_when_the_watcher_starts_late() {
    let bus = PrivateBus::session();
    let kiosk = kiosk_on(&bus, &[]);
    assert!(kiosk.log.wait_for("tray: no StatusNotifierWatcher yet", STARTUP).is_some(), "{}", kiosk.dump());
    assert!(registered_item(&bus, &kiosk, Duration::from_millis(300)).is_none());
    let _watcher = watcher(&bus);
    assert!(registered_item(&bus, &kiosk, Duration::from_secs(10)).is_some(), "{}", kiosk.dump());
    assert!(kiosk.log.contains("tray: a StatusNotifierWatcher appeared"));
}

#[test]
fn without_any_bus_the_kiosk_runs_serves_pages_and_toasts() {
    let nowhere = "unix:path=/nonexistent/vitrine-test/bus";
    let kiosk = Kiosk::start_with(
        "dbus",
        &[("DBUS_SESSION_BUS_ADDRESS", nowhere), ("NO_AT_BRIDGE", "1"), ("VITRINE_URL", "main.html?notify=1")],
    );
    kiosk.wait_ready();
    kiosk.result("main-listening");
    assert!(kiosk.log.contains("no session bus"), "{}", kiosk.dump());
    assert!(kiosk.log.contains("the control interface is off"));
    assert!(kiosk.log.wait_for("tray off", STARTUP).is_some(), "{}", kiosk.dump());
    // notification.send still works: as the toast.
    let sent: Value = serde_json::from_str(&kiosk.result("notify-sent")).expect("JSON");
    assert_eq!(sent["shown"], "toast");
    assert!(kiosk.log.wait_for("vitrine: toast 1 shown: On load", STARTUP).is_some(), "{}", kiosk.dump());
    let (code, _, err) = ctl_env(&[("DBUS_SESSION_BUS_ADDRESS", nowhere)], &["ping"]);
    assert_eq!(code, 3, "{err}");
}

/// Copies the binary where another uid can run it (the work tree may be private).
fn public_binary() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.path().join("vitrine");
    std::fs::copy(vitrine_bin(), &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, bin)
}

/// A private system bus with `config` whose daemon knows a group `vitrine` (which the
/// policy names), and that group's id. The host is left as found: when it has no such
/// group, the daemon alone sees one, through a copy of `/etc/group` bind-mounted in a
/// mount namespace of its own (`unshare`, root only, as the test is).
fn system_bus_with_vitrine_group(config: &Path) -> (PrivateBus, u32) {
    let group = std::fs::read_to_string("/etc/group").expect("/etc/group");
    let gids: BTreeSet<u32> = group.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    if let Some(gid) = group.lines().find(|l| l.starts_with("vitrine:")).and_then(|l| l.split(':').nth(2)?.parse().ok())
    {
        return (PrivateBus::start(config), gid);
    }
    let gid = (900..1000).rev().find(|g| !gids.contains(g)).expect("a free system group id");
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("group");
    std::fs::write(&copy, format!("{group}vitrine:x:{gid}:\n")).expect("write group file");
    let bus = PrivateBus::start_in(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/group && exec dbus-daemon "$@""#),
        &copy,
        config,
    );
    (bus, gid)
}

#[test]
fn the_system_bus_policy_lets_group_vitrine_call_and_listen_but_only_root_or_vitrine_own() {
    if !common::running_as_root() {
        common::skip(
            "the_system_bus_policy_lets_group_vitrine_call_and_listen_but_only_root_or_vitrine_own",
            "it runs clients under other uids, which needs root",
        );
        return;
    }
    // The bus reads the policy, which names the group, at start.
    let (bus, gid) = system_bus_with_vitrine_group(&fixture("dbus-system/bus.conf"));
    let gid = gid.to_string();
    let kiosk = Kiosk::start_with("dbus-system", &[("DBUS_SYSTEM_BUS_ADDRESS", &bus.address), ("NO_AT_BRIDGE", "1")]);
    kiosk.wait_ready();
    assert!(kiosk.log.contains("on the system bus"), "{}", kiosk.dump());
    let (_dir, bin) = public_binary();
    let as_user = |groups: &[&str], program: &Path, args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534"]);
        match groups {
            [] => cmd.arg("--clear-groups"),
            gs => cmd.arg(format!("--groups={}", gs.join(","))),
        };
        cmd.arg(program).args(args).env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address).env_remove("DBUS_SESSION_BUS_ADDRESS");
        cmd.output().expect("setpriv (package util-linux)")
    };
    let busctl = Path::new("/usr/bin/busctl");
    let address = format!("--address={}", bus.address);

    // root (the kiosk's owner here) may call.
    let root = ctl_env(&[("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)], &["--system", "ping"]);
    assert_eq!(root.0, 0, "{}", root.2);

    // Anyone else is refused: by name, by unique name, introspection, owning the name.
    let out = as_user(&[], &bin, &["ctl", "--system", "ping"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("access denied by the system bus policy"), "{err}");
    let owner = bus.busctl(&[
        "call",
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "GetNameOwner",
        "s",
        NAME,
    ]);
    let unique = String::from_utf8_lossy(&owner.stdout).split('"').nth(1).expect("owner").to_string();
    for target in [NAME, unique.as_str()] {
        let out = as_user(&[], busctl, &[&address, "call", target, PATH, IFACE, "Ping"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Access denied"), "{out:?}");
    }
    let out = as_user(&[], busctl, &[&address, "introspect", NAME, PATH]);
    assert!(!out.status.success(), "{out:?}");
    let request =
        ["call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su"];
    let mut args = vec![address.as_str()];
    args.extend_from_slice(&request);
    args.extend_from_slice(&[NAME, "4"]);
    let out = as_user(&[], busctl, &args);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Access denied"), "{out:?}");

    // A member of group vitrine may call it, but may not own the name: not while the
    // kiosk holds it (queued), nor as a replacement.
    let out = as_user(&[&gid], &bin, &["ctl", "--system", "ping"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for flags in ["4", "0", "2"] {
        let mut args = vec![address.as_str()];
        args.extend_from_slice(&request);
        args.extend_from_slice(&[NAME, flags]);
        let out = as_user(&[&gid], busctl, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("Access denied"), "a member owned the name: {out:?}");
    }

    // Signals, which carry the surfaces' URLs, reach members and no one else.
    let listen = |groups: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534"]);
        match groups {
            [] => cmd.arg("--clear-groups"),
            gs => cmd.arg(format!("--groups={}", gs.join(","))),
        };
        let peer =
            Peer::start(cmd.args(["dbus-monitor", "--address", &bus.address, &format!("type='signal',path='{PATH}'")]));
        assert!(
            wait_until(Duration::from_secs(5), || peer.text().contains("NameAcquired")),
            "dbus-monitor did not start"
        );
        peer
    };
    let member = listen(&[&gid]);
    let outsider = listen(&[]);
    let marker = "signal-marker-7f3a";
    let status: Value = serde_json::from_str(
        &ctl_env(&[("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)], &["--system", "status", "--json"]).1,
    )
    .expect("status JSON");
    let url = surface(&status, "main")["url"].as_str().expect("main's url").to_string();
    let target = format!("{}?{marker}", url.split('?').next().unwrap_or(&url));
    let nav = ctl_env(&[("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)], &["--system", "navigate", "main", &target]);
    assert_eq!(nav.0, 0, "{}", nav.2);
    assert!(wait_until(Duration::from_secs(10), || member.text().contains(marker)), "no signal reached the member");
    // The member's copy came; the outsider's would have been sent at the same moment.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!outsider.text().contains(marker), "an outsider heard the URL:\n{}", outsider.text());
    assert!(!outsider.text().contains("PropertiesChanged"), "{}", outsider.text());
}

/// The kiosk's volume from `vitrine ctl`, D-Bus and a permitted page: every media
/// element of every surface reports it (`volume`, `muted`); unmute gives each element
/// its own `muted` back; a page without `media:allow-volume` is refused, and bad values
/// get a structured error from each of the three.
#[test]
fn the_volume_reaches_every_media_element_from_ctl_dbus_and_a_permitted_page() {
    let bus = PrivateBus::session();
    let kiosk = Kiosk::start_with("volume", &bus.env());
    kiosk.wait_ready();
    let seen = |needle: &str| {
        let found = kiosk.log.wait_for(needle, Duration::from_secs(10));
        assert!(found.is_some(), "no '{needle}'; log:\n{}", kiosk.dump());
    };
    let json = |name: &str| serde_json::from_str::<Value>(&kiosk.result(name)).unwrap();
    // Until a level is set, pages keep their own.
    seen("RESULT main a=0.8/false b=1/true");
    let refused = json("side-volume");
    assert_eq!(refused["code"], "not_allowed", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("media:allow-volume"), "{refused}");
    assert_eq!(json("main-read"), serde_json::json!({ "level": null, "muted": false }));
    for name in ["main-too-loud", "main-not-a-number", "main-fraction", "main-unknown"] {
        assert_eq!(json(name)["code"], "bad_args", "{name}");
    }
    assert_eq!(json("main-set"), serde_json::json!({ "level": 70, "muted": false }));
    seen("RESULT main a=0.7/false b=0.7/true");
    seen("RESULT side a=0.7/false b=0.7/true");

    let (code, out, err) = bus.ctl(&["volume", "40"]);
    assert_eq!((code, out.trim()), (0, "volume 40"), "{err}");
    seen("RESULT main a=0.4/false b=0.4/true");
    seen("RESULT side a=0.4/false b=0.4/true");
    let (code, out, err) = bus.ctl(&["volume", "mute"]);
    assert_eq!((code, out.trim()), (0, "volume 40, muted"), "{err}");
    seen("RESULT main a=0.4/true b=0.4/true");
    assert_eq!(bus.call("Volume", "s", &[""]).unwrap(), serde_json::json!([40, true]));
    assert_eq!(bus.call("Volume", "s", &["unmute"]).unwrap(), serde_json::json!([40, false]));
    // Each element's own mute comes back: b was muted by its page.
    seen("RESULT main a=0.4/false b=0.4/true");
    let (code, out, _) = bus.ctl(&["--json", "volume"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(out.trim()).unwrap(), serde_json::json!({ "level": 40, "muted": false }));

    // Bad values: a structured error, nothing changed, the kiosk still answers.
    for bad in ["101", "loud", "-3"] {
        let (code, out, err) = bus.ctl(&["--json", "volume", "--", bad]);
        assert_eq!(code, 1, "{bad}: {out} {err}");
        let e: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{bad}: {out} {err}"));
        assert_eq!(e["error"]["code"], "bad_args", "{bad}: {e}");
    }
    let e = bus.call("Volume", "s", &["250"]).unwrap_err();
    assert!(e.contains("out of range"), "{e}");
    assert_eq!(bus.call("Volume", "s", &[""]).unwrap(), serde_json::json!([40, false]));
}
