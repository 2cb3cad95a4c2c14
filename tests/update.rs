//! Updates end to end: a real `rauc service` (file-backed slots, `bootloader=noop`) on a
//! private bus that it and the kiosk take for the system bus, the real kiosk under
//! Xvfb, bundles built and signed in the test with a CA made there, and `vitrine ctl`.
//! Rebooting into the new slot is the image's test (scripts/ci-update-boot); here the
//! core's side: status, install, progress and result, refusals.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::rauc::{BundleServer, Rauc, COMPATIBLE};
use common::{installed, skip, wait_until, Kiosk, PrivateBus};
use serde_json::Value;

fn have_rauc(test: &str) -> bool {
    let ok = installed("rauc") && installed("mksquashfs") && installed("openssl") && common::running_as_root();
    if !ok {
        skip(test, "needs rauc, squashfs-tools, openssl and root (RAUC mounts bundles on loop devices)");
    }
    ok
}

/// The kiosk on `bus`, which is its system bus (RAUC's) too.
fn kiosk(bus: &PrivateBus) -> Kiosk {
    let mut env = bus.env().to_vec();
    env.push(("DBUS_SYSTEM_BUS_ADDRESS", &bus.address));
    let kiosk = Kiosk::start_with("dbus", &env);
    kiosk.wait_ready();
    kiosk
}

/// `vitrine ctl --json ARGS` in `cwd`: (exit code, stdout JSON, stderr).
fn ctl_in(bus: &PrivateBus, cwd: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(common::vitrine_bin())
        .current_dir(cwd)
        .arg("ctl")
        .arg("--json")
        .args(args)
        .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .expect("run vitrine ctl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn busctl(bus: &PrivateBus, args: &[&str]) -> (bool, String) {
    let out = Command::new("busctl").arg(format!("--address={}", bus.address)).args(args).output().expect("busctl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn update_property(bus: &PrivateBus, name: &str) -> String {
    let (ok, text) = busctl(
        bus,
        &["get-property", "org.vitrine.Vitrine1", "/org/vitrine/Vitrine1", "org.vitrine.Vitrine1.Update", name],
    );
    assert!(ok, "{name}: {text}");
    text.trim().to_string()
}

/// `dbus-monitor` on the Update interface, its output collected.
struct Monitor {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Monitor {
    fn start(bus: &PrivateBus) -> Monitor {
        let mut child = Command::new("dbus-monitor")
            .args(["--address", &bus.address])
            .arg("type='signal',path='/org/vitrine/Vitrine1'")
            .arg("type='signal',member='NameAcquired'")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor (package dbus-bin)");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&out);
        let mut stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // dbus-monitor has subscribed once it printed its own NameAcquired.
        assert!(wait_until(Duration::from_secs(5), || out.lock().unwrap().contains("NameAcquired")));
        Monitor { child, out }
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn status_shows_the_slots_and_a_signed_bundle_installs_through_ctl_and_dbus() {
    if !have_rauc("status_shows_the_slots_and_a_signed_bundle_installs_through_ctl_and_dbus") {
        return;
    }
    let bus = PrivateBus::session();
    let rauc = Rauc::start(&bus);
    let kiosk = kiosk(&bus);
    let dir = rauc.dir.path();

    let (code, status, err) = ctl_in(&bus, dir, &["update", "status"]);
    assert_eq!(code, 0, "{status} {err}");
    assert_eq!(status["available"], true, "{status}");
    assert_eq!(status["compatible"], COMPATIBLE);
    assert_eq!(status["booted"], "rootfs.0");
    assert_eq!(status["bootname"], "A");
    let slots = status["slots"].as_array().expect("slots");
    assert_eq!(slots.len(), 2, "{status}");
    assert_eq!(slots[1]["name"], "rootfs.1");
    assert_eq!(slots[1]["state"], "inactive");
    assert_eq!(update_property(&bus, "BootSlot"), "s \"rootfs.0\"");
    assert_eq!(update_property(&bus, "Operation"), "s \"idle\"");

    // `vitrine ctl status` carries it too, in JSON and text.
    let (code, all, _) = ctl_in(&bus, dir, &["status"]);
    assert_eq!(code, 0);
    assert_eq!(all["update"]["booted"], "rootfs.0", "{all}");
    let text = bus.ctl(&["status"]).1;
    assert!(text.contains("update: booted rootfs.0 (A)"), "{text}");

    let monitor = Monitor::start(&bus);
    rauc.bundle("good", "2.0.0", COMPATIBLE, "ca");
    let started = Instant::now();
    // A relative path: ctl makes it absolute for the kiosk and RAUC.
    let (code, out, err) = ctl_in(&bus, dir, &["update", "install", "good.raucb"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{out} {err}\n{}", rauc.log());
    assert_eq!(out["ok"], true);
    assert_eq!(out["version"], "2.0.0", "{out}");
    assert_eq!(out["slot"], "rootfs.1", "{out}");
    eprintln!(
        "install of a {} byte bundle through ctl: {took:?}",
        std::fs::metadata(dir.join("good.raucb")).unwrap().len()
    );
    assert_eq!(rauc.slot_b(), Rauc::image("2.0.0"), "slot B holds the bundle's image");

    // On D-Bus: the end as a signal, progress as property changes, the result as properties.
    assert!(wait_until(Duration::from_secs(5), || monitor.text().contains("member=Completed")), "{}", monitor.text());
    let seen = monitor.text();
    let completed = &seen[seen.find("member=Completed").unwrap()..];
    assert!(completed.contains("boolean true") && completed.contains("\"installed\""), "{completed}");
    assert!(seen.contains("\"Progress\""), "no progress was published:\n{seen}");
    assert!(seen.contains("\"installing\""), "{seen}");
    assert_eq!(update_property(&bus, "LastResult"), "s \"installed\"");
    assert_eq!(update_property(&bus, "LastError"), "s \"\"");
    assert_eq!(update_property(&bus, "Operation"), "s \"idle\"");

    let (_, status, _) = ctl_in(&bus, dir, &["update", "status"]);
    assert_eq!(status["slots"][1]["bundle_version"], "2.0.0", "{status}");
    assert_eq!(status["last"]["code"], "installed");
    assert_eq!(status["booted"], "rootfs.0", "still running A until a reboot");

    // The same through the D-Bus method, from a URL: the kiosk downloads it first.
    let server = BundleServer::serve(dir);
    rauc.bundle("next", "2.1.0", COMPATIBLE, "ca");
    let url = format!("http://127.0.0.1:{}/next.raucb", server.port);
    let (ok, text) = busctl(
        &bus,
        &["call", "org.vitrine.Vitrine1", "/org/vitrine/Vitrine1", "org.vitrine.Vitrine1.Update", "Install", "s", &url],
    );
    assert!(ok, "{text}");
    // Busy while it runs: a second install is refused, not queued.
    let (ok, text) = busctl(
        &bus,
        &["call", "org.vitrine.Vitrine1", "/org/vitrine/Vitrine1", "org.vitrine.Vitrine1.Update", "Install", "s", &url],
    );
    if !ok {
        assert!(text.contains("Busy") || text.contains("already running"), "{text}");
    }
    assert!(
        wait_until(Duration::from_secs(30), || monitor.text().matches("member=Completed").count() >= 2),
        "{}\n{}",
        monitor.text(),
        kiosk.dump()
    );
    assert_eq!(update_property(&bus, "LastResult"), "s \"installed\"", "{}", rauc.log());
    assert_eq!(rauc.slot_b(), Rauc::image("2.1.0"));
    let downloads = kiosk_state(&kiosk).join("update");
    let left: Vec<_> =
        std::fs::read_dir(&downloads).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "the download is removed once installed: {left:?}");
    drop(kiosk);
}

/// The kiosk's state directory (its HOME is the harness's temporary directory).
fn kiosk_state(kiosk: &Kiosk) -> std::path::PathBuf {
    let pid = kiosk.pid();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let home = environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"HOME="))
        .map(|h| std::path::PathBuf::from(String::from_utf8_lossy(h).into_owned()))
        .expect("HOME");
    home.join(".local/state/vitrine")
}

#[test]
fn tampered_unsigned_and_foreign_bundles_are_refused_and_the_kiosk_runs_on() {
    if !have_rauc("tampered_unsigned_and_foreign_bundles_are_refused_and_the_kiosk_runs_on") {
        return;
    }
    let bus = PrivateBus::session();
    let rauc = Rauc::start(&bus);
    let kiosk = kiosk(&bus);
    let dir = rauc.dir.path();
    let before = rauc.slot_b();

    // One byte of the payload changed after signing.
    let good = rauc.bundle("good", "2.0.0", COMPATIBLE, "ca");
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(dir.join("tampered.raucb"), &bytes).unwrap();
    // Signed by a CA that is not in the keyring.
    rauc.bundle("foreign", "2.0.0", COMPATIBLE, "other-ca");
    // A squashfs with no signature at all.
    let unsigned = Command::new("mksquashfs")
        .arg(dir.join("good.content"))
        .arg(dir.join("unsigned.raucb"))
        .args(["-all-root", "-noappend", "-no-progress"])
        .stdout(Stdio::null())
        .status()
        .expect("mksquashfs");
    assert!(unsigned.success());
    // Signed, for another device kind.
    rauc.bundle("other-kind", "2.0.0", "some-other-device", "ca");

    for (file, want) in [
        ("tampered.raucb", "bad_signature"),
        ("foreign.raucb", "bad_signature"),
        ("unsigned.raucb", "bad_signature"),
        ("other-kind.raucb", "incompatible"),
    ] {
        let (code, out, err) = ctl_in(&bus, dir, &["update", "install", file]);
        assert_eq!(code, 1, "{file}: {out} {err}");
        assert_eq!(out["error"]["code"], want, "{file}: {out}\n{}", rauc.log());
        assert!(!out["error"]["message"].as_str().unwrap_or_default().is_empty());
        assert_eq!(update_property(&bus, "LastResult"), format!("s \"{want}\""));
        assert_eq!(rauc.slot_b(), before, "{file} wrote nothing");
    }
    // Bad arguments and a download that fails are structured errors too.
    let (code, out, _) = ctl_in(&bus, dir, &["update", "install", "http://127.0.0.1:1/none.raucb"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("download_failed")), "{out}");
    let (ok, text) = busctl(
        &bus,
        &[
            "call",
            "org.vitrine.Vitrine1",
            "/org/vitrine/Vitrine1",
            "org.vitrine.Vitrine1.Update",
            "Install",
            "s",
            "rel.raucb",
        ],
    );
    assert!(!ok && text.contains("absolute path"), "{text}");

    // The kiosk is unharmed and healthy (its overlays load once the main page has), and
    // a good bundle still installs.
    let (code, _, err) = ctl_in(&bus, dir, &["health", "--wait", "--timeout", "30"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ctl_in(&bus, dir, &["update", "install", "good.raucb"]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(rauc.slot_b(), Rauc::image("2.0.0"));

    // RAUC goes away: its slots are no longer shown, an install is `unavailable`, and
    // the kiosk still answers.
    let keep = tempfile::tempdir().unwrap();
    let good = keep.path().join("good.raucb");
    std::fs::copy(dir.join("good.raucb"), &good).unwrap();
    drop(rauc);
    let (code, status, _) = ctl_in(&bus, keep.path(), &["update", "status"]);
    assert_eq!(code, 0);
    assert_eq!(
        (status["available"].as_bool(), status["slots"].as_array().map(Vec::len)),
        (Some(false), Some(0)),
        "{status}"
    );
    assert!(status["installed_version"].is_null() || status["installed_version"].is_string());
    let (code, out, _) = ctl_in(&bus, keep.path(), &["update", "install", "good.raucb"]);
    assert_eq!((code, out["error"]["code"].as_str()), (1, Some("unavailable")), "{out}");
    let (code, _, err) = ctl_in(&bus, keep.path(), &["health"]);
    assert_eq!(code, 0, "{err}");
    drop(kiosk);
}

#[test]
fn without_rauc_update_status_says_unavailable_and_install_is_refused() {
    let bus = PrivateBus::session();
    // A system bus without RAUC on it.
    let kiosk = kiosk(&bus);
    let dir = tempfile::tempdir().unwrap();
    let (code, status, _) = ctl_in(&bus, dir.path(), &["update", "status"]);
    assert_eq!(code, 0);
    assert_eq!(status["available"], false, "{status}");
    assert!(status["error"].as_str().unwrap_or_default().contains("de.pengutronix.rauc"), "{status}");
    let (code, out, _) = ctl_in(&bus, dir.path(), &["update", "install", "/nonexistent.raucb"]);
    assert_eq!(code, 1);
    assert_eq!(out["error"]["code"], "unavailable", "{out}");
    let text = bus.ctl(&["status"]).1;
    assert!(text.contains("update: unavailable"), "{text}");
    drop(kiosk);
}

#[test]
fn health_waits_for_the_kiosk_and_names_what_is_missing_after_the_bound() {
    let bus = PrivateBus::session();
    let dir = tempfile::tempdir().unwrap();
    // Nothing runs: after the bound, exit 3 (not running).
    let started = Instant::now();
    let (code, out, err) = ctl_in(&bus, dir.path(), &["health", "--wait", "--timeout", "2"]);
    assert_eq!(code, 3, "{out} {err}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(out["error"]["code"], "not_running");

    // Started before the kiosk: it waits, and answers once the kiosk is ready.
    let waiting = Command::new(common::vitrine_bin())
        .args(["ctl", "--json", "health", "--wait", "--timeout", "90"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdout(Stdio::piped())
        .spawn()
        .expect("ctl health");
    let kiosk = Kiosk::start_with("dbus", &bus.env());
    let out = waiting.wait_with_output().expect("ctl health ends");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), kiosk.dump());
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer["healthy"], true);
    assert!(answer["surfaces"].as_u64() >= Some(3), "{answer}");
    drop(kiosk);

    // A main page that never loads (its server is down): unhealthy, with the reason.
    let url = format!("http://127.0.0.1:{}/", common::closed_port());
    let kiosk = Kiosk::start_with("offline", &[bus.env()[0], bus.env()[1], ("VITRINE_URL", &url)]);
    assert!(kiosk.log.wait_for("showing offline page for main", common::STARTUP).is_some(), "{}", kiosk.dump());
    let (code, out, err) = ctl_in(&bus, dir.path(), &["health", "--wait", "--timeout", "3"]);
    assert_eq!(code, 1, "{out} {err}");
    assert_eq!(out["error"]["code"], "unhealthy");
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not healthy after 3 s") && message.contains("'main' is down"), "{message}");
    drop(kiosk);
}
