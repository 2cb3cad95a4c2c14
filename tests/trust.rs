//! The trust boundary between pages and the core, end to end with the real binary
//! under Xvfb: what a page receives is data, the bridge's secret stays in the bridge,
//! every call belongs to the document that made it, and only a person's input counts
//! as activity.

mod common;

use std::time::{Duration, Instant};

use common::Kiosk;

/// An own `"__proto__"` key reaches the page as an own property, by every path the
/// core answers on: an event from another surface, a stored value, a reply by script
/// to a postMessage call and to a fetch call.
#[test]
fn proto_keys_arrive_as_data() {
    let kiosk = Kiosk::start("trust/payloads");
    kiosk.wait_ready();
    assert_eq!(kiosk.result("event"), "own");
    assert_eq!(kiosk.result("store"), "own");
    assert_eq!(kiosk.result("echo-small"), "own");
    assert_eq!(kiosk.result("echo-nested"), "own");
    assert_eq!(kiosk.result("echo-fetch"), format!("own {}", 70 * 1024));
    assert_eq!(kiosk.result("echo-plain"), r#"{"a":[1,"two",null]}"#);
}

/// A page that replaces fetch, Headers, Request, the message handler (on the object,
/// its prototype, and window.webkit itself), window.ipc, JSON.stringify, and plants
/// getters on Object.prototype, still invokes by both transports, and nothing it
/// replaced ever sees the token.
#[test]
fn page_cannot_read_the_token() {
    let kiosk = Kiosk::start("trust/secret");
    kiosk.wait_ready();
    let attempts = kiosk.result("secret-attempts");
    // The test means something only where the page could replace these.
    for replaced in ["fetch:replaced", "handler.postMessage:replaced", "Object.prototype.signal:replaced"] {
        assert!(attempts.contains(replaced), "{attempts}");
    }
    assert_eq!(kiosk.result("secret-calls"), format!("small big-{} bytes-7.8.9", 70 * 1024));
    assert_eq!(kiosk.result("secret-token"), "none");
}

/// A call the old document makes while it is being replaced is refused (its token is
/// no longer accepted), and its answer can never settle the new document's call with
/// the same id; the new document's own calls work.
#[test]
fn calls_belong_to_their_document() {
    let kiosk = Kiosk::start("trust/documents");
    kiosk.wait_ready();
    assert_eq!(kiosk.result("old"), "loaded");
    assert_eq!(kiosk.result("documents-first"), "NEW");
    assert_eq!(kiosk.result("documents-later"), "again");
    let refused = kiosk.log.wait_for("refused a message", Duration::from_secs(5));
    assert!(
        refused.as_deref().is_some_and(|l| l.contains("main") && l.contains("page is being replaced")),
        "the old document's call was not refused: {refused:?}\n{}",
        kiosk.dump()
    );
}

/// Real clicks keep the kiosk from going home; a page's synthetic input does not.
#[test]
fn only_trusted_input_counts_as_activity() {
    let kiosk = Kiosk::start("trust/idle");
    kiosk.wait_ready();
    assert_eq!(kiosk.result("home"), "shown");
    kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
    assert_eq!(kiosk.result("away"), "shown");
    // Clicks for 5 s, over twice the 2 s timeout.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        kiosk.xvfb.xdotool(&["mousemove", "960", "540", "click", "1"]);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(!kiosk.log.contains("idle for"), "real clicks did not count:\n{}", kiosk.dump());
    // A click in the corner starts the page's synthetic input, 10 events a second.
    kiosk.xvfb.xdotool(&["mousemove", "20", "20", "click", "1"]);
    assert_eq!(kiosk.result("synthetic"), "started");
    assert!(
        kiosk.log.wait_for("idle for", Duration::from_secs(8)).is_some(),
        "synthetic input kept the kiosk from going idle:\n{}",
        kiosk.dump()
    );
}

/// While a navigation waits for a slow server (longer than the hang timeout), the old
/// page stays: it may not call, it is not pinged, and it is not taken for hung; the
/// new page then loads.
#[test]
fn a_slow_load_keeps_the_old_page_without_calls() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            std::thread::sleep(Duration::from_millis(2500));
            let body = "<!doctype html><title>slow</title><script>console.log('RESULT slow-new loaded')</script>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let url = format!("old.html?to=http://127.0.0.1:{port}/slow.html");
    let kiosk = Kiosk::start_with("trust/slow-load", &[("VITRINE_URL", &url)]);
    kiosk.wait_ready();
    assert_eq!(kiosk.result("slow-old"), "loaded");
    assert_eq!(kiosk.result("slow-new"), "loaded");
    let log = kiosk.dump();
    assert!(!log.contains("unresponsive"), "the old page was taken for hung:\n{log}");
    // Refused without an answer: an answer would draw more messages from the old page
    // (its bridge logs faults through the core) for as long as the load takes.
    let refused = log.matches("refused a message: the surface's page is being replaced").count();
    assert!((1..200).contains(&refused), "{refused} refusals:\n{log}");
    assert!(!log.contains("crashed"), "{log}");
}
