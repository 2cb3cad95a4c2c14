//! The store's vocabulary: configuration, values, operations, results and errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::location::FILE_NAME;

/// Where the store lives and how much it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database file; its directory is created (0700) if missing.
    pub path: PathBuf,
    /// Longest key, prefix or cursor, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value: JSON as serialized text, bytes as they are.
    pub max_value_bytes: usize,
    /// Most `expect` entries, and most writes, in one [`Op::Update`].
    pub max_update_ops: usize,
    /// Largest page of [`Op::List`]; a larger `limit` is cut to this.
    pub max_list_limit: usize,
    /// Most jobs committed together in one transaction.
    pub max_batch: usize,
    /// How long SQLite waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            path: path.into(),
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_update_ops: 256,
            max_list_limit: 1000,
            max_batch: 512,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// The store file `store.sqlite3` in `dir` (see [`super::state_dir`]).
    pub fn in_dir(dir: &Path) -> StoreConfig {
        StoreConfig::new(dir.join(FILE_NAME))
    }
}

/// A stored value: JSON (kept as TEXT) or raw bytes (kept as a BLOB).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Value {
        Value::Json(value)
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Value {
        Value::Bytes(bytes)
    }
}

/// One write inside an [`Op::Update`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Set { key: String, value: Value },
    Delete { key: String },
}

/// An operation on the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// → [`Output::Value`].
    Get { key: String },
    /// → [`Output::Written`] with one change.
    Set { key: String, value: Value },
    /// → [`Output::Written`]: one change, or none if the key was absent.
    Delete { key: String },
    /// Keys starting with `prefix`, in byte order, strictly after `after`, at most
    /// `limit` (capped at [`StoreConfig::max_list_limit`]) → [`Output::Page`].
    List { prefix: String, after: Option<String>, limit: usize },
    /// Compare-and-set: if every `expect` entry matches (`None`: the key is absent), all
    /// `ops` apply atomically → [`Output::Written`]; otherwise nothing is written →
    /// [`Output::Conflict`].
    Update { expect: Vec<(String, Option<Value>)>, ops: Vec<Write> },
}

impl Op {
    pub fn is_write(&self) -> bool {
        matches!(self, Op::Set { .. } | Op::Delete { .. } | Op::Update { .. })
    }
}

/// A key that a write changed; `value: None` means it was deleted. Setting a key to the
/// value it already had still counts as a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub value: Option<Value>,
}

/// A key and its value, as [`Op::List`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
}

/// The result of an [`Op`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// The value of the key, or `None` if absent.
    Value(Option<Value>),
    /// One page of a listing; `next` is the cursor (`after`) for the following page, set
    /// only when more keys remain.
    Page { items: Vec<Entry>, next: Option<String> },
    /// The writes were committed; what they changed, in the order they were applied.
    Written { changes: Vec<Change> },
    /// An update's expectation on `key` did not hold; nothing was written.
    Conflict { key: String },
}

impl Output {
    /// The changes to announce (`store.changed`); empty unless [`Output::Written`].
    pub fn changes(&self) -> &[Change] {
        match self {
            Output::Written { changes } => changes,
            _ => &[],
        }
    }
}

/// What [`super::Store::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The unreadable file was moved here and a fresh store was created.
    pub recovered_from: Option<PathBuf>,
    /// The schema version the file had when it was migrated; `None` if it was current.
    /// A new or recovered store reports `Some(0)`.
    pub upgraded_from: Option<u32>,
    /// The file was written by a newer Vitrine whose schema (this version) says that this
    /// one may go on using it: it is used as it is, not migrated.
    pub newer: Option<u32>,
    /// A newer file that this Vitrine may not use was set aside (`recovered_from`), and
    /// the copy made before that newer Vitrine upgraded it was restored from here.
    pub restored_from: Option<PathBuf>,
}

/// Counters since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations executed (answered with a result, including failures).
    pub jobs: u64,
    /// Transactions run, each holding one or more jobs.
    pub batches: u64,
    /// Transactions with writes that committed: one fsync each.
    pub commits: u64,
}

/// The live connection's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragmas {
    pub journal_mode: String,
    /// 2 is FULL.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
    pub user_version: i64,
}

/// Why an operation or the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A key, value or update exceeds a limit of [`StoreConfig`] (IPC: `too_large`).
    #[error("too large: {0}")]
    TooLarge(String),
    /// The operation is malformed: an empty key, a zero limit… (IPC: `bad_args`).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// SQLite or the disk failed; nothing of the operation was written.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The store could not be opened at all (an unwritable directory, say).
    #[error("cannot open the store: {0}")]
    Open(String),
    /// The store is closed or its thread has stopped.
    #[error("the store is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Storage(e.to_string())
    }
}
