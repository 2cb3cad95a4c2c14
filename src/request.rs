//! Control requests: what other threads (the D-Bus control interface, the tray, the
//! notification sender) ask of the shell, and the shell's answers.
//!
//! The shell owns GTK and runs on the main thread; nothing else may touch it. A
//! [`Request`] travels to it through a [`ShellLink`] (which the shell attaches to its event
//! loop once that exists) and is answered through a one-shot channel, so the asking side
//! holds channels only. An answer that does not come in time means the main loop is
//! frozen, and is reported as such rather than waited for.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_channel::oneshot;
use serde::{Deserialize, Serialize};

use crate::config::TrayAction;

/// How long a caller waits for the main loop before calling the kiosk unresponsive.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// What to do. The first group is the control interface's; the rest come from the bus
/// side's own parts.
#[derive(Debug)]
pub enum Op {
    Ping,
    Status,
    Navigate {
        label: String,
        url: String,
    },
    Reload {
        label: String,
    },
    SetVisible {
        label: String,
        visible: bool,
    },
    /// `payload` is JSON text ("" for null); `to` empty means every surface. Sent as
    /// `principal` (`dbus` or `mqtt`), whose capabilities decide.
    Emit {
        principal: &'static str,
        event: String,
        payload: String,
        to: Vec<String>,
    },
    Screenshot {
        label: String,
    },
    /// Set a surface's page zoom.
    Zoom {
        label: String,
        factor: f64,
    },
    /// Show the on-screen keyboard for a surface ("" for the main one), or hide it
    /// (`None`).
    Keyboard {
        show: Option<String>,
    },
    /// Read or change the kiosk's volume: "" (read), "0"…"100", "mute", "unmute".
    Volume {
        change: String,
    },
    /// Clear the surfaces' web data: "cookies", "cache" or "all".
    ClearWebData {
        what: String,
    },
    /// Show a notification as the built-in toast (no notification server).
    Toast(Toast),
    /// Deliver a core event to one surface (a notification's action was clicked).
    Deliver {
        label: String,
        event: String,
        payload: serde_json::Value,
    },
    /// A tray menu entry was clicked.
    Tray(TrayAction),
    /// Screen power and brightness (`vitrine ctl display …`).
    Display(DisplayOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayOp {
    Status,
    On,
    Off,
    Brightness(u8),
    Rotate(crate::display::Orientation),
}

#[derive(Debug)]
pub enum Reply {
    Pong,
    Done,
    Status(Box<Status>),
    /// How many surfaces an emitted event reached.
    Emitted(usize),
    Png(Png),
    Display(crate::display::DisplayStatus),
    Volume(crate::volume::Volume),
}

/// A surface's picture, PNG-encoded.
#[derive(Debug, Clone)]
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// The answer to `Status`, sent as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub name: String,
    pub version: String,
    pub pid: u32,
    pub uptime_secs: f64,
    /// The main surface has loaded once.
    pub ready: bool,
    /// Started with `--automation`: a WebDriver session may drive the kiosk.
    #[serde(default)]
    pub automation: bool,
    pub surfaces: Vec<SurfaceStatus>,
    /// The media decoders GStreamer offers, probed at start.
    #[serde(default)]
    pub decoders: crate::os::decoders::Decoders,
    /// The output the kiosk covers: its size now and its rotation.
    #[serde(default)]
    pub output: OutputStatus,
    /// The screen's power, its backend and brightness.
    #[serde(default)]
    pub display: crate::display::DisplayStatus,
    /// The on-screen keyboard, when the kiosk has one.
    #[serde(default)]
    pub keyboard: Option<KeyboardStatus>,
    /// Updates through RAUC, as last seen (added by the bus side, not the shell).
    #[serde(default)]
    pub update: Option<crate::update::UpdateStatus>,
}

impl Status {
    /// Healthy: the main surface has loaded (READY=1 was sent) and every surface shows
    /// its own page, loaded and answering. Otherwise, what is missing.
    pub fn health(&self) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        if !self.ready {
            missing.push("not ready: the main surface has not loaded yet".to_string());
        }
        for s in self.surfaces.iter().filter(|s| !s.up) {
            missing.push(format!(
                "surface '{}' is down ({} crashes, {} hangs, {} load failures)",
                s.label, s.crashes, s.hangs, s.load_failures
            ));
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

/// The output as the kiosk sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OutputStatus {
    /// The area the surfaces share, in logical pixels.
    pub width: i32,
    pub height: i32,
    /// Degrees clockwise (0, 90, 180, 270), as the compositor or X server reports it;
    /// `None` where it cannot be known.
    pub rotation: Option<u16>,
    /// Mirrored (the `flipped` transforms).
    #[serde(default)]
    pub flipped: bool,
}

/// Where a surface is drawn, in the output's logical pixels.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Geometry {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

/// Whether the on-screen keyboard shows, for which surface, and where its keys are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyboardStatus {
    pub visible: bool,
    /// The surface it types into, while shown.
    pub surface: Option<String>,
    pub pad: Option<crate::keyboard::Pad>,
    /// Its page has loaded.
    pub ready: bool,
    /// Its keys on the screen (root window pixels), while shown.
    #[serde(default)]
    pub keys: Vec<KeyRect>,
}

/// One key of the on-screen keyboard: what it types or does, and where it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRect {
    pub id: String,
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SurfaceStatus {
    pub label: String,
    pub url: String,
    pub visible: bool,
    pub overlay: bool,
    /// Showing its own page, loaded and answering.
    pub up: bool,
    /// The web process, when known.
    pub pid: Option<u32>,
    pub crashes: u64,
    pub hangs: u64,
    pub recoveries: u64,
    pub load_failures: u64,
    /// Where it is drawn now (`None`: not drawn yet).
    #[serde(default)]
    pub geometry: Option<Geometry>,
}

/// What the control interface publishes as properties; sent by the shell when it
/// changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub ready: bool,
    pub visible: Vec<String>,
    pub urls: BTreeMap<String, String>,
    pub crashes: u64,
    pub recoveries: u64,
    /// The screen is on.
    pub screen_on: bool,
    /// The backend that powers the screen ("" while probing).
    pub display_backend: String,
}

/// A notification shown as the built-in toast.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Toast {
    pub id: u32,
    /// The surface that sent it; action clicks go back there.
    pub sender: String,
    pub title: String,
    pub body: String,
    pub icon: String,
    pub urgency: Urgency,
    /// -1: the default; 0: until dismissed; else milliseconds.
    pub timeout_ms: i32,
    pub actions: Vec<NoteAction>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    #[default]
    Normal,
    Critical,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NoteAction {
    pub id: String,
    pub label: String,
}

/// Why a request failed; each kind has its own D-Bus error name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    BadArgs(String),
    #[error("{0}")]
    Failed(String),
    /// The shell is not there (starting, stopping) or did not answer in time.
    #[error("{0}")]
    Unavailable(String),
}

pub type RequestResult = Result<Reply, RequestError>;

/// Where the shell sends its answer.
pub struct ReplyTo(Option<oneshot::Sender<RequestResult>>);

impl ReplyTo {
    /// Answers; an asker that gave up is no error.
    pub fn send(mut self, answer: RequestResult) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(answer);
        }
    }

    /// Nobody waits (fire-and-forget requests).
    pub fn none() -> Self {
        Self(None)
    }
}

pub struct Request {
    pub op: Op,
    pub reply: ReplyTo,
}

/// The shell's end: implemented on its event loop's proxy.
pub trait RequestSink: Send + Sync {
    /// Queues `request` for the main loop; false when the loop is gone (the request is
    /// dropped, so its asker hears "stopping").
    fn submit(&self, request: Request) -> bool;
}

/// The other threads' end: clonable, and usable before the shell exists (requests are
/// then refused as "starting").
#[derive(Clone, Default)]
pub struct ShellLink(Arc<RwLock<Option<Arc<dyn RequestSink>>>>);

impl ShellLink {
    pub fn attach(&self, sink: Arc<dyn RequestSink>) {
        match self.0.write() {
            Ok(mut slot) => *slot = Some(sink),
            Err(poisoned) => *poisoned.into_inner() = Some(sink),
        }
    }

    fn sink(&self) -> Option<Arc<dyn RequestSink>> {
        match self.0.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sends `op` without waiting for an answer; false when the shell is not there.
    pub fn post(&self, op: Op) -> bool {
        self.sink().is_some_and(|s| s.submit(Request { op, reply: ReplyTo::none() }))
    }

    /// Sends `op` and waits (asynchronously) for the answer, at most [`ANSWER_WITHIN`].
    pub async fn call(&self, op: Op) -> RequestResult {
        let Some(sink) = self.sink() else {
            return Err(RequestError::Unavailable("the kiosk is still starting".into()));
        };
        let (tx, rx) = oneshot::channel();
        if !sink.submit(Request { op, reply: ReplyTo(Some(tx)) }) {
            return Err(RequestError::Unavailable("the kiosk is stopping".into()));
        }
        let timeout = async {
            async_io::Timer::after(ANSWER_WITHIN).await;
            None
        };
        match futures_lite::future::or(async { Some(rx.await) }, timeout).await {
            Some(Ok(answer)) => answer,
            Some(Err(oneshot::Canceled)) => {
                Err(RequestError::Unavailable("the kiosk dropped the request: it is stopping".into()))
            }
            None => Err(RequestError::Unavailable(format!(
                "the kiosk did not answer within {} s: its main loop is busy or frozen",
                ANSWER_WITHIN.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl RequestSink for Echo {
        fn submit(&self, request: Request) -> bool {
            match request.op {
                Op::Ping => request.reply.send(Ok(Reply::Pong)),
                // Dropped unanswered: the asker must hear that, not hang.
                _ => drop(request),
            }
            true
        }
    }

    #[test]
    fn calls_are_answered_refused_before_attach_and_never_hang() {
        let shell_link = ShellLink::default();
        let early = async_io::block_on(shell_link.call(Op::Ping));
        assert!(matches!(early, Err(RequestError::Unavailable(m)) if m.contains("starting")));
        assert!(!shell_link.post(Op::Ping));
        shell_link.attach(Arc::new(Echo));
        assert!(matches!(async_io::block_on(shell_link.call(Op::Ping)), Ok(Reply::Pong)));
        let dropped = async_io::block_on(shell_link.call(Op::Status));
        assert!(matches!(dropped, Err(RequestError::Unavailable(ref m)) if m.contains("dropped")), "{dropped:?}");
    }

    #[test]
    fn health_needs_ready_and_every_surface_up() {
        let surface = |label: &str, up: bool| SurfaceStatus {
            label: label.into(),
            url: String::new(),
            visible: true,
            overlay: false,
            up,
            pid: None,
            crashes: 2,
            hangs: 0,
            recoveries: 0,
            load_failures: 0,
            geometry: None,
        };
        let mut status = Status {
            name: "k".into(),
            version: "0".into(),
            pid: 1,
            uptime_secs: 1.0,
            ready: true,
            automation: false,
            surfaces: vec![surface("main", true), surface("toast", true)],
            decoders: Default::default(),
            output: OutputStatus::default(),
            display: Default::default(),
            keyboard: None,
            update: None,
        };
        assert_eq!(status.health(), Ok(()));
        status.surfaces[1].up = false;
        let why = status.health().unwrap_err();
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("'toast' is down (2 crashes"), "{why:?}");
        status.ready = false;
        assert_eq!(status.health().unwrap_err().len(), 2);
    }
}
