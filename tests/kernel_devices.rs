//! Kernel devices this machine's kernel does not have (it loads no modules and has no
//! CEC, I2C, uinput or DRM), under Debian's kernel in one qemu guest (scripts/kernel-vm)
//! that runs the `guest_` tests below against real kernel drivers:
//!
//! * HDMI-CEC: vivid's emulated HDMI input and output, joined by an emulated CEC bus. The
//!   TV is `cec-follower` (v4l-utils) on the input's adapter; `cec-ctl` asks it for its
//!   power state. What only a real TV shows: whether its firmware honours `<Standby>` and
//!   `<Image View On>` from a playback device (many have it off in a menu: "Anynet+",
//!   "Bravia Sync", "SimpLink"), and how long it takes.
//! * DDC/CI: i2c-dev on i2c-stub, which speaks SMBus only: the probe's real ioctl path
//!   and its refusal. The protocol itself is tested against a fake monitor (unit tests).
//! * X11 rotation with touch following: Xorg's modesetting driver on virtio-gpu (a DRM
//!   device that can rotate, unlike Xvfb, Xephyr and the dummy driver), and a touch screen
//!   made with uinput under Xorg's evdev driver; a touch is injected and the pointer is
//!   found where the turned screen shows that point. What only a real panel shows: that
//!   its axes are mounted as the display's.
//!
//! Needs root, and scripts/packages/kernel.txt. The guest halves are ignored tests that
//! the host half runs inside the guest.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::uinput::TouchPanel;
use vitrine::config::display::{BackendKind, Display};
use vitrine::display::{self, cec, Command as DisplayCommand, Report};

const PANEL: &str = "vitrine test touch panel";

#[test]
fn kernel_devices_in_a_guest_cec_ddc_and_x11_rotation_with_touch() {
    let test = "kernel_devices_in_a_guest_cec_ddc_and_x11_rotation_with_touch";
    let tools = ["cec-follower", "cec-ctl", "Xorg", "xinput", "xrandr", "xdotool"];
    if common::kernel_vm::ready(test, &tools) {
        common::kernel_vm::run_guest_tests(
            &["vivid", "i2c-dev", "i2c-stub:chip_addr=0x37", "uinput", "evdev", "virtio-gpu"],
            3,
        );
    }
}

/// The TV's power state as `cec-ctl` hears it from the TV: `on`, `standby`, … or what
/// went wrong.
fn tv_power() -> String {
    let out = Command::new("cec-ctl")
        .args(["-d", "/dev/cec1", "--to", "0", "--give-device-power-status"])
        .output()
        .expect("cec-ctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("pwr-state: "))
        .map(|s| s.split(' ').next().unwrap_or_default().to_string())
        .unwrap_or_else(|| "no answer".to_string())
}

/// Polls `f` until it says `what`; a TV passes through `to-standby` or `to-on` for
/// seconds on the way.
fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> String) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let now = f();
        if seen.last() != Some(&now) {
            eprintln!("    {now}");
            seen.push(now.clone());
        }
        if now == what || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn next_power(rx: &mpsc::Receiver<Report>) -> (bool, Option<String>) {
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).expect("a power report") {
            Report::Power { on, error } => return (on, error),
            _ => continue,
        }
    }
}

#[test]
#[ignore = "runs inside the qemu guest of scripts/kernel-vm, started by the test above"]
fn guest_cec_backend_against_a_vivid_tv() {
    // vivid: /dev/cec0 is the HDMI input's adapter (the TV, 0.0.0.0), /dev/cec1 the
    // output's (1.0.0.0), where the kiosk is.
    assert!(std::path::Path::new("/dev/cec1").exists(), "vivid's CEC adapters are missing");
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("{:6.2} s  {what}", t0.elapsed().as_secs_f64());
    let cfg = Display {
        backends: vec![BackendKind::Cec, BackendKind::Overlay],
        cec_device: Some("/dev/cec1".into()),
        ..Display::default()
    };
    let (tx, rx) = mpsc::channel();
    let handle = display::start(&cfg, move |r| {
        let _ = tx.send(r);
    })
    .expect("display thread");
    match rx.recv_timeout(Duration::from_secs(20)).expect("probing ends") {
        Report::Ready { power, .. } => assert_eq!(power, BackendKind::Cec, "the CEC adapter is the power backend"),
        other => panic!("first report: {other:?}"),
    }

    step("probed");
    // No TV on the bus yet (the input's adapter has no logical address): nothing
    // acknowledges, and the kiosk says what to check.
    handle.send(DisplayCommand::Power(false));
    let (on, error) = next_power(&rx);
    assert!(!on);
    let error = error.expect("a standby nobody acknowledged is an error");
    assert!(error.contains("did not acknowledge"), "{error}");

    step("standby without a TV refused");
    // The TV: a logical address, and cec-follower answering as a TV does.
    let tv = Command::new("cec-ctl").args(["-d", "/dev/cec0", "--tv"]).output().expect("cec-ctl");
    assert!(tv.status.success(), "cec-ctl --tv: {}", String::from_utf8_lossy(&tv.stderr));
    let follower_log = std::env::temp_dir().join("follower.log");
    let mut follower = Command::new("cec-follower")
        .args(["-d", "/dev/cec0", "-v"])
        .stdout(std::fs::File::create(&follower_log).expect("log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cec-follower");
    assert_eq!(wait_for("on", Duration::from_secs(30), tv_power), "on", "the emulated TV answers");

    step("the TV is on the bus");
    handle.send(DisplayCommand::Power(false));
    assert_eq!(next_power(&rx), (false, None));
    assert_eq!(wait_for("standby", Duration::from_secs(30), tv_power), "standby");
    step("the TV is in standby");
    // Our own reading agrees with cec-ctl's.
    let ours = cec::Cec::open(Some("/dev/cec1")).expect("a second handle on the adapter");
    assert_eq!(ours.tv_power().expect("the TV reports"), cec::TvPower::Standby);

    step("our reading agrees");
    handle.send(DisplayCommand::Power(true));
    assert_eq!(next_power(&rx), (true, None));
    assert_eq!(wait_for("on", Duration::from_secs(30), tv_power), "on");
    assert_eq!(ours.tv_power().expect("the TV reports"), cec::TvPower::On);

    step("the TV is on");
    let _ = follower.kill();
    let _ = follower.wait();
    let heard = std::fs::read_to_string(&follower_log).unwrap_or_default();
    for line in ["STANDBY (0x36)", "IMAGE_VIEW_ON (0x04)", "New active source: 1.0.0.0"] {
        assert!(heard.contains(line), "the TV never heard {line}:\n{heard}");
    }
    // Standby went to the TV alone, not to everyone.
    assert!(!heard.contains("to all (4 to 15): STANDBY"), "{heard}");
}

#[test]
#[ignore = "runs inside the qemu guest of scripts/kernel-vm, started by the test above"]
fn guest_ddc_on_a_real_i2c_dev_bus_without_a_monitor() {
    // i2c-stub: a real i2c-dev node (/dev/i2c-0) with a chip at 0x37 that speaks SMBus
    // only, not DDC/CI's plain I2C transfers. The I2C_SLAVE ioctl is the kernel's; the
    // probe must end in "unavailable" with the kernel's reason, not a panic or a hang.
    let bus = std::fs::read_dir("/dev")
        .expect("/dev")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("i2c-")))
        .expect("i2c-stub and i2c-dev make /dev/i2c-N");
    let bus = bus.display().to_string();
    let ddc = vitrine::display::ddc::I2cDev::open(std::path::Path::new(&bus));
    assert!(ddc.is_ok(), "I2C_SLAVE 0x37 on {bus}: {:?}", ddc.err());
    match vitrine::display::ddc::Ddc::probe(std::slice::from_ref(&bus), std::path::Path::new("/sys")) {
        Err(vitrine::display::DisplayError::Unavailable(why)) => {
            eprintln!("probe on {bus}: {why}");
            assert!(why.contains(&bus) && why.contains("no plain I2C"), "{why}");
        }
        Err(e) => panic!("not unavailable: {e}"),
        Ok(_) => panic!("i2c-stub answered DDC/CI"),
    }
    // A character device that is no I2C bus: the ioctl says so.
    let e = vitrine::display::ddc::I2cDev::open(std::path::Path::new("/dev/null")).err().expect("not i2c");
    assert!(e.to_string().contains("not an I2C bus"), "{e}");
}

/// Xorg names a configured device by its section's identifier.
const X_NAME: &str = "panel";

fn x_tool(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).env("DISPLAY", ":5").output().expect("X tool runs");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn pointer() -> (i64, i64) {
    let text = x_tool(&["xdotool", "getmouselocation"]);
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {text}"))
    };
    (field("x:"), field("y:"))
}

fn matrix_of_panel() -> Vec<f64> {
    let props = x_tool(&["xinput", "list-props", X_NAME]);
    let line = props
        .lines()
        .find(|l| l.contains("Coordinate Transformation Matrix"))
        .unwrap_or_else(|| panic!("no matrix property: {props}"));
    line.rsplit(':').next().unwrap_or_default().split(',').map(|v| v.trim().parse().unwrap_or(f64::NAN)).collect()
}

#[test]
#[ignore = "runs inside the qemu guest of scripts/kernel-vm, started by the test above"]
fn guest_x11_rotation_turns_the_output_and_touch_follows() {
    let mut panel = TouchPanel::create(PANEL);
    let node = TouchPanel::event_node(PANEL);
    let conf = std::env::temp_dir().join("xorg.conf");
    std::fs::write(
        &conf,
        format!(
            r#"Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "AutoAddGPU" "false"
EndSection
Section "Device"
  Identifier "gpu"
  Driver "modesetting"
  Option "kmsdev" "/dev/dri/card0"
  Option "AccelMethod" "none"
EndSection
Section "Screen"
  Identifier "screen"
  Device "gpu"
EndSection
Section "InputDevice"
  Identifier "panel"
  Driver "evdev"
  Option "Device" "{node}"
EndSection
Section "ServerLayout"
  Identifier "layout"
  Screen "screen"
  InputDevice "panel" "CorePointer"
EndSection
"#
        ),
    )
    .expect("xorg.conf");
    let log = std::env::temp_dir().join("xorg.log");
    let mut xorg = Command::new("Xorg")
        .args([":5", "-config"])
        .arg(&conf)
        .arg("-logfile")
        .arg(&log)
        .args(["-noreset", "-nolisten", "tcp", "-novtswitch", "-sharevts", "vt1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Xorg");
    let up = wait_for("up", Duration::from_secs(60), || {
        if x_tool(&["xrandr"]).contains(" connected") {
            "up".into()
        } else {
            "starting".into()
        }
    });
    assert_eq!(up, "up", "Xorg did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    let before = x_tool(&["xrandr"]);
    eprintln!("{}", before.lines().take(2).collect::<Vec<_>>().join("\n"));
    let devices = x_tool(&["xinput", "list"]);
    assert!(devices.contains(X_NAME), "the panel is an X device: {devices}");

    // The kiosk's display thread, on X11, turned a clockwise quarter at start.
    std::env::set_var("DISPLAY", ":5");
    let cfg = Display { backends: vec![BackendKind::X11], rotation: 90, ..Display::default() };
    let (tx, rx) = mpsc::channel();
    let handle = display::start(&cfg, move |r| {
        let _ = tx.send(r);
    })
    .expect("display thread");
    let mut rotated = None;
    let mut orientation = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (rotated.is_none() || orientation.is_none()) && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Report::Ready { power, .. }) => assert_eq!(power, BackendKind::X11, "DPMS on modesetting"),
            Ok(Report::Rotated { error }) => rotated = Some(error),
            Ok(Report::Orientation(o)) => orientation = Some(o),
            Ok(_) => {}
            Err(e) => panic!("no report: {e}"),
        }
    }
    assert_eq!(rotated, Some(None), "the rotation applied");
    assert_eq!(orientation, Some(vitrine::display::Orientation { rotation: 90, flipped: false }));
    let after = x_tool(&["xrandr"]);
    assert!(after.contains("800x1280+0+0 right"), "xrandr: {after}");

    // The panel's matrix, as xinput reads it, maps the panel onto the turned screen.
    let m = matrix_of_panel();
    let want = [0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    assert!(m.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4), "matrix {m:?}");

    // A tap a quarter across the panel and a tenth down lands where the turned screen
    // shows that point: the panel's top edge is the screen's left edge now.
    panel.tap(0.25, 0.1);
    let (x, y) = pointer();
    assert!((x - 80).abs() <= 3 && (y - 960).abs() <= 3, "the tap landed at {x},{y}, want 80,960");

    // And back: the identity again, a tap where the panel has it (another point: the
    // kernel drops an axis event that repeats the last value).
    handle.send(DisplayCommand::Rotate(vitrine::display::Orientation { rotation: 0, flipped: false }));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Report::Rotated { error }) => {
                assert_eq!(error, None);
                break;
            }
            Ok(_) if Instant::now() < deadline => {}
            other => panic!("no rotation report: {other:?}"),
        }
    }
    assert!(x_tool(&["xrandr"]).contains("1280x800+0+0 (normal"), "{}", x_tool(&["xrandr"]));
    panel.tap(0.5, 0.3);
    let (x, y) = pointer();
    assert!((x - 640).abs() <= 3 && (y - 240).abs() <= 3, "the tap landed at {x},{y}, want 640,240");
    let _ = xorg.kill();
    let _ = xorg.wait();
}
