//! The bridge's configuration file (TOML), and the secrets it names.
//!
//! ```toml
//! topic_prefix = "vitrine"              # state and commands under vitrine/<device id>/…
//!
//! [broker]
//! host = "broker.lan"
//! port = 8883                           # default 1883, or 8883 with [broker.tls]
//! protocol = "5"                        # "3.1.1" (default) or "5"
//! client_id = "kiosk-hall"              # default vitrine-<device id>
//! keep_alive_secs = 30
//! username = "kiosk"
//! password_credential = "mqtt-password" # a file in $CREDENTIALS_DIRECTORY
//!
//! [broker.tls]
//! ca_file = "/etc/vitrine/mqtt-ca.pem"  # default: none, TLS needs it
//! client_cert_credential = "mqtt-cert.pem"
//! client_key_credential = "mqtt-key.pem"
//!
//! [kiosk]
//! bus = "system"                        # default: VITRINE_BUS, else the embedded [dbus]
//! name = "org.vitrine.Vitrine1"
//! surface = "main"                      # the surface the URL, buttons and screenshots act on
//! home = "https://example.com/"         # default: the URL shown when the bridge started
//! poll_secs = 5
//!
//! [homeassistant]
//! discovery_prefix = "homeassistant"
//! device_discovery = true               # false: one config topic per entity (older HA)
//!
//! [entities]                            # all on by default
//! url = true
//! reload = true
//! home = true
//! overlays = true
//! sensors = true
//! screenshot = true
//! zoom = true
//! keyboard = true                      # only if the kiosk has a [keyboard]
//! display = true                       # a light: power, and brightness with a backlight or DDC/CI monitor
//! update = true                        # Home Assistant's update entity, when RAUC answers
//!
//! [screenshot]
//! interval_secs = 300                   # 0: only on request
//! max_bytes = 2000000                   # larger PNGs are not sent
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::BusKind;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Value { path: PathBuf, key: &'static str, message: String },
    #[error("credential '{name}': {reason}")]
    Credential { name: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
}

impl ConfigError {
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Unreadable { .. } => "config_unreadable",
            ConfigError::Invalid { .. } | ConfigError::Value { .. } => "config_invalid",
            ConfigError::Credential { .. } => "credential",
            ConfigError::Tls(_) => "tls",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    pub broker: Broker,
    #[serde(default)]
    pub kiosk: Kiosk,
    #[serde(default)]
    pub homeassistant: HomeAssistant,
    #[serde(default)]
    pub entities: Entities,
    #[serde(default)]
    pub screenshot: Screenshot,
}

fn default_topic_prefix() -> String {
    "vitrine".into()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default)]
    pub protocol: Protocol,
    pub client_id: Option<String>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u64,
    pub username: Option<String>,
    pub password_credential: Option<String>,
    pub tls: Option<Tls>,
}

/// The MQTT version spoken.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

fn default_keep_alive() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca_file: PathBuf,
    pub client_cert_credential: Option<String>,
    pub client_key_credential: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Kiosk {
    pub bus: Option<BusKind>,
    pub name: Option<String>,
    pub surface: Option<String>,
    pub home: Option<String>,
    pub poll_secs: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistant {
    pub discovery_prefix: String,
    pub device_discovery: bool,
}

impl Default for HomeAssistant {
    fn default() -> Self {
        Self { discovery_prefix: "homeassistant".into(), device_discovery: true }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Entities {
    pub url: bool,
    pub reload: bool,
    pub home: bool,
    pub overlays: bool,
    pub sensors: bool,
    pub screenshot: bool,
    pub zoom: bool,
    /// The on-screen keyboard's switch, when the kiosk has a keyboard.
    pub keyboard: bool,
    /// The screen as a light: power, and brightness where the kiosk can set it.
    pub display: bool,
    /// The image as an `update` entity (installs through RAUC), when the kiosk has RAUC.
    pub update: bool,
}

impl Default for Entities {
    fn default() -> Self {
        Self {
            url: true,
            reload: true,
            home: true,
            overlays: true,
            sensors: true,
            screenshot: true,
            zoom: true,
            keyboard: true,
            display: true,
            update: true,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Screenshot {
    pub interval_secs: u64,
    pub max_bytes: usize,
}

impl Default for Screenshot {
    fn default() -> Self {
        Self { interval_secs: 300, max_bytes: 2_000_000 }
    }
}

impl BridgeConfig {
    pub fn load(path: &Path) -> Result<BridgeConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Unreadable { path: path.to_path_buf(), reason: e.to_string() })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<BridgeConfig, ConfigError> {
        let cfg: BridgeConfig = toml::from_str(text).map_err(|e| {
            // The line and its text, so that the message names the key at fault.
            let at = e.span().map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count();
                let source = text.lines().nth(line).unwrap_or_default().trim();
                format!("line {}: `{source}`: ", line + 1)
            });
            ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!("{}{}", at.unwrap_or_default(), e.message()),
            }
        })?;
        let bad =
            |key, message: &str| Err(ConfigError::Value { path: path.to_path_buf(), key, message: message.into() });
        if cfg.broker.host.trim().is_empty() {
            return bad("broker.host", "must name the broker");
        }
        if cfg.broker.port == Some(0) {
            return bad("broker.port", "must be 1 to 65535");
        }
        if !(5..=3600).contains(&cfg.broker.keep_alive_secs) {
            return bad("broker.keep_alive_secs", "must be 5 to 3600");
        }
        if cfg.broker.password_credential.is_some() && cfg.broker.username.is_none() {
            return bad("broker.password_credential", "needs broker.username");
        }
        if let Some(tls) = &cfg.broker.tls {
            if tls.client_cert_credential.is_some() != tls.client_key_credential.is_some() {
                return bad("broker.tls", "client_cert_credential and client_key_credential go together");
            }
        }
        for (key, topic) in [
            ("topic_prefix", &cfg.topic_prefix),
            ("homeassistant.discovery_prefix", &cfg.homeassistant.discovery_prefix),
        ] {
            if topic.is_empty() || topic.contains(['+', '#', '\0']) || topic.starts_with('/') || topic.ends_with('/') {
                return bad(key, "must be a topic without wildcards or a leading or trailing '/'");
            }
        }
        if cfg.kiosk.bus == Some(BusKind::None) {
            return bad("kiosk.bus", "the bridge needs D-Bus: session or system");
        }
        if cfg.kiosk.poll_secs == Some(0) {
            return bad("kiosk.poll_secs", "must be at least 1");
        }
        if let Some(home) = &cfg.kiosk.home {
            if url::Url::parse(home).is_err() {
                return bad("kiosk.home", "must be an absolute URL");
            }
        }
        if cfg.screenshot.max_bytes < 1024 {
            return bad("screenshot.max_bytes", "must be at least 1024");
        }
        Ok(cfg)
    }

    pub fn port(&self) -> u16 {
        self.broker.port.unwrap_or(if self.broker.tls.is_some() { 8883 } else { 1883 })
    }
}

/// Reads a credential systemd passed in (`LoadCredential=`): `$CREDENTIALS_DIRECTORY/<name>`.
pub fn credential(name: &str) -> Result<Vec<u8>, ConfigError> {
    let fail = |reason: String| ConfigError::Credential { name: name.to_string(), reason };
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(fail("not a credential name".into()));
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
        .ok_or_else(|| fail("$CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)".into()))?;
    std::fs::read(Path::new(&dir).join(name)).map_err(|e| fail(e.to_string()))
}

/// The password, trimmed of the newline files end with.
pub fn password(name: &str) -> Result<String, ConfigError> {
    let bytes = credential(name)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::Credential { name: name.into(), reason: "not UTF-8".into() })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// A rustls client configuration (ring) trusting `ca_file`, with the client certificate if named.
pub fn tls_client(tls: &Tls) -> Result<rustls::ClientConfig, ConfigError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let err = |e: String| ConfigError::Tls(e);
    let mut roots = rustls::RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&tls.ca_file)
        .map_err(|e| err(format!("{}: {e}", tls.ca_file.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("{}: {e}", tls.ca_file.display())))?;
    if cas.is_empty() {
        return Err(err(format!("{}: no certificate in it", tls.ca_file.display())));
    }
    for ca in cas {
        roots.add(ca).map_err(|e| err(format!("{}: {e}", tls.ca_file.display())))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.client_cert_credential, &tls.client_key_credential) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&credential(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::Credential { name: cert.clone(), reason: e.to_string() })?;
            let key_der = PrivateKeyDer::from_pem_slice(&credential(key)?)
                .map_err(|e| ConfigError::Credential { name: key.clone(), reason: e.to_string() })?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| err(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::parse(Path::new("mqtt.toml"), text)
    }

    #[test]
    fn a_minimal_file_takes_the_documented_defaults() {
        let cfg = parse("[broker]\nhost = \"127.0.0.1\"\n").unwrap();
        assert_eq!(cfg.port(), 1883);
        assert_eq!(cfg.broker.protocol, Protocol::V311);
        let v5 = parse("[broker]\nhost = \"h\"\nprotocol = \"5\"\n").unwrap();
        assert_eq!(v5.broker.protocol, Protocol::V5);
        assert_eq!(cfg.topic_prefix, "vitrine");
        assert_eq!(cfg.homeassistant.discovery_prefix, "homeassistant");
        assert!(cfg.homeassistant.device_discovery);
        assert_eq!(cfg.entities, Entities::default());
        assert_eq!(cfg.screenshot.interval_secs, 300);
    }

    #[test]
    fn bad_files_name_the_key() {
        let cases = [
            ("", "config_invalid", "broker"),
            ("[broker]\nhost = \"h\"\nbogus = 1\n", "config_invalid", "bogus"),
            ("[broker]\nhost = \"h\"\nport = 0\n", "config_invalid", "broker.port"),
            ("[broker]\nhost = \"h\"\nprotocol = \"4\"\n", "config_invalid", "protocol"),
            ("topic_prefix = \"a/#\"\n[broker]\nhost = \"h\"\n", "config_invalid", "topic_prefix"),
            ("[broker]\nhost = \"h\"\npassword_credential = \"p\"\n", "config_invalid", "needs broker.username"),
            ("[broker]\nhost = \"h\"\n[kiosk]\nbus = \"none\"\n", "config_invalid", "kiosk.bus"),
            ("[broker]\nhost = \"h\"\n[kiosk]\nhome = \"nope\"\n", "config_invalid", "kiosk.home"),
        ];
        for (text, code, needle) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.code(), code, "{text}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn credential_names_cannot_leave_the_directory() {
        let e = credential("../etc/shadow").unwrap_err();
        assert_eq!(e.code(), "credential");
    }
}
