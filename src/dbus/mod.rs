//! D-Bus: the control interface, the tray and notifications, on a thread of their own.
//!
//! * [`control`] — `org.vitrine.Vitrine1` at `/org/vitrine/Vitrine1`, on the bus that
//!   `[dbus] bus` names; the name is requested without queueing, so a second kiosk on
//!   the same bus and name stops at start-up ([`StartError::AlreadyRunning`]). A kiosk
//!   started for WebDriver queues for it a while instead ([`NAME_WAIT_AUTOMATION`]).
//! * [`mqtt`] — `org.vitrine.Vitrine1.Mqtt` at the same path: the MQTT bridge's events,
//!   both ways, as the principal `mqtt`.
//! * [`update`] — `org.vitrine.Vitrine1.Update` at the same path: RAUC's slots, and
//!   installing a bundle ([`crate::update`]).
//! * [`tray`] — a StatusNotifierItem (ksni) when `[tray]` is configured.
//! * [`notifications`] — `notification.send` through `org.freedesktop.Notifications`
//!   (notify-rust), or the built-in toast when no server answers.
//! * [`client`] — `vitrine ctl`, the same interface from the other end.
//!
//! The tray and notifications always use the session bus, where their hosts live; only
//! the control interface moves to the system bus. None of it is needed to run: without
//! a bus the kiosk logs that control, tray and notifications are off and carries on
//! (notifications then show as toasts).
//!
//! Threads: zbus drives its connections on its own executor threads; the "vitrine-bus"
//! thread runs what the shell sends through a [`BusLink`] (property changes, signals,
//! notifications to show). Everything here holds channels to the shell (a
//! [`ShellLink`]), never its state.

pub mod client;
pub mod control;
pub mod mqtt;
pub mod notifications;
pub mod tray;
pub mod update;

use std::time::Duration;

use futures_channel::mpsc;
use futures_lite::StreamExt;

use crate::config::{BusKind, Manifest, UiFile};
use crate::request::{ShellLink, Snapshot};

/// The control interface's object path and interface name (fixed; `[dbus] name` only
/// changes the bus name).
pub const PATH: &str = "/org/vitrine/Vitrine1";
pub const INTERFACE: &str = "org.vitrine.Vitrine1";

/// How long connecting to a bus may take before the kiosk goes on without it.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// How long a kiosk started with `--automation` waits for the bus name. A WebDriver
/// client opens sessions back to back, and the kiosk of the session just deleted may
/// still own the name while it exits; WebKitWebDriver never notices a browser that exits
/// before connecting, so stopping at once would leave the client waiting for ever.
pub const NAME_WAIT_AUTOMATION: Duration = Duration::from_secs(30);

/// What the shell tells the bus thread.
pub enum Notice {
    /// The published properties, when they changed.
    State(Snapshot),
    Crashed {
        label: String,
        reason: String,
    },
    Recovered {
        label: String,
    },
    /// An event the principal `mqtt` hears: signalled for the bridge (`dbus::mqtt`).
    Event {
        event: String,
        /// JSON text.
        payload: String,
        source: String,
    },
    /// A notification to show (sent by a page).
    Notify(Box<notifications::Job>),
    /// The update side changed, or an installation ended.
    Update(crate::update::Change),
}

/// The shell's channel to the bus thread.
#[derive(Clone)]
pub struct BusLink(mpsc::UnboundedSender<Notice>);

impl BusLink {
    /// Sends `notice`; gives it back when the bus thread is gone.
    pub fn send(&self, notice: Notice) -> Result<(), Notice> {
        self.0.unbounded_send(notice).map_err(|e| e.into_inner())
    }
}

/// The running D-Bus side: the shell's link to the bus thread.
pub struct Bus {
    pub link: BusLink,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", already_running(.name, *.bus, *.pid))]
    AlreadyRunning { name: String, bus: BusKind, pid: Option<u32> },
    #[error("cannot start the D-Bus thread: {0}")]
    Thread(#[from] std::io::Error),
}

fn already_running(name: &str, bus: BusKind, pid: Option<u32>) -> String {
    let by = pid.map(|p| format!(" by process {p}")).unwrap_or_default();
    format!(
        "vitrine is already running: {name} on the {} bus is owned{by}; use `vitrine ctl` to control it",
        bus.as_str()
    )
}

/// Connects the control interface, claims the bus name and starts the bus thread.
/// Returns `Ok(None)` when D-Bus is configured off; a bus that cannot be reached is
/// logged, not an error: the kiosk runs without control and tray.
/// `update_dir` is where bundles named by URL are downloaded (the state directory's
/// `update/`); `name_wait`, how long to queue for a name another kiosk owns (zero: stop
/// at once).
pub fn start(
    manifest: &Manifest,
    ui: &[UiFile],
    shell_link: ShellLink,
    update_dir: Option<std::path::PathBuf>,
    name_wait: Duration,
) -> Result<Option<Bus>, StartError> {
    let cfg = &manifest.dbus;
    if cfg.bus == BusKind::None {
        log::info!("D-Bus is off (dbus.bus = \"none\"): no control interface or tray; notifications show as toasts");
        return Ok(None);
    }
    let (tx, rx) = mpsc::unbounded();
    let changes = tx.clone();
    let updater = crate::update::Updater::start(update_dir, &manifest.network, move |change| {
        let _ = changes.unbounded_send(Notice::Update(change));
    });
    let updater = updater.map_err(|e| log::warn!("cannot start the update thread: {e}; updates are off")).ok();
    let objects = control::ControlObject::new(manifest, shell_link.clone(), updater.clone());
    let mqtt = mqtt::MqttObject::new(shell_link.clone());
    let update = updater.map(update::UpdateObject::new);
    let connection = match async_io::block_on(control::serve(cfg, objects, mqtt, update, name_wait)) {
        Ok(connection) => Some(connection),
        Err(control::ServeError::NameTaken { pid }) => {
            return Err(StartError::AlreadyRunning { name: cfg.name.clone(), bus: cfg.bus, pid });
        }
        // The kiosk runs on: a bus is a convenience, not a requirement.
        Err(e @ control::ServeError::Connect { .. }) if cfg.bus == BusKind::Session => {
            log::warn!(
                "{e}: the control interface is off, and so are the tray and desktop notifications \
                 (notifications show as toasts)"
            );
            None
        }
        Err(e) => {
            log::warn!("{e}: the control interface is off");
            None
        }
    };
    if connection.is_some() {
        log::info!("control interface {INTERFACE} at {PATH} as {} on the {} bus", cfg.name, cfg.bus.as_str());
    }
    let tray = manifest.tray.as_ref().map(|t| tray::Spec::new(t, ui, &cfg.name));
    let app_name = manifest.name.clone();
    std::thread::Builder::new()
        .name("vitrine-bus".into())
        .spawn(move || run_thread(rx, connection, tray, app_name, shell_link))?;
    Ok(Some(Bus { link: BusLink(tx) }))
}

/// The bus thread: publishes what the shell sends, shows notifications, runs the tray.
fn run_thread(
    mut rx: mpsc::UnboundedReceiver<Notice>,
    connection: Option<zbus::Connection>,
    tray: Option<tray::Spec>,
    app_name: String,
    shell_link: ShellLink,
) {
    let notes = notifications::Sender::new(&app_name, shell_link.clone());
    let executor = async_executor::LocalExecutor::new();
    let main = async {
        if let Some(spec) = tray {
            executor.spawn(tray::run(spec, shell_link)).detach();
        }
        let publisher = match &connection {
            Some(c) => control::Publisher::new(c).await,
            None => None,
        };
        while let Some(notice) = rx.next().await {
            match notice {
                Notice::Notify(job) => executor.spawn(notes.show(job)).detach(),
                other => {
                    if let Some(p) = &publisher {
                        p.publish(other).await;
                    }
                }
            }
        }
        log::debug!("the shell closed its link; the bus thread ends");
    };
    async_io::block_on(executor.run(main));
}

/// Connects to `kind`'s bus, giving up after [`CONNECT_WITHIN`].
pub(crate) async fn connect(kind: BusKind) -> zbus::Result<zbus::Connection> {
    let builder = match kind {
        BusKind::System => zbus::connection::Builder::system()?,
        _ => zbus::connection::Builder::session()?,
    };
    let timeout = async {
        async_io::Timer::after(CONNECT_WITHIN).await;
        Err(zbus::Error::Failure(format!("no answer within {} s", CONNECT_WITHIN.as_secs())))
    };
    futures_lite::future::or(builder.build(), timeout).await
}
