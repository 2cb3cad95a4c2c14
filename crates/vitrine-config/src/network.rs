//! `[network]` and `[web]` in `vitrine.toml`: how the kiosk reaches the network (proxy,
//! extra certificate authorities, pinned certificates) and what web data it keeps.
//!
//! ```toml
//! [network]
//! proxy = "http://proxy.lan:3128"     # "none" (default), "system", or a proxy URL
//! no_proxy = ["localhost", "127.0.0.1", "*.lan", "10.0.0.0/8"]
//! ca_files = ["/etc/vitrine/intranet-ca.pem"]   # PEM files read at start-up
//!
//! [[network.pin]]                    # a self-signed certificate, trusted for one origin
//! origin = "https://10.0.0.5:8443"
//! sha256 = "3f:1a:…"                 # of its DER: openssl x509 -noout -fingerprint -sha256
//!
//! [web]
//! cookies = "no-third-party"         # "all", "no-third-party" (default) or "none"
//! ```
//!
//! The same settings serve the surfaces (WebKit) and `http.fetch` (the core's client).

use serde::{Deserialize, Serialize};

/// `[network]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    pub proxy: Proxy,
    /// Hosts reached directly, not through the proxy: names, `*.domain`, IP addresses
    /// and networks (`10.0.0.0/8`).
    pub no_proxy: Vec<String>,
    /// PEM files of certificate authorities trusted besides the system's.
    pub ca_files: Vec<String>,
    pub pin: Vec<Pin>,
}

/// Which proxy requests go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// Straight to the server, whatever the environment says.
    #[default]
    None,
    /// The system's settings: the `http_proxy`/`https_proxy`/`no_proxy` environment (and,
    /// for the surfaces, GLib's proxy resolver, which also reads desktop settings).
    System,
    /// This proxy, as `scheme://host:port` (`http` or `socks5`).
    Url(String),
}

impl Proxy {
    pub fn as_str(&self) -> &str {
        match self {
            Proxy::None => "none",
            Proxy::System => "system",
            Proxy::Url(u) => u,
        }
    }

    fn parse(text: &str) -> Proxy {
        match text {
            "none" => Proxy::None,
            "system" => Proxy::System,
            other => Proxy::Url(other.to_string()),
        }
    }
}

impl Serialize for Proxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Proxy::parse(&s))
    }
}

/// A certificate trusted for one origin whatever its issuer, by the SHA-256 of its DER.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub origin: String,
    pub sha256: String,
}

impl Pin {
    /// The fingerprint as 64 lowercase hex digits (colons and case as written dropped).
    pub fn digest(&self) -> String {
        normalize_sha256(&self.sha256)
    }
}

/// `AB:cd:…` → `abcd…`.
pub fn normalize_sha256(text: &str) -> String {
    text.chars().filter(|c| *c != ':').map(|c| c.to_ascii_lowercase()).collect()
}

/// `[web]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    pub cookies: CookiePolicy,
}

/// Which cookies pages may set.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CookiePolicy {
    All,
    /// Only the top-level page's site sets cookies (embedded frames of other sites do not).
    #[default]
    NoThirdParty,
    None,
}

impl Network {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Proxy::Url(u) = &self.proxy {
            if let Err(reason) = check_proxy_url(u) {
                out.push(("network.proxy".into(), reason));
            }
        }
        for (i, host) in self.no_proxy.iter().enumerate() {
            let ok = !host.is_empty()
                && !host.contains("://")
                && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-*:/[]_".contains(c));
            if !ok {
                out.push((format!("network.no_proxy[{i}]"), format!("'{host}' is not a host, domain or network")));
            }
        }
        for (i, file) in self.ca_files.iter().enumerate() {
            if !file.starts_with('/') {
                out.push((format!("network.ca_files[{i}]"), format!("'{file}' must be an absolute path")));
            }
        }
        for (i, pin) in self.pin.iter().enumerate() {
            match https_origin(&pin.origin) {
                Ok(()) => {}
                Err(reason) => out.push((format!("network.pin[{i}].origin"), reason)),
            }
            let digest = pin.digest();
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push((
                    format!("network.pin[{i}].sha256"),
                    "must be the 64 hex digits (colons allowed) of the certificate's SHA-256 fingerprint".into(),
                ));
            }
        }
        out
    }

    /// The pins for `host` and `port` (an https URL's).
    pub fn pins_for(&self, host: &str, port: u16) -> impl Iterator<Item = &Pin> {
        let host = host.to_ascii_lowercase();
        self.pin.iter().filter(move |p| {
            url::Url::parse(&p.origin)
                .ok()
                .is_some_and(|u| u.host_str() == Some(host.as_str()) && u.port_or_known_default() == Some(port))
        })
    }
}

fn check_proxy_url(text: &str) -> Result<(), String> {
    let url =
        url::Url::parse(text).map_err(|e| format!("'{text}' is neither \"none\", \"system\" nor a proxy URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "socks5") {
        return Err(format!("'{text}': a proxy URL is http://host:port or socks5://host:port"));
    }
    if url.host_str().is_none_or(str::is_empty) || !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(format!("'{text}': a proxy URL has a host and port, and no path"));
    }
    Ok(())
}

fn https_origin(text: &str) -> Result<(), String> {
    let ok = url::Url::parse(text)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some() && u.path() == "/" && u.query().is_none());
    if ok {
        Ok(())
    } else {
        Err(format!("'{text}' must be an https origin without a path, such as https://10.0.0.5:8443"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Network {
        #[derive(Deserialize)]
        struct Doc {
            network: Network,
        }
        toml::from_str::<Doc>(text).expect("parses").network
    }

    #[test]
    fn proxy_forms_and_defaults() {
        assert_eq!(Network::default().proxy, Proxy::None);
        assert_eq!(parse("[network]\nproxy = \"system\"").proxy, Proxy::System);
        let n = parse("[network]\nproxy = \"http://127.0.0.1:8888\"\nno_proxy = [\"*.lan\", \"10.0.0.0/8\"]");
        assert_eq!(n.proxy, Proxy::Url("http://127.0.0.1:8888".into()));
        assert!(n.check().is_empty(), "{:?}", n.check());
    }

    #[test]
    fn bad_values_are_reported_by_key() {
        let n = parse(
            "[network]\nproxy = \"ftp://x:1\"\nno_proxy = [\"\", \"http://a\"]\nca_files = [\"ca.pem\"]\n\
             [[network.pin]]\norigin = \"http://a\"\nsha256 = \"abc\"",
        );
        let keys: Vec<String> = n.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "network.proxy",
                "network.no_proxy[0]",
                "network.no_proxy[1]",
                "network.ca_files[0]",
                "network.pin[0].origin",
                "network.pin[0].sha256"
            ]
        );
        assert_eq!(parse("[network]\nproxy = \"nonsense\"").check().len(), 1);
    }

    #[test]
    fn pins_match_host_and_port_and_fingerprints_normalize() {
        let hex = "AB:".repeat(31) + "AB";
        let n = Network { pin: vec![Pin { origin: "https://Box.lan:8443".into(), sha256: hex }], ..Network::default() };
        assert!(n.check().is_empty(), "{:?}", n.check());
        assert_eq!(n.pins_for("box.lan", 8443).count(), 1);
        assert_eq!(n.pins_for("box.lan", 443).count(), 0);
        assert_eq!(n.pins_for("other.lan", 8443).count(), 0);
        assert_eq!(n.pin[0].digest(), "ab".repeat(32));
    }

    #[test]
    fn cookie_policy_names() {
        #[derive(Deserialize)]
        struct Doc {
            web: Web,
        }
        let w: Doc = toml::from_str("[web]\ncookies = \"all\"").expect("parses");
        assert_eq!(w.web.cookies, CookiePolicy::All);
        assert_eq!(Web::default().cookies, CookiePolicy::NoThirdParty);
        assert!(toml::from_str::<Doc>("[web]\ncookies = \"some\"").is_err());
    }
}
