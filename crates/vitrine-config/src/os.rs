//! `[http]` in `vitrine.toml`: requests pages make through the core, and the secrets
//! the core attaches to them.
//!
//! ```toml
//! [http]
//! timeout_ms = 10000
//! max_response_bytes = 8388608
//!
//! [[http.secret]]
//! origin = "https://api.example.com"   # scheme, host and port only
//! header = "Authorization"
//! credential = "api-token"             # a name in $CREDENTIALS_DIRECTORY, or a root-only file
//! format = "Bearer {}"
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub timeout_ms: u64,
    pub max_response_bytes: u64,
    pub secret: Vec<SecretConfig>,
}

impl Default for Http {
    fn default() -> Self {
        Self { timeout_ms: 10_000, max_response_bytes: 8 * 1024 * 1024, secret: Vec::new() }
    }
}

/// One credential, attached by the core to requests for one origin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    pub origin: String,
    pub header: String,
    pub credential: String,
    /// How the value is written into the header; `{}` stands for the secret.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "{}".to_string()
}

impl Http {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(100..=600_000).contains(&self.timeout_ms) {
            out.push(("http.timeout_ms".into(), "must be between 100 and 600000".into()));
        }
        if !(1..=1 << 30).contains(&self.max_response_bytes) {
            out.push(("http.max_response_bytes".into(), "must be between 1 and 1073741824".into()));
        }
        for (i, s) in self.secret.iter().enumerate() {
            let place = |k: &str| format!("http.secret[{i}].{k}");
            let origin_ok = url::Url::parse(&s.origin)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/" && u.query().is_none())
                && !s.origin.trim_end_matches('/').contains('*');
            if !origin_ok {
                out.push((place("origin"), format!("'{}' must be an http(s) origin without a path", s.origin)));
            }
            if s.header.is_empty() || !s.header.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                out.push((place("header"), format!("'{}' is not a header name", s.header)));
            }
            let cred_ok = !s.credential.is_empty() && (s.credential.starts_with('/') || !s.credential.contains('/'));
            if !cred_ok {
                out.push((place("credential"), "a credential name, or an absolute path to a root-only file".into()));
            }
            if !s.format.contains("{}") {
                out.push((place("format"), "must contain {} where the secret goes".into()));
            }
        }
        out
    }
}
