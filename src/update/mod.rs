//! Signed A/B updates through RAUC: which slot runs, installing a bundle, and how the
//! last installation ended.
//!
//! The kiosk does not update itself: RAUC (`rauc service`, root) checks the bundle's
//! signature against its keyring and writes the other slot; the image's health gate
//! marks a new slot good once the kiosk is healthy there (`vitrine ctl health`). The
//! core only asks RAUC, over its D-Bus API ([`rauc`]), and reports what it says.
//!
//! * [`Updater`] — the handle the D-Bus objects hold: the last [`UpdateStatus`] and a
//!   channel to the "vitrine-update" thread, which does every D-Bus call to RAUC and
//!   every download ([`download`]), so that neither the GTK thread nor the bus thread
//!   ever waits on them.
//! * An http(s) source is downloaded by the core into the state directory first
//!   (Debian's RAUC is built without streaming); a path is handed to RAUC as it is.
//!
//! What changes reaches the bus side through the callback given to [`Updater::start`].

pub mod ctl;
pub mod download;
pub mod rauc;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::config::BusKind;
pub use rauc::Slot;

/// How long a status request waits for the update thread.
const REFRESH_WITHIN: Duration = Duration::from_secs(5);

/// How often an installation checks that RAUC is still there.
const WATCH_EVERY: Duration = Duration::from_secs(5);

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
        let worker =
            Worker { shared: Arc::clone(&shared), notify: Box::new(notify), dir, connection: None, agent, installs: 0 };
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

struct Worker {
    shared: Arc<Mutex<UpdateStatus>>,
    notify: Box<dyn Fn(Change) + Send>,
    dir: Option<PathBuf>,
    connection: Option<zbus::Connection>,
    agent: ureq::Agent,
    /// Installations so far.
    installs: u64,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(job) = rx.recv() {
            match job {
                Job::Refresh(done) => {
                    self.refresh();
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Job::Install(source) => self.install(source),
            }
        }
    }

    /// Changes the shared status and reports it.
    fn set(&self, change: impl FnOnce(&mut UpdateStatus)) {
        let now = {
            let mut status = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            let before = status.clone();
            change(&mut status);
            (*status != before).then(|| status.clone())
        };
        if let Some(now) = now {
            (self.notify)(Change::Status(Box::new(now)));
        }
    }

    async fn proxy(&mut self) -> Result<rauc::InstallerProxy<'static>, UpdateError> {
        let connection = match &self.connection {
            Some(c) => c.clone(),
            None => {
                let c = crate::dbus::connect(BusKind::System)
                    .await
                    .map_err(|e| UpdateError::Unavailable(format!("no system bus: {e}")))?;
                self.connection = Some(c.clone());
                c
            }
        };
        rauc::InstallerProxy::new(&connection).await.map_err(|e| UpdateError::Unavailable(e.to_string()))
    }

    fn refresh(&mut self) {
        let read = async_io::block_on(async {
            let proxy = self.proxy().await?;
            let slots = proxy.get_slot_status().await.map_err(|e| self.unreachable(e))?;
            Ok::<_, UpdateError>((rauc::slots(slots), proxy.compatible().await.ok(), proxy.boot_slot().await.ok()))
        });
        let image_version = image_version(Path::new("/etc/os-release"));
        self.set(|s| match read {
            Ok((slots, compatible, bootname)) => {
                let booted = slots.iter().find(|x| x.state == "booted");
                s.available = true;
                s.error = None;
                s.booted = booted.map(|x| x.name.clone());
                s.installed_version = booted.and_then(|x| x.bundle_version.clone()).or(image_version);
                s.bootname = bootname.filter(|b| !b.is_empty()).or_else(|| booted.and_then(|x| x.bootname.clone()));
                s.compatible = compatible;
                s.slots = slots;
            }
            Err(e) => {
                // Nothing RAUC said before holds now.
                s.available = false;
                s.error = Some(e.to_string());
                s.installed_version = image_version;
                s.compatible = None;
                s.booted = None;
                s.bootname = None;
                s.slots.clear();
            }
        });
    }

    /// A failed call: RAUC is not there (and the connection may be stale).
    fn unreachable(&self, e: zbus::Error) -> UpdateError {
        match &e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                    || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
            {
                UpdateError::Unavailable(format!("{} is not on the system bus", rauc::SERVICE))
            }
            _ => UpdateError::Unavailable(e.to_string()),
        }
    }

    fn install(&mut self, source: Source) {
        let (text, downloaded) = match &source {
            Source::File(p) => (p.clone(), None),
            Source::Url(u) => (u.clone(), Some(u.clone())),
        };
        let outcome = match downloaded {
            None => async_io::block_on(self.rauc_install(&text)),
            Some(url) => match self.download(&url) {
                Ok(file) => {
                    let out = async_io::block_on(self.rauc_install(&file.to_string_lossy()));
                    if let Err(e) = std::fs::remove_file(&file) {
                        log::warn!("update: cannot remove the downloaded {}: {e}", file.display());
                    }
                    out
                }
                Err(e) => Err(e),
            },
        };
        if outcome.is_err() {
            self.connection = None;
        }
        self.installs += 1;
        let id = self.installs;
        self.refresh();
        let newest = {
            let status = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            newest_install(&status.slots).map(|s| (s.name.clone(), s.bundle_version.clone()))
        };
        let outcome = match outcome {
            Ok(()) => {
                let (slot, version) = newest.map_or((None, None), |(n, v)| (Some(n), v));
                log::info!(
                    "update: installed {text} (version {}) into {}",
                    version.as_deref().unwrap_or("?"),
                    slot.as_deref().unwrap_or("?")
                );
                let message =
                    format!("installed into {}; it runs after a reboot", slot.as_deref().unwrap_or("the other slot"));
                Outcome {
                    id,
                    ok: true,
                    code: "installed".into(),
                    message,
                    source: text,
                    version,
                    slot,
                    finished_at: now(),
                }
            }
            Err(e) => {
                log::error!("update: {text}: {e}");
                let (code, message) = (e.code().to_string(), e.to_string());
                Outcome { id, ok: false, code, message, source: text, version: None, slot: None, finished_at: now() }
            }
        };
        let last = outcome.clone();
        self.set(move |s| {
            s.operation = Operation::Idle;
            s.progress = None;
            s.progress_message = String::new();
            s.source = None;
            s.last = Some(last);
        });
        (self.notify)(Change::Completed(Box::new(outcome)));
    }

    fn download(&self, url: &str) -> Result<PathBuf, UpdateError> {
        let dir = self.dir.clone().ok_or_else(|| {
            UpdateError::Download("no state directory to download into; install from a file instead".into())
        })?;
        log::info!("update: downloading {url} into {}", dir.display());
        let file = download::fetch(&self.agent, url, &dir, |pct| {
            self.set(|s| {
                s.progress = Some(pct);
                s.progress_message = "downloading".into();
            })
        })?;
        self.set(|s| {
            s.operation = Operation::Installing;
            s.progress = Some(0);
            s.progress_message = String::new();
        });
        Ok(file)
    }

    /// Hands `path` to RAUC and follows it to the end.
    async fn rauc_install(&mut self, path: &str) -> Result<(), UpdateError> {
        let proxy = self.proxy().await?;
        // Subscribed before the call, so that no signal is missed.
        let mut completed = proxy.receive_completed().await.map_err(|e| UpdateError::Unavailable(e.to_string()))?;
        let mut progress = proxy.receive_progress_changed().await;
        log::info!("update: RAUC installs {path}");
        proxy.install_bundle(path, HashMap::new()).await.map_err(|e| match e {
            zbus::Error::MethodError(name, detail, _) if !name.starts_with("org.freedesktop.DBus.Error.") => {
                let detail = detail.unwrap_or_default();
                if detail.contains("Already processing") {
                    UpdateError::Busy(format!("RAUC: {detail}"))
                } else {
                    UpdateError::from_rauc(&detail)
                }
            }
            other => self.unreachable(other),
        })?;
        enum Event {
            Done(i32),
            Progress(i32, String),
            Tick,
            Ended,
        }
        loop {
            let done = async {
                match completed.next().await {
                    Some(signal) => signal.args().map_or(Event::Tick, |a| Event::Done(a.result)),
                    None => Event::Ended,
                }
            };
            let step = async {
                match progress.next().await {
                    Some(change) => change.get().await.map_or(Event::Tick, |(pct, msg, _)| Event::Progress(pct, msg)),
                    None => futures_lite::future::pending().await,
                }
            };
            let tick = async {
                async_io::Timer::after(WATCH_EVERY).await;
                Event::Tick
            };
            match futures_lite::future::or(done, futures_lite::future::or(step, tick)).await {
                Event::Done(0) => return Ok(()),
                Event::Done(code) => {
                    let message = last_error(&proxy).await;
                    let message = if message.is_empty() { format!("RAUC ended with {code}") } else { message };
                    return Err(UpdateError::from_rauc(&message));
                }
                Event::Progress(pct, message) => self.set(|s| {
                    s.progress = Some(u8::try_from(pct.clamp(0, 100)).unwrap_or(0));
                    s.progress_message = message;
                }),
                // RAUC gone (crashed, restarted): no Completed will come.
                Event::Tick => {
                    if !has_owner(proxy.inner().connection(), rauc::SERVICE).await {
                        return Err(UpdateError::Failed("RAUC left the system bus during the installation".into()));
                    }
                }
                Event::Ended => return Err(UpdateError::Failed("RAUC's signals stopped".into())),
            }
        }
    }
}

/// `LastError`, read now rather than from the proxy's cache: RAUC may signal the end
/// before its property change arrives.
async fn last_error(proxy: &rauc::InstallerProxy<'_>) -> String {
    let props = zbus::fdo::PropertiesProxy::builder(proxy.inner().connection())
        .destination(rauc::SERVICE)
        .and_then(|b| b.path("/"))
        .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No));
    let Ok(builder) = props else { return String::new() };
    let Ok(props) = builder.build().await else { return String::new() };
    let Ok(iface) = zbus::names::InterfaceName::try_from("de.pengutronix.rauc.Installer") else { return String::new() };
    match props.get(iface, "LastError").await {
        Ok(v) => String::try_from(v).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn has_owner(connection: &zbus::Connection, name: &str) -> bool {
    let Ok(proxy) = zbus::fdo::DBusProxy::new(connection).await else { return false };
    let Ok(name) = zbus::names::BusName::try_from(name) else { return false };
    proxy.name_has_owner(name).await.unwrap_or(false)
}

/// The slot written last (RFC 3339 timestamps sort as text).
fn newest_install(slots: &[Slot]) -> Option<&Slot> {
    slots.iter().filter(|s| s.installed_at.is_some()).max_by(|a, b| a.installed_at.cmp(&b.installed_at))
}

/// `IMAGE_VERSION=` from an os-release file.
fn image_version(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix("IMAGE_VERSION=")).map(|v| v.trim().trim_matches('"').to_string())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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

    #[test]
    fn image_version_comes_from_os_release() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("os-release");
        std::fs::write(&file, "NAME=\"Debian\"\nIMAGE_VERSION=\"2026.12.1\"\n").unwrap();
        assert_eq!(image_version(&file).as_deref(), Some("2026.12.1"));
        std::fs::write(&file, "NAME=Debian\n").unwrap();
        assert_eq!(image_version(&file), None);
    }

    #[test]
    fn the_newest_install_is_found_by_timestamp() {
        let slot = |name: &str, at: Option<&str>| Slot {
            name: name.into(),
            installed_at: at.map(String::from),
            ..Slot::default()
        };
        let slots = [slot("rootfs.0", Some("2026-12-01T10:00:00Z")), slot("rootfs.1", Some("2026-12-06T00:15:59Z"))];
        assert_eq!(newest_install(&slots).map(|s| s.name.as_str()), Some("rootfs.1"));
        assert!(newest_install(&[slot("rootfs.0", None)]).is_none());
    }
}
