//! `vitrine ctl`: the control interface from the command line.
//!
//! ```sh
//! vitrine ctl ping
//! vitrine ctl status [--json]
//! vitrine ctl navigate main https://example.com/
//! vitrine ctl reload main | show toast | hide toast
//! vitrine ctl emit settings-changed '{"volume":3}' --to main
//! vitrine ctl screenshot main shot.png
//! vitrine ctl zoom main 1.25
//! vitrine ctl volume 40         # or mute, unmute; no argument: show it
//! vitrine ctl web clear cookies|cache|all
//! vitrine ctl display on|off|status|brightness 80|rotate 90 [--flipped]
//! vitrine ctl update status | install FILE-or-URL [--no-wait]
//! vitrine ctl health [--wait] [--timeout SECS]
//! ```
//!
//! The bus and name default to the embedded configuration's `[dbus]` (or that of
//! `--config DIR`); `--system`, `--session` and `--name` override them. Output is text for people, or JSON with
//! `--json` (errors too: `{"error":{"code","message"}}`). Exit status: 0 done, 1 the
//! kiosk refused or failed, 2 a usage or configuration error, 3 Vitrine is not running
//! (or its bus cannot be reached).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{BusKind, Dbus};
use crate::dbus::{INTERFACE, PATH};
use crate::request::Status;

/// How long a call may take; the kiosk itself gives up on its main loop sooner.
const CALL_WITHIN: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Use the system bus.
    #[arg(long, global = true, conflicts_with = "session")]
    system: bool,
    /// Use the session bus.
    #[arg(long, global = true)]
    session: bool,
    /// The kiosk's bus name (default: the configured one).
    #[arg(long, global = true, value_name = "NAME")]
    name: Option<String>,
    /// Take the bus and name from this configuration folder's `[dbus]` (as `run --config`).
    #[arg(long, global = true, value_name = "DIR")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CtlCommand {
    /// Check that the kiosk runs and its main loop answers.
    Ping,
    /// Show the surfaces, their pages, web processes and crash counts.
    Status,
    /// Open URL in a surface (its navigation allow-list applies).
    Navigate { label: String, url: String },
    /// Reload a surface's page.
    Reload { label: String },
    /// Show an overlay.
    Show { label: String },
    /// Hide an overlay.
    Hide { label: String },
    /// Emit an event as the D-Bus principal (capabilities decide who may receive it).
    Emit {
        event: String,
        /// JSON payload (default: null).
        payload: Option<String>,
        /// Only to this surface (repeatable; default: all).
        #[arg(long = "to", value_name = "LABEL")]
        to: Vec<String>,
    },
    /// Write a PNG of a surface to FILE ("-": standard output).
    Screenshot { label: String, file: PathBuf },
    /// Set a surface's page zoom (0.25 to 5; 1 is the page's own size).
    Zoom { label: String, factor: f64 },
    /// Show or set the kiosk's volume: 0 to 100, mute or unmute (no argument: show it).
    Volume { change: Option<String> },
    /// The surfaces' web data.
    #[command(subcommand)]
    Web(WebCommand),
    /// The screen: power and brightness.
    #[command(subcommand)]
    Display(DisplayCommand),
    /// The on-screen keyboard.
    #[command(subcommand)]
    Keyboard(KeyboardCommand),
    /// Signed A/B updates through RAUC.
    #[command(subcommand)]
    Update(crate::update::ctl::UpdateCommand),
    /// Exit 0 if the kiosk is healthy: ready (READY=1 sent) and every surface up.
    /// Otherwise exit 1 saying what is missing (3: not running).
    Health {
        /// Wait until it is healthy, at most --timeout.
        #[arg(long)]
        wait: bool,
        /// With --wait: how long, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 120, requires = "wait")]
        timeout: u64,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum DisplayCommand {
    /// Turn the screen on.
    On,
    /// Turn the screen off (a touch, click or key wakes it and reaches no page).
    Off,
    /// Show the screen's power, backend and brightness.
    Status,
    /// Rotate the screen: degrees clockwise (0, 90, 180, 270), through the compositor.
    Rotate {
        #[arg(value_parser = ["0", "90", "180", "270"])]
        degrees: String,
        /// Mirrored as well.
        #[arg(long)]
        flipped: bool,
    },
    /// Set the brightness, in percent (needs a backlight or a DDC/CI monitor).
    Brightness {
        #[arg(value_parser = clap::value_parser!(u32).range(0..=100))]
        percent: u32,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyboardCommand {
    /// Show it, typing into LABEL (default: the main surface).
    Show { label: Option<String> },
    /// Hide it.
    Hide,
    /// Where its keys are on the screen, one per line: id x y width height (--json: a list).
    Keys,
}

#[derive(clap::Subcommand, Debug)]
pub enum WebCommand {
    /// Clear cookies, the HTTP cache, or all web data (cookies, site storage, caches).
    Clear {
        #[arg(value_parser = ["cookies", "cache", "all"])]
        what: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the {bus} bus: {reason}")]
    NoBus { bus: &'static str, reason: String },
    #[error("vitrine is not running: nobody owns {name} on the {bus} bus")]
    NotRunning { name: String, bus: &'static str },
    #[error("access denied by the {bus} bus policy: {reason}")]
    Denied { bus: &'static str, reason: String },
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("{0}")]
    Io(String),
    #[error("D-Bus: {0}")]
    Bus(String),
}

impl ClientError {
    fn code(&self) -> &str {
        match self {
            ClientError::NoBus { .. } => "no_bus",
            ClientError::NotRunning { .. } => "not_running",
            ClientError::Denied { .. } => "access_denied",
            ClientError::Refused { code, .. } => code,
            ClientError::Io(_) => "io",
            ClientError::Bus(_) => "dbus",
        }
    }

    fn exit_code(&self) -> u8 {
        match self {
            ClientError::NoBus { .. } | ClientError::NotRunning { .. } => 3,
            _ => 1,
        }
    }
}

/// Talks to one kiosk.
pub struct Client {
    connection: zbus::Connection,
    name: String,
    bus: &'static str,
}

impl Client {
    pub async fn connect(kind: BusKind, name: &str) -> Result<Client, ClientError> {
        let bus = kind.as_str();
        let connection = super::connect(kind).await.map_err(|e| ClientError::NoBus { bus, reason: e.to_string() })?;
        Ok(Client { connection, name: name.to_string(), bus })
    }

    /// Calls `method` of the control interface and decodes its answer.
    pub async fn call<B, R>(&self, method: &str, body: &B) -> Result<R, ClientError>
    where
        B: Serialize + zbus::zvariant::DynamicType,
        R: DeserializeOwned + zbus::zvariant::Type,
    {
        self.call_on(INTERFACE, method, body).await
    }

    /// Calls `method` of `interface` (at the control interface's path).
    pub async fn call_on<B, R>(&self, interface: &str, method: &str, body: &B) -> Result<R, ClientError>
    where
        B: Serialize + zbus::zvariant::DynamicType,
        R: DeserializeOwned + zbus::zvariant::Type,
    {
        let call = self.connection.call_method(Some(self.name.as_str()), PATH, Some(interface), method, body);
        let timeout = async {
            async_io::Timer::after(CALL_WITHIN).await;
            Err(zbus::Error::Failure(format!("no answer within {} s", CALL_WITHIN.as_secs())))
        };
        let reply = futures_lite::future::or(call, timeout).await.map_err(|e| self.error(e))?;
        reply.body().deserialize::<R>().map_err(|e| ClientError::Bus(format!("unexpected answer to {method}: {e}")))
    }

    fn error(&self, e: zbus::Error) -> ClientError {
        let zbus::Error::MethodError(name, detail, _) = &e else { return ClientError::Bus(e.to_string()) };
        let detail = detail.clone().unwrap_or_default();
        match name.as_str() {
            "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
                ClientError::NotRunning { name: self.name.clone(), bus: self.bus }
            }
            "org.freedesktop.DBus.Error.AccessDenied" => ClientError::Denied { bus: self.bus, reason: detail },
            other => match other.strip_prefix("org.vitrine.Vitrine1.Error.") {
                Some(kind) => ClientError::Refused { code: snake(kind), message: detail },
                None => ClientError::Bus(format!("{other}: {detail}")),
            },
        }
    }

    pub fn connection(&self) -> &zbus::Connection {
        &self.connection
    }

    /// The kiosk's bus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn pid(&self) -> Option<u32> {
        super::control::owner_pid(&self.connection, &self.name).await
    }
}

/// `NotFound` → `not_found`, as the IPC error codes are spelt.
fn snake(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Asks a running kiosk to show `url` in surface `label` (a second `vitrine --url`).
pub fn forward_navigate(cfg: &Dbus, label: &str, url: &str) -> Result<(), ClientError> {
    async_io::block_on(async {
        let client = Client::connect(cfg.bus, &cfg.name).await?;
        client.call::<_, ()>("Navigate", &(label, url)).await
    })
}

/// Runs `vitrine ctl …`; prints the result and returns the exit status.
pub fn main(args: CtlArgs) -> ExitCode {
    let configured = match &args.config {
        Some(dir) => match crate::check(dir) {
            Ok(bundle) => bundle.manifest.dbus,
            Err(errors) => {
                eprintln!("vitrine ctl: invalid configuration in {}:\n{errors}", dir.display());
                return ExitCode::from(2);
            }
        },
        None => crate::embedded_bundle().map(|b| b.manifest.dbus).unwrap_or_default(),
    };
    let configured = crate::config::Dbus { bus: BusKind::from_env().unwrap_or(configured.bus), ..configured };
    let kind = match (args.system, args.session) {
        (true, _) => BusKind::System,
        (_, true) => BusKind::Session,
        // A kiosk without D-Bus still may be asked on the session bus (and will not answer).
        _ if configured.bus == BusKind::None => BusKind::Session,
        _ => configured.bus,
    };
    let name = args.name.clone().unwrap_or(configured.name);
    let outcome = match &args.command {
        CtlCommand::Health { wait, timeout } => {
            let bound = if *wait { Duration::from_secs(*timeout) } else { Duration::ZERO };
            async_io::block_on(health(&args, kind, &name, bound))
        }
        _ => async_io::block_on(run(&args, kind, &name)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if args.json {
                let error = serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } });
                println!("{error}");
            }
            eprintln!("vitrine ctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(args: &CtlArgs, kind: BusKind, name: &str) -> Result<(), ClientError> {
    let client = Client::connect(kind, name).await?;
    let json = args.json;
    let done = |text: String, value: serde_json::Value| {
        if json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    };
    match &args.command {
        CtlCommand::Ping => {
            let started = Instant::now();
            let _: String = client.call("Ping", &()).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let pid = client.pid().await;
            let by = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            done(
                format!("pong from {name}{by} in {ms:.1} ms"),
                serde_json::json!({ "ok": true, "pid": pid, "ms": ms }),
            );
        }
        CtlCommand::Status => {
            let text: String = client.call("Status", &()).await?;
            let status: Status = serde_json::from_str(&text)
                .map_err(|e| ClientError::Bus(format!("the kiosk sent a status this ctl cannot read: {e}")))?;
            if json {
                println!("{text}");
            } else {
                print!("{}", status_text(&status));
            }
        }
        CtlCommand::Navigate { label, url } => {
            client.call::<_, ()>("Navigate", &(label, url)).await?;
            done(format!("{label}: opening {url}"), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Reload { label } => {
            client.call::<_, ()>("Reload", &(label,)).await?;
            done(format!("{label}: reloading"), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Show { label } | CtlCommand::Hide { label } => {
            let (method, word) =
                if matches!(args.command, CtlCommand::Show { .. }) { ("Show", "shown") } else { ("Hide", "hidden") };
            client.call::<_, ()>(method, &(label,)).await?;
            done(format!("{label}: {word}"), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Emit { event, payload, to } => {
            let payload = payload.clone().unwrap_or_default();
            let n: u32 = client.call("Emit", &(event, payload, to)).await?;
            let plural = if n == 1 { "" } else { "s" };
            done(format!("'{event}' delivered to {n} surface{plural}"), serde_json::json!({ "delivered": n }));
        }
        CtlCommand::Zoom { label, factor } => {
            client.call::<_, ()>("Zoom", &(label, factor)).await?;
            done(format!("{label}: zoom {factor}"), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Screenshot { label, file } => {
            let png: Vec<u8> = client.call("Screenshot", &(label,)).await?;
            let (w, h) = png_size(&png).unwrap_or((0, 0));
            if file.as_os_str() == "-" {
                std::io::stdout().write_all(&png).map_err(|e| ClientError::Io(format!("standard output: {e}")))?;
                return Ok(());
            }
            std::fs::write(file, &png).map_err(|e| ClientError::Io(format!("cannot write {}: {e}", file.display())))?;
            done(
                format!("{label}: {w}x{h} PNG written to {} ({} bytes)", file.display(), png.len()),
                serde_json::json!({ "file": file, "width": w, "height": h, "bytes": png.len() }),
            );
        }
        CtlCommand::Display(command) => {
            let text: String = match command {
                DisplayCommand::On => client.call("DisplayOn", &()).await?,
                DisplayCommand::Off => client.call("DisplayOff", &()).await?,
                DisplayCommand::Status => client.call("DisplayStatus", &()).await?,
                DisplayCommand::Rotate { degrees, flipped } => {
                    let degrees: u32 = degrees.parse().unwrap_or(0);
                    client.call("SetRotation", &(degrees, *flipped)).await?
                }
                DisplayCommand::Brightness { percent } => client.call("SetBrightness", &(percent,)).await?,
            };
            let status: crate::display::DisplayStatus = serde_json::from_str(&text)
                .map_err(|e| ClientError::Bus(format!("the kiosk sent a display status this ctl cannot read: {e}")))?;
            if json {
                println!("{text}");
            } else {
                println!("{}", display_text(&status));
            }
        }
        CtlCommand::Keyboard(KeyboardCommand::Show { label }) => {
            let label = label.clone().unwrap_or_default();
            client.call::<_, ()>("KeyboardShow", &(&label,)).await?;
            let shown = if label.is_empty() { "the main surface" } else { label.as_str() };
            done(format!("keyboard shown for {shown}"), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Keyboard(KeyboardCommand::Hide) => {
            client.call::<_, ()>("KeyboardHide", &()).await?;
            done("keyboard hidden".into(), serde_json::json!({ "ok": true }));
        }
        CtlCommand::Keyboard(KeyboardCommand::Keys) => {
            let text: String = client.call("Status", &()).await?;
            let status: Status = serde_json::from_str(&text)
                .map_err(|e| ClientError::Bus(format!("the kiosk sent a status this ctl cannot read: {e}")))?;
            let keys = status.keyboard.map(|k| k.keys).unwrap_or_default();
            let lines: Vec<String> =
                keys.iter().map(|k| format!("{} {} {} {} {}", k.id, k.x, k.y, k.width, k.height)).collect();
            done(lines.join("\n"), serde_json::json!(keys));
        }
        CtlCommand::Volume { change } => {
            let change = change.clone().unwrap_or_default();
            let (level, muted): (i32, bool) = client.call("Volume", &(change,)).await?;
            let v = crate::volume::Volume { level: u8::try_from(level).ok(), muted };
            done(v.describe(), serde_json::json!({ "level": v.level, "muted": v.muted }));
        }
        CtlCommand::Update(command) => crate::update::ctl::run(&client, command, json).await?,
        // Answered by `health` (it waits for the kiosk to appear).
        CtlCommand::Health { .. } => {}
        CtlCommand::Web(WebCommand::Clear { what }) => {
            client.call::<_, ()>("ClearWebData", &(what,)).await?;
            done(format!("web data cleared: {what}"), serde_json::json!({ "ok": true, "cleared": what }));
        }
    }
    Ok(())
}

/// How often `health --wait` asks.
const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// `vitrine ctl health`: asks until the kiosk is healthy or `bound` has passed (once
/// when it is zero). A kiosk that is not running yet, or whose bus is not up yet, is
/// waited for too.
async fn health(args: &CtlArgs, kind: BusKind, name: &str, bound: Duration) -> Result<(), ClientError> {
    let started = Instant::now();
    let mut client = None;
    loop {
        let checked = async {
            if client.is_none() {
                client = Some(Client::connect(kind, name).await?);
            }
            let Some(c) = &client else { return Err(ClientError::Io("no client".into())) };
            let text: String = c.call("Status", &()).await?;
            serde_json::from_str::<Status>(&text)
                .map_err(|e| ClientError::Bus(format!("the kiosk sent a status this ctl cannot read: {e}")))
        }
        .await;
        let why = match checked {
            Ok(status) => match status.health() {
                Ok(()) => {
                    let secs = started.elapsed().as_secs_f64();
                    let n = status.surfaces.len();
                    if args.json {
                        println!("{}", serde_json::json!({ "healthy": true, "surfaces": n, "secs": secs }));
                    } else {
                        println!("healthy: ready, {n} surfaces up (after {secs:.1} s)");
                    }
                    return Ok(());
                }
                Err(missing) => ClientError::Refused { code: "unhealthy".into(), message: missing.join("; ") },
            },
            Err(e) => {
                if matches!(e, ClientError::NoBus { .. } | ClientError::Bus(_)) {
                    client = None;
                }
                e
            }
        };
        if started.elapsed() >= bound {
            return Err(match why {
                ClientError::Refused { code, message } if !bound.is_zero() => ClientError::Refused {
                    code,
                    message: format!("not healthy after {} s: {message}", bound.as_secs()),
                },
                other => other,
            });
        }
        async_io::Timer::after(HEALTH_EVERY).await;
    }
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

fn display_text(d: &crate::display::DisplayStatus) -> String {
    let why = match (&d.reason, d.intentional) {
        (Some(r), _) => format!(" ({r:?}, on purpose)").to_lowercase(),
        (None, true) => " (on purpose)".into(),
        _ => String::new(),
    };
    let backend = d.backend.as_deref().unwrap_or("probing");
    let brightness = d.brightness.map_or("unknown".to_string(), |b| format!("{b} %"));
    let mut out = format!("screen {}{why}, by {backend}, brightness {brightness}", d.power);
    if let Some(e) = &d.error {
        out.push_str(&format!("; last error: {e}"));
    }
    out
}

/// Appends `rows` under `head` as left-aligned columns, two spaces apart, as `ctl`
/// prints its tables.
pub(crate) fn push_table<const N: usize>(out: &mut String, head: &[String; N], rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().chain(std::iter::once(head)).map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in std::iter::once(head).chain(rows.iter()) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
}

fn status_text(s: &Status) -> String {
    let up = s.uptime_secs as u64;
    let ready = if s.ready { "ready" } else { "starting" };
    let automation = if s.automation { ", AUTOMATION ON (WebDriver may drive it)" } else { "" };
    let mut out = format!(
        "{} — vitrine {}, pid {}, up {}h {:02}m {:02}s, {ready}{automation}\n",
        s.name,
        s.version,
        s.pid,
        up / 3600,
        up / 60 % 60,
        up % 60
    );
    let rows: Vec<[String; 8]> = s
        .surfaces
        .iter()
        .map(|x| {
            [
                x.label.clone(),
                if x.visible { "yes" } else { "no" }.into(),
                if x.up { "up" } else { "down" }.into(),
                x.pid.map_or("-".into(), |p| p.to_string()),
                x.crashes.to_string(),
                x.hangs.to_string(),
                x.recoveries.to_string(),
                x.url.clone(),
            ]
        })
        .collect();
    let head = ["SURFACE", "VISIBLE", "STATE", "PID", "CRASHES", "HANGS", "RECOVERED", "URL"].map(String::from);
    push_table(&mut out, &head, &rows);
    if let Some(k) = &s.keyboard {
        match (&k.surface, k.visible) {
            (Some(surface), true) => out.push_str(&format!("keyboard: shown for {surface}\n")),
            _ => out.push_str("keyboard: hidden\n"),
        }
    }
    let d = &s.decoders;
    let software = if d.software.is_empty() { "none".to_string() } else { d.software.join(", ") };
    out.push_str(&format!("decoders: {software}\n"));
    let hardware = match (d.hardware_devices.is_empty(), d.hardware_usable) {
        (true, _) => "none (software decoding)".to_string(),
        (false, true) => d.hardware_devices.join(", "),
        (false, false) => format!("{} (no GStreamer V4L2 plugin: not used)", d.hardware_devices.join(", ")),
    };
    out.push_str(&format!("hardware decoders: {hardware}\n"));
    let o = &s.output;
    let rotation =
        o.rotation.map_or("unknown".to_string(), |r| format!("{r}°{}", if o.flipped { " flipped" } else { "" }));
    out.push_str(&format!("output: {}x{}, rotation {rotation}\n", o.width, o.height));
    out.push_str(&format!("{}\n", display_text(&s.display)));
    if let Some(u) = &s.update {
        out.push_str(&format!("{}\n", crate::update::ctl::summary(u)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_become_codes_and_png_sizes_are_read() {
        assert_eq!(snake("NotFound"), "not_found");
        assert_eq!(snake("Unavailable"), "unavailable");
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1920u32.to_be_bytes());
        png.extend_from_slice(&1080u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1920, 1080)));
        assert_eq!(png_size(b"GIF89a"), None);
    }
}
