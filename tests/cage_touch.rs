//! cage (the device image's compositor) turns its output only at start, and maps no touch
//! screen to it: `vitrine cage-setup` gives cage its `-r` arguments and touch screens a
//! udev rule with libinput's calibration matrix (src/display/cage.rs). Checked with the
//! real parts under Debian's kernel in a qemu guest (scripts/kernel-vm): systemd-udevd,
//! cage 0.1.4 on virtio-gpu's DRM device, uinput touch screens plugged in while it runs,
//! and `wev` as cage's client, which prints where each touch lands on its surface.
//!
//! The matrix is checked against wlroots' own answer: a second panel gets no matrix but
//! is mapped to the output by name (`WL_OUTPUT`), so wlroots turns its touches with the
//! output's transform, as it draws the picture. Both must land on the same point, the
//! point the turned picture shows there. What only a real panel shows: that its axes
//! are mounted as the display's.
//!
//! Needs root, and scripts/packages/kernel.txt.

mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::uinput::TouchPanel;
use vitrine::display::{cage, shown, Orientation, Report};

const PANEL: &str = "vitrine test touch panel";
const MAPPED: &str = "vitrine mapped touch panel";

#[test]
fn cage_in_a_guest_turns_its_output_and_touch_follows() {
    let test = "cage_in_a_guest_turns_its_output_and_touch_follows";
    if common::kernel_vm::ready(test, &["cage", "wev", "udevadm", "stdbuf", "setpriv"]) {
        let log = common::kernel_vm::run_guest_tests(&["uinput", "evdev", "virtio-gpu"], 1);
        for line in log.lines().filter(|l| l.contains("cage shows") || l.starts_with("a tap at")) {
            eprintln!("guest: {line}");
        }
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The touch-downs `wev` printed so far, as surface coordinates.
fn downs(wev_log: &Path) -> Vec<(f64, f64)> {
    let file = std::fs::File::open(wev_log).expect("wev's output");
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("wl_touch] down"))
        .filter_map(|l| {
            let xy = l.rsplit("x, y: ").next()?;
            let (x, y) = xy.split_once(',')?;
            Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
        })
        .collect()
}

/// Taps `panel` at its own (u, v) until wev hears a touch-down (libinput adds a plugged
/// panel a moment after the kernel has it); answers where it landed.
fn tap(panel: &mut TouchPanel, u: f64, v: f64, wev_log: &Path) -> (f64, f64) {
    let before = downs(wev_log).len();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Alternating points: the kernel drops an axis event that repeats the last value.
    let mut nudge = 0.0;
    while Instant::now() < deadline {
        panel.tap(u + nudge, v);
        if let Some(&p) = downs(wev_log).get(before) {
            return p;
        }
        nudge = if nudge == 0.0 { 0.001 } else { 0.0 };
    }
    panic!("wev heard no touch: {}", std::fs::read_to_string(wev_log).unwrap_or_default());
}

#[test]
#[ignore = "runs inside the qemu guest of scripts/kernel-vm, started by the test above"]
fn guest_cage_turns_its_output_and_touch_follows() {
    // udev as on a device: the daemon, and the devices there are in its database.
    // (systemd's tools do nothing in a chroot unless told to.)
    std::env::set_var("SYSTEMD_IGNORE_CHROOT", "1");
    run("/lib/systemd/systemd-udevd", &["--daemon"]);
    run("udevadm", &["trigger", "--action=add"]);
    run("udevadm", &["settle", "--timeout=30"]);

    // What vitrine-cage.service runs before cage, for display.rotation = 90.
    let o = Orientation { rotation: 90, flipped: false };
    let env = PathBuf::from("/run/vitrine-display/cage.env");
    let done = cage::setup(o, &env, Path::new(cage::RULES_FILE), true).expect("cage-setup");
    assert!(done.warnings.is_empty(), "{:?}", done.warnings);
    let args = std::fs::read_to_string(&env).expect("env file");
    assert_eq!(args.trim(), "VITRINE_CAGE_ARGS=-r -r -r");

    // The comparison panel: no matrix, mapped to the output by name, which cage honours.
    std::fs::write(
        "/run/udev/rules.d/71-vitrine-test-mapped.rules",
        format!(
            "SUBSYSTEM==\"input\", KERNEL==\"event*\", ATTRS{{name}}==\"{MAPPED}\", \
             ENV{{LIBINPUT_CALIBRATION_MATRIX}}=\"1 0 0 0 1 0\", ENV{{WL_OUTPUT}}=\"Virtual-1\"\n"
        ),
    )
    .expect("test rule");
    run("udevadm", &["control", "--reload"]);

    // cage as the unit starts it (its arguments from the file), wev as its client. Not
    // as root, which cage refuses: as nobody with the device groups, its seat libseat's
    // built-in one without a VT (no logind in the guest; libseat's no-op backend never
    // activates under Debian 12's wlroots 0.15).
    let runtime = Path::new("/run/vitrine-display");
    run("chown", &["65534:65534", "/run/vitrine-display"]);
    run("chmod", &["700", "/run/vitrine-display"]);
    let wev_log = runtime.join("wev.log");
    let cage_args: Vec<&str> = args.trim().trim_start_matches("VITRINE_CAGE_ARGS=").split_whitespace().collect();
    let mut cage_proc = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--groups=video,input,render", "--", "cage"])
        .args(&cage_args)
        .args(["-d", "--", "stdbuf", "-oL", "wev"])
        .env("XDG_RUNTIME_DIR", runtime)
        .env("LIBSEAT_BACKEND", "builtin")
        .env("SEATD_VTBOUND", "0")
        .env("WLR_RENDERER", "pixman")
        .env("WLR_LIBINPUT_NO_DEVICES", "1")
        .stdout(std::fs::File::create(&wev_log).expect("wev log"))
        .stderr(std::fs::File::create(runtime.join("cage.log")).expect("cage log"))
        .spawn()
        .expect("cage");
    let socket = runtime.join("wayland-0");
    let up = common::wait_until(Duration::from_secs(60), || socket.exists());
    assert!(up, "cage did not listen: {}", std::fs::read_to_string(runtime.join("cage.log")).unwrap_or_default());
    let wev_up = common::wait_until(Duration::from_secs(60), || {
        std::fs::read_to_string(&wev_log).is_ok_and(|l| l.contains("xdg_toplevel] configure"))
    });
    assert!(wev_up, "wev got no window: {}", std::fs::read_to_string(&wev_log).unwrap_or_default());

    // What the core reads where it cannot turn the output itself.
    std::env::set_var("XDG_RUNTIME_DIR", runtime);
    std::env::set_var("WAYLAND_DISPLAY", "wayland-0");
    let outputs = shown::outputs().expect("wl_output");
    eprintln!("cage shows {outputs:?}");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(Some(outputs[0].transform), vitrine::display::wlr_output::transform(o), "{outputs:?}");
    // The kiosk's display thread, configured for 90°, finds no backend that can turn the
    // output under cage, and reports the rotation applied because cage shows it; a turn
    // at run time that cage does not show is refused with what to do instead.
    let cfg = vitrine::config::display::Display { rotation: 90, ..Default::default() };
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = vitrine::display::start(&cfg, move |r| {
        let _ = tx.send(r);
    })
    .expect("display thread");
    let rotated = |rx: &std::sync::mpsc::Receiver<Report>| loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Report::Rotated { error }) => break error,
            Ok(_) => {}
            Err(e) => panic!("no rotation report: {e}"),
        }
    };
    assert_eq!(rotated(&rx), None, "at start, under cage turned by -r -r -r");
    handle.send(vitrine::display::Command::Rotate(Orientation { rotation: 0, flipped: false }));
    let refused = rotated(&rx).expect("cage cannot turn at run time");
    assert!(refused.contains("restart vitrine-cage"), "{refused}");

    // Both panels plugged in while cage runs, as a USB touch screen may be.
    let mut panel = TouchPanel::create(PANEL);
    let mut mapped = TouchPanel::create(MAPPED);
    let node = TouchPanel::event_node(PANEL);
    run("udevadm", &["settle", "--timeout=30"]);
    let props = run("udevadm", &["info", "--query=property", &format!("--name={node}")]);
    let matrix = done.calibration.as_deref().expect("a matrix for a quarter turn");
    assert!(props.contains(&format!("LIBINPUT_CALIBRATION_MATRIX={matrix}\n")), "{props}");
    assert!(props.contains("ID_INPUT_TOUCHSCREEN=1"), "{props}");

    // Virtio-gpu's 1280×800, turned: 800×1280. A quarter across the panel and a tenth
    // down: the panel's top edge is the turned picture's left edge.
    let want = (0.1 * 800.0, 0.75 * 1280.0);
    let near = |p: (f64, f64)| (p.0 - want.0).abs() <= 3.0 && (p.1 - want.1).abs() <= 3.0;
    let by_matrix = tap(&mut panel, 0.25, 0.1, &wev_log);
    let by_wlroots = tap(&mut mapped, 0.25, 0.1, &wev_log);
    eprintln!("a tap at the panel's (0.25, 0.1): {by_matrix:?} by the rule, {by_wlroots:?} by wlroots' mapping");
    assert!(near(by_wlroots), "wlroots turned the mapped panel's tap to {by_wlroots:?}, want {want:?}");
    assert!(near(by_matrix), "the rule's matrix turned the tap to {by_matrix:?}, want {want:?} as wlroots does");

    let _ = cage_proc.kill();
    let _ = cage_proc.wait();
}
