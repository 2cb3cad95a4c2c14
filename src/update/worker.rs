//! The "vitrine-update" thread: every D-Bus call to RAUC and every download, one job at
//! a time, reporting each change through the [`super::Updater`]'s callback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt as _;

use super::{download, rauc, Change, Job, Operation, Outcome, Slot, Source, UpdateError, UpdateStatus};
use crate::config::BusKind;

/// How often an installation checks that RAUC is still there.
const WATCH_EVERY: Duration = Duration::from_secs(5);

pub(super) struct Worker {
    shared: Arc<Mutex<UpdateStatus>>,
    notify: Box<dyn Fn(Change) + Send>,
    dir: Option<PathBuf>,
    connection: Option<zbus::Connection>,
    agent: ureq::Agent,
    /// Installations so far.
    installs: u64,
}

impl Worker {
    pub(super) fn new(
        shared: Arc<Mutex<UpdateStatus>>,
        notify: Box<dyn Fn(Change) + Send>,
        dir: Option<PathBuf>,
        agent: ureq::Agent,
    ) -> Worker {
        Worker { shared, notify, dir, connection: None, agent, installs: 0 }
    }

    pub(super) fn run(mut self, rx: mpsc::Receiver<Job>) {
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
