//! The baseline: bare wry webviews, each in a tao window of its own with its own web
//! context (wry's default, so each has its own web and network process), showing the
//! default kiosk's pages at its surfaces' sizes, with nothing of Vitrine.
//!
//! The pages come from the repository's `ui/` through a custom protocol; a stand-in
//! `window.vitrine` that never answers lets their scripts run as far as they would
//! before their first reply. Each page posts one IPC message at its `load` event, and
//! the child prints `UP i` when webview `i`'s arrives: the parent's start-up clock
//! stops at the first.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use tao::dpi::{LogicalPosition, LogicalSize};
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tao::platform::unix::WindowExtUnix;
use tao::window::WindowBuilder;
use wry::http::{header, Response, StatusCode};
use wry::{WebViewBuilder, WebViewBuilderExtUnix};

/// The default kiosk's surfaces: page, width, height (as `vitrine.toml` places them at
/// 1920x1080).
pub const SURFACES: [(&str, u32, u32); 3] =
    [("index.html", 1920, 1080), ("status.html", 1920, 48), ("toast.html", 480, 160)];

const SHIM: &str = r#"
window.vitrine = {
  invoke: () => new Promise(() => {}),
  listen: async () => () => {},
  emit: async () => ({ delivered: 0 }),
};
addEventListener("load", () => window.ipc.postMessage("up"));
"#;

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        _ => "application/octet-stream",
    }
}

pub fn run(count: usize) -> ! {
    let ui = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui");
    let event_loop = EventLoopBuilder::<()>::with_user_event().build();
    let mut keep = Vec::new();
    for (i, (page, width, height)) in SURFACES.iter().copied().take(count).enumerate() {
        let window = match WindowBuilder::new()
            .with_title(format!("bare {i}"))
            .with_inner_size(LogicalSize::new(width, height))
            .with_position(LogicalPosition::new(0, 0))
            .with_decorations(false)
            .build(&event_loop)
        {
            Ok(w) => w,
            Err(e) => fail(&format!("cannot open window {i}: {e}")),
        };
        let ui = ui.clone();
        let builder = WebViewBuilder::new()
            .with_custom_protocol("app".into(), move |_, request| {
                let path = request.uri().path().trim_start_matches('/').to_string();
                let (status, body) = match std::fs::read(ui.join(&path)) {
                    Ok(bytes) => (StatusCode::OK, bytes),
                    Err(_) => (StatusCode::NOT_FOUND, Vec::new()),
                };
                Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, content_type(&path))
                    .body(Cow::Owned(body))
                    .unwrap_or_else(|_| Response::new(Cow::Borrowed(&b""[..])))
            })
            .with_initialization_script(SHIM)
            .with_ipc_handler(move |_| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "UP {i}");
                let _ = out.flush();
            })
            .with_url(format!("app://localhost/{page}"));
        let Some(vbox) = window.default_vbox() else { fail("the window has no box for the webview") };
        match builder.build_gtk(vbox) {
            Ok(webview) => keep.push((window, webview)),
            Err(e) => fail(&format!("cannot build webview {i}: {e}")),
        }
    }
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        let _ = &keep;
        if let Event::WindowEvent { event: WindowEvent::CloseRequested, .. } = event {
            *control_flow = ControlFlow::Exit;
        }
    })
}

fn fail(why: &str) -> ! {
    eprintln!("bare child: {why}");
    std::process::exit(1)
}
