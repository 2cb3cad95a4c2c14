//! Signed A/B updates through RAUC: which slot runs, installing a bundle, and how the
//! last installation ended.
//!
//! The kiosk does not update itself: RAUC (`rauc service`, root) checks the bundle's
//! signature against its keyring and writes the other slot; the image's health gate
//! marks a new slot good once the kiosk is healthy there (`vitrine ctl health`). The
//! core only asks RAUC, over its D-Bus API ([`rauc`]), and reports what it says.
//!
//! * [`Updater`] — the handle the D-Bus objects hold: the last [`UpdateStatus`] and a
//!   channel to the "vitrine-update" thread (`worker`), which does every D-Bus call to RAUC and
//!   every download ([`download`]), so that neither the GTK thread nor the bus thread
//!   ever waits on them.
//! * An http(s) source is downloaded by the core into the state directory first
//!   (Debian's RAUC is built without streaming); a path is handed to RAUC as it is.
//!
//! What changes reaches the bus side through the callback given to [`Updater::start`].

pub mod ctl;
pub mod download;
pub mod rauc;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

pub use rauc::Slot;
use serde::{Deserialize, Serialize};

/// How long a status request waits for the update thread.
const REFRESH_WITHIN: Duration = Duration::from_secs(5);

/// What the update side is doing.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    #[default]
    Idle,
    Downloading,
    Installing,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Idle => "idle",
            Operation::Downloading => "downloading",
            Operation::Installing => "installing",
        }
    }
}

/// The update side as `vitrine ctl update status` and the `Update` interface show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UpdateStatus {
    /// RAUC answers on the system bus.
    pub available: bool,
    /// Why it does not, when it does not.
    #[serde(default)]
    pub error: Option<String>,
    /// The system's compatible string (bundles must carry the same).
    #[serde(default)]
    pub compatible: Option<String>,
    /// The slot the system booted from (`rootfs.0`) and its bootname (`A`).
    #[serde(default)]
    pub booted: Option<String>,
    #[serde(default)]
    pub bootname: Option<String>,
    /// The booted slot's bundle version; the image's `IMAGE_VERSION` (os-release) when
    /// that slot was flashed rather than installed.
    #[serde(default)]
    pub installed_version: Option<String>,
    #[serde(default)]
    pub slots: Vec<Slot>,
    #[serde(default)]
    pub operation: Operation,
    /// Percent, while downloading or installing.
    #[serde(default)]
    pub progress: Option<u8>,
    #[serde(default)]
    pub progress_message: String,
    /// What is being installed.
    #[serde(default)]
    pub source: Option<String>,
    /// How the last installation since the kiosk started ended.
    #[serde(default)]
    pub last: Option<Outcome>,
}

/// The end of one installation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// 1 for the first installation since the kiosk started, then 2, …: tells two ends
    /// apart that look the same.
    pub id: u64,
    pub ok: bool,
    /// `installed`, or the error's code ([`UpdateError::code`]).
    pub code: String,
    pub message: String,
    pub source: String,
    /// The bundle's version, once installed.
    #[serde(default)]
    pub version: Option<String>,
    /// The slot it went to.
    #[serde(default)]
    pub slot: Option<String>,
    /// Unix seconds.
    pub finished_at: u64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UpdateError {
    #[error("{0}")]
    BadArgs(String),
    #[error("an update is already running: {0}")]
    Busy(String),
    #[error("RAUC is not available: {0}")]
    Unavailable(String),
    #[error("download failed: {0}")]
    Download(String),
    #[error("the bundle is too large: {0}")]
    TooLarge(String),
    #[error("the bundle was refused: {0}")]
    BadSignature(String),
    #[error("the bundle is not for this system: {0}")]
    Incompatible(String),
    #[error("the installation failed: {0}")]
    Failed(String),
}

impl UpdateError {
    /// The code callers and the MQTT result see.
    pub fn code(&self) -> &'static str {
        match self {
            UpdateError::BadArgs(_) => "bad_args",
            UpdateError::Busy(_) => "busy",
            UpdateError::Unavailable(_) => "unavailable",
            UpdateError::Download(_) => "download_failed",
            UpdateError::TooLarge(_) => "too_large",
            UpdateError::BadSignature(_) => "bad_signature",
            UpdateError::Incompatible(_) => "incompatible",
            UpdateError::Failed(_) => "install_failed",
        }
    }

    /// Sorts RAUC's `LastError` text: its messages are the only account it gives.
    pub fn from_rauc(message: &str) -> UpdateError {
        let lower = message.to_lowercase();
        if ["signature", "verify error", "verification", "certificate"].iter().any(|w| lower.contains(w)) {
            UpdateError::BadSignature(message.to_string())
        } else if lower.contains("compatible") {
            UpdateError::Incompatible(message.to_string())
        } else {
            UpdateError::Failed(message.to_string())
        }
    }
}

/// What the update thread reports: one-way notices (no reply).
#[derive(Debug, Clone)]
pub enum Change {
    Status(Box<UpdateStatus>),
    Completed(Box<Outcome>),
}

enum Source {
    File(String),
    Url(String),
}

enum Job {
    Refresh(Option<futures_channel::oneshot::Sender<()>>),
    Install(Source),
}

/// The update side's handle; cheap to clone.
#[derive(Clone)]
pub struct Updater {
    shared: Arc<Mutex<UpdateStatus>>,
    jobs: mpsc::Sender<Job>,
}

impl Updater {
    /// Starts the update thread, which asks RAUC for the slots at once. `dir` is where
    /// downloads go (the state directory's `update/`); `notify` hears every change.
    pub fn start(
        dir: Option<PathBuf>,
        network: &crate::config::network::Network,
        notify: impl Fn(Change) + Send + 'static,
    ) -> std::io::Result<Updater> {
        let shared = Arc::new(Mutex::new(UpdateStatus::default()));
        let (jobs, rx) = mpsc::channel();
        if let Some(stale) = dir.as_ref().map(|d| d.join(download::FILE_NAME)).filter(|f| f.exists()) {
            // Left by a download that a crash or power cut interrupted.
            match std::fs::remove_file(&stale) {
                Ok(()) => log::info!("update: removed the unfinished download {}", stale.display()),
                Err(e) => log::warn!("update: cannot remove {}: {e}", stale.display()),
            }
        }
        let agent = crate::os::http::download_agent(network);
        let worker = worker::Worker::new(Arc::clone(&shared), Box::new(notify), dir, agent);
        std::thread::Builder::new().name("vitrine-update".into()).spawn(move || worker.run(rx))?;
        let _ = jobs.send(Job::Refresh(None));
        Ok(Updater { shared, jobs })
    }

    /// The status as last seen.
    pub fn status(&self) -> UpdateStatus {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks RAUC again (unless an installation runs, which keeps the status current),
    /// waiting at most [`REFRESH_WITHIN`].
    pub async fn refreshed(&self) -> UpdateStatus {
        if self.status().operation == Operation::Idle {
            let (tx, rx) = futures_channel::oneshot::channel();
            if self.jobs.send(Job::Refresh(Some(tx))).is_ok() {
                let timeout = async {
                    async_io::Timer::after(REFRESH_WITHIN).await;
                    Err(futures_channel::oneshot::Canceled)
                };
                let _ = futures_lite::future::or(rx, timeout).await;
            }
        }
        self.status()
    }

    /// Starts installing `source`: an absolute path to a bundle, or an http(s) URL of one.
    /// Returns once the job is taken; how it ends is reported as [`Change::Completed`].
    pub fn install(&self, source: &str) -> Result<(), UpdateError> {
        let source = parse_source(source)?;
        let mut status = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if status.operation != Operation::Idle {
            let what = status.source.clone().unwrap_or_default();
            return Err(UpdateError::Busy(format!("{} {what}", status.operation.as_str())));
        }
        let (operation, text) = match &source {
            Source::File(p) => (Operation::Installing, p.clone()),
            Source::Url(u) => (Operation::Downloading, u.clone()),
        };
        status.operation = operation;
        status.progress = Some(0);
        status.progress_message = String::new();
        status.source = Some(text);
        drop(status);
        self.jobs.send(Job::Install(source)).map_err(|_| {
            self.shared.lock().unwrap_or_else(PoisonError::into_inner).operation = Operation::Idle;
            UpdateError::Unavailable("the update thread has ended".into())
        })
    }
}

fn parse_source(source: &str) -> Result<Source, UpdateError> {
    let source = source.trim();
    if source.starts_with("http://") || source.starts_with("https://") {
        url::Url::parse(source).map_err(|e| UpdateError::BadArgs(format!("'{source}' is not a valid URL: {e}")))?;
        Ok(Source::Url(source.to_string()))
    } else if Path::new(source).is_absolute() {
        Ok(Source::File(source.to_string()))
    } else {
        Err(UpdateError::BadArgs(format!("'{source}': give the bundle's absolute path or an http(s) URL")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_absolute_paths_or_http_urls() {
        assert!(matches!(parse_source("/data/b.raucb"), Ok(Source::File(_))));
        assert!(matches!(parse_source("https://fleet.example/b.raucb"), Ok(Source::Url(_))));
        assert_eq!(parse_source("b.raucb").err().map(|e| e.code()), Some("bad_args"));
        assert_eq!(parse_source("ftp://x/b").err().map(|e| e.code()), Some("bad_args"));
        assert_eq!(parse_source("http://[bad").err().map(|e| e.code()), Some("bad_args"));
    }

    #[test]
    fn rauc_messages_are_sorted_into_codes() {
        let code = |m: &str| UpdateError::from_rauc(m).code();
        assert_eq!(
            code("signature verification failed: error:1700009E:CMS routines::verification failure"),
            "bad_signature"
        );
        assert_eq!(code("signature verification failed: Verify error: self-signed certificate"), "bad_signature");
        assert_eq!(code("Compatible mismatch: Expected 'a' but bundle manifest has 'b'"), "incompatible");
        assert_eq!(code("Failed mounting bundle: no loop device"), "install_failed");
    }

    #[test]
    fn a_second_install_is_busy_while_the_first_runs() {
        // No worker: the first job stays taken.
        let (jobs, _rx) = mpsc::channel();
        let updater = Updater { shared: Arc::default(), jobs };
        updater.install("http://127.0.0.1:9/none.raucb").expect("first is taken");
        assert_eq!(updater.status().operation, Operation::Downloading);
        let again = updater.install("/data/b.raucb");
        assert_eq!(again.err().map(|e| e.code()), Some("busy"));
        assert_eq!(updater.status().source.as_deref(), Some("http://127.0.0.1:9/none.raucb"));
    }
}
