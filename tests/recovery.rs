//! Resilience end to end: real web processes killed, stopped and hung under Xvfb, a
//! real NOTIFY_SOCKET for the watchdog, a real loopback server for the offline page.

mod common;

use std::time::{Duration, Instant};

use common::{closed_port, count, kill, web_pid, HttpServer, Kiosk};

/// Waits until the core reports a web process for `label` other than `old`.
fn new_pid(kiosk: &Kiosk, label: &str, old: u32, timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(pid) = web_pid(&kiosk.log, label).filter(|p| *p != old) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no new web process for {label}; log:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `needle` has been logged more than `seen` times.
fn wait_count(kiosk: &Kiosk, needle: &str, seen: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while count(&kiosk.log, needle) <= seen {
        assert!(Instant::now() < deadline, "'{needle}' not logged again; log:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killed_stopped_and_hung_web_processes_come_back() {
    let kiosk = Kiosk::start("recovery");
    kiosk.wait_ready();
    kiosk.result("alive-main");
    kiosk.result("alive-side");
    let side = web_pid(&kiosk.log, "side").expect("side's web process");

    // Kiosk hygiene on the first load: popup and foreign navigation refused.
    assert_eq!(kiosk.result("popup"), "refused");
    assert!(kiosk.log.wait_for("navigation to https://example.com/elsewhere refused", common::STARTUP).is_some());
    assert!(kiosk.result("still-here").starts_with("app://localhost/alive.html"));

    // kill -9 the main surface's web process 20 times.
    let mut times = Vec::new();
    for round in 0..20 {
        let old = web_pid(&kiosk.log, "main").expect("main's web process");
        let seen = count(&kiosk.log, "RESULT alive-main");
        let killed = Instant::now();
        kill(old, "KILL");
        let new = new_pid(&kiosk, "main", old, Duration::from_secs(10));
        wait_count(&kiosk, "RESULT alive-main", seen, Duration::from_secs(10));
        times.push(killed.elapsed());
        assert_ne!(new, old, "round {round}");
        // Up for longer than stable_secs: the next kill is a fresh incident.
        std::thread::sleep(Duration::from_millis(1100));
    }
    times.sort();
    eprintln!("MEASURE kill_to_page_ms p50={} max={}", times[10].as_millis(), times[19].as_millis());
    assert_eq!(web_pid(&kiosk.log, "side"), Some(side), "another surface's web process was touched");
    assert!(common::children_named(kiosk.pid(), "WebKitWebProces").contains(&side));

    // kill -STOP: no answer to pings, so the core ends the process and reloads.
    let seen = count(&kiosk.log, "RESULT alive-side");
    let stopped = Instant::now();
    kill(side, "STOP");
    let new_side = new_pid(&kiosk, "side", side, Duration::from_secs(10));
    wait_count(&kiosk, "RESULT alive-side", seen, Duration::from_secs(10));
    eprintln!("MEASURE stop_to_page_ms={}", stopped.elapsed().as_millis());
    assert_ne!(new_side, side);
    assert!(kiosk.log.contains("surface=side page unresponsive"));

    // The hidden overlay hung in while(true) 1.5 s after its first load (long ago by
    // now) and was recovered: the reloaded page reports how long after its first load.
    kiosk.result("hanging");
    let since_load: u128 = kiosk.result("hang-recovered").parse().expect("milliseconds");
    let hang_to_page = since_load.saturating_sub(1500);
    eprintln!("MEASURE hang_to_page_ms={hang_to_page}");
    // Caught, and not forgotten: within the 1 s hang timeout plus a reload, with room for
    // a loaded machine and the sandbox's start. How fast is the recovery bench's business
    // (`cargo bench --bench recovery`: p50 about 1.2 s here), not this test's.
    assert!(hang_to_page <= 3000, "hang recovered after {hang_to_page} ms");
    assert!(kiosk.log.contains("surface=hanger page unresponsive"));
}

#[test]
fn a_page_that_keeps_dying_gets_the_recovery_page_then_returns() {
    let kiosk = Kiosk::start("budget");
    kiosk.wait_ready();
    kiosk.result("alive");
    // Kill each web process the surface gets, once its page is up, until the recovery
    // page shows. (Not earlier: WebKitGTK aborts the whole UI process when a web
    // process dies during its launch handshake.)
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut loads = count(&kiosk.log, "RESULT alive");
    kill(web_pid(&kiosk.log, "main").expect("web process"), "KILL");
    while !kiosk.log.contains("showing recovery page for main") {
        assert!(Instant::now() < deadline, "no recovery page; log:\n{}", kiosk.dump());
        if count(&kiosk.log, "RESULT alive") > loads {
            loads = count(&kiosk.log, "RESULT alive");
            kill(web_pid(&kiosk.log, "main").expect("web process"), "KILL");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = count(&kiosk.log, "RESULT alive");
    assert!(kiosk.log.contains("recovery budget spent"));
    // The recovery page is drawn (a gradient: many colours; the test page is plain white).
    let shot = kiosk.xvfb.screenshot_when(|s| s.distinct_colors() > 20, Duration::from_secs(20));
    assert!(shot.distinct_colors() > 20, "the recovery page is not drawn");

    // The fault goes away (nobody kills any more): the real page is back within a retry.
    wait_count(&kiosk, "RESULT alive", seen, Duration::from_secs(20));
}

#[test]
fn an_unreachable_page_shows_offline_until_its_server_answers() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/page.html");
    let kiosk = Kiosk::start_with("offline", &[("VITRINE_URL", &url)]);
    assert!(kiosk.log.wait_for("showing offline page for main", common::STARTUP).is_some(), "{}", kiosk.dump());
    assert!(kiosk.log.contains(&format!("cannot load {url}")));

    let page = "<!doctype html><script>console.log('RESULT remote-alive yes')</script>".to_string();
    let _server = HttpServer::start_on(port, vec![("/page.html", "text/html", page)]);
    assert_eq!(kiosk.result("remote-alive"), "yes");
}

#[test]
fn the_watchdog_is_fed_while_surfaces_are_well_and_only_then() {
    let kiosk = Kiosk::start_with("watchdog", &[("WATCHDOG_USEC", "400000")]);
    kiosk.wait_ready();
    kiosk.result("alive");
    // WATCHDOG_USEC=400 ms: a ping every 200 ms.
    let before = count(&kiosk.notify, "WATCHDOG=1");
    std::thread::sleep(Duration::from_secs(2));
    let pings = count(&kiosk.notify, "WATCHDOG=1") - before;
    assert!((7..=12).contains(&pings), "{pings} pings in 2 s");

    // A frozen core sends nothing.
    kill(kiosk.pid(), "STOP");
    let frozen = count(&kiosk.notify, "WATCHDOG=1");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(count(&kiosk.notify, "WATCHDOG=1"), frozen, "pings from a stopped core");
    kill(kiosk.pid(), "CONT");
    std::thread::sleep(Duration::from_millis(600));
    assert!(count(&kiosk.notify, "WATCHDOG=1") > frozen, "pings did not resume");

    // One crash is past this fixture's budget; a second later the surface counts as
    // unrecoverable and the pings stop.
    kill(web_pid(&kiosk.log, "main").expect("web process"), "KILL");
    assert!(kiosk.log.wait_for("no longer feeding the watchdog", Duration::from_secs(5)).is_some(), "{}", kiosk.dump());
    let starved = count(&kiosk.notify, "WATCHDOG=1");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(count(&kiosk.notify, "WATCHDOG=1"), starved, "pings while a surface is unrecoverable");
    assert!(kiosk.notify.contains("STATUS="));
}
