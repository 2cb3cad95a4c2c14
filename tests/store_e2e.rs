//! The store end to end: surfaces sharing state through the real core, scopes, crash
//! durability under `kill -9` of the core, and a corrupt file at start.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Kiosk;

fn db(state: &Path) -> PathBuf {
    state.join("vitrine").join("store.sqlite3")
}

#[test]
fn surfaces_share_state_within_their_scopes() {
    let state = tempfile::tempdir().unwrap();
    let kiosk = Kiosk::start_with("store", &[("XDG_STATE_HOME", state.path().to_str().unwrap())]);
    kiosk.wait_ready();

    // A write in the overlay reaches the board through store.changed.
    assert_eq!(kiosk.result("main-changed-settings.volume"), r#"{"key":"settings.volume","value":7}"#);
    // The overlay may not read the board's keys, nor write outside its own.
    let r = kiosk.result("settings-get-main");
    assert!(r.starts_with("not_allowed ") && r.contains("'store:allow-get'") && r.contains("'main.private'"), "{r}");
    assert!(kiosk.result("settings-set-other").starts_with("not_allowed "));
    assert!(kiosk.result("settings-list").starts_with("not_allowed "));

    assert_eq!(kiosk.result("main-bytes"), "ok null");
    assert_eq!(kiosk.result("main-blob"), "0,1,255");
    assert_eq!(kiosk.result("main-cas-ok"), r#"ok {"ok":true}"#);
    assert_eq!(kiosk.result("main-cas-conflict"), r#"ok {"conflict":"main.count","ok":false}"#);
    assert_eq!(kiosk.result("main-delete"), r#"ok {"deleted":true}"#);
    assert_eq!(kiosk.result("main-get-missing"), "ok null");
    assert!(kiosk.result("main-too-large").starts_with("too_large "));
    assert!(kiosk.result("main-bad-key").starts_with("bad_args "));
    // The listing leaves out what the board may not list (kiosk.*).
    assert_eq!(kiosk.result("main-list"), "main.blob,main.private,settings.volume");

    // store.changed goes only to surfaces that may read the key.
    kiosk.result("settings-changed-settings.volume");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!kiosk.log.contains("RESULT settings-changed-main.private"), "the overlay heard of a key it may not read");
    assert!(!kiosk.log.contains("RESULT main-changed-kiosk.secret"), "the board heard of a key it may not read");
}

/// Keys the page logged as acknowledged.
fn acked(kiosk: &Kiosk) -> Vec<String> {
    kiosk.log.all().iter().filter_map(|l| l.split_once("ACK ").map(|(_, k)| k.trim().to_string())).collect()
}

#[test]
fn nothing_acknowledged_is_lost_when_the_core_is_killed() {
    let rounds: usize = std::env::var("VITRINE_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let state = tempfile::tempdir().unwrap();
    let env = [("XDG_STATE_HOME", state.path().to_str().unwrap()), ("VITRINE_URL", "main.html?mode=writer")];
    let mut all_acked = 0;
    let mut seed = std::process::id() as u64;
    for round in 0..rounds {
        let mut kiosk = Kiosk::start_with("store", &env);
        kiosk.wait_ready();
        kiosk.log.wait_for("ACK ", Duration::from_secs(10)).expect("writes acknowledged");
        // A pseudo-random moment 50–550 ms into the writing.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(50 + (seed >> 33) % 500));
        common::kill(kiosk.pid(), "KILL");
        kiosk.wait_exit(Duration::from_secs(30)).expect("the core dies");
        // The log pipe may still hold the last lines.
        std::thread::sleep(Duration::from_millis(50));
        let keys = acked(&kiosk);
        drop(kiosk);

        let conn = rusqlite::Connection::open(db(state.path())).expect("open the store");
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "round {round}");
        let mut stmt = conn.prepare("SELECT count(*) FROM kv WHERE key = ?1").unwrap();
        for key in &keys {
            let n: i64 = stmt.query_row([key], |r| r.get(0)).unwrap();
            assert_eq!(n, 1, "round {round}: acknowledged {key} is missing");
        }
        all_acked += keys.len();
    }
    eprintln!("MEASURE crash_rounds={rounds} acknowledged_writes={all_acked}");
    assert!(all_acked > rounds * 10, "too few writes to mean anything: {all_acked}");
}

#[test]
fn a_corrupt_store_is_moved_aside_and_the_kiosk_runs_on() {
    let state = tempfile::tempdir().unwrap();
    let file = db(state.path());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, vec![0x5a; 64 * 1024]).unwrap();

    let env = [("XDG_STATE_HOME", state.path().to_str().unwrap()), ("VITRINE_URL", "main.html?mode=probe")];
    let kiosk = Kiosk::start_with("store", &env);
    kiosk.wait_ready();
    assert_eq!(kiosk.result("probe"), "1");
    assert!(kiosk.log.contains("was unreadable and was moved aside"), "{}", kiosk.dump());
    let aside: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("store.sqlite3.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the bad file is kept aside");
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), vec![0x5a; 64 * 1024]);
}
