//! URL globs, as `remote.urls` and `app.navigation` use them.
//!
//! A pattern is matched in two parts: the origin (`scheme://host[:port]`) and the rest
//! (path, query, fragment). `*` in the origin part can only stand for parts of the
//! host or port, so `https://*.example.com/*` never matches
//! `https://evil.net/.example.com/`; in the rest, `*` matches across `/`. URLs are
//! parsed first, so user info (`https://good.example.com@evil.net/`) cannot pass for a
//! host. A pattern without a path matches any path.

#[derive(Debug, Clone)]
pub struct UrlPattern {
    origin: glob::Pattern,
    rest: Option<glob::Pattern>,
}

impl UrlPattern {
    pub fn new(text: &str) -> Result<Self, String> {
        let Some(scheme_end) = text.find("://") else {
            return Err(format!("'{text}' has no scheme://"));
        };
        let after = scheme_end + 3;
        let (origin, rest) = match text[after..].find('/') {
            Some(i) => (&text[..after + i], Some(&text[after + i..])),
            None => (text, None),
        };
        let compile = |p: &str| glob::Pattern::new(p).map_err(|e| format!("'{text}' is not a valid glob: {e}"));
        Ok(Self { origin: compile(origin)?, rest: rest.map(compile).transpose()? })
    }

    pub fn matches(&self, url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else { return false };
        let Some(host) = parsed.host_str() else { return false };
        let origin = match parsed.port() {
            Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
            None => format!("{}://{host}", parsed.scheme()),
        };
        if !self.origin.matches(&origin) {
            return false;
        }
        let Some(rest) = &self.rest else { return true };
        let mut tail = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            tail.push('?');
            tail.push_str(q);
        }
        if let Some(f) = parsed.fragment() {
            tail.push('#');
            tail.push_str(f);
        }
        rest.matches(&tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, url: &str) -> bool {
        UrlPattern::new(pattern).unwrap().matches(url)
    }

    #[test]
    fn wildcards_in_the_host_stay_in_the_host() {
        assert!(m("https://*.example.com/*", "https://board.example.com/a/b?c#d"));
        assert!(!m("https://*.example.com/*", "https://evil.net/.example.com/"));
        assert!(!m("https://*.example.com/*", "https://evil.net/?.example.com/"));
        assert!(!m("https://*.example.com/*", "https://board.example.com@evil.net/"));
        assert!(!m("https://*.example.com/*", "http://board.example.com/"));
    }

    #[test]
    fn ports_paths_and_bare_origins() {
        assert!(m("http://127.0.0.1:*/allowed/*", "http://127.0.0.1:8080/allowed/page.html"));
        assert!(!m("http://127.0.0.1:*/allowed/*", "http://127.0.0.1:8080/denied/page.html"));
        assert!(m("https://example.com", "https://example.com/any/path"));
        assert!(m("https://example.com/*", "https://example.com"));
        assert!(!m("https://example.com/*", "https://example.com.evil.net/"));
        assert!(!m("https://example.com/*", "not a url"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(UrlPattern::new("example.com/*").is_err());
        assert!(UrlPattern::new("https://[/").is_err());
    }
}
