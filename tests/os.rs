//! Files, HTTP with core-held secrets and device facts, end to end: real files and
//! symlinks, a real loopback HTTP server recording what reaches it, the real binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::Kiosk;

const SECRET: &str = "s3cr3t-t0ken-9f1c";
const SECRET_PORT: u16 = 39471;

/// A loopback server that records each request's head and answers by path.
fn recording_server(port: u16) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback port");
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut line = String::new();
            let mut length = 0usize;
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                line.clear();
            }
            let mut body = vec![0u8; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            log.lock().unwrap().push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let auth = head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization")).unwrap_or("none");
            let bare = auth.rsplit(' ').next().unwrap_or("none").trim().to_string();
            let body = match path.as_str() {
                "/allowed/big" => b"x".repeat(200_000),
                // A careless server that echoes the credential back.
                "/allowed/echo" => head.clone().into_bytes(),
                // ... bare, in a body that is not UTF-8.
                "/allowed/binary" => [&[0xff, 0xfe, 0x00][..], bare.as_bytes(), &[0x80]].concat(),
                _ => b"hello from the server".to_vec(),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo: {auth}\r\nX-Token: {bare}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (port, seen)
}

struct Dirs {
    _root: tempfile::TempDir,
    media: std::path::PathBuf,
    config: std::path::PathBuf,
    creds: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let media = root.path().join("media");
    let config = root.path().join("config");
    let creds = root.path().join("creds");
    let outside = root.path().join("outside.txt");
    for d in [&media, &creds, &config.join("vitrine")] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::create_dir_all(media.join("notes")).unwrap();
    std::fs::create_dir_all(media.join("locked")).unwrap();
    std::fs::write(media.join("seed.txt"), "seed").unwrap();
    std::fs::write(&outside, "OUTSIDE the root").unwrap();
    std::fs::write(root.path().join("secret.txt"), "OUTSIDE").unwrap();
    std::os::unix::fs::symlink(&outside, media.join("link-out")).unwrap();
    std::fs::write(creds.join("api-token"), format!("{SECRET}\n")).unwrap();
    Dirs { _root: root, media, config, creds, outside }
}

fn env_for(d: &Dirs) -> Vec<(&'static str, String)> {
    vec![
        ("VITRINE_MEDIA_DIR", d.media.to_str().unwrap().to_string()),
        ("XDG_CONFIG_HOME", d.config.to_str().unwrap().to_string()),
        ("CREDENTIALS_DIRECTORY", d.creds.to_str().unwrap().to_string()),
    ]
}

fn start(fixture_url: &str, d: &Dirs) -> Kiosk {
    let mut env = env_for(d);
    env.push(("VITRINE_URL", fixture_url.to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Kiosk::start_with("os", &env)
}

#[test]
fn files_http_and_device_within_their_scopes() {
    let d = dirs();
    let (port, seen) = recording_server(SECRET_PORT);
    let (other, other_seen) = recording_server(0);
    let url = format!("main.html?http=http://127.0.0.1:{port}&other=http://127.0.0.1:{other}");

    // Swap $MEDIA/swap between a file inside and a symlink out, as fast as possible.
    let swap = d.media.join("swap");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (swap, outside, stop) = (swap.clone(), d.outside.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let tmp = swap.with_extension("tmp");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::write(&tmp, "inside");
                let _ = std::fs::rename(&tmp, &swap);
                // Each state lasts a moment, so that reads meet both.
                std::thread::sleep(Duration::from_micros(300));
                let _ = std::fs::remove_file(&tmp);
                let _ = std::os::unix::fs::symlink(&outside, &tmp);
                let _ = std::fs::rename(&tmp, &swap);
                std::thread::sleep(Duration::from_micros(300));
            }
        })
    };

    // A proxy from the environment, which http.fetch must not use unless configured.
    let (proxy, proxy_seen) = recording_server(0);
    let proxy = format!("http://127.0.0.1:{proxy}");
    let mut env = env_for(&d);
    env.push(("VITRINE_URL", url.clone()));
    for k in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        env.push((k, proxy.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let kiosk = Kiosk::start_with("os", &env);
    kiosk.wait_ready();

    assert_eq!(kiosk.result("write"), "ok null");
    assert_eq!(kiosk.result("read"), r#"ok "hello file""#);
    assert_eq!(kiosk.result("read-bytes"), "10");
    assert_eq!(kiosk.result("list"), r#"ok [{"dir":false,"name":"a.txt","size":10}]"#);
    assert_eq!(std::fs::read_to_string(d.media.join("notes/a.txt")).unwrap(), "hello file");
    let refused = |name: &str, code: &str| {
        let r = kiosk.result(name);
        assert!(r.starts_with(&format!("{code} ")), "{name}: {r}");
        r
    };
    refused("dotdot", "not_allowed");
    refused("absolute", "bad_args");
    refused("symlink-out", "not_allowed");
    let locked = refused("locked", "not_allowed");
    assert!(locked.contains("'fs:allow-write'") && locked.contains("$MEDIA/locked/x.txt"), "{locked}");
    refused("missing", "not_found");

    let device: serde_json::Value = serde_json::from_str(&kiosk.result("device")[3..]).unwrap();
    assert_eq!(device["display"], serde_json::json!({"width": 1920, "height": 1080}));
    assert!(device["interfaces"].as_array().unwrap().iter().any(|i| i["name"] == "lo"));
    assert!(!device["hostname"].as_str().unwrap().is_empty());

    // HTTP: allowed, with the secret for its origin only.
    let ok = kiosk.result("http-ok");
    assert!(ok.contains(r#""status":200"#) && ok.contains("hello from the server"), "{ok}");
    assert!(kiosk.result("http-other").contains(r#""status":200"#));
    refused("http-denied", "not_allowed");
    let echo = kiosk.result("http-echo");
    assert!(echo.contains("[redacted]") && !echo.contains(SECRET), "the page saw the secret: {echo}");
    refused("http-big", "too_large");
    refused("http-own-auth", "bad_args");
    assert!(kiosk.result("http-post").contains(r#""status":200"#));
    let to_secret_origin = seen.lock().unwrap().join("\n---\n");
    assert!(
        to_secret_origin.contains(&format!("authorization: Bearer {SECRET}"))
            || to_secret_origin.contains(&format!("Authorization: Bearer {SECRET}")),
        "{to_secret_origin}"
    );
    assert!(to_secret_origin.contains("posted"));
    let to_other = other_seen.lock().unwrap().join("\n---\n");
    assert!(!to_other.contains(SECRET) && !to_other.to_ascii_lowercase().contains("authorization"), "{to_other}");

    // No header the Fetch standard forbids gets through: with `Host:` a page could send
    // the secret for this origin to another virtual host behind the same address.
    let forbidden: Vec<String> = serde_json::from_str(&kiosk.result("http-forbidden")).unwrap();
    assert_eq!(forbidden.len(), 14, "some forbidden headers were sent: refused only {forbidden:?}");
    refused("http-trace", "bad_args");
    assert!(kiosk.result("http-custom-header").contains(r#""status":200"#));
    // The URL as parsed for the scope check is the one sent.
    assert!(kiosk.result("http-space").contains(r#""status":200"#));
    refused("http-userinfo", "bad_args");
    // Scrubbed as bytes, bare too, from a body that is not UTF-8 and from headers.
    let binary: serde_json::Value = serde_json::from_str(&kiosk.result("http-binary")[3..]).unwrap();
    let body = base64::engine::general_purpose::STANDARD.decode(binary["bytes"].as_str().unwrap()).unwrap();
    assert_eq!(body, [&[0xff, 0xfe, 0x00][..], b"[redacted]", &[0x80]].concat());
    let headers = binary["headers"].to_string();
    assert!(headers.contains(r#"["x-token","[redacted]"]"#) && !headers.contains(SECRET), "{headers}");
    let to_secret_origin = seen.lock().unwrap().join("\n---\n");
    assert!(!to_secret_origin.contains("/allowed/vhost"), "a request with a forbidden header reached the server");
    assert!(!to_secret_origin.to_ascii_lowercase().contains("other-vhost"), "{to_secret_origin}");
    assert!(to_secret_origin.to_ascii_lowercase().contains("x-board: 7"), "{to_secret_origin}");
    assert!(to_secret_origin.contains("GET /allowed/a%20b HTTP/1.1"), "{to_secret_origin}");
    assert!(!to_secret_origin.contains("user:pw") && !to_secret_origin.contains("dXNlcjpwdw"), "{to_secret_origin}");
    // Environment proxies are ignored: nothing went through the one the kiosk was given.
    assert_eq!(proxy_seen.lock().unwrap().len(), 0, "{:?}", proxy_seen.lock().unwrap());

    // The viewer reads but cannot write; settings only its own file.
    assert_eq!(kiosk.result("viewer-read"), r#"ok "seed""#);
    assert!(refused("viewer-write", "not_allowed").contains("'fs:deny-write'"));
    refused("viewer-remove", "not_allowed");
    assert!(kiosk.result("viewer-stat").starts_with("ok "));
    assert_eq!(std::fs::read_to_string(d.media.join("seed.txt")).unwrap(), "seed");
    assert_eq!(kiosk.result("settings-write"), "ok null");
    assert_eq!(kiosk.result("settings-read"), r#"ok "{\"volume\":3}""#);
    refused("settings-other", "not_allowed");
    refused("settings-media", "not_allowed");
    assert!(d.config.join("vitrine/settings.json").exists());

    // The race: never a byte from outside the root.
    let swap_result: serde_json::Value = serde_json::from_str(&kiosk.result("swap")).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = swapper.join();
    eprintln!("MEASURE swap_race {swap_result}");
    assert_eq!(swap_result["leaked"], 0, "{swap_result}");
    assert!(
        swap_result["inside"].as_u64().unwrap() > 0 && swap_result["refused"].as_u64().unwrap() > 0,
        "{swap_result}"
    );

    // The secret is in no log line.
    assert!(!kiosk.dump().contains(SECRET), "the secret reached the log");
}

#[test]
fn an_atomic_write_is_whole_after_kill_9() {
    let d = dirs();
    let file = d.media.join("atomic.txt");
    for round in 0..5 {
        let mut kiosk = start("main.html?mode=atomic", &d);
        kiosk.wait_ready();
        kiosk.result("atomic-going");
        std::thread::sleep(Duration::from_millis(37 * (round + 1)));
        common::kill(kiosk.pid(), "KILL");
        kiosk.wait_exit(Duration::from_secs(30)).expect("dies");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.len(), 1 << 20, "round {round}: torn length");
        let first = text.as_bytes()[0];
        assert!(text.bytes().all(|b| b == first), "round {round}: mixed content");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&d.media)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".atomic.txt"))
        .collect();
    // A temporary file from a killed write may remain; it is never the real file.
    assert!(leftovers.len() <= 5, "{leftovers:?}");
    assert!(Path::new(&file).exists());
}

/// 16 writes of one path at once, 40 times over, from a page: every one lands whole (the
/// last rename wins) and none fails; before, writers shared one temporary name and 279 of
/// the 640 failed with `internal`.
#[test]
fn concurrent_writes_of_one_path_all_succeed_and_leave_it_whole() {
    let d = dirs();
    let kiosk = start("main.html?mode=concurrent", &d);
    kiosk.wait_ready();
    let outcome: serde_json::Value = serde_json::from_str(
        &kiosk.result_within("concurrent", Duration::from_secs(120)).unwrap_or_else(|| panic!("{}", kiosk.dump())),
    )
    .unwrap();
    eprintln!("MEASURE concurrent_writes {outcome}");
    assert_eq!(outcome, serde_json::json!({"ok": 640, "failed": {}}));
    let text = std::fs::read(d.media.join("notes/race.txt")).unwrap();
    assert_eq!(text.len(), 65536);
    assert!((b'a'..b'a' + 16).contains(&text[0]) && text.iter().all(|b| *b == text[0]), "mixed content");
    let left: Vec<_> = std::fs::read_dir(d.media.join("notes")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("race.txt")], "temporary files left behind");
}

/// `device.online` follows connectivity: the kiosk runs in a network namespace of the
/// test's own with only loopback (offline), then the test gives it a veth pair with an
/// address (online), then takes it down (offline). No traffic leaves the namespace.
#[test]
fn device_online_events_follow_connectivity() {
    if !common::running_as_root() {
        common::skip("device_online_events_follow_connectivity", "making a network namespace needs root");
        return;
    }
    let ip = |args: &[&str]| std::process::Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
    let ns = format!("vitrine-online-{}", std::process::id());
    assert!(ip(&["netns", "add", &ns]), "cannot make a network namespace (needs root and iproute2)");
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _cleanup = Cleanup(ns.clone());
    let d = dirs();
    let mut env = env_for(&d);
    env.push(("VITRINE_URL", "main.html?mode=online".to_string()));
    env.push(("VITRINE_TEST_WRAP", format!("ip netns exec {ns}")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let kiosk = Kiosk::start_with("os", &env);
    kiosk.wait_ready();
    kiosk.result("online-listening");
    // A veth pair with both ends in the namespace: up and running once both are up.
    assert!(ip(&["-n", &ns, "link", "add", "vt0", "type", "veth", "peer", "name", "vt1"]));
    assert!(ip(&["-n", &ns, "addr", "add", "10.99.0.1/24", "dev", "vt0"]));
    assert!(ip(&["-n", &ns, "link", "set", "vt1", "up"]));
    assert!(ip(&["-n", &ns, "link", "set", "vt0", "up"]));
    assert_eq!(kiosk.result_within("online", Duration::from_secs(10)).as_deref(), Some("true"), "{}", kiosk.dump());
    assert!(ip(&["-n", &ns, "link", "set", "vt0", "down"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !kiosk.log.contains("RESULT online false") {
        assert!(std::time::Instant::now() < deadline, "no offline event; log:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The web processes of a kiosk with its state, media and credentials where pages are
/// not supposed to reach them.
fn sandbox_kiosk(d: &Dirs, state: &Path, fixture: &str) -> Kiosk {
    let mut env = env_for(d);
    env.push(("VITRINE_URL", "main.html?mode=online".to_string()));
    env.push(("STATE_DIRECTORY", state.to_str().unwrap().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let kiosk = Kiosk::start_with(fixture, &env);
    kiosk.wait_ready();
    kiosk.result("online-listening");
    kiosk
}

/// What a web process sees of `paths`, through its root as the kernel gives it, and
/// whether it shares the core's mount, PID, network or UTS namespace. (Its user namespace
/// is the core's when the core is root, as here: bubblewrap makes one only for others.)
fn seen_by(web: u32, core: u32, paths: &[&Path]) -> (Vec<String>, bool) {
    let visible = paths
        .iter()
        .filter(|p| Path::new(&format!("/proc/{web}/root{}", p.display())).exists())
        .map(|p| p.display().to_string())
        .collect();
    let ns = |pid: u32, ns: &str| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
    let shared = ["mnt", "pid", "net", "uts"].iter().any(|n| ns(web, n) == ns(core, n));
    (visible, shared)
}

/// WebKit's sandbox: each surface's web process has a root of its own (bubblewrap), in
/// which the store, the credentials and the media folder do not exist (of the state
/// directory, only WebKit's own web-data folders), while the system does. Before, web processes shared the core's root.
#[test]
fn web_processes_run_in_webkits_sandbox_without_the_cores_files() {
    let d = dirs();
    let state = d.media.parent().unwrap().join("state");
    let kiosk = sandbox_kiosk(&d, &state, "os");
    let store = state.join("store.sqlite3");
    assert!(store.exists(), "the core made no store at {}", store.display());
    assert!(kiosk.log.contains("bubblewrap sandbox"), "{}", kiosk.dump());
    let private = [store.as_path(), d.creds.as_path(), d.media.as_path(), d.config.as_path()];
    let mut checked = 0;
    for label in ["main", "viewer", "settings"] {
        let web = common::web_pid(&kiosk.log, label).unwrap_or_else(|| panic!("no web process for {label}"));
        assert!(Path::new(&format!("/proc/{web}/root/usr/lib")).exists(), "{label}: not a system root");
        let (visible, shared) = seen_by(web, kiosk.pid(), &private);
        assert!(visible.is_empty(), "{label}'s web process {web} sees {visible:?}");
        // The state directory holds the pages' web data (`web/`), of which WebKit binds
        // its own folders into the sandbox; nothing else of it may be there.
        let seen_state = format!("/proc/{web}/root{}", state.display());
        if let Ok(entries) = std::fs::read_dir(&seen_state) {
            let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            assert!(names.iter().all(|n| n == "web"), "{label}'s web process {web} sees {names:?} in the state dir");
        }
        assert!(!shared, "{label}'s web process {web} shares a namespace with the core");
        checked += 1;
    }
    assert_eq!(checked, 3);
    // The pages still work through the core: the fixture's files and device calls.
    assert!(!kiosk.dump().contains("sandbox is OFF"));
}

/// `[kiosk] sandbox = false` turns it off, says so as an error, and the web processes
/// then see everything the core does (which is why it is an error).
#[test]
fn the_sandbox_switch_turns_it_off_loudly() {
    let d = dirs();
    let state = d.media.parent().unwrap().join("state");
    let fixture = d.media.parent().unwrap().join("fixture");
    let status = std::process::Command::new("cp").arg("-r").arg(common::fixture("os")).arg(&fixture).status().unwrap();
    assert!(status.success());
    let toml = fixture.join("vitrine.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{text}\n[kiosk]\nsandbox = false\n")).unwrap();
    let kiosk = sandbox_kiosk(&d, &state, fixture.to_str().unwrap());
    assert!(kiosk.log.contains("sandbox is OFF"), "{}", kiosk.dump());
    let web = common::web_pid(&kiosk.log, "main").expect("main's web process");
    let (visible, shared) = seen_by(web, kiosk.pid(), &[state.as_path(), d.creds.as_path()]);
    assert_eq!(visible.len(), 2, "{visible:?}");
    assert!(shared);
}
