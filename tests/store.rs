//! The store against real SQLite files in temporary directories: every operation, the
//! limits, migrations from every older schema, recovery from unreadable files, group
//! commit, durability across reopen and across `kill -9`.
//!
//! `bench_*` tests are ignored; run them with
//! `cargo test --release --test store bench -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde_json::json;
use vitrine::store::{
    Change, Entry, Op, OpenReport, Output, Store, StoreConfig, StoreError, Value, Write, FILE_NAME, SCHEMA_VERSION,
};

const WAIT: Duration = Duration::from_secs(30);

fn open(dir: &Path) -> (Store, OpenReport) {
    Store::open(StoreConfig::in_dir(dir)).expect("the store opens")
}

fn set(store: &Store, key: &str, value: impl Into<Value>) -> Output {
    store.call(Op::Set { key: key.into(), value: value.into() }).expect("set")
}

fn get(store: &Store, key: &str) -> Option<Value> {
    match store.call(Op::Get { key: key.into() }).expect("get") {
        Output::Value(value) => value,
        other => panic!("get answered {other:?}"),
    }
}

fn page(store: &Store, prefix: &str, after: Option<&str>, limit: usize) -> (Vec<Entry>, Option<String>) {
    match store.call(Op::List { prefix: prefix.into(), after: after.map(Into::into), limit }).expect("list") {
        Output::Page { items, next } => (items, next),
        other => panic!("list answered {other:?}"),
    }
}

/// Every key under `prefix`, walking the pages.
fn all_keys(store: &Store, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let (items, next) = page(store, prefix, after.as_deref(), 1000);
        keys.extend(items.into_iter().map(|e| e.key));
        match next {
            Some(next) => after = Some(next),
            None => return keys,
        }
    }
}

fn db(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn integrity(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, "integrity_check", |r| r.get(0)).unwrap()
}

// ---- log capture -------------------------------------------------------------------

static LOGS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOGS.lock().unwrap().push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

/// Error records mentioning `needle` (tests run in parallel: filter by their own path).
fn errors_mentioning(needle: &str) -> Vec<String> {
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|(l, m)| *l == log::Level::Error && m.contains(needle))
        .map(|(_, m)| m.clone())
        .collect()
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
    });
}

// ---- operations --------------------------------------------------------------------

#[test]
fn handle_is_cheap_to_share() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Store>();
}

#[test]
fn get_set_delete() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    assert_eq!(get(&store, "missing"), None);

    let written = set(&store, "settings/volume", json!({"level": 3}));
    assert_eq!(
        written,
        Output::Written {
            changes: vec![Change { key: "settings/volume".into(), value: Some(json!({"level": 3}).into()) }]
        }
    );
    assert_eq!(get(&store, "settings/volume"), Some(json!({"level": 3}).into()));

    // Same value again: still a change to announce.
    assert_eq!(set(&store, "settings/volume", json!({"level": 3})).changes().len(), 1);

    set(&store, "blob", vec![0u8, 1, 2, 255]);
    assert_eq!(get(&store, "blob"), Some(Value::Bytes(vec![0, 1, 2, 255])));
    // A key can change kind.
    set(&store, "blob", json!("now text"));
    assert_eq!(get(&store, "blob"), Some(json!("now text").into()));

    let deleted = store.call(Op::Delete { key: "blob".into() }).unwrap();
    assert_eq!(deleted.changes(), [Change { key: "blob".into(), value: None }]);
    assert_eq!(get(&store, "blob"), None);
    assert_eq!(store.call(Op::Delete { key: "blob".into() }).unwrap().changes(), []);
    store.close().unwrap();
}

#[test]
fn list_paginates_in_key_order_within_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for i in (0..25).rev() {
        set(&store, &format!("item/{i:02}"), json!(i));
    }
    set(&store, "item", json!("the prefix itself"));
    set(&store, "itemz", json!("outside the prefix 'item/'"));
    set(&store, "other", json!(0));

    let (first, next) = page(&store, "item/", None, 10);
    assert_eq!(first.iter().map(|e| e.key.as_str()).collect::<Vec<_>>()[..3], ["item/00", "item/01", "item/02"]);
    assert_eq!(first[4].value, json!(4).into());
    assert_eq!(next.as_deref(), Some("item/09"));
    let (second, next) = page(&store, "item/", next.as_deref(), 10);
    assert_eq!(second[0].key, "item/10");
    let (third, next) = page(&store, "item/", next.as_deref(), 10);
    assert_eq!(third.len(), 5);
    assert_eq!(next, None, "no cursor once the last page is out");

    // Exactly a full page left: no cursor either.
    let (last, next) = page(&store, "item/", Some("item/14"), 10);
    assert_eq!((last.len(), next), (10, None));

    assert_eq!(all_keys(&store, "").len(), 28);
    assert_eq!(all_keys(&store, "item/").len(), 25);
    assert_eq!(page(&store, "nothing/", None, 10), (vec![], None));

    // Pages stay consistent while keys are added behind the cursor.
    let (_, cursor) = page(&store, "item/", None, 20);
    set(&store, "item/000", json!("behind the cursor"));
    let (rest, _) = page(&store, "item/", cursor.as_deref(), 20);
    assert_eq!(
        rest.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        ["item/20", "item/21", "item/22", "item/23", "item/24"]
    );
}

#[test]
fn update_is_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    set(&store, "counter", json!(1));
    set(&store, "stale", json!("x"));

    let bump = |from: i64, to: i64| Op::Update {
        expect: vec![("counter".into(), Some(json!(from).into())), ("lock".into(), None)],
        ops: vec![
            Write::Set { key: "counter".into(), value: json!(to).into() },
            Write::Delete { key: "stale".into() },
            Write::Set { key: "log".into(), value: vec![to as u8].into() },
        ],
    };
    assert_eq!(store.call(bump(5, 6)).unwrap(), Output::Conflict { key: "counter".into() });
    assert_eq!(get(&store, "stale"), Some(json!("x").into()), "a conflict writes nothing");
    assert_eq!(get(&store, "log"), None);

    let applied = store.call(bump(1, 2)).unwrap();
    assert_eq!(
        applied.changes(),
        [
            Change { key: "counter".into(), value: Some(json!(2).into()) },
            Change { key: "stale".into(), value: None },
            Change { key: "log".into(), value: Some(vec![2u8].into()) },
        ]
    );
    assert_eq!(get(&store, "counter"), Some(json!(2).into()));
    assert_eq!(get(&store, "stale"), None);

    // The absence expectation.
    set(&store, "lock", json!(true));
    assert_eq!(store.call(bump(2, 3)).unwrap(), Output::Conflict { key: "lock".into() });

    // JSON is compared as values: key order and spacing do not matter.
    set(&store, "doc", serde_json::from_str::<serde_json::Value>(r#"{"b": 1, "a": [1, 2]}"#).unwrap());
    let cas = Op::Update {
        expect: vec![("doc".into(), Some(json!({"a": [1, 2], "b": 1}).into()))],
        ops: vec![Write::Set { key: "doc".into(), value: json!(null).into() }],
    };
    assert!(matches!(store.call(cas).unwrap(), Output::Written { .. }));
    // Bytes never equal JSON.
    set(&store, "raw", vec![b'1']);
    let cas = Op::Update { expect: vec![("raw".into(), Some(json!(1).into()))], ops: vec![] };
    assert_eq!(store.call(cas).unwrap(), Output::Conflict { key: "raw".into() });
}

#[test]
fn concurrent_compare_and_set_never_loses_an_increment() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    set(&store, "n", json!(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut done = 0;
                while done < 25 {
                    let Some(Value::Json(current)) = get(&store, "n") else { panic!("n is JSON") };
                    let next = current.as_i64().unwrap() + 1;
                    let op = Op::Update {
                        expect: vec![("n".into(), Some(current.into()))],
                        ops: vec![Write::Set { key: "n".into(), value: json!(next).into() }],
                    };
                    if let Output::Written { .. } = store.call(op).unwrap() {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(get(&store, "n"), Some(json!(100).into()));
}

#[test]
fn limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_update_ops: 2,
        max_list_limit: 3,
        ..StoreConfig::in_dir(dir.path())
    };
    let (store, _) = Store::open(config).unwrap();
    let too_large = |op| matches!(store.call(op), Err(StoreError::TooLarge(_)));
    let bad = |op| matches!(store.call(op), Err(StoreError::BadRequest(_)));

    assert!(too_large(Op::Set { key: "k".repeat(9), value: json!(1).into() }));
    assert!(too_large(Op::Get { key: "k".repeat(9) }));
    assert!(too_large(Op::Set { key: "k".into(), value: vec![0; 17].into() }));
    assert!(too_large(Op::Set { key: "k".into(), value: json!("0123456789abcdef").into() }), "18 bytes as JSON");
    assert!(too_large(Op::List { prefix: "p".repeat(9), after: None, limit: 1 }));
    assert!(too_large(Op::Update { expect: vec![], ops: vec![Write::Delete { key: "k".into() }; 3] }));
    assert!(too_large(Op::Update { expect: vec![("k".into(), None); 3], ops: vec![] }));
    assert!(too_large(Op::Update {
        expect: vec![],
        ops: vec![
            Write::Set { key: "a".into(), value: json!(1).into() },
            Write::Set { key: "b".into(), value: vec![0; 17].into() }
        ],
    }));
    assert_eq!(get(&store, "a"), None, "a refused update writes nothing");

    assert!(bad(Op::Set { key: "".into(), value: json!(1).into() }));
    assert!(bad(Op::Delete { key: "".into() }));
    assert!(bad(Op::Update { expect: vec![("".into(), None)], ops: vec![] }));
    assert!(bad(Op::List { prefix: "".into(), after: None, limit: 0 }));

    // At the limits exactly: fine.
    set(&store, &"k".repeat(8), vec![0u8; 16]);
    for key in ["a", "b", "c", "d"] {
        set(&store, key, json!(1));
    }
    let (items, next) = page(&store, "", None, 1000);
    assert_eq!((items.len(), next.as_deref()), (3, Some("c")), "limit capped at max_list_limit");
}

#[test]
fn default_limits_are_one_kib_keys_and_one_mib_values() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    set(&store, &"k".repeat(1024), vec![7u8; 1024 * 1024]);
    assert_eq!(get(&store, &"k".repeat(1024)), Some(Value::Bytes(vec![7; 1024 * 1024])));
    assert!(matches!(store.call(Op::Get { key: "k".repeat(1025) }), Err(StoreError::TooLarge(_))));
    let huge = Op::Set { key: "v".into(), value: vec![0; 1024 * 1024 + 1].into() };
    assert!(matches!(store.call(huge), Err(StoreError::TooLarge(_))));
}

// ---- the handle: threads, order, flush, close --------------------------------------

#[test]
fn replies_come_on_the_store_thread_in_submission_order() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let (tx, rx) = mpsc::channel();
    for i in 0..200 {
        let tx = tx.clone();
        let op =
            if i % 3 == 0 { Op::Get { key: "k".into() } } else { Op::Set { key: "k".into(), value: json!(i).into() } };
        store.submit(op, move |result| {
            tx.send((i, std::thread::current().name().map(String::from), result.is_ok())).unwrap();
        });
    }
    drop(tx);
    let replies: Vec<_> = rx.iter().collect();
    assert_eq!(replies.iter().map(|r| r.0).collect::<Vec<_>>(), (0..200).collect::<Vec<_>>());
    assert!(replies.iter().all(|(_, thread, ok)| thread.as_deref() == Some("vitrine-store") && *ok));
}

#[test]
fn blocking_calls_from_a_reply_refuse_instead_of_deadlocking() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let (tx, rx) = mpsc::channel();
    let inner = store.clone();
    store.submit(Op::Get { key: "k".into() }, move |_| {
        let call = inner.call(Op::Get { key: "k".into() });
        let flush = inner.flush();
        // Submitting from a reply is fine: it runs in a later batch.
        let (later_tx, later) = mpsc::channel();
        inner.submit(Op::Set { key: "later".into(), value: json!(1).into() }, move |r| later_tx.send(r).unwrap());
        tx.send((call, flush, later)).unwrap();
    });
    let (call, flush, later) = rx.recv_timeout(WAIT).unwrap();
    assert!(matches!(call, Err(StoreError::BadRequest(_))));
    assert!(matches!(flush, Err(StoreError::BadRequest(_))));
    assert!(later.recv_timeout(WAIT).unwrap().is_ok());
}

#[test]
fn a_boxed_reply_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let (tx, rx) = mpsc::channel();
    let reply: Box<dyn FnOnce(Result<Output, StoreError>) + Send> = Box::new(move |r| tx.send(r).unwrap());
    store.submit(Op::Get { key: "k".into() }, reply);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Ok(Output::Value(None)));
}

#[test]
fn flush_waits_for_everything_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let answered = Arc::new(AtomicUsize::new(0));
    for i in 0..500 {
        let answered = Arc::clone(&answered);
        store.submit(Op::Set { key: format!("k{i}"), value: json!(i).into() }, move |r| {
            assert!(r.is_ok());
            answered.fetch_add(1, Ordering::SeqCst);
        });
    }
    store.flush().unwrap();
    assert_eq!(answered.load(Ordering::SeqCst), 500);
}

#[test]
fn close_commits_the_queue_and_later_jobs_get_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let other = store.clone();
    for i in 0..300 {
        store.submit(Op::Set { key: format!("k{i:03}"), value: json!(i).into() }, |r| assert!(r.is_ok()));
    }
    store.close().unwrap();
    let (tx, rx) = mpsc::channel();
    other.submit(Op::Get { key: "k000".into() }, move |r| tx.send(r).unwrap());
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(StoreError::Closed));
    assert_eq!(other.flush(), Err(StoreError::Closed));
    assert_eq!(other.call(Op::Get { key: "k".into() }), Err(StoreError::Closed));
    assert!(!with_suffix(&db(dir.path()), "-wal").exists(), "closing checkpoints and removes the WAL");
    other.close().unwrap();

    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport::default());
    assert_eq!(all_keys(&store, "k").len(), 300);
}

#[test]
fn live_connection_is_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let pragmas = store.pragmas().unwrap();
    assert_eq!(pragmas.journal_mode, "wal");
    assert_eq!(pragmas.synchronous, 2, "FULL");
    assert!(pragmas.foreign_keys);
    assert_eq!(pragmas.busy_timeout_ms, 5000);
    assert_eq!(pragmas.user_version, i64::from(SCHEMA_VERSION));
    // WAL is a property of the file: a second connection sees it too.
    let second = Connection::open(db(dir.path())).unwrap();
    let mode: String = second.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn open_creates_a_private_state_directory() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/vitrine");
    let (store, _) = open(&dir);
    assert_eq!(store.path(), db(&dir));
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
}

// ---- durability and batching -------------------------------------------------------

#[test]
fn values_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, report) = open(dir.path());
        assert_eq!(report.upgraded_from, Some(0));
        set(&store, "json", json!({"nested": {"list": [1, 2.5, "x", null, true]}, "big": u64::MAX}));
        set(&store, "bytes", (0..=255u8).collect::<Vec<_>>());
        set(&store, "unicode/ключ/🔑", json!("värde"));
        // Dropped without close: acknowledged writes are already durable.
    }
    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport::default());
    assert_eq!(
        get(&store, "json"),
        Some(json!({"nested": {"list": [1, 2.5, "x", null, true]}, "big": u64::MAX}).into())
    );
    assert_eq!(get(&store, "bytes"), Some(Value::Bytes((0..=255u8).collect())));
    assert_eq!(get(&store, "unicode/ключ/🔑"), Some(json!("värde").into()));
}

#[test]
fn concurrent_sets_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let before = store.stats();
    let (tx, rx) = mpsc::channel();
    let start = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let (store, tx, start) = (store.clone(), tx.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for i in 0..(if t == 0 { 334 } else { 333 }) {
                    let tx = tx.clone();
                    store.submit(Op::Set { key: format!("t{t}/{i:03}"), value: json!(i).into() }, move |r| {
                        let _ = tx.send(r.is_ok());
                    });
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    drop(tx);
    let oks = (0..1000).map(|_| rx.recv_timeout(WAIT).expect("every reply arrives")).filter(|ok| *ok).count();
    assert_eq!(oks, 1000);
    let stats = store.stats();
    let commits = stats.commits - before.commits;
    assert_eq!(stats.jobs - before.jobs, 1000);
    assert!(commits < 100, "1000 concurrent sets took {commits} commits");
    store.close().unwrap();

    let (store, _) = open(dir.path());
    assert_eq!(all_keys(&store, "t").len(), 1000);
}

// ---- migrations --------------------------------------------------------------------

#[test]
fn migrates_a_zero_length_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(db(dir.path()), b"").unwrap();
    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport { upgraded_from: Some(0), ..OpenReport::default() });
    set(&store, "k", json!(1));
    assert_eq!(get(&store, "k"), Some(json!(1).into()));
}

#[test]
fn migrates_an_empty_version_0_database() {
    // What SQLite leaves when a database was created but nothing was ever written to it.
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(db(dir.path())).unwrap();
    let _: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).unwrap();
    drop(conn);
    assert!(std::fs::metadata(db(dir.path())).unwrap().len() > 0);
    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport { upgraded_from: Some(0), ..OpenReport::default() });
    set(&store, "k", vec![1u8]);
}

/// A file exactly as version 1 wrote it.
fn write_v1(path: &Path, rows: &[(&str, &str)]) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL); PRAGMA user_version = 1;").unwrap();
    for (key, value) in rows {
        conn.execute("INSERT INTO kv (key, value) VALUES (?1, ?2)", [key, value]).unwrap();
    }
}

#[test]
fn migrates_version_1_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let many: Vec<(String, String)> = (0..300).map(|i| (format!("many/{i:03}"), json!({"i": i}).to_string())).collect();
    let mut rows: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    rows.extend([("settings", r#"{"volume": 3, "name": "lobby"}"#), ("flag", "true"), ("legacy", "not json at all")]);
    write_v1(&db(dir.path()), &rows);

    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport { upgraded_from: Some(1), ..OpenReport::default() });
    assert_eq!(get(&store, "settings"), Some(json!({"volume": 3, "name": "lobby"}).into()));
    assert_eq!(get(&store, "flag"), Some(json!(true).into()));
    assert_eq!(get(&store, "legacy"), Some(Value::Bytes(b"not json at all".to_vec())), "kept, as bytes");
    assert_eq!(get(&store, "many/123"), Some(json!({"i": 123}).into()));
    assert_eq!(all_keys(&store, "many/").len(), 300);
    // And the upgraded file takes the new kinds of values.
    set(&store, "bytes", vec![9u8]);
    assert_eq!(store.pragmas().unwrap().user_version, i64::from(SCHEMA_VERSION));
    store.close().unwrap();
    // The file as it was before the upgrade is kept, for a Vitrine rolled back to it.
    let copy = with_suffix(&db(dir.path()), ".schema-1");
    let conn = Connection::open(&copy).unwrap();
    assert_eq!(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), 1);
    let legacy: String = conn.query_row("SELECT value FROM kv WHERE key = 'legacy'", [], |r| r.get(0)).unwrap();
    assert_eq!(legacy, "not json at all");
    drop(conn);

    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport::default());
    assert_eq!(get(&store, "bytes"), Some(Value::Bytes(vec![9])));
    assert_eq!(integrity(&db(dir.path())), "ok");
}

// ---- unreadable files --------------------------------------------------------------

/// Asserts that the file at `dir` was moved aside intact and a fresh store works.
fn assert_recovers(dir: &Path, original: &[u8]) -> Store {
    assert_set_aside(dir, original, "corrupt")
}

/// As [`assert_recovers`], the file renamed `store.sqlite3.<label>-<millis>`.
fn assert_set_aside(dir: &Path, original: &[u8], label: &str) -> Store {
    capture_logs();
    let path = db(dir);
    let (store, report) = open(dir);
    let aside = report.recovered_from.clone().expect("the file was moved aside");
    let name = aside.file_name().unwrap().to_str().unwrap().to_string();
    let millis = name.strip_prefix(&format!("store.sqlite3.{label}-")).expect("a timestamped name");
    let millis: u128 = millis.parse().expect("unix milliseconds");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(now - millis < 60_000, "{name} is stamped now");
    assert_eq!(aside.parent(), Some(dir));
    assert!(std::fs::read(&aside).unwrap() == original, "the bad file is kept as it was");
    assert_eq!(report.upgraded_from, Some(0));
    assert!(!errors_mentioning(&path.display().to_string()).is_empty(), "an error is logged");

    assert_eq!(get(&store, "anything"), None);
    set(&store, "fresh", json!("works"));
    assert_eq!(get(&store, "fresh"), Some(json!("works").into()));
    store
}

/// A store with enough rows to span many pages, closed (so the WAL is checkpointed).
fn populated(dir: &Path) -> Vec<u8> {
    let (store, _) = open(dir);
    for i in 0..600 {
        store.submit(Op::Set { key: format!("row/{i:04}"), value: json!("x".repeat(200)).into() }, |_| {});
    }
    store.close().unwrap();
    std::fs::read(db(dir)).unwrap()
}

#[test]
fn garbage_over_the_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(db(dir.path()), &garbage).unwrap();
    assert_recovers(dir.path(), &garbage);
}

#[test]
fn garbage_over_the_pages_of_a_real_store_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = populated(dir.path());
    // Keep the header valid, trash the b-tree pages.
    for b in bytes[4096..].iter_mut() {
        *b ^= 0xa5;
    }
    std::fs::write(db(dir.path()), &bytes).unwrap();
    assert_recovers(dir.path(), &bytes);
}

#[test]
fn a_truncated_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = populated(dir.path());
    assert!(bytes.len() > 20 * 4096);
    let truncated = &bytes[..bytes.len() / 2];
    std::fs::write(db(dir.path()), truncated).unwrap();
    assert_recovers(dir.path(), truncated);
}

#[test]
fn a_file_cut_inside_its_header_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = populated(dir.path());
    std::fs::write(db(dir.path()), &bytes[..50]).unwrap();
    assert_recovers(dir.path(), &bytes[..50]);
}

#[test]
fn a_file_from_a_newer_version_that_says_nothing_is_set_aside_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let conn = Connection::open(db(dir.path())).unwrap();
    // A newer schema that does not record which older versions may use the file.
    conn.execute_batch("DROP TABLE vitrine_schema").unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    let bytes = std::fs::read(db(dir.path())).unwrap();
    let store = assert_set_aside(dir.path(), &bytes, "newer");
    let path = db(dir.path()).display().to_string();
    assert!(errors_mentioning(&path).iter().any(|m| m.contains("newer Vitrine")), "the log says why");
    assert_eq!(all_keys(&store, "row/").len(), 0);
}

/// What a newer Vitrine leaves after an additive migration: a column with a default in
/// `kv`, a table of its own, `user_version` one up.
fn make_newer(path: &Path, compatible_from: u32) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "ALTER TABLE kv ADD COLUMN tags TEXT NOT NULL DEFAULT '';
         CREATE TABLE playlists (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO playlists (name) VALUES ('morning'), ('evening');
         UPDATE kv SET tags = 'pinned' WHERE key = 'settings';",
    )
    .unwrap();
    conn.execute("UPDATE vitrine_schema SET compatible_from = ?1", [compatible_from]).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
}

#[test]
fn a_newer_file_that_lets_this_version_use_it_is_used_as_it_is() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    set(&store, "settings", json!({"volume": 3}));
    store.close().unwrap();
    // The newer schema says: version 2 and later may go on.
    make_newer(&db(dir.path()), 2);

    let (store, report) = open(dir.path());
    assert_eq!(report, OpenReport { newer: Some(SCHEMA_VERSION + 1), ..OpenReport::default() });
    assert_eq!(get(&store, "settings"), Some(json!({"volume": 3}).into()));
    set(&store, "settings", json!({"volume": 4}));
    set(&store, "written-by-the-older", vec![1u8, 2]);
    store.close().unwrap();

    // Nothing of the newer schema was lost or lowered, and the file is sound.
    let conn = Connection::open(db(dir.path())).unwrap();
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION + 1);
    let playlists: i64 = conn.query_row("SELECT count(*) FROM playlists", [], |r| r.get(0)).unwrap();
    assert_eq!(playlists, 2);
    let tags: Vec<(String, String)> = conn
        .prepare("SELECT key, tags FROM kv ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags, vec![("settings".into(), "pinned".into()), ("written-by-the-older".into(), "".into())]);
    drop(conn);
    assert_eq!(integrity(&db(dir.path())), "ok");
    assert!(!dir.path().read_dir().unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains(".newer-")));
}

#[test]
fn a_newer_file_this_version_may_not_use_is_set_aside_and_the_copy_from_before_its_upgrade_returns() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = db(dir.path());
    let (store, _) = open(dir.path());
    set(&store, "settings", json!({"volume": 3}));
    store.close().unwrap();
    // The newer Vitrine copies the file before migrating it (as this one does: VACUUM
    // INTO `<name>.schema-<version>`), then migrates in a way older ones cannot follow.
    let copy = with_suffix(&path, &format!(".schema-{SCHEMA_VERSION}"));
    Connection::open(&path).unwrap().execute("VACUUM INTO ?1", [copy.to_string_lossy()]).unwrap();
    make_newer(&path, SCHEMA_VERSION + 1);
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE kv SET value = '{\"volume\":9}' WHERE key = 'settings'", []).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    let newer_bytes = std::fs::read(&path).unwrap();

    let (store, report) = open(dir.path());
    let aside = report.recovered_from.clone().expect("set aside");
    assert!(aside.file_name().unwrap().to_string_lossy().starts_with("store.sqlite3.newer-"), "{aside:?}");
    assert!(std::fs::read(&aside).unwrap() == newer_bytes, "the newer file is kept byte for byte");
    assert_eq!(report.restored_from.as_deref(), Some(copy.as_path()));
    assert_eq!(get(&store, "settings"), Some(json!({"volume": 3}).into()), "the data from before the upgrade");
    set(&store, "after-rollback", json!(true));
    store.close().unwrap();
    assert!(copy.exists(), "the copy stays");
    let logged = errors_mentioning(&path.display().to_string());
    assert!(logged.iter().any(|m| m.contains("newer Vitrine") && m.contains(".schema-")), "{logged:?}");
    assert_eq!(integrity(&path), "ok");
}

#[test]
fn side_files_move_with_the_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(db(dir.path()), b"definitely not sqlite, but long enough to have a header").unwrap();
    std::fs::write(with_suffix(&db(dir.path()), "-wal"), b"old wal").unwrap();
    std::fs::write(with_suffix(&db(dir.path()), "-shm"), b"old shm").unwrap();
    let (_store, report) = open(dir.path());
    let aside = report.recovered_from.unwrap();
    assert!(std::fs::read(with_suffix(&aside, "-wal")).unwrap() == b"old wal");
    // SQLite rebuilds the shared-memory index on open, so only its presence is checked.
    assert!(with_suffix(&aside, "-shm").exists());
}

#[test]
fn recovering_twice_keeps_both_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(db(dir.path()), b"first bad file ................................................").unwrap();
    let (store, first) = open(dir.path());
    store.close().unwrap();
    std::fs::write(db(dir.path()), b"second bad file ...............................................").unwrap();
    let (_store, second) = open(dir.path());
    let (first, second) = (first.recovered_from.unwrap(), second.recovered_from.unwrap());
    assert_ne!(first, second);
    assert!(std::fs::read(first).unwrap().starts_with(b"first"));
    assert!(std::fs::read(second).unwrap().starts_with(b"second"));
}

#[test]
fn an_unusable_directory_is_an_error() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("file"), b"").unwrap();
    let result = Store::open(StoreConfig::in_dir(&root.path().join("file")));
    assert!(matches!(result, Err(StoreError::Open(_))), "{result:?}");
}

// ---- kill -9 -----------------------------------------------------------------------

const CHILD_DIR: &str = "VITRINE_STORE_TEST_CHILD_DIR";
const CHILD_ROUND: &str = "VITRINE_STORE_TEST_CHILD_ROUND";

/// Not a test on its own: the writer that `kill_9_loses_nothing_acknowledged` runs in a
/// child process. It prints `ack KEY` for each set and `cas COUNTER N` for each
/// compare-and-set as soon as the reply says it is durable, until it is killed.
#[test]
fn kill_child_writer() {
    let (Some(dir), Some(round)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_ROUND).ok()) else { return };
    let (store, report) = open(Path::new(&dir));
    assert_eq!(report.recovered_from, None);
    println!("ready");
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (store, round) = (store.clone(), round.clone());
            std::thread::spawn(move || {
                let counter = format!("counter/{t}");
                for burst in 0.. {
                    let (tx, rx) = mpsc::channel();
                    for i in 0..16 {
                        let key = format!("r{round}/t{t}/{burst:05}/{i:02}");
                        let tx = tx.clone();
                        let value = json!({"burst": burst, "pad": "p".repeat(100 * i)});
                        store.submit(Op::Set { key: key.clone(), value: value.into() }, move |r| {
                            if r.is_ok() {
                                let _ = writeln!(std::io::stdout().lock(), "ack {key}");
                            }
                            let _ = tx.send(());
                        });
                    }
                    // One read-modify-write per burst.
                    let current = match store.call(Op::Get { key: counter.clone() }) {
                        Ok(Output::Value(Some(Value::Json(n)))) => n.as_i64().unwrap_or(0),
                        _ => 0,
                    };
                    let expect = if current == 0 { None } else { Some(json!(current).into()) };
                    let op = Op::Update {
                        expect: vec![(counter.clone(), expect)],
                        ops: vec![Write::Set { key: counter.clone(), value: json!(current + 1).into() }],
                    };
                    if let Ok(Output::Written { .. }) = store.call(op) {
                        let _ = writeln!(std::io::stdout().lock(), "cas {counter} {}", current + 1);
                    }
                    drop(tx);
                    rx.iter().for_each(drop);
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|t| {
        let _ = t.join();
    });
}

/// Xorshift seeded from the clock: the kill moments vary from run to run.
fn jitter(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut acked: Vec<String> = Vec::new();
    let mut counters: BTreeMap<String, i64> = BTreeMap::new();
    for round in 0..10 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["kill_child_writer", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines: the kill may cut the last one.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line.ends_with('\n') {
                    let _ = lines_tx.send(line.trim_end().to_string());
                }
                line.clear();
            }
        });
        let deadline = Instant::now() + WAIT;
        loop {
            match lines_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                // The harness prints "test kill_child_writer ... " before it, on the same line.
                Ok(line) if line.ends_with("ready") => break,
                Ok(_) => {}
                Err(e) => panic!("round {round}: the writer did not start: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(150 + jitter(&mut seed) % 350));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();

        let mut round_acks = 0;
        for line in lines_rx.try_iter() {
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("ack"), Some(key), None) => {
                    acked.push(key.to_string());
                    round_acks += 1;
                }
                (Some("cas"), Some(counter), Some(n)) => {
                    let n: i64 = n.parse().unwrap();
                    let best = counters.entry(counter.to_string()).or_default();
                    *best = (*best).max(n);
                }
                _ => {}
            }
        }
        assert!(round_acks > 0, "round {round}: the writer acknowledged nothing before the kill");

        assert_eq!(integrity(&db(dir.path())), "ok", "round {round}");
        let (store, report) = open(dir.path());
        assert_eq!(report.recovered_from, None, "round {round}: a killed store must reopen as it is");
        let present: std::collections::HashSet<String> = all_keys(&store, "r").into_iter().collect();
        let lost: Vec<&String> = acked.iter().filter(|k| !present.contains(*k)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged keys lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        for (counter, n) in &counters {
            let Some(Value::Json(stored)) = get(&store, counter) else { panic!("{counter} is missing") };
            assert!(stored.as_i64().unwrap() >= *n, "round {round}: {counter} is {stored}, {n} was acknowledged");
        }
        store.close().unwrap();
    }
    eprintln!("kill -9: {} acknowledged keys over 10 rounds, none lost", acked.len());
}

// ---- measurements ------------------------------------------------------------------

#[test]
#[ignore = "a measurement, not a check"]
fn bench_single_durable_set() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (store, _) = open(dir.path());
    let n = 300;
    let start = Instant::now();
    for i in 0..n {
        set(&store, &format!("k{i}"), json!({"i": i}));
    }
    let per = start.elapsed() / n;
    let stats = store.stats();
    eprintln!("durable single set: {per:?} each over {n} sequential sets ({} commits)", stats.commits);
}

#[test]
#[ignore = "a measurement, not a check"]
fn bench_concurrent_sets() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (store, _) = open(dir.path());
    for round in 0..3 {
        let before = store.stats();
        let start = Instant::now();
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (store, tx) = (store.clone(), tx.clone());
                std::thread::spawn(move || {
                    for i in 0..334 {
                        let tx = tx.clone();
                        store.submit(Op::Set { key: format!("{round}/{t}/{i}"), value: json!(i).into() }, move |r| {
                            let _ = tx.send(r.is_ok());
                        });
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(tx);
        let ok = rx.iter().filter(|ok| *ok).count();
        let after = store.stats();
        eprintln!(
            "{ok} concurrent sets from 3 threads: {:?} total, {} commits, {} batches",
            start.elapsed(),
            after.commits - before.commits,
            after.batches - before.batches
        );
    }
}

#[test]
fn start_opens_on_the_store_thread_and_serves_what_waited() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        set(&store, "kept", json!(1));
        store.close().expect("close");
    }
    let (tx, rx) = mpsc::channel();
    let caller = std::thread::current().id();
    let store = Store::start(StoreConfig::in_dir(dir.path()), move |outcome| {
        let on_store_thread = std::thread::current().id() != caller;
        let _ = tx.send((outcome.map(|r| r.recovered_from.is_none()).map_err(|e| e.to_string()), on_store_thread));
    })
    .expect("the store thread starts");
    // Submitted at once, possibly before the file is open: it waits in the queue.
    assert_eq!(get(&store, "kept"), Some(Value::Json(json!(1))));
    let (outcome, on_store_thread) = rx.recv_timeout(WAIT).expect("told how the open went");
    assert_eq!(outcome, Ok(true));
    assert!(on_store_thread, "the file was opened on the caller's thread");
    store.close().expect("close");
}

#[test]
fn a_store_that_cannot_open_answers_every_job_with_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A file where the store's directory should be: nothing can be created under it.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"").expect("write");
    let (tx, rx) = mpsc::channel();
    let store = Store::start(StoreConfig::in_dir(&blocked.join("state")), move |outcome| {
        let _ = tx.send(outcome.err().map(|e| e.to_string()));
    })
    .expect("the store thread starts");
    let why = rx.recv_timeout(WAIT).expect("told how the open went").expect("the open failed");
    assert!(why.contains("cannot open the store"), "{why}");
    match store.call(Op::Get { key: "k".into() }) {
        Err(StoreError::Open(message)) => assert!(why.contains(&message), "{message} vs {why}"),
        other => panic!("a store that cannot open answered {other:?}"),
    }
    store.flush().expect("flush still returns");
    assert!(store.pragmas().is_err());
    store.close().expect("close ends the thread");
}
