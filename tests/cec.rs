//! HDMI-CEC against the kernel's own CEC framework: vivid's emulated HDMI input and output,
//! joined by an emulated CEC bus, under Debian's kernel in a qemu guest
//! (scripts/kernel-vm; this machine's kernel has no CEC and loads no modules). The TV is
//! `cec-follower` (v4l-utils) on the input's adapter; `cec-ctl` asks it for its power
//! state. What only a real TV shows: whether its firmware honours `<Standby>` and
//! `<Image View On>` from a playback device (many have it off in a menu: "Anynet+",
//! "Bravia Sync", "SimpLink"), and how long it takes.
//!
//! Needs root, and scripts/packages/kernel.txt. The guest half is an ignored test that
//! the host half runs inside the guest.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vitrine::config::display::{BackendKind, Display};
use vitrine::display::{self, cec, Command as DisplayCommand, Report};

#[test]
fn cec_puts_an_emulated_tv_in_standby_and_wakes_it_through_the_kernel() {
    let test = "cec_puts_an_emulated_tv_in_standby_and_wakes_it_through_the_kernel";
    if !common::running_as_root() {
        return common::skip(test, "the qemu guest's module loading and chroot need root");
    }
    for tool in ["qemu-system-x86_64", "busybox", "cec-follower", "cec-ctl", "depmod", "cpio"] {
        if !common::installed(tool) {
            return common::skip(test, &format!("{tool} is not installed (scripts/packages/kernel.txt)"));
        }
    }
    let out = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let script = out.path().join("guest.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' guest_ --ignored --nocapture --test-threads=1 \
             >\"$KERNEL_VM_OUT/log\" 2>&1\n",
            exe.display()
        ),
    )
    .expect("write");
    let started = Instant::now();
    let vm = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kernel-vm"))
        .arg(out.path())
        .arg(&script)
        .args(["vivid", "i2c-dev", "i2c-stub:chip_addr=0x37"])
        .output()
        .expect("scripts/kernel-vm runs");
    let log = std::fs::read_to_string(out.path().join("log")).unwrap_or_default();
    eprintln!("kernel-vm took {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        vm.status.success() && log.contains("test result: ok. 2 passed"),
        "the guest's test failed ({:?}):\n{log}\n--- kernel-vm:\n{}{}",
        vm.status,
        String::from_utf8_lossy(&vm.stdout),
        String::from_utf8_lossy(&vm.stderr)
    );
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
            eprintln!("    the TV: {now}");
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
