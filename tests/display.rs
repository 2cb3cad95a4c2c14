//! The screen end to end: overlays that follow the output, display power and its
//! backends, the wake touch, rotation. The real binary on headless sway (wlroots, as
//! cage and labwc) captured with grim, and on Xvfb; `vitrine ctl` on a private bus.
//!
//! Needs `sway`, `grim` (scripts/packages/wayland.txt) and `dbus-daemon`. Without sway the
//! sway tests say so and return.

mod common;

use std::time::{Duration, Instant};

use common::{near, Image, Sway, WaylandBus, WaylandKiosk};
use serde_json::Value;

const BLUE: [u8; 3] = [0x20, 0x50, 0xa0];
const GREEN: [u8; 3] = [0x00, 0xc0, 0x00];
const RED: [u8; 3] = [0xff, 0x00, 0x00];
const YELLOW: [u8; 3] = [0xe0, 0xc0, 0x20];

fn sway_or_skip(test: &str) -> Option<Sway> {
    let sway = Sway::start(1920, 1080);
    if sway.is_none() {
        eprintln!(
            "SKIPPED {test}: sway is not installed (apt-get install sway grim, see scripts/packages/wayland.txt)"
        );
    }
    sway
}

#[allow(dead_code)] // used by the power tests
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(bus: &WaylandBus, kiosk: &WaylandKiosk) -> Value {
    let (code, out, err) = bus.ctl(kiosk, &["status", "--json"]);
    assert_eq!(code, 0, "ctl status: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status is JSON ({e}): {out}"))
}

fn geometry(status: &Value, label: &str) -> [i64; 4] {
    let s = status["surfaces"].as_array().and_then(|a| a.iter().find(|s| s["label"] == label));
    let g = &s.unwrap_or_else(|| panic!("no surface {label} in {status:#}"))["geometry"];
    ["x", "y", "width", "height"].map(|k| g[k].as_i64().unwrap_or(-1))
}

/// Every named pixel has its colour.
fn check(shot: &Image, points: &[(usize, usize, [u8; 3], &str)]) -> Vec<String> {
    points
        .iter()
        .filter(|(x, y, want, _)| !near(shot.pixel(*x, *y), *want))
        .map(|(x, y, want, what)| format!("{what} at {x},{y}: {:?}, want {want:?}", shot.pixel(*x, *y)))
        .collect()
}

fn landscape() -> Vec<(usize, usize, [u8; 3], &'static str)> {
    vec![
        (0, 30, GREEN, "bar"),
        (1919, 30, GREEN, "bar"),
        (960, 59, GREEN, "bar"),
        (960, 61, BLUE, "below the bar"),
        (1799, 1009, RED, "badge"),
        (1701, 961, RED, "badge"),
        (1910, 1070, BLUE, "badge margin"),
        (10, 540, YELLOW, "panel"),
        (479, 271, YELLOW, "panel"),
        (481, 540, BLUE, "right of the panel"),
        (240, 265, BLUE, "above the panel"),
        (960, 540, BLUE, "main"),
    ]
}

fn portrait() -> Vec<(usize, usize, [u8; 3], &'static str)> {
    vec![
        (0, 30, GREEN, "bar"),
        (1079, 30, GREEN, "bar"),
        (540, 59, GREEN, "bar"),
        (540, 61, BLUE, "below the bar"),
        (861, 1801, RED, "badge"),
        (1059, 1899, RED, "badge"),
        (1070, 1910, BLUE, "badge margin"),
        (850, 1850, BLUE, "left of the badge"),
        (10, 960, YELLOW, "panel"),
        (269, 481, YELLOW, "panel"),
        (135, 1439, YELLOW, "panel"),
        (272, 960, BLUE, "right of the panel"),
        (135, 470, BLUE, "above the panel"),
        (540, 1000, BLUE, "main"),
    ]
}

#[test]
fn overlays_follow_a_rotation_and_the_kiosk_survives_an_output_power_cycle() {
    let Some(sway) = sway_or_skip("overlays_follow_a_rotation_and_the_kiosk_survives_an_output_power_cycle") else {
        return;
    };
    let bus = WaylandBus::start(sway.runtime_dir.path());
    let kiosk = WaylandKiosk::start(&sway, "display", &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    kiosk.wait_ready();
    for page in ["main", "bar", "badge", "panel"] {
        kiosk.result(&format!("{page}-painted"));
    }

    let shot = sway.screenshot_when(|s| check(s, &landscape()).is_empty(), Duration::from_secs(10));
    assert_eq!((shot.width, shot.height), (1920, 1080));
    let wrong = check(&shot, &landscape());
    assert!(wrong.is_empty(), "landscape: {wrong:#?}");
    let s = status(&bus, &kiosk);
    assert_eq!((s["output"]["width"].as_i64(), s["output"]["height"].as_i64()), (Some(1920), Some(1080)), "{s:#}");
    assert_eq!(geometry(&s, "main"), [0, 0, 1920, 1080]);
    assert_eq!(geometry(&s, "bar"), [0, 0, 1920, 60]);
    assert_eq!(geometry(&s, "badge"), [1700, 960, 200, 100]);
    assert_eq!(geometry(&s, "panel"), [0, 270, 480, 540]);

    // A quarter turn: every overlay is placed again from its anchor, size and margin.
    sway.msg(&["output", "HEADLESS-1", "transform", "90"]);
    let rotated = Instant::now();
    let shot = sway.screenshot_when(|s| s.width == 1080 && check(s, &portrait()).is_empty(), Duration::from_secs(10));
    eprintln!("MEASURE display_rotation_relayout_ms={}", rotated.elapsed().as_millis());
    assert_eq!((shot.width, shot.height), (1080, 1920));
    let wrong = check(&shot, &portrait());
    assert!(wrong.is_empty(), "after a 90° transform: {wrong:#?}");
    let s = status(&bus, &kiosk);
    assert_eq!((s["output"]["width"].as_i64(), s["output"]["height"].as_i64()), (Some(1080), Some(1920)), "{s:#}");
    assert_eq!(geometry(&s, "main"), [0, 0, 1080, 1920]);
    assert_eq!(geometry(&s, "bar"), [0, 0, 1080, 60]);
    assert_eq!(geometry(&s, "badge"), [860, 1800, 200, 100]);
    assert_eq!(geometry(&s, "panel"), [0, 480, 270, 960]);
    // The pages were laid out for their new boxes, not cut off.
    assert!(kiosk.log.wait_for("RESULT bar-resized 1080x60", Duration::from_secs(5)).is_some(), "{}", kiosk.dump());

    // A TV's power cycle: the output goes away and comes back.
    sway.msg(&["output", "HEADLESS-1", "disable"]);
    std::thread::sleep(Duration::from_millis(500));
    sway.msg(&["output", "HEADLESS-1", "enable"]);
    let (code, out, err) = bus.ctl(&kiosk, &["ping"]);
    assert_eq!(code, 0, "the kiosk answers after the output came back: {out}{err}");
    let shot = sway.screenshot_when(|s| check(s, &portrait()).is_empty(), Duration::from_secs(10));
    let wrong = check(&shot, &portrait());
    assert!(wrong.is_empty(), "after disable and enable: {wrong:#?}\n{}", kiosk.dump());
    let tree = sway.msg(&["-t", "get_tree"]);
    assert!(tree.to_string().contains("\"fullscreen_mode\":1"), "still fullscreen: {tree:#}");

    // And back to landscape.
    sway.msg(&["output", "HEADLESS-1", "transform", "normal"]);
    let shot = sway.screenshot_when(|s| s.width == 1920 && check(s, &landscape()).is_empty(), Duration::from_secs(10));
    let wrong = check(&shot, &landscape());
    assert!(wrong.is_empty(), "back to landscape: {wrong:#?}");
}
