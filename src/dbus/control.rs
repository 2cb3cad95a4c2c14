//! `org.vitrine.Vitrine1` at `/org/vitrine/Vitrine1`: the kiosk's control interface.
//!
//! Methods (each answered by the shell on the main thread, through the [`ShellLink`]):
//!
//! | method | in | out |
//! |---|---|---|
//! | `Ping` | — | `s` "pong" (the main loop answered) |
//! | `Status` | — | `s` JSON: name, version, pid, uptime, ready, `rss_kib` (the core and its web processes), surfaces with url, visibility, web process, crash/hang/recovery counts |
//! | `Navigate` | `s` label, `s` url | — (the surface's navigation allow-list applies) |
//! | `Reload`, `Show`, `Hide` | `s` label | — (show/hide: overlays only) |
//! | `Emit` | `s` event, `s` payload JSON ("" = null), `as` targets (empty = all) | `u` surfaces reached |
//! | `Screenshot` | `s` label | `ay` PNG |
//! | `Zoom` | `s` label, `d` factor (0.25–5) | — (the surface's page zoom) |
//! | `ScreenshotToFile` | `s` label, `s` absolute path of a file that does not exist yet | `u` width, `u` height |
//! | `ClearWebData` | `s` what: `cookies`, `cache` or `all` | — (answered once the data is gone) |
//! | `DisplayOn`, `DisplayOff` | — | `s` JSON: the screen's status (power, intentional, reason, backend, brightness) |
//! | `DisplayStatus` | — | `s` JSON, as above |
//! | `SetRotation` | `u` degrees clockwise (0, 90, 180, 270), `b` flipped | `s` JSON, as above (applied by the display thread; the output's new rotation shows in `Status`) |
//! | `SetBrightness` | `u` percent (0–100) | `s` JSON, as above (`NotFound` without a backlight or DDC/CI monitor) |
//! | `KeyboardShow` | `s` label ("" = the main surface) | — (the on-screen keyboard types into that surface) |
//! | `KeyboardHide` | — | — |
//! | `Volume` | `s` change: `""` (read), `0`–`100`, `mute`, `unmute` | `i` level (-1: each page's own), `b` muted |
//!
//! `Emit` runs through the router as the principal `dbus` (see `config::bus`): the same
//! permission and scope checks as a page's `event.emit`. The MQTT bridge has its own
//! `Emit` and `Event` signal, as the principal `mqtt`, in [`crate::dbus::mqtt`]. The others are guarded by the
//! bus: same user on the session bus, `root` and group `vitrine` on the system bus
//! (`packaging/dbus/org.vitrine.Vitrine1.conf`).
//!
//! Properties (cached here from what the shell publishes, with `PropertiesChanged`):
//! `Name`, `Version`, `Surfaces` (constant), `Ready`, `Visible`, `Urls`, `Crashes`,
//! `Recoveries`, `ScreenOn`, `DisplayBackend`. Signals: `SurfaceCrashed(label, reason)`, `SurfaceRecovered(label)`.
//!
//! Errors are `org.vitrine.Vitrine1.Error.{NotFound, NotAllowed, BadArgs, Failed,
//! Unavailable, Busy}` with a message saying why (`Busy`: an update is already running).

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::Duration;

use zbus::message::Header;
use zbus::object_server::{InterfaceRef, SignalEmitter};

use crate::config::{Dbus, Manifest, DBUS_PRINCIPAL};
use crate::dbus::mqtt::MqttObject;
use crate::dbus::update::UpdateObject;
use crate::dbus::{Notice, PATH};
use crate::request::{DisplayOp, Op, Reply, RequestError, ShellLink, Snapshot};
use crate::update::Change;

/// The errors callers see.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.vitrine.Vitrine1.Error")]
pub enum Fault {
    #[zbus(error)]
    ZBus(zbus::Error),
    NotFound(String),
    NotAllowed(String),
    BadArgs(String),
    Failed(String),
    Unavailable(String),
    /// An update is already running.
    Busy(String),
}

impl From<RequestError> for Fault {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotFound(m) => Fault::NotFound(m),
            RequestError::NotAllowed(m) => Fault::NotAllowed(m),
            RequestError::BadArgs(m) => Fault::BadArgs(m),
            RequestError::Failed(m) => Fault::Failed(m),
            RequestError::Unavailable(m) => Fault::Unavailable(m),
        }
    }
}

/// The object served at [`PATH`]: a shell_link to the shell and the last published state.
pub struct ControlObject {
    shell_link: ShellLink,
    updater: Option<crate::update::Updater>,
    name: String,
    surfaces: Vec<String>,
    state: Snapshot,
}

impl ControlObject {
    pub fn new(manifest: &Manifest, shell_link: ShellLink, updater: Option<crate::update::Updater>) -> Self {
        Self {
            shell_link,
            updater,
            name: manifest.name.clone(),
            surfaces: manifest.surfaces().map(|s| s.label.clone()).collect(),
            state: Snapshot::default(),
        }
    }

    async fn call(&self, op: Op) -> Result<Reply, Fault> {
        Ok(self.shell_link.call(op).await?)
    }

    async fn display(&self, op: DisplayOp) -> Result<String, Fault> {
        match self.call(Op::Display(op)).await? {
            Reply::Display(status) => serde_json::to_string(&status)
                .map_err(|e| Fault::Failed(format!("cannot encode the display status: {e}"))),
            other => Err(unexpected(other)),
        }
    }
}

/// `event.emit` as `principal`: how many surfaces received it.
pub(super) async fn emit_as(
    shell_link: &ShellLink,
    principal: &'static str,
    event: String,
    payload: String,
    to: Vec<String>,
) -> Result<u32, Fault> {
    match shell_link.call(Op::Emit { principal, event, payload, to }).await? {
        Reply::Emitted(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        other => Err(unexpected(other)),
    }
}

fn unexpected(reply: Reply) -> Fault {
    Fault::Failed(format!("unexpected answer from the shell: {reply:?}"))
}

/// Who called, for the log.
pub(super) fn caller(header: &Header<'_>) -> String {
    header.sender().map_or_else(|| "?".to_string(), |s| s.to_string())
}

#[zbus::interface(name = "org.vitrine.Vitrine1")]
impl ControlObject {
    /// Answers "pong" once the main loop has seen the request.
    #[zbus(out_args("reply"))]
    async fn ping(&self) -> Result<String, Fault> {
        match self.call(Op::Ping).await? {
            Reply::Pong => Ok("pong".into()),
            other => Err(unexpected(other)),
        }
    }

    /// The kiosk and its surfaces, as JSON.
    #[zbus(out_args("status_json"))]
    async fn status(&self) -> Result<String, Fault> {
        match self.call(Op::Status).await? {
            Reply::Status(status) => {
                let mut value = serde_json::to_value(&status)
                    .map_err(|e| Fault::Failed(format!("cannot encode the status: {e}")))?;
                // Read here, on the bus thread, so that the shell never waits on /proc.
                value["rss_kib"] = serde_json::json!(kiosk_rss_kib(&status));
                // As last seen: asking RAUC is `update status`'s business.
                if let Some(updater) = &self.updater {
                    value["update"] = serde_json::to_value(updater.status()).unwrap_or_default();
                }
                Ok(value.to_string())
            }
            other => Err(unexpected(other)),
        }
    }

    async fn navigate(&self, label: String, url: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!(surface = label.as_str(); "D-Bus {}: Navigate to {url}", caller(&header));
        self.call(Op::Navigate { label, url }).await.map(drop)
    }

    async fn reload(&self, label: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!(surface = label.as_str(); "D-Bus {}: Reload", caller(&header));
        self.call(Op::Reload { label }).await.map(drop)
    }

    async fn show(&self, label: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!(surface = label.as_str(); "D-Bus {}: Show", caller(&header));
        self.call(Op::SetVisible { label, visible: true }).await.map(drop)
    }

    async fn hide(&self, label: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!(surface = label.as_str(); "D-Bus {}: Hide", caller(&header));
        self.call(Op::SetVisible { label, visible: false }).await.map(drop)
    }

    /// Shows the on-screen keyboard for the surface `label` ("" for the main one).
    async fn keyboard_show(&self, label: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!("D-Bus {}: KeyboardShow '{label}'", caller(&header));
        self.call(Op::Keyboard { show: Some(label) }).await.map(drop)
    }

    async fn keyboard_hide(&self, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!("D-Bus {}: KeyboardHide", caller(&header));
        self.call(Op::Keyboard { show: None }).await.map(drop)
    }

    /// Emits `event` as the principal `dbus`; returns how many surfaces received it.
    #[zbus(out_args("delivered"))]
    async fn emit(
        &self,
        event: String,
        payload_json: String,
        target: Vec<String>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<u32, Fault> {
        log::info!("D-Bus {}: Emit '{event}' to {target:?}", caller(&header));
        emit_as(&self.shell_link, DBUS_PRINCIPAL, event, payload_json, target).await
    }

    /// Sets the surface's page zoom (0.25 to 5).
    async fn zoom(&self, label: String, factor: f64, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!(surface = label.as_str(); "D-Bus {}: Zoom {factor}", caller(&header));
        self.call(Op::Zoom { label, factor }).await.map(drop)
    }

    /// Reads or changes the kiosk's volume: `change` is "" (read only), "0" to "100",
    /// "mute" or "unmute". Answers the level (-1: each page's own) and the mute.
    #[zbus(out_args("level", "muted"))]
    async fn volume(&self, change: String, #[zbus(header)] header: Header<'_>) -> Result<(i32, bool), Fault> {
        if !change.is_empty() {
            log::info!("D-Bus {}: Volume {change}", caller(&header));
        }
        match self.call(Op::Volume { change }).await? {
            Reply::Volume(v) => Ok((v.level.map_or(-1, i32::from), v.muted)),
            other => Err(unexpected(other)),
        }
    }

    /// A PNG of what the surface shows.
    #[zbus(out_args("png"))]
    async fn screenshot(&self, label: String) -> Result<Vec<u8>, Fault> {
        match self.call(Op::Screenshot { label }).await? {
            Reply::Png(png) => Ok(png.bytes),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a PNG of the surface to `path`, which must be absolute and must not exist:
    /// the kiosk writes as its own user, so it never replaces a file.
    #[zbus(out_args("width", "height"))]
    async fn screenshot_to_file(
        &self,
        label: String,
        path: String,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(u32, u32), Fault> {
        let path = Path::new(&path);
        if !path.is_absolute() {
            return Err(Fault::BadArgs(format!("'{}' is not an absolute path", path.display())));
        }
        let png = match self.call(Op::Screenshot { label: label.clone() }).await? {
            Reply::Png(png) => png,
            other => return Err(unexpected(other)),
        };
        write_new(path, &png.bytes).map_err(|e| Fault::Failed(format!("cannot write '{}': {e}", path.display())))?;
        log::info!(surface = label.as_str(); "D-Bus {}: screenshot written to {}", caller(&header), path.display());
        Ok((png.width, png.height))
    }

    /// Clears the surfaces' cookies, HTTP cache, or all web data.
    async fn clear_web_data(&self, what: String, #[zbus(header)] header: Header<'_>) -> Result<(), Fault> {
        log::info!("D-Bus {}: ClearWebData {what}", caller(&header));
        self.call(Op::ClearWebData { what }).await.map(drop)
    }

    /// Turns the screen on (wakes it).
    #[zbus(out_args("status_json"))]
    async fn display_on(&self, #[zbus(header)] header: Header<'_>) -> Result<String, Fault> {
        log::info!("D-Bus {}: DisplayOn", caller(&header));
        self.display(DisplayOp::On).await
    }

    /// Turns the screen off; a touch, click or key wakes it.
    #[zbus(out_args("status_json"))]
    async fn display_off(&self, #[zbus(header)] header: Header<'_>) -> Result<String, Fault> {
        log::info!("D-Bus {}: DisplayOff", caller(&header));
        self.display(DisplayOp::Off).await
    }

    #[zbus(out_args("status_json"))]
    async fn display_status(&self) -> Result<String, Fault> {
        self.display(DisplayOp::Status).await
    }

    #[zbus(out_args("status_json"))]
    async fn set_brightness(&self, percent: u32, #[zbus(header)] header: Header<'_>) -> Result<String, Fault> {
        log::info!("D-Bus {}: SetBrightness {percent}", caller(&header));
        let percent = u8::try_from(percent).ok().filter(|p| *p <= 100);
        let percent = percent.ok_or_else(|| Fault::BadArgs("brightness is a percentage, 0 to 100".into()))?;
        self.display(DisplayOp::Brightness(percent)).await
    }

    #[zbus(out_args("status_json"))]
    async fn set_rotation(
        &self,
        rotation: u32,
        flipped: bool,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String, Fault> {
        log::info!("D-Bus {}: SetRotation {rotation} flipped={flipped}", caller(&header));
        let rotation = u16::try_from(rotation).map_err(|_| Fault::BadArgs("rotation: 0, 90, 180 or 270".into()))?;
        self.display(DisplayOp::Rotate(crate::display::Orientation { rotation, flipped })).await
    }

    /// The screen is on.
    #[zbus(property)]
    fn screen_on(&self) -> bool {
        self.state.screen_on
    }

    /// The backend that powers the screen: wlr, x11, backlight, ddc, cec or overlay.
    #[zbus(property)]
    fn display_backend(&self) -> String {
        self.state.display_backend.clone()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn name(&self) -> String {
        self.name.clone()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The configured surfaces' labels, main first.
    #[zbus(property(emits_changed_signal = "const"))]
    fn surfaces(&self) -> Vec<String> {
        self.surfaces.clone()
    }

    /// The main surface has loaded.
    #[zbus(property)]
    fn ready(&self) -> bool {
        self.state.ready
    }

    /// The labels of the surfaces shown now.
    #[zbus(property)]
    fn visible(&self) -> Vec<String> {
        self.state.visible.clone()
    }

    /// What each surface shows, by label.
    #[zbus(property)]
    fn urls(&self) -> HashMap<String, String> {
        self.state.urls.clone().into_iter().collect()
    }

    /// Web-process ends (crashes, kills, hangs) over all surfaces.
    #[zbus(property)]
    fn crashes(&self) -> u64 {
        self.state.crashes
    }

    #[zbus(property)]
    fn recoveries(&self) -> u64 {
        self.state.recoveries
    }

    #[zbus(signal)]
    async fn surface_crashed(emitter: &SignalEmitter<'_>, label: &str, reason: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn surface_recovered(emitter: &SignalEmitter<'_>, label: &str) -> zbus::Result<()>;
}

/// The kiosk's memory: the core's resident set and its surfaces' web processes'.
fn kiosk_rss_kib(status: &crate::request::Status) -> Option<u64> {
    let pids: std::collections::BTreeSet<u32> =
        std::iter::once(status.pid).chain(status.surfaces.iter().filter_map(|s| s.pid)).collect();
    let sizes: Vec<u64> = pids.into_iter().filter_map(crate::service::procs::rss_kib).collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

/// Creates `path` (never an existing file) and writes `bytes` to it.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no {bus} bus: {source}")]
    Connect { bus: &'static str, source: zbus::Error },
    #[error("cannot serve {PATH} on the {bus} bus: {source}")]
    Serve { bus: &'static str, source: zbus::Error },
    #[error("may not own {name} on the {bus} bus: {source}")]
    Name { bus: &'static str, name: String, source: zbus::Error },
    #[error("the name is taken")]
    NameTaken { pid: Option<u32> },
}

/// Connects, serves [`ControlObject`] and the bridge's [`MqttObject`] at [`PATH`], then
/// claims the name (objects first, so that no call arrives before they are there):
/// at once, or queued for at most `wait` when it is not zero.
pub async fn serve(
    cfg: &Dbus,
    objects: ControlObject,
    mqtt: MqttObject,
    update: Option<UpdateObject>,
    wait: Duration,
) -> Result<zbus::Connection, ServeError> {
    let bus = cfg.bus.as_str();
    let connection = super::connect(cfg.bus).await.map_err(|source| ServeError::Connect { bus, source })?;
    let server = connection.object_server();
    server.at(PATH, objects).await.map_err(|source| ServeError::Serve { bus, source })?;
    server.at(PATH, mqtt).await.map_err(|source| ServeError::Serve { bus, source })?;
    if let Some(update) = update {
        server.at(PATH, update).await.map_err(|source| ServeError::Serve { bus, source })?;
    }
    let claimed = if wait.is_zero() {
        let flags = zbus::fdo::RequestNameFlags::DoNotQueue.into();
        connection.request_name_with_flags(cfg.name.as_str(), flags).await.map(|_| ())
    } else {
        claim_queued(&connection, &cfg.name, wait).await
    };
    match claimed {
        Ok(()) => Ok(connection),
        Err(zbus::Error::NameTaken) => Err(ServeError::NameTaken { pid: owner_pid(&connection, &cfg.name).await }),
        Err(source) => Err(ServeError::Name { bus, name: cfg.name.clone(), source }),
    }
}

/// Queues for `name` and waits at most `wait` for the bus to hand it over, as it does
/// the moment its owner leaves; on time-out, leaves the queue (`NameTaken`).
async fn claim_queued(connection: &zbus::Connection, name: &str, wait: Duration) -> zbus::Result<()> {
    use futures_lite::{FutureExt, StreamExt};
    use zbus::fdo::RequestNameReply;
    // Subscribed before asking, or the hand-over could come between the two.
    let mut acquired = zbus::fdo::DBusProxy::new(connection).await?.receive_name_acquired().await?;
    match connection.request_name_with_flags(name, enumflags2::BitFlags::empty()).await? {
        RequestNameReply::InQueue => {}
        RequestNameReply::Exists => return Err(zbus::Error::NameTaken),
        RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => return Ok(()),
    }
    let holder = owner_pid(connection, name).await.map(|p| format!(" (process {p})")).unwrap_or_default();
    log::info!("{name} is owned{holder}; waiting up to {} s for it to be free", wait.as_secs());
    let handed_over = async {
        while let Some(signal) = acquired.next().await {
            if signal.args().is_ok_and(|a| a.name() == name) {
                return true;
            }
        }
        false
    };
    let timed_out = async {
        async_io::Timer::after(wait).await;
        false
    };
    if handed_over.or(timed_out).await {
        return Ok(());
    }
    // Out of the queue, so that the name never comes to a kiosk that has given up.
    if let Err(e) = connection.release_name(name).await {
        log::warn!("cannot leave the queue for {name}: {e}");
    }
    Err(zbus::Error::NameTaken)
}

/// The process owning `name`, as the bus reports it.
pub async fn owner_pid(connection: &zbus::Connection, name: &str) -> Option<u32> {
    let proxy = zbus::fdo::DBusProxy::new(connection).await.ok()?;
    let name = zbus::names::BusName::try_from(name).ok()?;
    proxy.get_connection_unix_process_id(name).await.ok()
}

/// Publishes what the shell sends: property changes and signals.
pub struct Publisher {
    iface: InterfaceRef<ControlObject>,
    mqtt: Option<InterfaceRef<MqttObject>>,
    update: Option<InterfaceRef<UpdateObject>>,
}

impl Publisher {
    pub async fn new(connection: &zbus::Connection) -> Option<Self> {
        let mqtt = connection.object_server().interface::<_, MqttObject>(PATH).await.ok();
        let update = connection.object_server().interface::<_, UpdateObject>(PATH).await.ok();
        match connection.object_server().interface::<_, ControlObject>(PATH).await {
            Ok(iface) => Some(Self { iface, mqtt, update }),
            Err(e) => {
                log::error!("the control object is gone: {e}; properties and signals are off");
                None
            }
        }
    }

    pub async fn publish(&self, notice: Notice) {
        let emitter = self.iface.signal_emitter();
        let sent = match notice {
            Notice::State(new) => self.update(new).await,
            Notice::Crashed { label, reason } => ControlObject::surface_crashed(emitter, &label, &reason).await,
            Notice::Recovered { label } => ControlObject::surface_recovered(emitter, &label).await,
            Notice::Event { event, payload, source } => match &self.mqtt {
                Some(m) => MqttObject::event(m.signal_emitter(), &event, &payload, &source).await,
                None => Ok(()),
            },
            Notice::Update(change) => match &self.update {
                Some(u) => update_changed(u, change).await,
                None => Ok(()),
            },
            Notice::Notify(_) => Ok(()),
        };
        if let Err(e) = sent {
            log::warn!("cannot publish on D-Bus: {e}");
        }
    }

    /// Stores the new state and announces each property that changed.
    async fn update(&self, new: Snapshot) -> zbus::Result<()> {
        let emitter = self.iface.signal_emitter();
        let mut objects = self.iface.get_mut().await;
        let old = std::mem::replace(&mut objects.state, new);
        let now = &objects.state;
        if old.ready != now.ready {
            objects.ready_changed(emitter).await?;
        }
        if old.visible != now.visible {
            objects.visible_changed(emitter).await?;
        }
        if old.urls != now.urls {
            objects.urls_changed(emitter).await?;
        }
        if old.crashes != now.crashes {
            objects.crashes_changed(emitter).await?;
        }
        if old.recoveries != now.recoveries {
            objects.recoveries_changed(emitter).await?;
        }
        if old.screen_on != now.screen_on {
            objects.screen_on_changed(emitter).await?;
        }
        if old.display_backend != now.display_backend {
            objects.display_backend_changed(emitter).await?;
        }
        Ok(())
    }
}

/// Publishes the update side's change: its properties, or its `Completed` signal.
async fn update_changed(iface: &InterfaceRef<UpdateObject>, change: Change) -> zbus::Result<()> {
    let emitter = iface.signal_emitter();
    let new = match change {
        Change::Completed(o) => return UpdateObject::completed(emitter, o.ok, &o.code, &o.message).await,
        Change::Status(new) => *new,
    };
    let mut object = iface.get_mut().await;
    let old = std::mem::replace(&mut object.state, new);
    let now = &object.state;
    if old.available != now.available {
        object.available_changed(emitter).await?;
    }
    if old.booted != now.booted {
        object.boot_slot_changed(emitter).await?;
    }
    if old.installed_version != now.installed_version {
        object.installed_version_changed(emitter).await?;
    }
    if old.operation != now.operation {
        object.operation_changed(emitter).await?;
    }
    if old.progress != now.progress {
        object.progress_changed(emitter).await?;
    }
    if old.last != now.last {
        object.last_result_changed(emitter).await?;
        object.last_error_changed(emitter).await?;
    }
    Ok(())
}
