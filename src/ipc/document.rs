//! Which document of a surface may call the core, and which one the core answers.
//!
//! Each document a surface's top frame commits gets a bridge of its own: a fresh token
//! (the secret every call carries) and a public number (which every script from the
//! core carries, so that a bridge ignores what was meant for another document). When a
//! load starts, the next document's bridge is installed and no token is accepted until
//! that document commits: the old page's calls in between are refused, and the old
//! page's answers, wherever they land, name the old number. A load that ends without
//! committing leaves the old document showing, whose token is accepted again.

/// One document's bridge: its public number and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub number: u64,
    pub token: String,
}

impl Document {
    /// Document `number` with a fresh token.
    pub fn new(number: u64) -> std::io::Result<Document> {
        Ok(Document { number, token: new_token()? })
    }
}

/// A surface's documents as its loads move on.
#[derive(Debug, Default)]
pub struct Documents {
    /// The committed document: the one showing.
    current: Option<Document>,
    /// The document the load in progress will commit; its bridge is installed.
    next: Option<Document>,
    /// Calls are accepted: not between a load's start and its commit.
    open: bool,
}

impl Documents {
    /// A load started and `next` (or no bridge at all) is installed for it.
    pub fn started(&mut self, next: Option<Document>) {
        self.next = next;
        self.open = false;
    }

    /// The load committed: the document installed at its start shows now.
    pub fn committed(&mut self) {
        self.current = self.next.take();
        self.open = self.current.is_some();
    }

    /// The load ended, committed or not; whatever shows may call.
    pub fn finished(&mut self) {
        self.open = self.current.is_some();
    }

    /// The web process ended: its document is gone.
    pub fn ended(&mut self) {
        self.current = None;
        self.open = false;
    }

    /// The token calls must carry now; `None`: every call is refused.
    pub fn accepted_token(&self) -> Option<&str> {
        self.current.as_ref().filter(|_| self.open).map(|d| d.token.as_str())
    }

    /// The number of the document showing (0: none), which the core's scripts name.
    pub fn number(&self) -> u64 {
        self.current.as_ref().map_or(0, |d| d.number)
    }
}

/// A fresh secret: 128 bits from the kernel, as hex.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if usize::try_from(n).ok() != Some(bytes.len()) {
        return Err(std::io::Error::last_os_error());
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(number: u64, token: &str) -> Option<Document> {
        Some(Document { number, token: token.into() })
    }

    #[test]
    fn a_load_rotates_the_token_at_commit() {
        let mut d = Documents::default();
        assert_eq!((d.accepted_token(), d.number()), (None, 0));
        d.started(doc(1, "one"));
        assert_eq!(d.accepted_token(), None);
        d.committed();
        assert_eq!((d.accepted_token(), d.number()), (Some("one"), 1));
        d.finished();
        assert_eq!(d.accepted_token(), Some("one"));

        d.started(doc(2, "two"));
        // Between start and commit: the old page is still showing, but may not call,
        // and the core's scripts still name it.
        assert_eq!((d.accepted_token(), d.number()), (None, 1));
        d.committed();
        assert_eq!((d.accepted_token(), d.number()), (Some("two"), 2));
    }

    #[test]
    fn a_load_that_never_commits_gives_the_old_page_back() {
        let mut d = Documents::default();
        d.started(doc(1, "one"));
        d.committed();
        d.started(doc(2, "two"));
        d.finished();
        assert_eq!((d.accepted_token(), d.number()), (Some("one"), 1));
        // The next load rotates again; the uncommitted document never shows.
        d.started(doc(3, "three"));
        d.committed();
        assert_eq!((d.accepted_token(), d.number()), (Some("three"), 3));
    }

    #[test]
    fn no_bridge_and_no_process_accept_nothing() {
        let mut d = Documents::default();
        d.started(doc(1, "one"));
        d.committed();
        d.started(None);
        d.committed();
        d.finished();
        assert_eq!((d.accepted_token(), d.number()), (None, 0));
        d.started(doc(3, "three"));
        d.committed();
        d.ended();
        d.finished();
        assert_eq!(d.accepted_token(), None);
    }

    #[test]
    fn tokens_are_fresh_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
