//! HTTP from the core, with credentials pages never see.
//!
//! A secret is configured for one origin and one header; its value comes from systemd
//! credentials (`$CREDENTIALS_DIRECTORY/<name>`, as `LoadCredential=` provides) or a
//! file only root may read. The core attaches it to requests for that origin and no
//! other, follows no redirects (a redirect could carry it elsewhere), and removes its
//! value from everything that goes back to the page: response headers and text. It is
//! never logged, and errors name the credential, not its value.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::network::{Network, Proxy};
pub use crate::config::os::SecretConfig;

/// A secret loaded at start-up.
#[derive(Clone)]
pub struct Secret {
    origin: String,
    header: String,
    value: String,
    credential: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} for {} via {})", self.header, self.origin, self.credential)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Failed(String),
}

/// Loads the configured secrets; one that cannot be read is left out and logged (by
/// name), so the kiosk runs on and requests to its origin go without it.
pub fn load_secrets(configs: &[SecretConfig]) -> Vec<Secret> {
    configs
        .iter()
        .filter_map(|c| match read_credential(&c.credential) {
            Ok(raw) => Some(Secret {
                origin: c.origin.trim_end_matches('/').to_string(),
                header: c.header.clone(),
                value: c.format.replace("{}", raw.trim_end_matches(['\n', '\r'])),
                credential: c.credential.clone(),
            }),
            Err(why) => {
                log::error!("credential '{}' for {} is not available: {why}", c.credential, c.origin);
                None
            }
        })
        .collect()
}

pub(crate) fn read_credential(name: &str) -> Result<String, String> {
    if name.starts_with('/') {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(name).map_err(|e| e.to_string())?;
        if meta.uid() != 0 || meta.mode() & 0o077 != 0 {
            return Err("the file must belong to root and be readable by nobody else".into());
        }
        return std::fs::read_to_string(name).map_err(|e| e.to_string());
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or("CREDENTIALS_DIRECTORY is not set")?;
    if name.contains('/') {
        return Err("a credential name has no '/'".into());
    }
    std::fs::read_to_string(std::path::Path::new(&dir).join(name)).map_err(|e| e.to_string())
}

/// The proxy of `[network]`: none, the environment's, or the configured one with its
/// no-proxy list. One that cannot be used is logged, and requests go direct.
fn proxy(network: &Network) -> Option<ureq::Proxy> {
    match &network.proxy {
        Proxy::None => None,
        Proxy::System => ureq::Proxy::try_from_env(),
        Proxy::Url(text) => {
            let built = url::Url::parse(text).map_err(|e| e.to_string()).and_then(|url| {
                let protocol = match url.scheme() {
                    "socks5" => ureq::ProxyProtocol::Socks5,
                    _ => ureq::ProxyProtocol::Http,
                };
                let mut builder = ureq::Proxy::builder(protocol).host(url.host_str().unwrap_or_default());
                if let Some(port) = url.port() {
                    builder = builder.port(port);
                }
                for host in &network.no_proxy {
                    builder = builder.no_proxy(host);
                }
                builder.build().map_err(|e| e.to_string())
            });
            built.map_err(|e| log::error!("http.fetch: proxy '{text}' cannot be used: {e}")).ok()
        }
    }
}

/// The system's CAs and those of `files`, when there are any; `None` keeps ureq's own.
fn root_certs(files: &[String]) -> Option<ureq::tls::RootCerts> {
    if files.is_empty() {
        return None;
    }
    let mut certs = Vec::new();
    for file in std::iter::once(SYSTEM_CAS).chain(files.iter().map(String::as_str)) {
        match std::fs::read(file) {
            Ok(pem) => certs.extend(ureq::tls::parse_pem(&pem).filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })),
            Err(e) => log::error!("http.fetch: cannot read the certificate authorities in {file}: {e}"),
        }
    }
    Some(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// Debian's bundle of the system's certificate authorities.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One request, as a page asks for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// A text body.
    pub body: Option<String>,
    /// A binary body, as base64.
    pub bytes: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct Client {
    agent: ureq::Agent,
    secrets: Vec<Secret>,
    max_bytes: u64,
}

impl Client {
    /// `network` is `[network]`: the proxy (as the surfaces use it) and the extra CAs.
    pub fn new(secrets: Vec<Secret>, timeout: Duration, max_bytes: u64, network: &Network) -> Self {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy(network));
        if let Some(roots) = root_certs(&network.ca_files) {
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Self { agent: config.build().into(), secrets, max_bytes }
    }

    /// Sends `req`, with the secret of its origin attached.
    pub fn send(&self, req: &Request, body: Vec<u8>) -> Result<Response, HttpError> {
        let url = url::Url::parse(&req.url).map_err(|e| HttpError::BadRequest(format!("'{}': {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HttpError::BadRequest("only http and https URLs".into()));
        }
        let origin = url.origin().ascii_serialization();
        let mut builder = ureq::http::Request::builder().method(req.method.as_str()).uri(req.url.as_str());
        for (name, value) in &req.headers {
            // A page may not set a header a secret owns, even for other origins.
            if self.secrets.iter().any(|s| s.header.eq_ignore_ascii_case(name)) {
                return Err(HttpError::BadRequest(format!("the header '{name}' is set by the core")));
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        for s in self.secrets.iter().filter(|s| s.origin == origin) {
            builder = builder.header(s.header.as_str(), s.value.as_str());
        }
        let request = builder.body(body).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        let mut response = self.agent.run(request).map_err(|e| HttpError::Failed(self.scrub(&e.to_string())))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), self.scrub(&String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        let body = response.body_mut().with_config().limit(self.max_bytes).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge(self.max_bytes),
            other => HttpError::Failed(self.scrub(&other.to_string())),
        })?;
        Ok(Response { status, headers, body: self.scrub_bytes(body) })
    }

    fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(&s.value, "[redacted]"))
    }

    /// Removes secret values from a body that is text; binary bodies pass unchanged.
    fn scrub_bytes(&self, body: Vec<u8>) -> Vec<u8> {
        match String::from_utf8(body) {
            Ok(text) => self.scrub(&text).into_bytes(),
            Err(e) => e.into_bytes(),
        }
    }
}
