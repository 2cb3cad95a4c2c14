//! Which top-level URLs a surface may navigate to.
//!
//! A surface may show the core's own pages (`app://localhost/…`), pages of the origin
//! its configured page came from, and whatever matches the manifest's `navigation`
//! globs. Everything else is refused and logged, so a link or a script cannot take a
//! kiosk to an arbitrary site.

use crate::config::{Page, UrlPattern};
use crate::ipc::authority::is_local;

#[derive(Debug, Clone)]
pub struct NavigationPolicy {
    home_origin: Option<String>,
    patterns: Vec<UrlPattern>,
}

impl NavigationPolicy {
    pub fn new(page: &Page, patterns: &[String]) -> Self {
        let home_origin = match page {
            Page::Local(_) => None,
            Page::Remote(url) => url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization()),
        };
        let patterns = patterns.iter().filter_map(|p| UrlPattern::new(p).ok()).collect();
        Self { home_origin, patterns }
    }

    pub fn allows(&self, url: &str) -> bool {
        if is_local(url) || url == "about:blank" {
            return true;
        }
        let same_origin = self
            .home_origin
            .as_deref()
            .is_some_and(|home| url::Url::parse(url).is_ok_and(|u| u.origin().ascii_serialization() == home));
        same_origin || self.patterns.iter().any(|p| p.matches(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_pages_and_home_origin_are_allowed() {
        let p = NavigationPolicy::new(&Page::Remote("https://board.example/start".into()), &[]);
        assert!(p.allows("app://localhost/offline.html"));
        assert!(p.allows("https://board.example/other?x=1"));
        assert!(!p.allows("https://board.example.evil/"));
        assert!(!p.allows("http://board.example/start"));
        assert!(!p.allows("app://localhostx/"));
    }

    #[test]
    fn patterns_extend_the_list() {
        let p = NavigationPolicy::new(&Page::Local("index.html".into()), &["https://docs.example/*".into()]);
        assert!(p.allows("https://docs.example/a/b"));
        assert!(!p.allows("https://example.com/"));
        assert!(!p.allows("file:///etc/passwd"));
    }
}
