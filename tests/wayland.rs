//! Wayland end to end: the real binary as a client of headless sway — wlroots, the
//! compositor library of cage and labwc (Raspberry Pi OS) — captured with grim.
//!
//! Needs `sway` and `grim` (scripts/packages/wayland.txt). Without sway the tests say so
//! and return; any other missing piece fails them. As root, sway and the kiosk run as
//! `nobody` (sway refuses root), each compositor in its own runtime directory.

mod common;

use std::time::Duration;

use common::{closed_port, near, HttpServer, Image, Sway, WaylandKiosk};

const BLUE: [u8; 3] = [0x20, 0x50, 0xa0];
const RED: [u8; 3] = [0xff, 0x00, 0x00];
const GREEN: [u8; 3] = [0x00, 0xc0, 0x00];
const YELLOW: [u8; 3] = [0xe0, 0xc0, 0x20];

fn sway_or_skip(test: &str) -> Option<Sway> {
    let sway = Sway::start(1920, 1080);
    if sway.is_none() {
        common::skip(test, "sway is not installed (apt-get install sway grim, see scripts/packages/wayland.txt)");
    }
    sway
}

/// The compositor's node for the kiosk's window, found by process id.
fn window_node(tree: &serde_json::Value, pid: u32) -> Option<&serde_json::Value> {
    if tree["pid"].as_u64() == Some(u64::from(pid)) {
        return Some(tree);
    }
    ["nodes", "floating_nodes"].iter().filter_map(|k| tree[k].as_array()).flatten().find_map(|n| window_node(n, pid))
}

#[test]
fn on_sway_the_main_surface_fills_the_output_and_overlays_blend() {
    let Some(sway) = sway_or_skip("on_sway_the_main_surface_fills_the_output_and_overlays_blend") else { return };
    // The pages act once a server answers on this port (there is no pointer to click with).
    let port = closed_port();
    let url = format!("main.html?port={port}");
    let mut kiosk = WaylandKiosk::start(&sway, "wayland", &[("VITRINE_URL", &url)]);
    let ready = kiosk.wait_ready();
    for page in ["main", "badge", "ticker", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }
    eprintln!("MEASURE wayland_ready_ms={}", ready.as_millis());
    assert!(kiosk.log.contains("WebKitGTK 2."), "the WebKit version is logged:\n{}", kiosk.dump());
    assert!(kiosk.log.contains("DMA-BUF renderer on"), "the rendering state is logged:\n{}", kiosk.dump());
    assert!(!kiosk.log.contains("drawn as opaque boxes"), "no transparency warning by default");

    // A native Wayland client (xdg-shell, not Xwayland), fullscreen on the whole output.
    let tree = sway.msg(&["-t", "get_tree"]);
    let node =
        window_node(&tree, kiosk.pid()).unwrap_or_else(|| panic!("no window of pid {} in {tree:#}", kiosk.pid()));
    assert_eq!(node["shell"], "xdg_shell", "{node:#}");
    assert_eq!(node["fullscreen_mode"], 1, "{node:#}");
    let rect = &node["rect"];
    assert_eq!((rect["x"].as_u64(), rect["y"].as_u64()), (Some(0), Some(0)), "{rect}");
    assert_eq!((rect["width"].as_u64(), rect["height"].as_u64()), (Some(1920), Some(1080)), "{rect}");

    // Layers, as on X11: the badge is opaque where its page paints and shows the main page
    // through its transparent parts; so does the ticker; the strip covers the bottom 100 px.
    let painted = |s: &Image| {
        near(s.pixel(100, 100), BLUE)
            && near(s.pixel(960, 540), RED)
            && near(s.pixel(320, 810), RED)
            && near(s.pixel(960, 1030), GREEN)
    };
    let shot = sway.screenshot_when(painted, Duration::from_secs(10));
    assert_eq!((shot.width, shot.height), (1920, 1080));
    for (x, y) in [(0, 0), (1919, 0), (100, 100), (1800, 900), (0, 979), (1919, 979)] {
        assert!(near(shot.pixel(x, y), BLUE), "main page at {x},{y}: {:?}", shot.pixel(x, y));
    }
    assert!(near(shot.pixel(300, 240), YELLOW), "main page's band: {:?}", shot.pixel(300, 240));
    assert!(near(shot.pixel(960, 540), RED), "badge box: {:?}", shot.pixel(960, 540));
    assert!(near(shot.pixel(780, 410), BLUE), "badge's transparent corner: {:?}", shot.pixel(780, 410));
    assert!(near(shot.pixel(1140, 670), BLUE), "badge's transparent corner: {:?}", shot.pixel(1140, 670));
    assert!(near(shot.pixel(320, 810), RED), "ticker box: {:?}", shot.pixel(320, 810));
    assert!(near(shot.pixel(170, 710), BLUE), "ticker's transparent corner: {:?}", shot.pixel(170, 710));
    for (x, y) in [(0, 1079), (960, 1030), (1919, 1079)] {
        assert!(near(shot.pixel(x, y), GREEN), "strip at {x},{y}: {:?}", shot.pixel(x, y));
    }
    assert!(near(shot.pixel(960, 975), BLUE), "above the strip: {:?}", shot.pixel(960, 975));

    // Partial redraws under the compositor: the ticker's box moves to its top-left corner
    // (its old place, whose vertical mirror is the band, must show the blue main page
    // again, not grey or yellow) and the badge is hidden (the main page shows where it
    // was). Nothing else may change.
    let _server = HttpServer::start_on(port, vec![("/go", "text/plain", "go".to_string())]);
    assert_eq!(kiosk.result("move-delivered"), "1");
    kiosk.result("ticker-moved");
    assert_eq!(kiosk.result("badge-visible"), "false");
    let redrawn =
        |s: &Image| near(s.pixel(960, 540), BLUE) && near(s.pixel(320, 810), BLUE) && near(s.pixel(170, 710), RED);
    let shot = sway.screenshot_when(redrawn, Duration::from_secs(20));
    assert!(near(shot.pixel(960, 540), BLUE), "hidden badge still drawn: {:?}", shot.pixel(960, 540));
    assert!(near(shot.pixel(320, 810), BLUE), "ticker's old box place: {:?}", shot.pixel(320, 810));
    assert!(near(shot.pixel(410, 850), BLUE), "ticker's old box place: {:?}", shot.pixel(410, 850));
    assert!(near(shot.pixel(170, 710), RED), "ticker's moved box: {:?}", shot.pixel(170, 710));
    for (x, y) in [(0, 0), (100, 100), (780, 410), (1140, 670), (960, 975), (600, 900)] {
        assert!(near(shot.pixel(x, y), BLUE), "main page at {x},{y}: {:?}", shot.pixel(x, y));
    }
    assert!(near(shot.pixel(300, 240), YELLOW), "main page's band: {:?}", shot.pixel(300, 240));
    assert!(near(shot.pixel(960, 1030), GREEN), "strip after the redraws: {:?}", shot.pixel(960, 1030));

    kiosk.signal("TERM");
    let status = kiosk.wait_exit(Duration::from_secs(5)).expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(kiosk.notify.contains("STOPPING=1"));
}

#[test]
fn with_the_dmabuf_renderer_off_the_kiosk_runs_and_warns_about_transparency() {
    let Some(sway) = sway_or_skip("with_the_dmabuf_renderer_off_the_kiosk_runs_and_warns_about_transparency") else {
        return;
    };
    // As a unit's Environment= would set it on a board that shows a blank window.
    let kiosk = WaylandKiosk::start(&sway, "wayland", &[("WEBKIT_DISABLE_DMABUF_RENDERER", "1")]);
    kiosk.wait_ready();
    for page in ["main", "badge", "ticker", "strip"] {
        kiosk.result(&format!("{page}-painted"));
    }
    assert!(kiosk.log.contains("DMA-BUF renderer off (environment)"), "{}", kiosk.dump());
    let warning = kiosk.log.wait_for("drawn as opaque boxes", Duration::from_secs(1)).expect("a warning");
    assert!(warning.contains("WARN") && warning.contains("badge, ticker, strip"), "{warning}");
    // The main surface still renders.
    let painted = |s: &Image| near(s.pixel(100, 100), BLUE) && near(s.pixel(960, 540), RED);
    let shot = sway.screenshot_when(painted, Duration::from_secs(10));
    assert!(near(shot.pixel(100, 100), BLUE), "main page: {:?}", shot.pixel(100, 100));
    assert!(near(shot.pixel(960, 540), RED), "badge box: {:?}", shot.pixel(960, 540));
    // What the warning is about (not asserted: a WebKit that fixes it should not fail us).
    eprintln!("MEASURE wayland_dmabuf_off_badge_transparent_corner={:?}", shot.pixel(780, 410));
}
