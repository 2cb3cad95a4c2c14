//! The core standing still is not a page hanging, and pages cannot wear the core down:
//! the real binary under Xvfb, the core stopped with SIGSTOP, a real `while(true){}`,
//! and pages that flood the core with refused, subscribing and slow calls.

mod common;

use std::time::{Duration, Instant};

use common::{children_named, count, kill, web_pid, Kiosk};

const LABELS: [&str; 3] = ["main", "left", "hanger"];
/// `recovery.hang_timeout_ms` of the stall fixture.
const HANG_TIMEOUT: Duration = Duration::from_millis(1000);
/// What a hang may take beyond the timeout before it is caught: one ping period, one
/// tick, and a loaded CI machine.
const HANG_SLACK: Duration = Duration::from_millis(1000);

fn pids(kiosk: &Kiosk) -> Vec<u32> {
    LABELS.iter().map(|l| web_pid(&kiosk.log, l).unwrap_or_else(|| panic!("no web process for {l}"))).collect()
}

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

/// Stops the core itself for `how_long`, then lets it run again.
fn stall_core(kiosk: &Kiosk, how_long: Duration) {
    kill(kiosk.pid(), "STOP");
    std::thread::sleep(how_long);
    kill(kiosk.pid(), "CONT");
}

/// Clicks the hanger overlay (top right, 300x200) and waits until its page hangs.
fn hang_the_hanger(kiosk: &Kiosk) {
    let seen = count(&kiosk.log, "RESULT hanging");
    kiosk.xvfb.xdotool(&["mousemove", "1770", "100", "click", "1"]);
    wait_count(kiosk, "RESULT hanging", seen, Duration::from_secs(10));
}

#[test]
fn a_stalled_core_keeps_healthy_pages_and_still_ends_a_hung_one() {
    let kiosk = Kiosk::start("stall");
    kiosk.wait_ready();
    for label in LABELS {
        kiosk.result(&format!("loaded-{label}"));
    }
    // Pings flowing for a while.
    std::thread::sleep(Duration::from_millis(800));
    let before = pids(&kiosk);
    let loads = count(&kiosk.log, "RESULT loaded-");

    // 1. The core stands still for 2 s, twice the hang timeout: no page is to blame.
    stall_core(&kiosk, Duration::from_secs(2));
    // Longer than a hang timeout and a reload after the core runs again.
    std::thread::sleep(HANG_TIMEOUT + Duration::from_millis(1500));
    assert!(!kiosk.log.contains("page unresponsive"), "a healthy page was blamed; log:\n{}", kiosk.dump());
    assert_eq!(pids(&kiosk), before, "web processes were replaced");
    let alive = children_named(kiosk.pid(), "WebKitWebProces");
    assert!(before.iter().all(|p| alive.contains(p)), "web processes {before:?} ended; alive: {alive:?}");
    assert_eq!(count(&kiosk.log, "RESULT loaded-"), loads, "a page was reloaded");
    assert!(kiosk.log.contains("main loop stood still"), "the stall was not noticed");

    // 2. A real while(true) is still caught within the hang timeout.
    let hanger = before[2];
    hang_the_hanger(&kiosk);
    let hung = Instant::now();
    kiosk.log.wait_for("surface=hanger page unresponsive", HANG_TIMEOUT + HANG_SLACK);
    let caught = hung.elapsed();
    eprintln!("MEASURE hang_to_terminate_ms={}", caught.as_millis());
    assert!(caught <= HANG_TIMEOUT + HANG_SLACK, "hang caught after {caught:?}; log:\n{}", kiosk.dump());
    let hanger = new_pid(&kiosk, "hanger", hanger, Duration::from_secs(10));
    wait_count(&kiosk, "RESULT loaded-hanger", 1, Duration::from_secs(10));

    // 3. A page hung when the core stalls is caught within the timeout after the core
    //    runs again, and only that page.
    std::thread::sleep(Duration::from_millis(500));
    hang_the_hanger(&kiosk);
    stall_core(&kiosk, Duration::from_secs(2));
    let resumed = Instant::now();
    let ended = count(&kiosk.log, "surface=hanger page unresponsive");
    let deadline = resumed + HANG_TIMEOUT + HANG_SLACK;
    while count(&kiosk.log, "surface=hanger page unresponsive") == ended {
        assert!(Instant::now() < deadline, "the hung page was not caught after the stall; log:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("MEASURE resume_to_terminate_ms={}", resumed.elapsed().as_millis());
    new_pid(&kiosk, "hanger", hanger, Duration::from_secs(10));
    assert_eq!(count(&kiosk.log, "page unresponsive"), 2, "{}", kiosk.dump());
    assert_eq!(pids(&kiosk)[..2], before[..2], "a healthy surface was touched");
    assert_eq!(count(&kiosk.log, "RESULT loaded-main"), 1);
    assert_eq!(count(&kiosk.log, "RESULT loaded-left"), 1);
}

/// How many refusals of `command` from `label` the summary lines counted
/// ("… more calls refused (not_allowed) in the last 5 s: window.hide x9995, …").
fn summarized(kiosk: &Kiosk, label: &str, command: &str) -> usize {
    let (tag, item) = (format!("surface={label} "), format!("{command} x"));
    kiosk
        .log
        .all()
        .iter()
        .filter(|l| l.contains(&tag) && l.contains(" more calls refused"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(&item)?;
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()
        })
        .sum()
}

#[test]
fn a_flooding_page_gets_bounded_logs_subscriptions_and_pool_share() {
    let kiosk = Kiosk::start("abuse");
    kiosk.wait_ready();

    // The flooder holds 200 calls of 3 s each; the pool has 64 workers. Without a fair
    // share main's quick call would queue behind the flood for at least 3 s.
    let fair: u64 = kiosk.result("fair-ms").parse().expect("milliseconds");
    eprintln!("MEASURE fair_call_during_flood_ms={fair}");
    assert!(fair < 1500, "a quick call waited {fair} ms behind another surface's flood");

    // 10 000 refused calls: each one answered, the log bounded, nothing uncounted.
    assert_eq!(kiosk.result("refused"), "10000");
    assert_eq!(kiosk.result("after-refusals"), "ok", "the core stopped answering");
    let in_full = || count(&kiosk.log, "surface=main command=window.hide invoke refused");
    let deadline = Instant::now() + Duration::from_secs(15);
    while in_full() + summarized(&kiosk, "main", "window.hide") < 10_000 {
        assert!(Instant::now() < deadline, "refusals not all counted; log:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(in_full() + summarized(&kiosk, "main", "window.hide"), 10_000);
    let lines = kiosk.log.all().iter().filter(|l| l.contains("surface=main") && l.contains("refused")).count();
    eprintln!("MEASURE refusal_log_lines={lines} for 10000 refused calls");
    assert!(lines <= 40, "{lines} log lines for 10 000 refused calls");

    // Past the subscription bound: a structured error, and the page goes on.
    let listen = kiosk.result("listen-refused");
    assert!(listen.starts_with("255 too_large "), "{listen}");
    assert!(listen.contains("256 event names"), "{listen}");

    // The flood itself completes: fairness delays it, it loses nothing.
    assert_eq!(kiosk.result_within("flood-done", Duration::from_secs(40)).as_deref(), Some("200"));
}

/// Large frames and replies leave the GTK thread; what the page sees is unchanged.
/// `ordered`: all frames came one way, so they reach the core in the order sent and
/// must be handled in it.
fn large_messages_keep_their_order_and_answers(fixture: &str, ordered: bool) {
    let kiosk = Kiosk::start(fixture);
    kiosk.wait_ready();
    assert_eq!(kiosk.result("small-during"), "99");
    let mb = |n: usize| n * 1024 * 1024;
    let expected = format!("1:0,2:{},3:0,4:{},5:0", mb(3), mb(2));
    let order = kiosk.result("order");
    if ordered {
        assert_eq!(order, expected, "events out of order");
    } else {
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.split(',').map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&order), sorted(&expected), "events lost");
    }
    assert_eq!(kiosk.result("blob-text"), format!("{} 012345", mb(4)));
    assert_eq!(kiosk.result("blob-bytes"), format!("{} 250 0", mb(2)));
    assert_eq!(kiosk.result("echo"), format!("7 {}", mb(3)));
    assert_eq!(kiosk.result("upload"), format!("bytes {}", mb(2)));
    assert_eq!(kiosk.result("too-large"), "too_large");
    assert!(!kiosk.log.contains("RESULT failed"), "{}", kiosk.dump());
}

#[test]
fn large_messages_by_fetch_keep_their_order_and_answers() {
    large_messages_keep_their_order_and_answers("offload", false);
}

#[test]
fn large_messages_by_post_message_keep_their_order_and_answers() {
    large_messages_keep_their_order_and_answers("offload-post", true);
}
