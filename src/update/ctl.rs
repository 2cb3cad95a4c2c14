//! `vitrine ctl update status|install`: the `Update` interface from the command line.
//!
//! `install` subscribes to `Completed` before it asks, then waits for the end, showing
//! the progress on standard error; when the signal is missed (the kiosk restarted), it
//! still learns the end from `Status`, which it asks every few seconds.

use std::time::Duration;

use futures_lite::StreamExt as _;

use super::{Operation, Outcome, UpdateStatus};
use crate::dbus::client::{Client, ClientError};
use crate::dbus::update::INTERFACE;
use crate::dbus::PATH;

/// How often `install` asks for the status while it waits.
const POLL: Duration = Duration::from_secs(3);

#[derive(clap::Subcommand, Debug)]
pub enum UpdateCommand {
    /// The slots, the booted one and its version, and the last installation.
    Status,
    /// Install a bundle: a file (its path is made absolute) or an http(s) URL, which the
    /// kiosk downloads into its state directory first. Waits for the end.
    Install {
        source: String,
        /// Return once the kiosk has taken the job.
        #[arg(long)]
        no_wait: bool,
    },
}

pub async fn run(client: &Client, command: &UpdateCommand, json: bool) -> Result<(), ClientError> {
    match command {
        UpdateCommand::Status => {
            let status = status(client).await?;
            if json {
                println!("{}", serde_json::to_string(&status).unwrap_or_default());
            } else {
                print!("{}", status_text(&status));
            }
            Ok(())
        }
        UpdateCommand::Install { source, no_wait } => install(client, &absolute(source)?, *no_wait, json).await,
    }
}

async fn status(client: &Client) -> Result<UpdateStatus, ClientError> {
    let text: String = client.call_on(INTERFACE, "Status", &()).await?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Bus(format!("the kiosk sent an update status this ctl cannot read: {e}")))
}

/// The kiosk runs elsewhere (another working directory): it gets an absolute path.
fn absolute(source: &str) -> Result<String, ClientError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return Ok(source.to_string());
    }
    let path = std::path::absolute(source).map_err(|e| ClientError::Io(format!("{source}: {e}")))?;
    Ok(path.to_string_lossy().into_owned())
}

async fn install(client: &Client, source: &str, no_wait: bool, json: bool) -> Result<(), ClientError> {
    let proxy = zbus::Proxy::new(client.connection(), client.name().to_string(), PATH, INTERFACE)
        .await
        .map_err(|e| ClientError::Bus(e.to_string()))?;
    let mut completed = proxy.receive_signal("Completed").await.map_err(|e| ClientError::Bus(e.to_string()))?;
    let mut progress = proxy.receive_property_changed::<u32>("Progress").await;
    client.call_on::<_, ()>(INTERFACE, "Install", &(source,)).await?;
    if no_wait {
        if json {
            println!("{}", serde_json::json!({ "ok": true, "started": source }));
        } else {
            println!("installing {source}");
        }
        return Ok(());
    }
    enum Event {
        Done(bool, String, String),
        Progress(u32),
        Poll,
    }
    let mut shown = None;
    let outcome = loop {
        let done = async {
            match completed.next().await {
                Some(m) => m
                    .body()
                    .deserialize::<(bool, String, String)>()
                    .map_or(Event::Poll, |(ok, c, t)| Event::Done(ok, c, t)),
                None => futures_lite::future::pending().await,
            }
        };
        let step = async {
            match progress.next().await {
                Some(change) => change.get().await.map_or(Event::Poll, Event::Progress),
                None => futures_lite::future::pending().await,
            }
        };
        let poll = async {
            async_io::Timer::after(POLL).await;
            Event::Poll
        };
        match futures_lite::future::or(done, futures_lite::future::or(step, poll)).await {
            Event::Done(ok, code, message) => break (ok, code, message, None),
            Event::Progress(pct) => {
                if !json && shown != Some(pct) {
                    eprintln!("{pct:>3} %");
                    shown = Some(pct);
                }
            }
            Event::Poll => {
                let now = status(client).await?;
                if now.operation == Operation::Idle {
                    if let Some(o) = now.last.filter(|o| o.source == source) {
                        break (o.ok, o.code.clone(), o.message.clone(), Some(o));
                    }
                }
            }
        }
    };
    let (ok, code, message, last) = outcome;
    if !ok {
        return Err(ClientError::Refused { code, message });
    }
    let last = match last {
        Some(o) => Some(o),
        None => status(client).await.ok().and_then(|s| s.last).filter(|o| o.source == source),
    };
    let version = last.as_ref().and_then(|o| o.version.clone());
    if json {
        let slot = last.as_ref().and_then(|o| o.slot.clone());
        println!(
            "{}",
            serde_json::json!({ "ok": true, "code": code, "version": version, "slot": slot, "message": message })
        );
    } else {
        let version = version.map(|v| format!(" {v}")).unwrap_or_default();
        println!("installed{version} from {source}: {message}");
    }
    Ok(())
}

/// One line for `vitrine ctl status`.
pub fn summary(s: &UpdateStatus) -> String {
    if !s.available {
        return format!("update: unavailable ({})", s.error.as_deref().unwrap_or("RAUC does not answer"));
    }
    let slot = match (&s.booted, &s.bootname) {
        (Some(slot), Some(boot)) => format!("{slot} ({boot})"),
        (Some(slot), None) => slot.clone(),
        _ => "unknown".into(),
    };
    let version = s.installed_version.as_deref().unwrap_or("unknown");
    let mut out = format!("update: booted {slot}, version {version}, {}", s.operation.as_str());
    if let Some(pct) = s.progress.filter(|_| s.operation != Operation::Idle) {
        out.push_str(&format!(" {pct} %"));
    }
    if let Some(o) = &s.last {
        out.push_str(&format!("; last: {}", outcome_text(o)));
    }
    out
}

fn outcome_text(o: &Outcome) -> String {
    if o.ok {
        let version = o.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        format!("installed{version} into {}", o.slot.as_deref().unwrap_or("the other slot"))
    } else {
        format!("{} ({})", o.code, o.message)
    }
}

fn status_text(s: &UpdateStatus) -> String {
    let mut out = format!("{}\n", summary(s));
    if let Some(c) = &s.compatible {
        out.push_str(&format!("compatible: {c}\n"));
    }
    if !s.slots.is_empty() {
        let rows: Vec<[String; 5]> = s
            .slots
            .iter()
            .map(|x| {
                [
                    x.name.clone(),
                    x.bootname.clone().unwrap_or_else(|| "-".into()),
                    x.state.clone(),
                    x.boot_status.clone().unwrap_or_else(|| "-".into()),
                    x.bundle_version.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let head = ["SLOT", "BOOTNAME", "STATE", "BOOT", "BUNDLE"].map(String::from);
        crate::dbus::client::push_table(&mut out, &head, &rows);
    }
    out
}
