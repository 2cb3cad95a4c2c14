//! `kiosk.idle_timeout_secs`, `recovery.memory_limit_mb`, `memory.web_limit_mb` and
//! `recovery.daily_reload`,
//! end to end with the real binary under Xvfb. (The daily reload's schedule across DST
//! changes and clock jumps is tested on the pure schedule, `tests/schedule.rs`.)

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{count, Kiosk};

#[test]
fn without_input_the_main_surface_goes_back_to_its_page_and_input_keeps_it_away() {
    let kiosk = Kiosk::start("policy-idle");
    kiosk.wait_ready();
    assert_eq!(kiosk.result("home"), "1");
    kiosk.result("away");
    // A person taps for twice the timeout: the page stays.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(kiosk.log.contains("RESULT click"), "the taps did not reach the page:\n{}", kiosk.dump());
    assert_eq!(count(&kiosk.log, "RESULT home "), 1, "went home while in use:\n{}", kiosk.dump());
    // Then nobody: within the timeout (3 s) and a tick or two, the page is home again.
    let stopped = Instant::now();
    let line = kiosk.log.wait_for("RESULT home 2", Duration::from_secs(10));
    assert!(line.is_some(), "not home again:\n{}", kiosk.dump());
    assert!(stopped.elapsed() >= Duration::from_secs(1), "home too soon after the last tap: {:?}", stopped.elapsed());
    assert!(kiosk.log.contains("idle for 3 s; back to app://localhost/home.html"), "{}", kiosk.dump());
}

#[test]
fn a_web_process_over_the_memory_limit_is_reloaded() {
    let kiosk = Kiosk::start("policy-memory");
    // Checked every 2 s: ended (before its page may even have said it grew), reloaded,
    // and the page comes back, small this time.
    let calm = kiosk.log.wait_for("RESULT calm", Duration::from_secs(30));
    assert!(calm.is_some(), "not reloaded:\n{}", kiosk.dump());
    assert!(kiosk.log.contains("over the limit of 400 MiB; reloading"), "{}", kiosk.dump());
    assert!(kiosk.log.contains("(memory limit)"), "the reason is not logged:\n{}", kiosk.dump());
    // Once, not in a loop: a small page stays.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&kiosk.log, "over the limit"), 1, "{}", kiosk.dump());
}

#[test]
fn webkit_gets_the_memory_limit_of_its_processes() {
    // `[memory] web_limit_mb = 64`, checked every second. WebKit only frees memory at
    // its thresholds, which shows nowhere outside; the tests' kill share makes it end
    // the process instead, which the core hears as WebKit's reason.
    let share = [("VITRINE_DIAG_WEB_KILL_SHARE", "0.9")];
    let kiosk = Kiosk::start_with("policy-pressure", &share);
    let ended = kiosk.log.wait_for("(exceeded memory limit)", Duration::from_secs(30));
    assert!(ended.is_some(), "WebKit did not apply the limit:\n{}", kiosk.dump());
    assert!(kiosk.log.contains("WebKit's memory limit: 64 MiB per web process"), "{}", kiosk.dump());
    kiosk.log.wait_for("RESULT loaded 2", Duration::from_secs(30)).expect("reloaded after WebKit ended it");

    // Without the setting WebKit's limit is the machine's memory: the same share ends
    // nothing.
    let kiosk = Kiosk::start_with("policy-idle", &share);
    kiosk.wait_ready();
    std::thread::sleep(Duration::from_secs(4));
    assert!(!kiosk.log.contains("exceeded memory limit"), "{}", kiosk.dump());
    assert!(!kiosk.log.contains("WebKit's memory limit"), "{}", kiosk.dump());
}

/// A POSIX `TZ` in which the local time is `local` seconds after midnight now.
fn zone_where_it_is(local: i64) -> String {
    let utc = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64 % 86_400;
    // East of UTC by `east` seconds, in (-12 h, 12 h]; POSIX writes east as negative.
    let mut east = (local - utc).rem_euclid(86_400);
    if east > 43_200 {
        east -= 86_400;
    }
    let (sign, a) = if east > 0 { ('-', east) } else { ('+', -east) };
    format!("VIT{sign}{}:{:02}:{:02}", a / 3600, a / 60 % 60, a % 60)
}

#[test]
fn the_daily_reload_reloads_every_surface_at_its_local_time() {
    // Noon is configured; it is 11:59:45 local when the kiosk starts.
    let tz = zone_where_it_is(12 * 3600 - 15);
    let kiosk = Kiosk::start_with("policy-daily", &[("TZ", &tz)]);
    kiosk.wait_ready();
    kiosk.result("loaded");
    let reload = kiosk.log.wait_for("daily reload of every surface", Duration::from_secs(40));
    assert!(reload.is_some(), "no daily reload (TZ={tz}):\n{}", kiosk.dump());
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&kiosk.log, "RESULT loaded") < 2 {
        assert!(Instant::now() < deadline, "the page was not loaded again:\n{}", kiosk.dump());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Once: the minute after noon does not fire again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&kiosk.log, "daily reload of every surface"), 1, "{}", kiosk.dump());
}
