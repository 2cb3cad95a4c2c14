//! The bridge's kiosk side: one thread holding the D-Bus client. It turns MQTT commands
//! into control calls, and the kiosk's status into retained state (polled), availability
//! and screenshots. It publishes without waiting, so a broker that is away never
//! blocks it: what does not fit the queue is dropped and sent again on the next change or
//! reconnect.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::config::BridgeConfig;
use super::discovery::{self, Device, Topics};
use super::session::Publisher;
use super::update::UpdateSide;
use crate::config::BusKind;
use crate::dbus::client::{Client, ClientError};
use crate::request::Status;

/// What the MQTT side hands over.
pub enum Job {
    /// (Re)connected: subscribe, then announce everything.
    Connected,
    /// Home Assistant came online: announce again.
    Rediscover,
    Command {
        topic: String,
        payload: Vec<u8>,
    },
}

pub struct Worker {
    pub mqtt: Publisher,
    pub cfg: BridgeConfig,
    pub topics: Topics,
    pub id: String,
    pub kiosk: KioskLink,
    pub surface: String,
    pub home: String,
    pub status: Option<KioskStatus>,
    /// The last published (state JSON, availability), to publish changes only.
    pub published: (Option<Value>, Option<bool>),
    pub next_screenshot: Option<Instant>,
    pub update: UpdateSide,
}

impl Worker {
    pub fn run(mut self, jobs: Receiver<Job>) {
        let poll = Duration::from_secs(self.cfg.kiosk.poll_secs.unwrap_or(5));
        loop {
            match jobs.recv_timeout(poll) {
                Ok(Job::Connected) => {
                    self.subscribe();
                    self.announce();
                }
                Ok(Job::Rediscover) => self.announce(),
                Ok(Job::Command { topic, payload }) => self.command(&topic, &payload),
                Err(RecvTimeoutError::Timeout) => self.refresh(false),
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.next_screenshot.is_some_and(|at| Instant::now() >= at) {
                self.screenshot();
            }
        }
    }

    pub(super) fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        if let Err(e) = self.mqtt.publish(&topic, retain, payload) {
            log::warn!("not sent to {topic} now (the broker is away?): {e}");
        }
    }

    fn subscribe(&self) {
        let mut topics = vec![self.topics.ha_status(), format!("{}/+/set", self.topics.base)];
        topics.push(format!("{}/+/press", self.topics.base));
        topics.push(format!("{}/overlay/+/set", self.topics.base));
        topics.push(self.topics.event_in("+"));
        topics.push(self.topics.command("update"));
        topics.push(self.topics.update_latest());
        for t in topics {
            if let Err(e) = self.mqtt.subscribe(&t) {
                log::warn!("cannot subscribe to {t}: {e}");
            }
        }
    }

    fn call<B, R>(&mut self, method: &str, body: &B) -> Result<R, ClientError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        self.kiosk.call(method, body)
    }

    fn fetch_status(&mut self) -> Result<KioskStatus, ClientError> {
        self.kiosk.status()
    }

    /// Discovery, availability, state and a screenshot.
    fn announce(&mut self) {
        self.published = (None, None);
        let overlays: Vec<String> = self
            .status
            .as_ref()
            .map(|s| s.surfaces.iter().filter(|x| switchable(x)).map(|x| x.label.clone()).collect())
            .unwrap_or_default();
        let (name, version) = self
            .status
            .as_ref()
            .map(|s| (s.name.clone(), s.version.clone()))
            .unwrap_or_else(|| (self.id.clone(), "".into()));
        let temperature = crate::os::thermal::cpu_celsius(Path::new(crate::os::thermal::SYSFS)).is_some();
        // The kiosk reports a keyboard only when it built one (`[keyboard]`, mode not off).
        let keyboard = self.status.as_ref().is_some_and(|s| s.keyboard.is_some());
        // Brightness only where the kiosk has something to set it with.
        let brightness = self.status.as_ref().is_some_and(|s| s.display.brightness_backend.is_some());
        let update = self.status.as_ref().and_then(|s| s.update.as_ref()).is_some_and(|u| u.available);
        let device = Device {
            id: &self.id,
            name: &name,
            version: &version,
            overlays: &overlays,
            entities: self.cfg.entities,
            temperature,
            keyboard,
            brightness,
            update,
        };
        let configs = if self.cfg.homeassistant.device_discovery {
            vec![discovery::device_config(&device, &self.topics)]
        } else {
            discovery::entity_configs(&device, &self.topics)
        };
        for (topic, payload) in configs {
            self.publish(topic, true, payload.to_string().into_bytes());
        }
        log::info!("discovery published for {} ({name})", self.id);
        self.refresh(true);
        if self.cfg.entities.screenshot {
            self.next_screenshot = Some(Instant::now());
        }
    }

    /// Polls the kiosk; publishes availability and state when they changed (or always).
    pub(super) fn refresh(&mut self, force: bool) {
        let status = match self.fetch_status() {
            Ok(s) => Some(s),
            Err(e) => {
                if self.published.1 != Some(false) {
                    log::warn!("the kiosk does not answer: {e}");
                }
                None
            }
        };
        let up = status.is_some();
        if force || self.published.1 != Some(up) {
            let word = if up { "online" } else { "offline" };
            self.publish(self.topics.availability(), true, word.as_bytes().to_vec());
            self.published.1 = Some(up);
        }
        let Some(status) = status else { return };
        let state = state_json(&status, &self.surface);
        if force || self.published.0.as_ref() != Some(&state) {
            self.publish(self.topics.state(), true, state.to_string().into_bytes());
            self.published.0 = Some(state);
        }
        self.refresh_update(&status, force);
        self.status = Some(status);
    }

    fn screenshot(&mut self) {
        let interval = self.cfg.screenshot.interval_secs;
        self.next_screenshot = (interval > 0).then(|| Instant::now() + Duration::from_secs(interval));
        let surface = self.surface.clone();
        match self.call::<_, Vec<u8>>("Screenshot", &(surface.as_str(),)) {
            Ok(png) if png.len() > self.cfg.screenshot.max_bytes => {
                log::warn!("screenshot of {} bytes is over screenshot.max_bytes; not sent", png.len());
            }
            Ok(png) => self.publish(self.topics.screenshot(), true, png),
            Err(e) => log::warn!("no screenshot: {e}"),
        }
    }

    fn command(&mut self, topic: &str, payload: &[u8]) {
        if topic == self.topics.update_latest() {
            return self.announce_latest(payload);
        }
        let Some(what) = topic.strip_prefix(&format!("{}/", self.topics.base)) else { return };
        let text = String::from_utf8_lossy(payload).trim().to_string();
        let surface = self.surface.clone();
        let outcome: Result<(), ClientError> = match what {
            "url/set" => self.call("Navigate", &(surface.as_str(), text.as_str())),
            "home/press" => {
                let home = self.home.clone();
                self.call("Navigate", &(surface.as_str(), home.as_str()))
            }
            "reload/press" => self.call("Reload", &(surface.as_str(),)),
            "screenshot/press" => {
                self.screenshot();
                Ok(())
            }
            "zoom/set" => match text.parse::<f64>() {
                Ok(f) => self.call("Zoom", &(surface.as_str(), f)),
                Err(_) => {
                    Err(ClientError::Refused { code: "bad_args".into(), message: format!("'{text}' is not a number") })
                }
            },
            // To the pages as the principal `mqtt`: its capabilities decide which event may
            // go, the pages' who hears it.
            "keyboard/set" => match text.as_str() {
                "ON" => self.call("KeyboardShow", &(surface.as_str(),)),
                "OFF" => self.call("KeyboardHide", &()),
                _ => Err(ClientError::Refused { code: "bad_args".into(), message: "send ON or OFF".into() }),
            },
            "display/set" => match text.as_str() {
                "ON" => self.call::<_, String>("DisplayOn", &()).map(drop),
                "OFF" => self.call::<_, String>("DisplayOff", &()).map(drop),
                _ => Err(ClientError::Refused { code: "bad_args".into(), message: "send ON or OFF".into() }),
            },
            "brightness/set" => match text.parse::<u32>() {
                Ok(p) if p <= 100 => self.call::<_, String>("SetBrightness", &(p,)).map(drop),
                _ => {
                    Err(ClientError::Refused { code: "bad_args".into(), message: format!("'{text}' is not 0 to 100") })
                }
            },
            // Home Assistant's Install sends INSTALL: the announced bundle. Plain clients may
            // name a bundle's http(s) URL instead.
            "update/install" => self.install_update(&text),
            other if other.starts_with("event/") => {
                let event = &other["event/".len()..];
                let body = (event, text.as_str(), Vec::<String>::new());
                let sent: Result<u32, ClientError> = self.kiosk.call_on(crate::dbus::mqtt::INTERFACE, "Emit", &body);
                sent.map(|n| log::info!("MQTT event '{event}' reached {n} surface(s)"))
            }
            other => match other.strip_prefix("overlay/").and_then(|o| o.strip_suffix("/set")) {
                Some(label) => match text.as_str() {
                    "ON" => self.call("Show", &(label,)),
                    "OFF" => self.call("Hide", &(label,)),
                    _ => Err(ClientError::Refused { code: "bad_args".into(), message: "send ON or OFF".into() }),
                },
                None => return,
            },
        };
        let result = match &outcome {
            Ok(()) => {
                log::info!("MQTT {what}: done");
                json!({"command": what, "ok": true})
            }
            Err(e) => {
                let code = match e {
                    ClientError::Refused { code, .. } => code.clone(),
                    _ => "unavailable".into(),
                };
                log::warn!("MQTT {what} '{text}' refused: {e}");
                json!({"command": what, "ok": false, "error": {"code": code, "message": e.to_string()}})
            }
        };
        self.publish(self.topics.result(), false, result.to_string().into_bytes());
        // The state as it is now, so that a refused URL snaps back in Home Assistant.
        self.refresh(true);
    }
}

/// `Status` as the control interface sends it, with the memory it adds.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KioskStatus {
    #[serde(flatten)]
    pub status: Status,
    #[serde(default)]
    pub rss_kib: Option<u64>,
}

impl std::ops::Deref for KioskStatus {
    type Target = Status;
    fn deref(&self) -> &Status {
        &self.status
    }
}

/// The kiosk's control interface, connected on first use and again after the bus went.
pub struct KioskLink {
    pub bus: BusKind,
    pub name: String,
    client: Option<Client>,
}

impl KioskLink {
    pub fn new(bus: BusKind, name: String) -> Self {
        Self { bus, name, client: None }
    }

    pub fn call<B, R>(&mut self, method: &str, body: &B) -> Result<R, ClientError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        self.call_on(crate::dbus::INTERFACE, method, body)
    }

    /// `method` of `interface` (the control interface's, or the bridge's own).
    pub fn call_on<B, R>(&mut self, interface: &str, method: &str, body: &B) -> Result<R, ClientError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        if self.client.is_none() {
            self.client = Some(async_io::block_on(Client::connect(self.bus, &self.name))?);
        }
        let Some(client) = &self.client else { return Err(ClientError::Io("no D-Bus client".into())) };
        let out = async_io::block_on(client.call_on(interface, method, body));
        if let Err(ClientError::Bus(_) | ClientError::NoBus { .. }) = &out {
            self.client = None;
        }
        out
    }

    pub fn status(&mut self) -> Result<KioskStatus, ClientError> {
        let text: String = self.call("Status", &())?;
        serde_json::from_str(&text).map_err(|e| ClientError::Bus(format!("unreadable status: {e}")))
    }
}

/// The configured overlays; the kiosk's own (`vitrine.toast`) come and go by themselves.
fn switchable(s: &crate::request::SurfaceStatus) -> bool {
    s.overlay && !s.label.starts_with("vitrine.")
}

/// The retained state every entity reads with a template.
pub fn state_json(s: &KioskStatus, surface: &str) -> Value {
    let on = |b: bool| if b { "ON" } else { "OFF" };
    let url = s.surfaces.iter().find(|x| x.label == surface).map(|x| x.url.clone()).unwrap_or_default();
    let visible: serde_json::Map<String, Value> =
        s.surfaces.iter().filter(|x| switchable(x)).map(|x| (x.label.clone(), json!(on(x.visible)))).collect();
    json!({
        "url": url,
        "ready": on(s.ready),
        "surfaces": s.surfaces.len(),
        "surfaces_up": s.surfaces.iter().filter(|x| x.up).count(),
        "crashes": s.surfaces.iter().map(|x| x.crashes).sum::<u64>(),
        "hangs": s.surfaces.iter().map(|x| x.hangs).sum::<u64>(),
        // Whole minutes, so that the state changes when something happens, not every poll.
        "uptime": (s.uptime_secs as u64) / 60 * 60,
        "version": s.version,
        "visible": visible,
        // Shown, for any surface; null when the kiosk has no keyboard.
        "keyboard": s.keyboard.as_ref().map(|k| on(k.visible)),
        // The screen's power, and its brightness in percent (null without a backlight or DDC/CI monitor).
        "display": on(s.display.power == "on"),
        "brightness": s.display.brightness,
        // MiB, whole.
        "memory": s.rss_kib.map(|k| k / 1024),
        // Whole degrees, for the same reason.
        "cpu_temperature": crate::os::thermal::cpu_celsius(Path::new(crate::os::thermal::SYSFS)).map(f64::round),
    })
}
