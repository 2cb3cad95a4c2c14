//! The broker connection, in MQTT 3.1.1 or 5 (rumqttc has one client per version): both
//! behind the few operations the bridge needs.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5 as v5b;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::{QoS, Transport};

use super::config::{self, BridgeConfig, ConfigError, Protocol};

/// Publishes and subscribes without ever blocking (a full queue is an error).
#[derive(Clone)]
pub enum Publisher {
    V4(rumqttc::Client),
    V5(rumqttc::v5::Client),
}

impl Publisher {
    pub fn publish(&self, topic: &str, retain: bool, payload: Vec<u8>) -> Result<(), String> {
        match self {
            Publisher::V4(c) => c.try_publish(topic, QoS::AtLeastOnce, retain, payload).map_err(|e| e.to_string()),
            Publisher::V5(c) => c.try_publish(topic, QoS5::AtLeastOnce, retain, payload).map_err(|e| e.to_string()),
        }
    }

    pub fn subscribe(&self, topic: &str) -> Result<(), String> {
        match self {
            Publisher::V4(c) => c.try_subscribe(topic, QoS::AtLeastOnce).map_err(|e| e.to_string()),
            Publisher::V5(c) => c.try_subscribe(topic, QoS5::AtLeastOnce).map_err(|e| e.to_string()),
        }
    }
}

/// What the connection delivers, in either version.
pub enum Incoming {
    Connected(String),
    Message { topic: String, payload: Vec<u8> },
    Other,
}

/// Boxed: the two connections differ in size, and there is one per process.
pub enum Events {
    V4(Box<rumqttc::Connection>),
    V5(Box<rumqttc::v5::Connection>),
}

impl Events {
    /// The next event, or why the connection failed (the next call connects again);
    /// `None` once the client side is gone.
    pub fn recv(&mut self) -> Option<Result<Incoming, String>> {
        use rumqttc::v5::Event as E5;
        use rumqttc::{Event, Packet};
        match self {
            Events::V4(c) => Some(match c.recv().ok()? {
                Ok(Event::Incoming(Packet::ConnAck(a))) => Ok(Incoming::Connected(format!("{:?}", a.code))),
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    Ok(Incoming::Message { topic: p.topic, payload: p.payload.to_vec() })
                }
                Ok(_) => Ok(Incoming::Other),
                Err(e) => Err(e.to_string()),
            }),
            Events::V5(c) => Some(match c.recv().ok()? {
                Ok(E5::Incoming(v5b::Packet::ConnAck(a))) => Ok(Incoming::Connected(format!("{:?}", a.code))),
                Ok(E5::Incoming(v5b::Packet::Publish(p))) => Ok(Incoming::Message {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: p.payload.to_vec(),
                }),
                Ok(_) => Ok(Incoming::Other),
                Err(e) => Err(e.to_string()),
            }),
        }
    }
}

fn transport(cfg: &BridgeConfig) -> Result<Option<Transport>, ConfigError> {
    let Some(tls) = &cfg.broker.tls else { return Ok(None) };
    let client = config::tls_client(tls)?;
    Ok(Some(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(client)))))
}

fn login(cfg: &BridgeConfig) -> Result<Option<(String, String)>, ConfigError> {
    let Some(user) = &cfg.broker.username else { return Ok(None) };
    let password = match &cfg.broker.password_credential {
        Some(name) => config::password(name)?,
        None => String::new(),
    };
    Ok(Some((user.clone(), password)))
}

/// Reads the credentials and builds the connection (it connects on the first `next`).
/// `will`: the availability topic, which gets a retained `offline`.
pub fn open(cfg: &BridgeConfig, client_id: &str, will: &str) -> Result<(Publisher, Events), ConfigError> {
    let keep_alive = Duration::from_secs(cfg.broker.keep_alive_secs);
    let transport = transport(cfg)?;
    let login = login(cfg)?;
    // Commands are small; screenshots and events are the big outgoing messages.
    let outgoing = cfg.screenshot.max_bytes.max(super::events::MAX_EVENT_BYTES) + 64 * 1024;
    Ok(match cfg.broker.protocol {
        Protocol::V311 => {
            let mut o = rumqttc::MqttOptions::new(client_id, cfg.broker.host.clone(), cfg.port());
            o.set_keep_alive(keep_alive).set_clean_session(true).set_max_packet_size(64 * 1024, outgoing);
            o.set_last_will(rumqttc::LastWill::new(will, "offline", QoS::AtLeastOnce, true));
            if let Some((u, p)) = login {
                o.set_credentials(u, p);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, connection) = rumqttc::Client::new(o, 64);
            (Publisher::V4(client), Events::V4(Box::new(connection)))
        }
        Protocol::V5 => {
            let mut o = rumqttc::v5::MqttOptions::new(client_id, cfg.broker.host.clone(), cfg.port());
            o.set_keep_alive(keep_alive).set_clean_start(true).set_max_packet_size(Some(64 * 1024));
            o.set_last_will(v5b::LastWill::new(will, "offline", QoS5::AtLeastOnce, true, None));
            if let Some((u, p)) = login {
                o.set_credentials(u, p);
            }
            if let Some(t) = transport {
                o.set_transport(t);
            }
            let (client, connection) = rumqttc::v5::Client::new(o, 64);
            (Publisher::V5(client), Events::V5(Box::new(connection)))
        }
    })
}
