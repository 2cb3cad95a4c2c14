//! End to end: the real binary, real WebKitGTK under Xvfb, a real NOTIFY_SOCKET.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{children_named, fixture, near, rss_kib, vitrine_bin, Kiosk};

const BLUE: [u8; 3] = [0x20, 0x50, 0xa0];
const RED: [u8; 3] = [0xff, 0x00, 0x00];
const GREEN: [u8; 3] = [0x00, 0xc0, 0x00];

#[test]
fn shell_covers_the_screen_layers_overlays_and_stops_cleanly() {
    let mut kiosk = Kiosk::start("layers");
    let ready = kiosk.wait_ready();
    for page in ["main", "badge", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }

    // The toplevel covers the whole 1920x1080 screen although no window manager runs.
    let tree = kiosk.xvfb.window_tree();
    assert!(tree.contains("1920x1080+0+0"), "no full-screen window in:\n{tree}");

    // One web process per surface, one network process for all of them.
    let web = children_named(kiosk.pid(), "WebKitWebProces");
    let net = children_named(kiosk.pid(), "WebKitNetworkPr");
    assert_eq!(web.len(), 3, "web processes: {web:?}");
    assert_eq!(net.len(), 1, "network processes: {net:?}");
    let core_rss = rss_kib(kiosk.pid());
    let web_rss: u64 = web.iter().map(|p| rss_kib(*p)).sum();
    let net_rss: u64 = net.iter().map(|p| rss_kib(*p)).sum();
    eprintln!(
        "MEASURE ready_ms={} rss_core_mib={} rss_web_mib={} rss_network_mib={} rss_total_mib={}",
        ready.as_millis(),
        core_rss / 1024,
        web_rss / 1024,
        net_rss / 1024,
        (core_rss + web_rss + net_rss) / 1024
    );

    // Layers: the badge is opaque where its page paints and transparent elsewhere; the
    // strip covers the bottom 100 px.
    let painted = |s: &common::Image| near(s.pixel(100, 100), BLUE) && near(s.pixel(960, 1030), GREEN);
    let shot = kiosk.xvfb.screenshot_when(painted, Duration::from_secs(10));
    assert_eq!((shot.width, shot.height), (1920, 1080));
    assert!(shot.distinct_colors() >= 3, "screen looks blank");
    assert!(near(shot.pixel(100, 100), BLUE), "main page: {:?}", shot.pixel(100, 100));
    assert!(near(shot.pixel(960, 540), RED), "badge box: {:?}", shot.pixel(960, 540));
    assert!(near(shot.pixel(780, 410), BLUE), "badge's transparent corner: {:?}", shot.pixel(780, 410));
    assert!(near(shot.pixel(960, 1030), GREEN), "strip: {:?}", shot.pixel(960, 1030));
    assert!(near(shot.pixel(960, 975), BLUE), "above the strip: {:?}", shot.pixel(960, 975));

    // The badge takes its own input; the strip lets input through to the main page.
    kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
    assert_eq!(kiosk.result("badge-click"), "200 150");
    kiosk.xvfb.xdotool(&["mousemove", "960", "1030", "click", "1"]);
    assert_eq!(kiosk.result("main-click"), "960 1030");
    assert!(!kiosk.log.contains("RESULT strip-click"), "the pass-through strip took a click");
    assert!(!kiosk.log.contains("RESULT main-click 960 540"), "a click went through the badge");

    // The main page hid the badge in response: the main page shows where it was.
    assert_eq!(kiosk.result("badge-visible"), "false");
    let shot = kiosk.xvfb.screenshot_when(|s| near(s.pixel(960, 540), BLUE), Duration::from_secs(20));
    assert!(near(shot.pixel(960, 540), BLUE), "hidden badge still drawn: {:?}", shot.pixel(960, 540));

    kiosk.signal("TERM");
    let status = kiosk.wait_exit(Duration::from_secs(5)).expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(kiosk.notify.contains("STOPPING=1"));
}

#[test]
fn invoke_is_checked_and_events_reach_only_their_targets() {
    let mut kiosk = Kiosk::start("ipc");
    kiosk.wait_ready();

    let info = kiosk.result("info");
    assert!(info.starts_with("ok "), "{info}");
    let info: serde_json::Value = serde_json::from_str(&info[3..]).unwrap();
    assert_eq!(info["name"], "ipc fixture");
    assert_eq!(info["surfaces"], serde_json::json!(["main", "left", "right"]));

    // Allowed by main.json, denied by lockdown.json: deny wins, and the message says why.
    let hide = kiosk.result("hide");
    assert!(hide.starts_with("not_allowed "), "{hide}");
    for part in ["surface 'main'", "'window.hide'", "'window:deny-hide'", "capability 'lockdown'"] {
        assert!(hide.contains(part), "{part} missing from: {hide}");
    }
    assert_eq!(kiosk.result("show"), "ok null");
    assert!(kiosk.result("show-unknown").starts_with("not_found "));

    // Event scopes: a deny scope beats an allow scope; names outside the scope are refused.
    let secret = kiosk.result("emit-secret");
    assert!(secret.starts_with("not_allowed ") && secret.contains("deny scope"), "{secret}");
    let other = kiosk.result("emit-other");
    assert!(other.starts_with("not_allowed ") && other.contains("'event:allow-emit'"), "{other}");
    assert!(kiosk.result("listen-other").starts_with("not_allowed "));

    // Overlays without app.info are refused.
    for who in ["left", "right"] {
        let r = kiosk.result(&format!("{who}-info"));
        assert!(r.starts_with("not_allowed ") && r.contains(&format!("surface '{who}'")), "{r}");
    }

    // The ping targeted at "left" reaches left, from main, and not right.
    assert_eq!(kiosk.result("ping"), "ok {\"delivered\":1}");
    assert_eq!(kiosk.result("left-got"), "ping {\"n\":1} from main");
    kiosk.result("done");
    assert!(!kiosk.log.contains("RESULT right-got"), "right received an event aimed at left");

    // Refusals are logged by the core with the surface.
    assert!(kiosk.log.contains("invoke refused"));
    kiosk.signal("INT");
    assert!(kiosk.wait_exit(Duration::from_secs(5)).expect("exits on SIGINT").success());
}

#[test]
fn bad_input_gets_structured_errors_and_the_core_keeps_serving() {
    let kiosk = Kiosk::start("bad-input");
    kiosk.wait_ready();

    let expect = |name: &str, code: &str, text: &str| {
        let r = kiosk.result(name);
        assert!(r.starts_with(&format!("{code} ")), "{name}: {r}");
        assert!(r.contains(text), "{name}: '{text}' missing from {r}");
    };
    expect("unknown", "unknown_command", "'no.such.command'");
    expect("wrong-type", "bad_args", "'window.show' from surface 'main'");
    expect("extra-field", "bad_args", "unknown field `fly`");
    expect("huge", "too_large", "exceeds the limit of 16777216 bytes");
    expect("deep", "too_large", "nests deeper than 64 levels");

    // Messages posted around the bridge lack the surface's token: refused, answered as a
    // fault since they carry no call of the bridge's.
    let fault = |name: &str| -> serde_json::Value { serde_json::from_str(&kiosk.result(name)).unwrap() };
    for name in ["not-json", "not-a-frame", "deep-raw"] {
        let f = fault(name);
        assert_eq!(f["code"], "bad_message", "{name}: {f}");
        assert!(f["message"].as_str().unwrap().contains("did not come from the surface's bridge"), "{f}");
    }

    assert_eq!(kiosk.result("alive"), "bad input fixture");
    assert!(kiosk.log.contains("rejected message"), "rejections are logged");
}

/// GTK cannot say why it could not start, and tao panics then: the kiosk asks the display
/// itself, waits a while for one that refuses, and stops with the reason.
#[test]
fn without_a_display_the_kiosk_says_why_and_stops() {
    let run = |display: Option<&str>| {
        let home = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(vitrine_bin());
        cmd.args(["run", "--config"])
            .arg(fixture("layers"))
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", home.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("JOURNAL_STREAM");
        if let Some(d) = display {
            cmd.env("DISPLAY", d);
        }
        let started = std::time::Instant::now();
        let out = cmd.output().expect("run vitrine");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), started.elapsed())
    };
    let (code, err, _) = run(None);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot open the display: neither WAYLAND_DISPLAY nor DISPLAY is set"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A display nobody serves: /tmp/.X11-unix/X<n> absent.
    let free =
        (200..300).find(|n| !std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()).expect("a free display");
    let name = format!(":{free}");
    let (code, err, took) = run(Some(&name));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("X display {name}: ")) && err.contains("trying again for up to 10 s"), "{err}");
    assert!(err.contains(&format!("cannot open the display: X display {name}: ")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(took >= Duration::from_secs(10), "gave up after {took:?}");
}

#[test]
fn check_reports_every_problem_with_file_and_place() {
    let out = Command::new(vitrine_bin()).arg("check").arg(fixture("broken")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "vitrine.toml: overlay[0].page: 'missing.html' does not exist in ui/",
        "grants.json: permissions[1]: unknown permission 'window:allow-fly'",
        "grants.json: windows[1]: 'ghost' matches no surface",
        "syntax.json: line 4, column 3: expected `,` or `}`",
    ] {
        assert!(err.contains(needle), "'{needle}' missing from:\n{err}");
    }

    let out = Command::new(vitrine_bin()).arg("check").arg(fixture("layers")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (3 surfaces, 1 capabilities)"));
}

#[test]
fn an_unaccelerated_main_surface_keeps_the_overlays_transparent() {
    // What the default kiosk does to save the main page's GL buffers.
    let kiosk = Kiosk::start("layers-main-unaccelerated");
    kiosk.wait_ready();
    for page in ["main", "badge", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }
    let painted = |s: &common::Image| {
        near(s.pixel(100, 100), BLUE) && near(s.pixel(960, 540), RED) && near(s.pixel(960, 1030), GREEN)
    };
    let shot = kiosk.xvfb.screenshot_when(painted, Duration::from_secs(10));
    assert!(near(shot.pixel(100, 100), BLUE), "main page: {:?}", shot.pixel(100, 100));
    assert!(near(shot.pixel(960, 540), RED), "badge box: {:?}", shot.pixel(960, 540));
    assert!(near(shot.pixel(780, 410), BLUE), "badge's transparent corner: {:?}", shot.pixel(780, 410));
    assert!(near(shot.pixel(960, 975), BLUE), "above the strip: {:?}", shot.pixel(960, 975));
    assert!(kiosk.log.contains("hardware acceleration never on the main surface"), "{}", kiosk.dump());
    assert!(!kiosk.log.contains("drawn as opaque boxes"), "no transparency warning: {}", kiosk.dump());
}

/// The position of the first log line containing `needle`.
fn line_of(kiosk: &Kiosk, needle: &str) -> Option<usize> {
    kiosk.log.all().iter().position(|l| l.contains(needle))
}

#[test]
fn the_overlays_load_once_the_main_page_has_loaded() {
    // Loading them at once had their first frames set up GPU compositing on the core's
    // thread before it heard of the main page's load, which came 300 ms later.
    let kiosk = Kiosk::start("layers");
    kiosk.wait_ready();
    for page in ["main", "badge", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }
    let main_loaded = line_of(&kiosk, "surface=main page loaded").expect("main loaded");
    for overlay in ["badge", "strip"] {
        let loading = line_of(&kiosk, &format!("surface={overlay} page loading"))
            .unwrap_or_else(|| panic!("{overlay} never loaded: {}", kiosk.dump()));
        assert!(main_loaded < loading, "{overlay} loaded before the main page: {}", kiosk.dump());
    }
    assert!(kiosk.log.contains("(the main page has loaded)"), "{}", kiosk.dump());
}

#[test]
fn the_overlays_do_not_wait_long_for_a_main_page_that_hangs() {
    // A server that accepts and never answers: the main page stays loading.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}/", server.local_addr().expect("addr").port());
    let _held = std::thread::spawn(move || {
        let mut open = Vec::new();
        while let Ok((stream, _)) = server.accept() {
            open.push(stream);
        }
    });
    let kiosk = Kiosk::start_with("layers", &[("VITRINE_URL", &url)]);
    for page in ["badge", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }
    assert!(kiosk.log.contains("(the main page has not loaded after 2 s)"), "{}", kiosk.dump());
    assert!(!kiosk.log.contains("surface=main page loaded"), "{}", kiosk.dump());
}
