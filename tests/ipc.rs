//! IPC at full strength, end to end: binary payloads, deferred calls, limits, frames,
//! remote origins and event bursts, with the real binary under Xvfb.

mod common;

use std::time::Duration;

use common::{HttpServer, Kiosk};

#[test]
fn binary_deferred_limits_frames_and_bursts() {
    let kiosk = Kiosk::start("ipc-strict");
    kiosk.wait_ready();

    // Random bytes through fetch and back, hashes compared in the page.
    for size in ["0", "16", "65536", "1048576", "5242883"] {
        assert_eq!(kiosk.result(&format!("binary-{size}")), format!("same {size}"));
    }
    assert_eq!(kiosk.result("big-json"), "same");

    // Uploads answered small, generated downloads checked byte by byte, the message
    // limit on what a page may ask for, and a refusal of a call that went by fetch.
    assert_eq!(kiosk.result("sink"), "bytes 1048576 json");
    assert_eq!(kiosk.result("blob-bytes"), "pattern 1048576");
    assert_eq!(kiosk.result("blob-text"), "100000 0123456789ab…opqr");
    assert_eq!(kiosk.result("blob-over"), "too_large");
    assert_eq!(kiosk.result("big-denied"), "not_allowed");

    // Blocking calls finish in their own time and each lands on its own promise.
    assert_eq!(kiosk.result("order"), "0,100,200,300");
    assert_eq!(kiosk.result("values-match"), "yes");

    // limits.max_in_flight = 8: the rest are refused, not queued without bound.
    assert_eq!(kiosk.result("in-flight"), "8 ok 4 too_large");

    // The page was replaced while a call was in flight: the new page's call with the
    // same id gets its own answer.
    assert_eq!(kiosk.result("reload"), "fresh");
    assert!(kiosk.log.contains("its page is gone"), "the stale answer was not dropped");

    // A frame has no bridge, and what it sends on its own is refused.
    assert_eq!(kiosk.result("frame-bridge"), "undefined");
    assert_eq!(kiosk.result("fault"), "bad_message");
    assert_eq!(kiosk.result("frame-fetch"), "400 bad_message");

    // 1000 events in a burst: all delivered, in order.
    assert_eq!(kiosk.result("burst-sent"), "1000");
    assert_eq!(kiosk.result("burst-received"), "1000 in order");
}

fn remote_page() -> String {
    r#"<!doctype html><html><head><meta charset="utf-8"><title>remote</title><script>
(async () => {
  try {
    const info = await vitrine.invoke("app.info");
    console.log("RESULT remote-info ok " + info.name);
  } catch (e) {
    console.log("RESULT remote-info " + e.code + " " + e.message);
  }
  try {
    const back = new Uint8Array(await vitrine.invoke("ipc.echo", new Uint8Array([0, 1, 2, 250, 255])));
    console.log("RESULT remote-bytes " + Array.from(back).join(","));
  } catch (e) {
    console.log("RESULT remote-bytes " + e.code);
  }
})();
</script></head><body>remote</body></html>"#
        .to_string()
}

#[test]
fn remote_pages_invoke_only_where_a_capability_lists_them() {
    let server = HttpServer::start(vec![
        ("/allowed/page.html", "text/html", remote_page()),
        ("/denied/page.html", "text/html", remote_page()),
    ]);

    let url = format!("http://127.0.0.1:{}/allowed/page.html", server.port);
    let kiosk = Kiosk::start_with("remote", &[("VITRINE_URL", &url)]);
    kiosk.wait_ready();
    assert_eq!(kiosk.result("remote-info"), "ok remote fixture");
    // No fetch from a remote origin: bytes travel base64 over postMessage and come back.
    assert_eq!(kiosk.result("remote-bytes"), "0,1,2,250,255");
    drop(kiosk);

    let url = format!("http://127.0.0.1:{}/denied/page.html", server.port);
    let kiosk = Kiosk::start_with("remote", &[("VITRINE_URL", &url)]);
    kiosk.wait_ready();
    let info = kiosk.result("remote-info");
    assert!(info.starts_with("not_allowed "), "{info}");
    assert!(info.contains("no capability lists it in remote.urls"), "{info}");
    assert!(kiosk.result("remote-bytes").starts_with("not_allowed"));
    assert!(kiosk.log.wait_for("invoke refused", Duration::from_secs(5)).is_some());
}

/// The core binds each surface's label to that surface's handlers when it builds the
/// surface: three surfaces show the same page, which names "granted" in every field of
/// its calls, and each call is decided as the surface it came from, by both transports.
#[test]
fn each_surface_is_decided_by_the_label_bound_to_its_handlers() {
    let kiosk = Kiosk::start("binding");
    kiosk.wait_ready();
    for transport in ["post", "fetch"] {
        for who in ["main", "plain"] {
            let r = kiosk.result(&format!("{who}-{transport}"));
            assert!(r.starts_with("not_allowed ") && r.contains(&format!("surface '{who}'")), "{who} {transport}: {r}");
        }
    }
    // Allowed: app.info takes no arguments, so the forged fields are bad_args, not ignored.
    let post = kiosk.result("granted-post");
    assert!(post.starts_with("bad_args "), "{post}");
    let fetch = kiosk.result("granted-fetch");
    assert!(fetch.starts_with("bad_args "), "{fetch}");
}
