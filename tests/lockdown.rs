//! Lockdown end to end: the real kiosk under Xvfb asked for every toolkit dialog, page
//! zoom from configuration, IPC and D-Bus, permission requests from two loopback
//! origins, and the remote inspector with and without `--inspect`.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{count, fixture, kill, vitrine_bin, HttpServer, Kiosk, PrivateBus, Response, Xvfb};

/// The windows directly under the root that are mapped (a dialog is; GTK's helper
/// windows are not).
fn shown_toplevels(xvfb: &Xvfb) -> BTreeSet<String> {
    let tree = xvfb.window_tree();
    tree.lines()
        .filter(|l| l.starts_with("     0x"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|id| {
            let out = Command::new("xwininfo").args(["-display", &xvfb.display, "-id", id]).output();
            out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Map State: IsViewable"))
        })
        .collect()
}

fn describe(xvfb: &Xvfb, ids: &BTreeSet<String>) -> String {
    let tree = xvfb.window_tree();
    ids.iter()
        .map(|id| tree.lines().find(|l| l.contains(id.as_str())).unwrap_or(id).trim().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_toolkit_dialog_opens_and_the_page_loads_once() {
    let kiosk = Kiosk::start("lockdown/dialogs");
    kiosk.wait_ready();
    kiosk.result("ready");
    std::thread::sleep(Duration::from_millis(500));
    let before = shown_toplevels(&kiosk.xvfb);
    assert!(!before.is_empty(), "the kiosk's window is not shown:\n{}", kiosk.xvfb.window_tree());

    let x = &kiosk.xvfb;
    // The file input (twice: still logged once), print, Ctrl+P, colour and date.
    for _ in 0..2 {
        x.xdotool(&["mousemove", "480", "270", "click", "1"]);
        std::thread::sleep(Duration::from_millis(700));
    }
    x.xdotool(&["mousemove", "1440", "270", "click", "1"]);
    assert_eq!(kiosk.result("print-returned"), "yes");
    x.xdotool(&["key", "ctrl+p"]);
    x.xdotool(&["mousemove", "480", "810", "click", "1"]);
    std::thread::sleep(Duration::from_millis(700));
    x.xdotool(&["mousemove", "1440", "810", "click", "1"]);
    // Longer than the hang timeout: a modal dialog would have cost the page a reload.
    std::thread::sleep(Duration::from_millis(2500));

    let after = shown_toplevels(&kiosk.xvfb);
    let new: BTreeSet<String> = after.difference(&before).cloned().collect();
    assert!(new.is_empty(), "windows opened over the kiosk:\n{}\nlog:\n{}", describe(x, &new), kiosk.dump());
    assert_eq!(count(&kiosk.log, "RESULT loaded"), 1, "the page was reloaded:\n{}", kiosk.dump());
    assert_eq!(count(&kiosk.log, "page loaded app://localhost/dialogs.html"), 1);
    assert!(!kiosk.log.contains("RESULT file-chosen"));
    for what in ["refused a file chooser", "refused to print", "refused a colour chooser", "refused a date picker"] {
        assert_eq!(count(&kiosk.log, what), 1, "'{what}' in the log:\n{}", kiosk.dump());
    }
    assert!(kiosk.log.contains("swallowed the shortcut Ctrl+P"), "{}", kiosk.dump());
}

#[test]
fn zoom_from_configuration_ipc_and_ctl_changes_the_layout_width() {
    let bus = PrivateBus::session();
    let kiosk = Kiosk::start_with("lockdown/zoom", &bus.env());
    kiosk.wait_ready();
    // The screen is 1920 wide: zoom 2 from vitrine.toml lays the page out in 960.
    kiosk.result("width=960");
    assert_eq!(kiosk.result("too-far"), "bad_args");
    assert_eq!(kiosk.result("nobody"), "not_found");
    assert_eq!(kiosk.result("half"), "ok");
    kiosk.result("width=3840");

    let (code, out, err) = bus.ctl(&["zoom", "main", "1.25"]);
    assert_eq!(code, 0, "{out}{err}");
    kiosk.result("width=1536");
    // A crash and its reload keep the zoom (the page zooms itself to 0.5 again on load).
    let pid = common::web_pid(&kiosk.log, "main").expect("main's web process");
    kill(pid, "KILL");
    let reloaded = Instant::now() + Duration::from_secs(15);
    while count(&kiosk.log, "RESULT width=1536 yes") < 2 && count(&kiosk.log, "RESULT width=3840 yes") < 2 {
        assert!(Instant::now() < reloaded, "no reload after the crash:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&kiosk.log, "RESULT width=1536 yes"), 2, "the zoom was lost in the crash:\n{}", kiosk.dump());
    let (code, _, err) = bus.ctl(&["zoom", "main", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("zoom factor"), "{err}");
    let (code, _, err) = bus.ctl(&["zoom", "ghost", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no surface labelled 'ghost'"), "{err}");
}

/// A configuration folder naming two loopback origins, only the first granted.
fn permissions_config(dir: &Path, granted: u16, refused: u16) {
    std::fs::create_dir_all(dir.join("ui")).expect("ui/");
    std::fs::write(dir.join("ui/unused.html"), "<!doctype html>").expect("write ui file");
    let toml = format!(
        r#"[app]
name = "lockdown permissions"

[main]
page = "http://127.0.0.1:{granted}/granted.html"

[[overlay]]
label = "other"
page = "http://127.0.0.1:{refused}/refused.html"
anchor = "top-left"
width = 200
height = 200

[[permission]]
origin = "http://127.0.0.1:{granted}"
allow = ["notifications", "geolocation", "clipboard", "fullscreen"]

[geolocation]
latitude = 48.5
longitude = 7.75
accuracy = 20
"#
    );
    std::fs::write(dir.join("vitrine.toml"), toml).expect("write vitrine.toml");
}

const PERMISSION_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<body style="margin:0;height:100vh">
<script>
// /granted.html or /refused.html
const me = location.pathname.slice(1, -5);
const say = (what, value) => console.log("RESULT " + me + "-" + what + " " + value);
say("initial", Notification.permission);
if (Notification.permission === "granted") new Notification("Door open", { body: "Back entrance" });
navigator.geolocation.getCurrentPosition(
  (p) => say("geo", p.coords.latitude + "," + p.coords.longitude),
  (e) => say("geo", "error-" + e.code));
// WebKit asks only on a user gesture.
// WebKit asks only on a user gesture, and each request uses it up: one request per
// third of the page (left: fullscreen, middle: notifications, right: clipboard).
document.body.addEventListener("click", (e) => {
  const third = Math.floor((3 * e.clientX) / innerWidth);
  if (third === 0) {
    document.documentElement.requestFullscreen().then(() => say("fullscreen", "entered"), (e) => say("fullscreen", e.name));
  } else if (third === 1) {
    Notification.requestPermission().then((p) => say("asked", p));
  } else {
    navigator.clipboard.readText().then(() => say("clipboard", "read"), (e) => say("clipboard", e.name));
  }
});
</script>
</body>"#;

/// Clicks at `at` until the page reports `result` (a click can be lost while an overlay
/// appears or takes the pointer).
fn click_until(kiosk: &Kiosk, at: (&str, &str), result: &str) -> String {
    for _ in 0..5 {
        kiosk.xvfb.xdotool(&["mousemove", at.0, at.1, "sleep", "0.2", "click", "1"]);
        if let Some(value) = kiosk.result_within(result, Duration::from_secs(2)) {
            return value;
        }
    }
    panic!("no RESULT {result} after clicks at {at:?}:\n{}", kiosk.dump());
}

#[test]
fn a_granted_origin_gets_its_permissions_and_another_is_denied() {
    let page = || {
        vec![
            ("/granted.html", "text/html", PERMISSION_PAGE.to_string()),
            ("/refused.html", "text/html", PERMISSION_PAGE.to_string()),
        ]
    };
    let (a, b) = (HttpServer::start(page()), HttpServer::start(page()));
    let dir = tempfile::tempdir().expect("tempdir");
    permissions_config(dir.path(), a.port, b.port);
    let kiosk = Kiosk::start(dir.path().to_str().expect("utf-8 path"));
    kiosk.wait_ready();

    assert_eq!(kiosk.result("granted-initial"), "granted");
    assert_eq!(kiosk.result("granted-geo"), "48.5,7.75");
    assert_eq!(kiosk.result("refused-initial"), "default");
    assert_eq!(kiosk.result("refused-geo"), "error-1");
    // A click on each page asks: the main page fills the screen, the other sits top left.
    // The main page fills the screen; the other page sits top left, 200 pixels wide.
    assert_eq!(click_until(&kiosk, ("1700", "600"), "granted-clipboard"), "read");
    assert_eq!(click_until(&kiosk, ("180", "100"), "refused-clipboard"), "NotAllowedError");
    assert_eq!(click_until(&kiosk, ("100", "100"), "refused-asked"), "denied");
    // A refusal may be WebKit's own, for a click it did not count as a gesture (seen in
    // a cold CI run): ask until the core has refused too.
    for (what, at) in [("clipboard", ("180", "100")), ("notifications", ("100", "100"))] {
        let needle = format!("permission {what} for http://127.0.0.1:{}: denied", b.port);
        let refused = (0..5).any(|_| {
            kiosk.log.contains(&needle) || {
                kiosk.xvfb.xdotool(&["mousemove", at.0, at.1, "sleep", "0.2", "click", "1"]);
                kiosk.log.wait_for(&needle, Duration::from_secs(2)).is_some()
            }
        });
        assert!(refused, "no '{needle}':\n{}", kiosk.dump());
    }
    assert_eq!(click_until(&kiosk, ("20", "100"), "refused-fullscreen"), "TypeError");
    assert_eq!(click_until(&kiosk, ("300", "600"), "granted-fullscreen"), "entered");
    // WebKit answers "denied" by itself to a click it does not count as a gesture: ask
    // until the core has decided.
    let decided = (0..5).any(|_| {
        kiosk.xvfb.xdotool(&["mousemove", "960", "600", "sleep", "0.2", "click", "1"]);
        kiosk.log.wait_for("RESULT granted-asked granted", Duration::from_secs(2)).is_some()
    });
    assert!(decided, "{}", kiosk.dump());

    let granted = format!("http://127.0.0.1:{}", a.port);
    let refused = format!("http://127.0.0.1:{}", b.port);
    let line = kiosk.log.wait_for("notification from", Duration::from_secs(10));
    assert!(line.is_some_and(|l| l.contains(&granted) && l.contains("Door open")), "{}", kiosk.dump());
    for (origin, verdict) in [(&granted, "granted by vitrine.toml"), (&refused, "denied")] {
        for what in ["geolocation", "notifications", "clipboard"] {
            let needle = format!("permission {what} for {origin}: {verdict}");
            assert!(kiosk.log.contains(&needle), "no '{needle}' in the log:\n{}", kiosk.dump());
        }
    }
    let needle = format!("permission fullscreen for {granted}: granted by vitrine.toml");
    assert!(kiosk.log.contains(&needle), "no '{needle}' in the log:\n{}", kiosk.dump());
}

#[test]
fn bad_permission_tables_are_named_by_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("ui")).expect("ui/");
    std::fs::write(dir.path().join("ui/index.html"), "<!doctype html>").expect("write");
    std::fs::write(
        dir.path().join("vitrine.toml"),
        "[app]\nname = \"bad\"\n[kiosk]\nscale = 8\n[main]\npage = \"index.html\"\nprint = \"silent\"\n\
         [[overlay]]\nlabel = \"o\"\npage = \"index.html\"\nzoom = 9\n\
         [[permission]]\norigin = \"https://*.example.com\"\nallow = [\"geolocation\"]\n",
    )
    .expect("write");
    let out = Command::new(vitrine_bin()).arg("check").arg(dir.path()).output().expect("vitrine check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for want in [
        "overlay[0].zoom: 9 is not a zoom factor between 0.25 and 5",
        "kiosk.scale: must be 0 (the toolkit's choice) or 1 to 4",
        "print: surface 'main' prints silently but no [print] printer is configured",
        "permission[0].origin: 'https://*.example.com' must be an origin",
        "permission[0].allow: geolocation is granted but no [geolocation] position is configured",
    ] {
        assert!(err.contains(want), "no '{want}' in:\n{err}");
    }
    std::fs::write(
        dir.path().join("vitrine.toml"),
        "[app]\nname = \"bad\"\n[main]\npage = \"index.html\"\n[[permission]]\norigin = \"https://a.example\"\nallow = [\"teleport\"]\n",
    )
    .expect("write");
    let out = Command::new(vitrine_bin()).arg("check").arg(dir.path()).output().expect("vitrine check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown variant `teleport`") && err.contains("`notifications`"), "{err}");
}

/// What answers on `port` at loopback: the start of an HTTP response, or `None` when
/// nothing listens.
fn http_get(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    Some(text)
}

fn wait_http(port: u16, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(text) = http_get(port) {
            return Some(text);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A wrapper that adds `--inspect ADDR` to `vitrine run …` (the harness passes only
/// the environment).
fn inspect_wrapper(dir: &Path, addr: &str) -> String {
    let path = dir.join("inspect.sh");
    std::fs::write(&path, format!("#!/bin/sh\nbin=$1\nshift\nexec \"$bin\" \"$@\" --inspect {addr}\n"))
        .expect("write wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_string_lossy().into_owned()
}

#[test]
fn the_inspector_answers_only_when_asked_for() {
    // Not asked for, even with WebKit's variables in the environment: nothing listens.
    let port = common::closed_port();
    let addr = format!("127.0.0.1:{port}");
    let kiosk = Kiosk::start_with(
        "lockdown/dialogs",
        &[("WEBKIT_INSPECTOR_HTTP_SERVER", &addr), ("WEBKIT_INSPECTOR_SERVER", &addr)],
    );
    kiosk.wait_ready();
    kiosk.result("ready");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http_get(port), None, "an inspector answers without --inspect");
    assert!(kiosk.log.contains("ignoring WEBKIT_INSPECTOR_HTTP_SERVER"), "{}", kiosk.dump());
    drop(kiosk);

    // Asked for: it answers there, and the log says so loudly.
    let dir = tempfile::tempdir().expect("tempdir");
    let wrap = inspect_wrapper(dir.path(), &addr);
    let kiosk = Kiosk::start_with("lockdown/dialogs", &[("VITRINE_TEST_WRAP", &wrap)]);
    kiosk.wait_ready();
    kiosk.result("ready");
    let answer = wait_http(port, Duration::from_secs(10)).unwrap_or_else(|| panic!("no inspector on {addr}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(kiosk.log.contains(&format!("REMOTE INSPECTOR ON at http://{addr}/")), "{}", kiosk.dump());

    // The shipped unit never asks for it.
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/vitrine.service"))
        .expect("systemd/vitrine.service");
    assert!(!unit.contains("--inspect") && !unit.contains("WEBKIT_INSPECTOR"), "{unit}");
}

#[test]
fn silent_print_goes_to_the_configured_printer_without_a_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(&ui).expect("ui/");
    for file in ["dialogs.html", "dialogs.js"] {
        std::fs::copy(fixture("lockdown/dialogs/ui").join(file), ui.join(file)).expect("copy page");
    }
    let pdf = dir.path().join("printed.pdf");
    let toml = format!(
        "[app]\nname = \"lockdown print\"\n\n[main]\npage = \"dialogs.html\"\nprint = \"silent\"\n\n\
         [print]\nprinter = \"Print to File\"\noutput = \"{}\"\n",
        pdf.display()
    );
    std::fs::write(dir.path().join("vitrine.toml"), toml).expect("write vitrine.toml");
    let kiosk = Kiosk::start(dir.path().to_str().expect("utf-8 path"));
    kiosk.wait_ready();
    kiosk.result("ready");
    std::thread::sleep(Duration::from_millis(500));
    let before = shown_toplevels(&kiosk.xvfb);

    kiosk.xvfb.xdotool(&["mousemove", "1440", "270", "click", "1"]);
    assert_eq!(kiosk.result("print-returned"), "yes");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read(&pdf).is_ok_and(|b| b.starts_with(b"%PDF") && b.windows(5).any(|w| w == b"%%EOF")) {
        assert!(Instant::now() < deadline, "no PDF at {}:\n{}", pdf.display(), kiosk.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let new: BTreeSet<String> = shown_toplevels(&kiosk.xvfb).difference(&before).cloned().collect();
    assert!(new.is_empty(), "windows opened over the kiosk:\n{}", describe(&kiosk.xvfb, &new));
    assert_eq!(count(&kiosk.log, "RESULT loaded"), 1, "the page was reloaded:\n{}", kiosk.dump());
    assert!(kiosk.log.contains("printed on 'Print to File'"), "{}", kiosk.dump());
}

/// A loopback server whose page needs HTTP Basic authentication as `kiosk` / `s3cret`.
/// Returns its port and a counter of the requests it refused.
fn login_server() -> (u16, Arc<AtomicUsize>) {
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refused);
    let server = HttpServer::handle(move |req| {
        // "kiosk:s3cret" in base64.
        let authorized =
            req.head.lines().any(|l| l.trim().eq_ignore_ascii_case("authorization: Basic a2lvc2s6czNjcmV0"));
        let (status, headers, body) = if authorized {
            ("200 OK", "", "<!doctype html><script>console.log('RESULT logged-in yes')</script>")
        } else {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"board\"\r\n",
                "<!doctype html><script>console.log('RESULT login-body shown')</script>",
            )
        };
        Response { status, content_type: "text/html", headers: headers.into(), body: body.into() }
    });
    (server.port, refused)
}

fn auth_config(dir: &Path, port: u16, with_auth: bool) {
    std::fs::create_dir_all(dir.join("ui")).expect("ui/");
    std::fs::write(dir.join("ui/unused.html"), "<!doctype html>").expect("write ui file");
    let mut toml = format!(
        "[app]\nname = \"lockdown auth\"\n\n[recovery]\nbackoff_ms = 500\nmax_backoff_ms = 1000\n\n\
         [main]\npage = \"http://127.0.0.1:{port}/board\"\n"
    );
    if with_auth {
        toml += &format!(
            "\n[[auth]]\norigin = \"http://127.0.0.1:{port}\"\nuser = \"kiosk\"\ncredential = \"board-password\"\n"
        );
    }
    std::fs::write(dir.join("vitrine.toml"), toml).expect("write vitrine.toml");
}

#[test]
fn http_logins_are_answered_from_configuration_or_shown_as_offline_never_as_a_dialog() {
    // Configured: the credential from $CREDENTIALS_DIRECTORY logs in, once.
    let (port, _) = login_server();
    let dir = tempfile::tempdir().expect("tempdir");
    auth_config(dir.path(), port, true);
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&creds).expect("creds/");
    std::fs::write(creds.join("board-password"), "s3cret\n").expect("write credential");
    let kiosk = Kiosk::start_with(
        dir.path().to_str().expect("utf-8"),
        &[("CREDENTIALS_DIRECTORY", creds.to_str().expect("utf-8"))],
    );
    assert_eq!(kiosk.result("logged-in"), "yes");
    let origin = format!("http://127.0.0.1:{port}");
    assert!(kiosk.log.contains(&format!("answered HTTP authentication for {origin} as 'kiosk'")), "{}", kiosk.dump());
    drop(kiosk);

    // A wrong password is tried once, then the offline page says so (no login loop).
    let (port, refused) = login_server();
    let dir = tempfile::tempdir().expect("tempdir");
    auth_config(dir.path(), port, true);
    std::fs::create_dir_all(dir.path().join("creds")).expect("creds/");
    std::fs::write(dir.path().join("creds/board-password"), "wrong\n").expect("write credential");
    let creds = dir.path().join("creds");
    let kiosk = Kiosk::start_with(
        dir.path().to_str().expect("utf-8"),
        &[("CREDENTIALS_DIRECTORY", creds.to_str().expect("utf-8"))],
    );
    let shown = kiosk.log.wait_for("showing offline page for main", common::STARTUP);
    assert!(shown.is_some(), "{}", kiosk.dump());
    let why = format!("http://127.0.0.1:{port} refused the configured [[auth]] credentials");
    assert!(kiosk.log.contains(&why), "{}", kiosk.dump());
    // One request without and one with the wrong login per attempt, not a loop.
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) <= 4, "{}", kiosk.dump());
    drop(kiosk);

    // Not configured: no dialog, the offline page names the reason, and it retries.
    let (port, refused) = login_server();
    let dir = tempfile::tempdir().expect("tempdir");
    auth_config(dir.path(), port, false);
    let kiosk = Kiosk::start(dir.path().to_str().expect("utf-8"));
    std::thread::sleep(Duration::from_millis(1500));
    let before = shown_toplevels(&kiosk.xvfb);
    let shown = kiosk.log.wait_for("showing offline page for main", common::STARTUP);
    assert!(shown.is_some(), "{}", kiosk.dump());
    assert!(kiosk.log.contains("asks for a login and vitrine.toml has no [[auth]] for it"), "{}", kiosk.dump());
    let first = refused.load(std::sync::atomic::Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.load(std::sync::atomic::Ordering::SeqCst) <= first {
        assert!(Instant::now() < deadline, "the page is not retried:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    let new: BTreeSet<String> = shown_toplevels(&kiosk.xvfb).difference(&before).cloned().collect();
    assert!(new.is_empty(), "windows opened over the kiosk:\n{}", describe(&kiosk.xvfb, &new));
}

#[test]
fn device_scale_doubles_the_pixels_of_a_hidpi_panel() {
    let kiosk = Kiosk::start("lockdown/scale");
    kiosk.wait_ready();
    // A 1920-pixel screen at scale 2: each CSS pixel is two device pixels.
    assert_eq!(kiosk.result("scale"), "2 960");
    assert!(kiosk.log.contains("device scale 2"), "{}", kiosk.dump());
}

#[test]
fn the_media_picker_offers_only_readable_files_and_hands_over_the_chosen_one() {
    let media = tempfile::tempdir().expect("tempdir");
    for (file, text) in [("pictures/a.txt", "hello picture"), ("pictures/b.txt", "b"), ("private/secret.txt", "no")] {
        let path = media.path().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let kiosk = Kiosk::start_with("lockdown/picker", &[("VITRINE_MEDIA_DIR", media.path().to_str().expect("utf-8"))]);
    kiosk.wait_ready();
    kiosk.result("ready");
    std::thread::sleep(Duration::from_millis(500));
    let before = shown_toplevels(&kiosk.xvfb);

    // The picker lists the two pictures (not the private file); the first is chosen.
    kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
    let offered = kiosk.log.wait_for("file picker:", Duration::from_secs(10));
    assert!(offered.is_some_and(|l| l.contains("2 readable files offered")), "{}", kiosk.dump());
    assert!(kiosk.log.wait_for("picker shows 2 files", Duration::from_secs(5)).is_some(), "{}", kiosk.dump());
    std::thread::sleep(Duration::from_millis(500));
    kiosk.xvfb.xdotool(&["mousemove", "960", "140", "click", "1"]);
    assert_eq!(kiosk.result("chosen"), "a.txt hello picture");

    // Asked again and cancelled: nothing is handed over.
    kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
    assert!(kiosk.log.wait_for("picker shows 2 files", Duration::from_secs(5)).is_some());
    std::thread::sleep(Duration::from_millis(500));
    let cancel = (0..5).any(|_| {
        kiosk.xvfb.xdotool(&["mousemove", "1850", "40", "click", "1"]);
        kiosk.log.wait_for("file picker: cancelled", Duration::from_secs(2)).is_some()
    });
    assert!(cancel, "{}", kiosk.dump());
    assert_eq!(count(&kiosk.log, "RESULT chosen"), 1);

    let new: BTreeSet<String> = shown_toplevels(&kiosk.xvfb).difference(&before).cloned().collect();
    assert!(new.is_empty(), "windows opened over the kiosk:\n{}", describe(&kiosk.xvfb, &new));
    assert_eq!(count(&kiosk.log, "page loaded app://localhost/chooser.html"), 1);
}

#[test]
fn a_file_dragged_in_from_another_program_is_refused() {
    let kiosk = Kiosk::start("lockdown/dialogs");
    kiosk.wait_ready();
    kiosk.result("ready");
    let secret = tempfile::NamedTempFile::new().expect("a file to drag");
    let uri = format!("file://{}", secret.path().display());
    // Debian's python3, where python3-gi lives (a python3 earlier on PATH may lack it).
    let mut source = Command::new("/usr/bin/python3")
        .arg(fixture("lockdown/drag-source.py"))
        .arg(&uri)
        .env("DISPLAY", &kiosk.xvfb.display)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with python3-gi and gir1.2-gtk-3.0");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(source.stdout.take().expect("piped stdout"));
    std::io::BufRead::read_line(&mut out, &mut line).expect("the drag source starts");
    assert_eq!(line.trim(), "ready");
    std::thread::sleep(Duration::from_millis(500));

    // Press on the source's label (top left), move slowly onto the page, release.
    let mut args: Vec<String> = ["mousemove", "60", "60", "mousedown", "1"].map(String::from).to_vec();
    for i in 1..=30 {
        args.extend([
            "sleep".into(),
            "0.05".into(),
            "mousemove".into(),
            (60 + i * 30).to_string(),
            (60 + i * 16).to_string(),
        ]);
    }
    args.extend(["sleep", "1", "mousemove", "965", "545", "sleep", "1", "mouseup", "1"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kiosk.xvfb.xdotool(&args);
    std::thread::sleep(Duration::from_secs(2));
    let _ = source.kill();
    let _ = source.wait();

    assert!(kiosk.log.contains("refused a drag from another program"), "{}", kiosk.dump());
    assert!(!kiosk.log.contains("RESULT dropped"), "the page received the drop:\n{}", kiosk.dump());
}
