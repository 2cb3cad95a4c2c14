//! Files, HTTP with core-held secrets and device facts, end to end: real files and
//! symlinks, a real loopback HTTP server recording what reaches it, the real binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
            let body = match path.as_str() {
                "/allowed/big" => "x".repeat(200_000),
                // A careless server that echoes the credential back.
                "/allowed/echo" => head.clone(),
                _ => "hello from the server".to_string(),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization")).unwrap_or("none"),
                body.len()
            );
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

    let kiosk = start(&url, &d);
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
        kiosk.wait_exit(Duration::from_secs(5)).expect("dies");
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

/// `device.online` follows connectivity: the kiosk runs in a network namespace of the
/// test's own with only loopback (offline), then the test gives it a veth pair with an
/// address (online), then takes it down (offline). No traffic leaves the namespace.
#[test]
fn device_online_events_follow_connectivity() {
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
