//! The Vitrine side: the real kiosk (`vitrine::run`) on the bench's configuration
//! folder, with a call observer that stamps every call on the main thread as the router
//! receives it, before any check.
//!
//! The observer sees only the surface and the command, so the page marks its cases
//! with other commands: `app.info` from `main` = the next case starts, `window.list` =
//! all done, `bench.failed` (no such command) = the page gave up. `ipc.echo` from a
//! listener overlay is a fan-out ack.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::plan::{self, Ev, LISTENERS};

/// The configuration folder, compiled in so the bench cannot run against stale files.
const FILES: &[(&str, &str)] = &[
    ("vitrine.toml", include_str!("kiosk/vitrine.toml")),
    ("capabilities/main.json", include_str!("kiosk/capabilities/main.json")),
    ("capabilities/listeners.json", include_str!("kiosk/capabilities/listeners.json")),
    ("ui/bench.html", include_str!("kiosk/ui/bench.html")),
    ("ui/bench.js", include_str!("kiosk/ui/bench.js")),
    ("ui/common.js", include_str!("kiosk/ui/common.js")),
    ("ui/listener.html", include_str!("kiosk/ui/listener.html")),
    ("ui/listener.js", include_str!("kiosk/ui/listener.js")),
];

/// Writes the kiosk folder, with this run's `ui/plan.js`, into `dir`.
pub fn write_folder(dir: &Path) -> std::io::Result<()> {
    crate::common::write_folder(dir, FILES, &plan::plan_js(&plan::vitrine_cases()))
}

fn classify(label: &str, cmd: &str) -> Option<Ev> {
    if label == "main" {
        return Some(if cmd == "app.info" { Ev::Marker } else { Ev::Call });
    }
    if cmd == "ipc.echo" {
        return LISTENERS.iter().position(|l| *l == label).map(Ev::Ack);
    }
    None
}

/// Runs the kiosk on `dir` until the page is done; never returns.
pub fn run(dir: PathBuf) -> ! {
    vitrine::service::logging::init();
    let cases = plan::vitrine_cases();
    let events = RefCell::new(Vec::<(Instant, Ev)>::with_capacity(16_384));
    let observer = move |label: &str, cmd: &str| {
        let t = Instant::now();
        match (label, cmd) {
            ("main", "window.list") => match events.try_borrow() {
                Ok(events) => plan::finish(&cases, &events),
                Err(_) => {
                    eprintln!("vitrine child: samples busy at the end");
                    std::process::exit(1);
                }
            },
            ("main", "bench.failed") => {
                eprintln!("vitrine child: the page failed (its console.error above says why)");
                std::process::exit(1);
            }
            _ => {
                let Some(ev) = classify(label, cmd) else { return };
                match events.try_borrow_mut() {
                    Ok(mut events) => events.push((t, ev)),
                    Err(_) => eprintln!("vitrine child: re-entrant observer; call not recorded"),
                }
            }
        }
    };
    // The store goes where the parent's STATE_DIRECTORY says: the child's private HOME.
    let options =
        vitrine::RunOptions { config_dir: Some(dir), observer: Some(Box::new(observer)), ..Default::default() };
    match vitrine::run(options) {
        Ok(()) => eprintln!("vitrine child: the kiosk stopped before the page finished"),
        Err(e) => eprintln!("vitrine child: {e}"),
    }
    std::process::exit(1)
}
