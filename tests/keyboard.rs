//! The built-in on-screen keyboard, end to end: the real binary, real WebKitGTK, real
//! pointer clicks (xdotool on Xvfb, the compositor's own seat on headless sway) on the
//! keyboard's keys, which the test finds where the keyboard page says they are
//! (`vitrine ctl keyboard keys`, from the page's own layout), never at fixed pixels.
//!
//! The form page (tests/fixtures/keyboard/ui/form.js) reports every keydown, input and
//! keyup it sees and its fields' values (a password's length only).

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A private `dbus-daemon` any user may join (the sway run's kiosk is another user).
struct Bus(PrivateBus);

impl std::ops::Deref for Bus {
    type Target = PrivateBus;
    fn deref(&self) -> &PrivateBus {
        &self.0
    }
}

impl Bus {
    fn start() -> Bus {
        Bus(PrivateBus::start(&fixture("keyboard/session.conf")))
    }

    fn ctl(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(vitrine_bin())
            .arg("ctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("run vitrine ctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// `status --json`'s keyboard part.
    fn keyboard(&self) -> Value {
        let (code, text) = self.ctl(&["--json", "status"]);
        assert_eq!(code, 0, "ctl status: {text}");
        let status: Value = serde_json::from_str(&text).expect("status is JSON");
        status["keyboard"].clone()
    }

    /// The keys the keyboard shows now: id → centre on the screen.
    fn keys(&self) -> BTreeMap<String, (i64, i64)> {
        let (code, text) = self.ctl(&["--json", "keyboard", "keys"]);
        assert_eq!(code, 0, "ctl keyboard keys: {text}");
        let keys: Vec<Value> = serde_json::from_str(&text).expect("keys are JSON");
        keys.iter()
            .map(|k| {
                let n = |f: &str| k[f].as_i64().expect("a number");
                (k["id"].as_str().expect("id").to_string(), (n("x") + n("width") / 2, n("y") + n("height") / 2))
            })
            .collect()
    }

    fn wait_keyboard(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let k = self.keyboard();
            if pred(&k) {
                return k;
            }
            assert!(Instant::now() < deadline, "keyboard never {what}: {k}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the keyboard shows a key `id`, or `within` passes.
    fn key_within(&self, id: &str, within: Duration) -> Option<(i64, i64)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.keys().get(id) {
                return Some(*at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Types `text` by clicking the keyboard's keys, switching its pages with its own
/// Shift / ?123 / ABC keys where a character is not on the page shown.
fn type_text(bus: &Bus, click: &dyn Fn(i64, i64), text: &str) {
    for c in text.chars() {
        let id = if c == ' ' { "Space".to_string() } else { c.to_string() };
        let mut at = bus.key_within(&id, Duration::from_millis(300));
        if at.is_none() {
            let toggle = if c.is_alphabetic() {
                if bus.keys().contains_key("Letters") {
                    click_key(bus, click, "Letters");
                    at = bus.key_within(&id, Duration::from_secs(10));
                }
                "Shift"
            } else {
                "Symbols"
            };
            if at.is_none() {
                click_key(bus, click, toggle);
                at = bus.key_within(&id, Duration::from_secs(10));
            }
        }
        let (x, y) = at.unwrap_or_else(|| panic!("no key '{id}' on the keyboard: {:?}", bus.keys().keys()));
        click(x, y);
        // One key at a time, as a person types.
        std::thread::sleep(Duration::from_millis(150));
    }
}

fn click_key(bus: &Bus, click: &dyn Fn(i64, i64), id: &str) {
    let (x, y) = bus.key_within(id, Duration::from_secs(2)).unwrap_or_else(|| panic!("no key '{id}'"));
    click(x, y);
    std::thread::sleep(Duration::from_millis(150));
}

/// The field a page reported last with this value (`"value":"…"`), within `timeout`.
fn field_report(log: &LineLog, id: &str, fragment: &str, timeout: Duration) -> Option<Value> {
    let needle = format!("\"id\":\"{id}\"");
    let line =
        log.wait_where(|l| l.contains("RESULT field ") && l.contains(&needle) && l.contains(fragment), timeout)?;
    serde_json::from_str(line.split_once("RESULT field ")?.1).ok()
}

fn centre(rects: &Value, id: &str) -> (i64, i64) {
    (rects[id][0].as_i64().expect("x"), rects[id][1].as_i64().expect("y"))
}

const TYPED: &str = "Grüße 42!";

/// Focus, type "Grüße 42!", check what the page saw.
fn type_into_name(bus: &Bus, log: &LineLog, click: &dyn Fn(i64, i64), rects: &Value) {
    let (x, y) = centre(rects, "name");
    click(x, y);
    let k = bus.wait_keyboard("shown for the field", |k| {
        k["visible"] == true && k["keys"].as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!((k["surface"].as_str(), k["pad"].as_str()), (Some("main"), Some("text")), "{k}");
    type_text(bus, click, TYPED);
    let value = serde_json::to_string(TYPED).expect("json");
    let report = field_report(log, "name", &format!("\"value\":{value}"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the field never held {TYPED:?}"));
    // Nine characters, nine keys: each a keydown and an input event, as from hardware.
    let count = |f: &str| report[f].as_u64().unwrap_or(0);
    assert!(count("keydown") >= 9 && count("input") >= 9, "{report}");
    assert_eq!(report["trusted"], true, "events the page saw were not the user agent's own: {report}");
}

#[test]
fn typing_on_the_keyboard_gives_a_local_form_real_key_events_and_follows_focus() {
    let bus = Bus::start();
    let kiosk = Kiosk::start_with("keyboard", &[("DBUS_SESSION_BUS_ADDRESS", &bus.address), ("VITRINE_LOG", "trace")]);
    kiosk.wait_ready();
    let rects: Value = serde_json::from_str(&kiosk.result("rects")).expect("rects");
    // keyboard.show/hide are permissioned IPC: the form may, the badge may not.
    assert_eq!(kiosk.result("ipc-bad"), "bad_args");
    assert_eq!(kiosk.result("ipc-show"), "ok");
    assert_eq!(kiosk.result("ipc-hide"), "ok");
    assert_eq!(kiosk.result("badge-show"), "not_allowed");
    bus.wait_keyboard("hidden at first", |k| k["visible"] == false && k["ready"] == true);

    let x = &kiosk.xvfb;
    let click = |cx: i64, cy: i64| x.xdotool(&["mousemove", &cx.to_string(), &cy.to_string(), "click", "1"]);
    type_into_name(&bus, &kiosk.log, &click, &rects);
    // The main surface's viewport gave the keyboard its height; the window did not move.
    kiosk.log.wait_for("RESULT viewport 1920x648 ", Duration::from_secs(5)).expect("the viewport shrank");
    assert!(x.window_tree().contains("1920x1080+0+0"), "{}", x.window_tree());
    // A page that keeps focusing its own field in another surface got nothing.
    assert!(!kiosk.log.contains("RESULT thief-got-keys"), "keys went to the overlay that grabbed focus");
    assert!(kiosk.log.contains("surface=thief keyboard: focus in a surface not pressed last"), "{}", kiosk.dump());

    // The keyboard's Tab goes on to the next field, a number field: it gets the numeric pad.
    click_key(&bus, &click, "Tab");
    let k = bus.wait_keyboard("numeric", |k| k["pad"] == "numeric");
    let keys = bus.keys();
    assert!(keys.contains_key("7") && !keys.contains_key("q"), "{k}");
    type_text(&bus, &click, "42");
    field_report(&kiosk.log, "pin", "\"value\":\"42\"", Duration::from_secs(10)).expect("42 typed on the pad");

    // Password keys: typed, never previewed in the log, never logged (at trace level).
    let before = kiosk.log.all().len();
    let (sx, sy) = centre(&rects, "secret");
    click(sx, sy);
    bus.wait_keyboard("back to letters", |k| k["pad"] == "text");
    type_text(&bus, &click, "QZJ");
    field_report(&kiosk.log, "secret", "\"length\":3", Duration::from_secs(10)).expect("three password keys");
    let during: Vec<String> = kiosk.log.all()[before..].to_vec();
    let leaked: Vec<&String> = during.iter().filter(|l| l.contains(['Q', 'Z', 'J'])).collect();
    assert!(leaked.is_empty(), "password keys in the log: {leaked:#?}");

    // Blur hides it, and the viewport is whole again.
    let (bx, by) = centre(&rects, "blank");
    click(bx, by);
    bus.wait_keyboard("hidden on blur", |k| k["visible"] == false && k["surface"].is_null());
    kiosk.log.wait_for("RESULT viewport 1920x1080 ", Duration::from_secs(5)).expect("the viewport is whole again");

    // A long press offers a letter's accents; Enter in a one-line field is done typing.
    let (nx, ny) = centre(&rects, "name");
    click(nx, ny);
    bus.wait_keyboard("shown again", |k| k["visible"] == true && k["pad"] == "text");
    let (ex, ey) = bus.key_within("e", Duration::from_secs(5)).expect("an e key");
    let (ex, ey) = (ex.to_string(), ey.to_string());
    x.xdotool(&["mousemove", &ex, &ey, "mousedown", "1", "sleep", "0.9", "mouseup", "1"]);
    click_key(&bus, &click, "é");
    let value = serde_json::to_string(&format!("{TYPED}é")).expect("json");
    field_report(&kiosk.log, "name", &format!("\"value\":{value}"), Duration::from_secs(10)).expect("é typed");
    click_key(&bus, &click, "Return");
    bus.wait_keyboard("hidden by Enter", |k| k["visible"] == false);

    // Control: ctl show/hide; never for an excluded surface.
    let (code, text) = bus.ctl(&["keyboard", "show"]);
    assert_eq!(code, 0, "{text}");
    bus.wait_keyboard("shown by ctl", |k| k["visible"] == true && k["surface"] == "main");
    let (code, text) = bus.ctl(&["keyboard", "show", "badge"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("badge"), "{text}");
    let (code, text) = bus.ctl(&["keyboard", "hide"]);
    assert_eq!(code, 0, "{text}");
    bus.wait_keyboard("hidden by ctl", |k| k["visible"] == false);
    // A new page takes the field with it, and the keyboard goes too.
    bus.ctl(&["keyboard", "show"]);
    bus.wait_keyboard("shown by ctl again", |k| k["visible"] == true);
    let (code, text) = bus.ctl(&["reload", "main"]);
    assert_eq!(code, 0, "{text}");
    bus.wait_keyboard("hidden with its page", |k| k["visible"] == false);
    let (code, text) = bus.ctl(&["status"]);
    assert!(code == 0 && text.contains("keyboard: hidden"), "{text}");
}

#[test]
fn a_remote_page_gets_the_keyboard_without_any_capability() {
    let ui = fixture("keyboard/ui");
    let read = |f: &str| std::fs::read_to_string(ui.join(f)).expect("fixture file");
    let server = HttpServer::start(vec![
        ("/form.html", "text/html; charset=utf-8", read("form.html")),
        ("/form.js", "text/javascript", read("form.js")),
    ]);
    let url = format!("http://127.0.0.1:{}/form.html", server.port);
    let bus = Bus::start();
    let kiosk = Kiosk::start_with("keyboard", &[("DBUS_SESSION_BUS_ADDRESS", &bus.address), ("VITRINE_URL", &url)]);
    kiosk.wait_ready();
    let rects: Value = serde_json::from_str(&kiosk.result("rects")).expect("rects");
    bus.wait_keyboard("ready", |k| k["ready"] == true);
    let x = &kiosk.xvfb;
    let click = |cx: i64, cy: i64| x.xdotool(&["mousemove", &cx.to_string(), &cy.to_string(), "click", "1"]);
    type_into_name(&bus, &kiosk.log, &click, &rects);
    assert!(kiosk.log.contains(&format!("page loaded {url}")), "the remote page was not the one typed into");
}

#[test]
fn on_sway_the_keyboard_types_into_the_fullscreen_kiosk() {
    if !installed("sway") {
        skip("on_sway_the_keyboard_types_into_the_fullscreen_kiosk", "sway is not installed");
        return;
    }
    let sway = Sway::start(1920, 1080).expect("sway");
    let bus = Bus::start();
    let kiosk = WaylandKiosk::start(&sway, "keyboard", &[("DBUS_SESSION_BUS_ADDRESS", &bus.address)]);
    kiosk.wait_ready();
    let rects: Value = serde_json::from_str(&kiosk.result("rects")).expect("rects");
    bus.wait_keyboard("ready", |k| k["ready"] == true);
    // A pointer of the compositor's own seat (wlroots' virtual pointer): sway routes
    // its presses to the surface under it, as it would a mouse's or a touch panel's.
    let pointer = pointer::Virtual::connect(&sway.runtime_dir.path().join(&sway.wayland_display), (1920, 1080));
    let click = |cx: i64, cy: i64| pointer.click(cx as u32, cy as u32);
    type_into_name(&bus, &kiosk.log, &click, &rects);
    let tree = sway.msg(&["-t", "get_tree"]);
    let text = tree.to_string();
    assert!(text.contains("\"fullscreen_mode\":1"), "the kiosk left fullscreen: {text}");
}

/// A wlroots virtual pointer (`zwlr_virtual_pointer_v1`) on a compositor's seat.
mod pointer {
    use std::cell::RefCell;
    use std::path::Path;

    use wayland_client::globals::{registry_queue_init, GlobalListContents};
    use wayland_client::protocol::{wl_pointer, wl_registry, wl_seat};
    use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle};
    use wayland_protocols_wlr::virtual_pointer::v1::client::{
        zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1, zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
    };

    /// Linux's BTN_LEFT.
    const BUTTON_LEFT: u32 = 0x110;

    pub struct State;

    impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
        fn event(
            _: &mut Self,
            _: &wl_registry::WlRegistry,
            _: wl_registry::Event,
            _: &GlobalListContents,
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
        }
    }
    impl Dispatch<wl_seat::WlSeat, ()> for State {
        fn event(_: &mut Self, _: &wl_seat::WlSeat, _: wl_seat::Event, _: &(), _: &Connection, _: &QueueHandle<Self>) {}
    }
    impl Dispatch<ZwlrVirtualPointerManagerV1, ()> for State {
        fn event(
            _: &mut Self,
            _: &ZwlrVirtualPointerManagerV1,
            _: <ZwlrVirtualPointerManagerV1 as wayland_client::Proxy>::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
        }
    }
    impl Dispatch<ZwlrVirtualPointerV1, ()> for State {
        fn event(
            _: &mut Self,
            _: &ZwlrVirtualPointerV1,
            _: <ZwlrVirtualPointerV1 as wayland_client::Proxy>::Event,
            _: &(),
            _: &Connection,
            _: &QueueHandle<Self>,
        ) {
        }
    }

    pub struct Virtual {
        pointer: ZwlrVirtualPointerV1,
        queue: RefCell<EventQueue<State>>,
        extent: (u32, u32),
        started: std::time::Instant,
    }

    impl Virtual {
        pub fn connect(socket: &Path, extent: (u32, u32)) -> Virtual {
            let stream = std::os::unix::net::UnixStream::connect(socket).expect("connect to the compositor");
            let conn = Connection::from_socket(stream).expect("a Wayland connection");
            let (globals, mut queue) = registry_queue_init::<State>(&conn).expect("the registry");
            let qh = queue.handle();
            let seat: wl_seat::WlSeat = globals.bind(&qh, 1..=7, ()).expect("a seat");
            let manager: ZwlrVirtualPointerManagerV1 =
                globals.bind(&qh, 1..=2, ()).expect("the compositor offers zwlr_virtual_pointer_manager_v1");
            let pointer = manager.create_virtual_pointer(Some(&seat), &qh, ());
            queue.roundtrip(&mut State).expect("roundtrip");
            // Clients learn of the seat's new pointer before the first press.
            std::thread::sleep(std::time::Duration::from_millis(500));
            Virtual { pointer, queue: RefCell::new(queue), extent, started: std::time::Instant::now() }
        }

        pub fn click(&self, x: u32, y: u32) {
            let t = || self.started.elapsed().as_millis() as u32;
            let p = &self.pointer;
            p.motion_absolute(t(), x, y, self.extent.0, self.extent.1);
            p.frame();
            self.flush();
            std::thread::sleep(std::time::Duration::from_millis(30));
            p.button(t(), BUTTON_LEFT, wl_pointer::ButtonState::Pressed);
            p.frame();
            self.flush();
            std::thread::sleep(std::time::Duration::from_millis(30));
            p.button(t(), BUTTON_LEFT, wl_pointer::ButtonState::Released);
            p.frame();
            self.flush();
        }

        fn flush(&self) {
            self.queue.borrow_mut().roundtrip(&mut State).expect("roundtrip");
        }
    }
}
