//! `vitrine mqtt --config FILE`: the kiosk on an MQTT broker, with Home Assistant discovery.
//!
//! A process of its own and only a client, of the kiosk's control interface (D-Bus) and of
//! the broker (rumqttc): a broker that goes away, or a crash of this process, leaves the
//! kiosk running. The broker publishes the retained will `offline` on the availability
//! topic when the bridge dies; the bridge publishes `online` on every connection and
//! follows the kiosk (`offline` while it does not answer).
//!
//! * [`config`] — the configuration file and the credentials it names.
//! * [`discovery`] — the device id, the topics and Home Assistant's config payloads.
//! * [`kiosk`] — the D-Bus side: commands, polled state, screenshots.
//! * [`events`] — page events out, as the principal `mqtt` hears them.
//! * [`session`] — the broker connection, MQTT 3.1.1 or 5.
//! * [`update`] — the image's `update` entity and installs.
//!
//! Threads: this one drives the MQTT connection (rumqttc reconnects on the next poll; we
//! wait with a growing back-off between failures); "vitrine-mqtt-kiosk" does the D-Bus
//! calls, so a slow kiosk never holds up the keep-alives; "vitrine-mqtt-events" follows
//! the kiosk's `Event` signal.

pub mod config;
pub mod discovery;
pub mod events;
pub mod kiosk;
pub mod session;
pub mod update;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use crate::config::BusKind;
use config::BridgeConfig;
use kiosk::{Job, KioskLink, Worker};
use session::Incoming;

/// How long between connection attempts at most.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct MqttArgs {
    /// The bridge's configuration file (TOML; see the README, "Fleets: MQTT and Home Assistant").
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Check the file and the credentials it names, then exit.
    #[arg(long)]
    check: bool,
}

pub fn main(args: MqttArgs) -> ExitCode {
    crate::service::logging::init();
    // The credentials and TLS files are read here too, so that they fail at once.
    let cfg = match BridgeConfig::load(&args.config).and_then(|cfg| session::open(&cfg, "check", "check").map(|_| cfg))
    {
        Ok(cfg) => cfg,
        Err(e) => {
            // One line, machine-readable, as `vitrine ctl --json` reports errors.
            let error = serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}});
            eprintln!("vitrine mqtt: {e}");
            println!("{error}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    run(cfg)
}

fn run(cfg: BridgeConfig) -> ExitCode {
    let embedded = crate::embedded_bundle().map(|b| b.manifest.dbus).unwrap_or_default();
    let bus = cfg.kiosk.bus.or_else(BusKind::from_env).unwrap_or(match embedded.bus {
        BusKind::None => BusKind::Session,
        b => b,
    });
    let name = cfg.kiosk.name.clone().unwrap_or(embedded.name);
    let machine_id = match std::fs::read_to_string("/etc/machine-id") {
        Ok(m) if !m.trim().is_empty() => m,
        _ => {
            log::error!("vitrine mqtt: /etc/machine-id is missing or empty; the device needs a stable id");
            return ExitCode::from(2);
        }
    };
    let surface = cfg.kiosk.surface.clone().unwrap_or_else(|| "main".into());
    let mut kiosk = KioskLink::new(bus, name);
    // The device id carries the kiosk's name: wait for the kiosk once.
    let mut logged = false;
    let status = loop {
        match kiosk.status() {
            Ok(s) => break s,
            Err(e) => {
                if !logged {
                    log::warn!("waiting for the kiosk on the {} bus: {e}", bus.as_str());
                    logged = true;
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    };
    let id = discovery::device_id(&machine_id, &status.name);
    let topics = discovery::Topics::new(&cfg.topic_prefix, &cfg.homeassistant.discovery_prefix, &id);
    let client_id = cfg.broker.client_id.clone().unwrap_or_else(|| format!("vitrine-{id}"));
    let (client, mut connection) = match session::open(&cfg, &client_id, &topics.availability()) {
        Ok(pair) => pair,
        Err(e) => {
            log::error!("vitrine mqtt: {e}");
            return ExitCode::from(2);
        }
    };
    let home = cfg.kiosk.home.clone().unwrap_or_else(|| {
        status.surfaces.iter().find(|s| s.label == surface).map(|s| s.url.clone()).unwrap_or_default()
    });
    let (events_bus, events_name, events_mqtt, events_topics) =
        (bus, kiosk.name.clone(), client.clone(), topics.clone());
    let worker = Worker {
        mqtt: client,
        cfg: cfg.clone(),
        topics: topics.clone(),
        id: id.clone(),
        kiosk,
        surface,
        home,
        status: Some(status),
        published: (None, None),
        next_screenshot: None,
        update: Default::default(),
    };
    log::info!("vitrine mqtt: device {id}, broker {}:{}, topics under {}", cfg.broker.host, cfg.port(), topics.base);

    let (jobs, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("vitrine-mqtt-kiosk".into()).spawn(move || worker.run(rx));
    let events = std::thread::Builder::new()
        .name("vitrine-mqtt-events".into())
        .spawn(move || events::run(events_bus, events_name, events_mqtt, events_topics));
    if let Some(e) = spawned.err().or(events.err()) {
        log::error!("vitrine mqtt: cannot start its threads: {e}");
        return ExitCode::FAILURE;
    }
    let ha_status = topics.ha_status();
    let mut backoff = Duration::from_secs(1);
    while let Some(event) = connection.recv() {
        let job = match event {
            Ok(Incoming::Connected(code)) => {
                log::info!("connected to the broker ({code})");
                backoff = Duration::from_secs(1);
                Some(Job::Connected)
            }
            Ok(Incoming::Message { topic, payload }) if topic == ha_status => {
                (payload == b"online").then_some(Job::Rediscover)
            }
            Ok(Incoming::Message { topic, payload }) => Some(Job::Command { topic, payload }),
            Ok(Incoming::Other) => None,
            Err(e) => {
                log::warn!("broker: {e}; trying again in {} s", backoff.as_secs());
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                None
            }
        };
        if let Some(job) = job {
            if jobs.send(job).is_err() {
                log::error!("vitrine mqtt: the kiosk thread ended");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
