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
    /// The origin in [`origin_key`] form.
    origin: String,
    header: String,
    /// The header's value: `format` with the credential in place of `{}`.
    value: String,
    /// The credential alone, as the file holds it.
    raw: String,
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
        .filter_map(|c| {
            let origin = url::Url::parse(&c.origin).ok().and_then(|u| origin_key(&u));
            let Some(origin) = origin else {
                log::error!("credential '{}': '{}' is not an http(s) origin", c.credential, c.origin);
                return None;
            };
            match read_credential(&c.credential) {
                Ok(raw) => {
                    let raw = raw.trim_end_matches(['\n', '\r']).to_string();
                    Some(Secret {
                        origin,
                        header: c.header.clone(),
                        value: c.format.replace("{}", &raw),
                        raw,
                        credential: c.credential.clone(),
                    })
                }
                Err(why) => {
                    log::error!("credential '{}' for {} is not available: {why}", c.credential, c.origin);
                    None
                }
            }
        })
        .collect()
}

/// `scheme://host[:port]` as a secret's origin is compared: the `url` crate has already
/// lowered the case, turned an international name into its ASCII form and dropped a
/// default port; a trailing dot (`example.com.`, the same name to DNS) is dropped here.
pub fn origin_key(url: &url::Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_end_matches('.');
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// Parses a page's URL once: the scope check and the request both use what this returns,
/// serialized by the `url` crate, so no second parser can read another host out of it.
pub fn parse_url(text: &str) -> Result<url::Url, HttpError> {
    let url = url::Url::parse(text).map_err(|e| HttpError::BadRequest(format!("'{text}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(HttpError::BadRequest("only http and https URLs with a host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpError::BadRequest("a URL may not carry a user name or password".into()));
    }
    Ok(url)
}

/// Why a page may not set this request header, as the Fetch standard lists the headers
/// a user agent keeps for itself: they frame the message (a second `Content-Length` or a
/// `Transfer-Encoding` smuggles a request), route it (`Host` picks the virtual host a
/// secret goes to; `Proxy-*`, `Via`), or belong to the agent (`Cookie`, `Origin`,
/// `Sec-*`). `None` when it may.
pub fn forbidden_header(name: &str, value: &str) -> Option<&'static str> {
    const NAMES: &[&str] = &[
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "permissions-policy",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    ];
    let lower = name.trim().to_ascii_lowercase();
    if NAMES.contains(&lower.as_str()) || lower.starts_with("proxy-") || lower.starts_with("sec-") {
        return Some("the core sets it");
    }
    let overrides = ["x-http-method", "x-http-method-override", "x-method-override"];
    if overrides.contains(&lower.as_str()) && value.split(',').any(|m| forbidden_method(m.trim())) {
        return Some("it names a forbidden method");
    }
    None
}

/// CONNECT, TRACE and TRACK, which the Fetch standard refuses in any case.
pub fn forbidden_method(method: &str) -> bool {
    ["connect", "trace", "track"].iter().any(|m| method.eq_ignore_ascii_case(m))
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

/// The HTTP agent: no redirects (one could carry a secret elsewhere), statuses as
/// responses, and no proxy from the environment (`http_proxy` and friends would send
/// every request, secrets included, through whoever set them).
fn agent(timeout: Duration, network: &Network) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().root_certs(root_certs(&network.ca_files)).build();
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        // Only the configured proxy: never one from the environment unless asked for.
        .proxy(proxy(network))
        .tls_config(tls)
        .build()
        .into()
}

/// The agent for downloading update bundles: the same roots and proxy as pages' requests
/// (`[network]`), redirects followed (download servers hand over to mirrors; no secret
/// travels with these requests), no overall time limit (a bundle may take long), but a
/// connection must come within 15 s and no byte may be missing for 60 s.
pub fn download_agent(network: &Network) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().root_certs(root_certs(&network.ca_files)).build();
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .max_redirects(5)
        .proxy(proxy(network))
        .tls_config(tls)
        .build()
        .into()
}

/// The system's CA store, which an operator extends with a private CA
/// (`update-ca-certificates`), plus `network.ca_files`; the roots built into the binary
/// where there is no store and no extra file.
fn root_certs(extra: &[String]) -> ureq::tls::RootCerts {
    let certs_of = |pem: &[u8]| -> Vec<ureq::tls::Certificate<'static>> {
        ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })
            .collect()
    };
    let env = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let known = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];
    let mut certs = Vec::new();
    for path in env.into_iter().chain(known.iter().map(std::path::PathBuf::from)) {
        let Ok(pem) = std::fs::read(&path) else { continue };
        certs = certs_of(&pem);
        if !certs.is_empty() {
            log::debug!("http.fetch trusts the {} CAs of {}", certs.len(), path.display());
            break;
        }
    }
    let system = certs.len();
    for file in extra {
        match std::fs::read(file) {
            Ok(pem) => certs.extend(certs_of(&pem)),
            Err(e) => log::error!("http.fetch: cannot read the certificate authorities in {file}: {e}"),
        }
    }
    if certs.is_empty() {
        log::warn!("no system CA store found; http.fetch trusts the roots built into Vitrine");
        return ureq::tls::RootCerts::WebPki;
    }
    if system == 0 {
        log::warn!("no system CA store found; http.fetch trusts only network.ca_files");
    }
    ureq::tls::RootCerts::new_with_certs(&certs)
}

impl Client {
    /// `network` is `[network]`: the proxy (as the surfaces use it) and the extra CAs.
    pub fn new(secrets: Vec<Secret>, timeout: Duration, max_bytes: u64, network: &Network) -> Self {
        Self { agent: agent(timeout, network), secrets, max_bytes }
    }

    /// Sends `req` to `url` (from [`parse_url`], as the scope check saw it), with the
    /// secret of its origin attached.
    pub fn send(&self, url: &url::Url, req: &Request, body: Vec<u8>) -> Result<Response, HttpError> {
        if forbidden_method(&req.method) {
            return Err(HttpError::BadRequest(format!("the method '{}' is not allowed", req.method)));
        }
        let origin = origin_key(url).ok_or_else(|| HttpError::BadRequest("only http and https URLs".into()))?;
        let uri: ureq::http::Uri =
            url.as_str().parse().map_err(|e| HttpError::BadRequest(format!("'{}': {e}", url.as_str())))?;
        // The URL crate's serialization is one every parser reads alike; make sure of it.
        if uri.host() != url.host_str() || uri.port_u16() != url.port() {
            return Err(HttpError::BadRequest(format!("'{}' is ambiguous", url.as_str())));
        }
        let mut builder = ureq::http::Request::builder().method(req.method.as_str()).uri(uri);
        for (name, value) in &req.headers {
            if let Some(why) = forbidden_header(name, value) {
                return Err(HttpError::BadRequest(format!("the header '{name}' may not be set: {why}")));
            }
            // A page may not set a header a secret owns, even for other origins.
            if self.secrets.iter().any(|s| s.header.eq_ignore_ascii_case(name.trim())) {
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
            .map(|(k, v)| {
                (k.to_string(), String::from_utf8_lossy(&self.scrub_bytes(v.as_bytes().to_vec())).into_owned())
            })
            .collect();
        let body = response.body_mut().with_config().limit(self.max_bytes).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge(self.max_bytes),
            other => HttpError::Failed(self.scrub(&other.to_string())),
        })?;
        Ok(Response { status, headers, body: self.scrub_bytes(body) })
    }

    fn scrub(&self, text: &str) -> String {
        String::from_utf8_lossy(&self.scrub_bytes(text.as_bytes().to_vec())).into_owned()
    }

    /// Replaces every secret, formatted (`Bearer …`) and bare, with `[redacted]`, byte
    /// for byte: a body need not be UTF-8 for the secret to be in it.
    fn scrub_bytes(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        for s in &self.secrets {
            for needle in [s.value.as_bytes(), s.raw.as_bytes()] {
                if !needle.is_empty() {
                    bytes = replace_all(&bytes, needle, b"[redacted]");
                }
            }
        }
        bytes
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(origin: &str, raw: &str) -> Secret {
        let origin = origin_key(&url::Url::parse(origin).unwrap()).unwrap();
        Secret {
            origin,
            header: "Authorization".into(),
            value: format!("Bearer {raw}"),
            raw: raw.into(),
            credential: "t".into(),
        }
    }

    #[test]
    fn origins_compare_in_normal_form() {
        let key = |u: &str| origin_key(&url::Url::parse(u).unwrap());
        let want = Some("https://api.example.com".to_string());
        for u in [
            "https://API.Example.com",
            "https://api.example.com:443/x",
            "https://api.example.com./",
            "HTTPS://api.example.com",
        ] {
            assert_eq!(key(u), want, "{u}");
        }
        assert_eq!(key("https://bücher.example/"), Some("https://xn--bcher-kva.example".into()));
        assert_eq!(key("http://api.example.com:80"), Some("http://api.example.com".into()));
        assert_ne!(key("https://api.example.com:8443"), want);
        assert_ne!(key("http://api.example.com"), want);
        assert_eq!(key("ftp://api.example.com"), None);
    }

    #[test]
    fn forbidden_headers_and_methods() {
        for h in [
            "Host",
            "host ",
            "Content-Length",
            "Transfer-Encoding",
            "TE",
            "Connection",
            "Upgrade",
            "Proxy-Authorization",
            "Sec-Fetch-Site",
            "Keep-Alive",
            "Trailer",
            "Via",
            "Cookie",
            "Cookie2",
            "Origin",
            "Expect",
        ] {
            assert!(forbidden_header(h, "x").is_some(), "{h}");
        }
        assert!(forbidden_header("X-HTTP-Method-Override", "GET, trace").is_some());
        assert!(forbidden_header("X-HTTP-Method-Override", "PUT").is_none());
        for h in ["Accept", "Content-Type", "X-Api-Version", "User-Agent"] {
            assert!(forbidden_header(h, "x").is_none(), "{h}");
        }
        assert!(forbidden_method("TRACE") && forbidden_method("connect") && !forbidden_method("PATCH"));
    }

    #[test]
    fn urls_with_credentials_or_other_schemes_are_refused() {
        assert!(parse_url("http://user:pw@example.com/").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert_eq!(parse_url("http://EXAMPLE.com/a b").unwrap().as_str(), "http://example.com/a%20b");
    }

    #[test]
    fn secrets_are_scrubbed_as_bytes_bare_and_formatted() {
        let client = Client::new(
            vec![secret("https://api.example.com", "tok3n")],
            Duration::from_secs(1),
            100,
            &Network::default(),
        );
        let mut body = vec![0xff, 0xfe];
        body.extend_from_slice(b"a=tok3n; h=Bearer tok3n; end");
        assert_eq!(client.scrub_bytes(body), [&[0xff, 0xfe][..], b"a=[redacted]; h=[redacted]; end"].concat());
        assert_eq!(client.scrub("tok3ntok3n"), "[redacted][redacted]");
    }
}
