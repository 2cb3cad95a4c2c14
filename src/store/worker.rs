//! The store thread: takes jobs in batches, runs each batch in one transaction, commits
//! once, then answers. See the module docs of [`crate::store`] for why.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::ops::{self, Limits};
use super::recover::now_millis;
use super::types::{Op, OpenReport, Output, Pragmas, Stats, StoreConfig, StoreError};

pub(crate) type ReplyFn = Box<dyn FnOnce(Result<Output, StoreError>) + Send + 'static>;

/// A reply that is called exactly once: by [`ReplyTo::send`], or with
/// [`StoreError::Closed`] when dropped unsent — a job still queued when the thread ends,
/// or one whose send failed because the thread is gone. So no caller ever waits forever.
pub(crate) struct ReplyTo(Option<ReplyFn>);

impl ReplyTo {
    pub fn new(f: ReplyFn) -> ReplyTo {
        ReplyTo(Some(f))
    }

    fn send(mut self, result: Result<Output, StoreError>) {
        if let Some(f) = self.0.take() {
            call(f, result);
        }
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            call(f, Err(StoreError::Closed));
        }
    }
}

/// A panicking reply is the caller's bug; it must not take the store thread down.
fn call(f: ReplyFn, result: Result<Output, StoreError>) {
    if catch_unwind(AssertUnwindSafe(|| f(result))).is_err() {
        log::error!("store: a reply callback panicked");
    }
}

pub(crate) enum Job {
    Op(Op, ReplyTo),
    /// Answered once every job before it is committed and answered.
    Flush(mpsc::SyncSender<()>),
    Pragmas(mpsc::SyncSender<Result<Pragmas, StoreError>>),
    /// Finish what came before, close the connection, end the thread.
    Close,
}

#[derive(Default)]
pub(crate) struct Counters {
    jobs: AtomicU64,
    batches: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            jobs: self.jobs.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn spawn(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    config: &StoreConfig,
    counters: Arc<Counters>,
) -> Result<JoinHandle<Result<(), StoreError>>, StoreError> {
    let limits = Limits::from_config(config);
    let max_batch = config.max_batch.max(1);
    std::thread::Builder::new()
        .name("vitrine-store".into())
        .spawn(move || run(conn, queue, limits, max_batch, &counters))
        .map_err(|e| StoreError::Open(format!("cannot start the store thread: {e}")))
}

/// As [`spawn`], but the thread opens the file first (see `Store::start`).
pub(crate) fn spawn_opening<F>(
    config: StoreConfig,
    queue: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    opened: F,
) -> Result<JoinHandle<Result<(), StoreError>>, StoreError>
where
    F: FnOnce(Result<&OpenReport, &StoreError>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("vitrine-store".into())
        .spawn(move || match super::recover::open(&config) {
            Ok((conn, report)) => {
                opened(Ok(&report));
                let limits = Limits::from_config(&config);
                run(conn, queue, limits, config.max_batch.max(1), &counters)
            }
            Err(error) => {
                opened(Err(&error));
                refuse_all(queue, &error);
                // Reported once, through `opened`; closing has nothing more to say.
                Ok(())
            }
        })
        .map_err(|e| StoreError::Open(format!("cannot start the store thread: {e}")))
}

/// A store that could not open answers every job with why, until it is closed.
fn refuse_all(queue: mpsc::Receiver<Job>, error: &StoreError) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Op(_, reply) => reply.send(Err(error.clone())),
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Pragmas(answer) => {
                let _ = answer.send(Err(error.clone()));
            }
            Job::Close => break,
        }
    }
}

fn run(
    conn: Connection,
    queue: mpsc::Receiver<Job>,
    limits: Limits,
    max_batch: usize,
    counters: &Counters,
) -> Result<(), StoreError> {
    // Ends when every `Store` is dropped, or on `Close`.
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::new();
        let mut control = None;
        match first {
            Job::Op(op, reply) => batch.push((op, reply)),
            other => control = Some(other),
        }
        // A control job ends the batch, so that it sees everything before it committed.
        while control.is_none() && batch.len() < max_batch {
            match queue.try_recv() {
                Ok(Job::Op(op, reply)) => batch.push((op, reply)),
                Ok(other) => control = Some(other),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            run_batch(&conn, batch, &limits, counters);
        }
        match control {
            None => {}
            Some(Job::Flush(done)) => {
                let _ = done.send(());
            }
            Some(Job::Pragmas(answer)) => {
                let _ = answer.send(pragmas(&conn));
            }
            Some(Job::Close) => break,
            Some(Job::Op(..)) => {}
        }
    }
    // Jobs still queued are answered `Closed` as the queue drops them.
    drop(queue);
    conn.close().map_err(|(_, e)| {
        log::error!("store: closing the database failed: {e}");
        StoreError::from(e)
    })
}

fn pragmas(conn: &Connection) -> Result<Pragmas, StoreError> {
    let read = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0));
    let int = |name: &str| match read(name)? {
        rusqlite::types::Value::Integer(n) => Ok(n),
        other => Err(StoreError::Storage(format!("pragma {name} is {other:?}"))),
    };
    let journal_mode = match read("journal_mode")? {
        rusqlite::types::Value::Text(mode) => mode,
        other => return Err(StoreError::Storage(format!("pragma journal_mode is {other:?}"))),
    };
    Ok(Pragmas {
        journal_mode,
        synchronous: int("synchronous")?,
        foreign_keys: int("foreign_keys")? != 0,
        busy_timeout_ms: int("busy_timeout")?,
        user_version: int("user_version")?,
    })
}

/// Runs `batch` in one transaction and answers every job after the commit.
fn run_batch(conn: &Connection, batch: Vec<(Op, ReplyTo)>, limits: &Limits, counters: &Counters) {
    let now_ms = now_millis();
    let writes = batch.iter().any(|(op, _)| op.is_write());
    // Jobs that made SQLite roll back the whole transaction: they fail, and the batch is
    // rerun without them. Each rerun fails one more job, so this ends.
    let mut aborted: Vec<Option<StoreError>> = vec![None; batch.len()];
    let results = loop {
        match attempt(conn, &batch, &aborted, writes, limits, now_ms) {
            Attempt::Committed(results) => {
                if writes {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                }
                break results;
            }
            Attempt::Aborted { index, error } => {
                log::warn!("store: a job aborted its batch's transaction ({error}); rerunning the others");
                aborted[index] = Some(error);
            }
            Attempt::Failed(error) => {
                log::error!("store: a batch of {} jobs failed: {error}", batch.len());
                break vec![Err(error); batch.len()];
            }
        }
    };
    // Counted before the replies so that a caller woken by its reply sees its job.
    counters.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    counters.batches.fetch_add(1, Ordering::Relaxed);
    for ((_, reply), result) in batch.into_iter().zip(results) {
        reply.send(result);
    }
}

enum Attempt {
    Committed(Vec<Result<Output, StoreError>>),
    Aborted { index: usize, error: StoreError },
    Failed(StoreError),
}

fn attempt(
    conn: &Connection,
    batch: &[(Op, ReplyTo)],
    aborted: &[Option<StoreError>],
    writes: bool,
    limits: &Limits,
    now_ms: i64,
) -> Attempt {
    // IMMEDIATE takes the write lock up front, so the commit cannot fail on it; a
    // read-only batch only needs a consistent snapshot.
    let begin = if writes { "BEGIN IMMEDIATE" } else { "BEGIN DEFERRED" };
    if let Err(e) = conn.execute_batch(begin) {
        return Attempt::Failed(StoreError::Storage(format!("cannot begin a transaction: {e}")));
    }
    let mut results = Vec::with_capacity(batch.len());
    for (index, (op, _)) in batch.iter().enumerate() {
        if let Some(error) = &aborted[index] {
            results.push(Err(error.clone()));
            continue;
        }
        let result = if op.is_write() {
            in_savepoint(conn, || ops::execute(conn, op, limits, now_ms))
        } else {
            ops::execute(conn, op, limits, now_ms)
        };
        if let Err(error) = &result {
            if conn.is_autocommit() {
                return Attempt::Aborted { index, error: error.clone() };
            }
        }
        results.push(result);
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => Attempt::Committed(results),
        Err(e) => {
            rollback(conn);
            Attempt::Failed(StoreError::Storage(format!("commit failed, nothing was written: {e}")))
        }
    }
}

/// Runs one write so that its failure undoes only its own changes. If even that cannot
/// be done, the whole transaction is rolled back, which [`attempt`] notices.
fn in_savepoint(conn: &Connection, f: impl FnOnce() -> Result<Output, StoreError>) -> Result<Output, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    match f() {
        Ok(output) => match conn.execute_batch("RELEASE job") {
            Ok(()) => Ok(output),
            Err(e) => {
                rollback(conn);
                Err(e.into())
            }
        },
        Err(error) => {
            // SQLite may have rolled back everything already (disk full, I/O error).
            if !conn.is_autocommit() && conn.execute_batch("ROLLBACK TO job; RELEASE job").is_err() {
                rollback(conn);
            }
            Err(error)
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            log::error!("store: rollback failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::{Value, Write};
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&conn, 0, 0).unwrap();
        conn
    }

    fn limits() -> Limits {
        Limits { key_bytes: 64, value_bytes: 64, update_ops: 8, list_limit: 100 }
    }

    type Answers = mpsc::Receiver<(usize, Result<Output, StoreError>)>;

    fn collect(ops: Vec<Op>) -> (Vec<(Op, ReplyTo)>, Answers) {
        let (tx, rx) = mpsc::channel();
        let batch = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| {
                let tx = tx.clone();
                (op, ReplyTo::new(Box::new(move |r| tx.send((i, r)).unwrap())))
            })
            .collect();
        (batch, rx)
    }

    #[test]
    fn one_failing_job_does_not_fail_its_batch() {
        let conn = conn();
        let counters = Counters::default();
        let (batch, rx) = collect(vec![
            Op::Set { key: "a".into(), value: json!(1).into() },
            Op::Set { key: "".into(), value: json!(2).into() },
            Op::Update {
                expect: vec![("a".into(), Some(json!(0).into()))],
                ops: vec![Write::Set { key: "a".into(), value: json!(3).into() }],
            },
            Op::Set { key: "b".into(), value: json!("x".repeat(100)).into() },
            Op::Get { key: "a".into() },
        ]);
        run_batch(&conn, batch, &limits(), &counters);
        let results: Vec<_> = rx.try_iter().collect();
        assert_eq!(results.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2, 3, 4], "answered in order");
        assert!(results[0].1.is_ok());
        assert!(matches!(results[1].1, Err(StoreError::BadRequest(_))));
        assert_eq!(results[2].1, Ok(Output::Conflict { key: "a".into() }));
        assert!(matches!(results[3].1, Err(StoreError::TooLarge(_))));
        assert_eq!(results[4].1, Ok(Output::Value(Some(json!(1).into()))), "reads see earlier writes");
        assert_eq!(counters.snapshot(), Stats { jobs: 5, batches: 1, commits: 1 });
        assert!(conn.is_autocommit(), "the transaction is over");
    }

    #[test]
    fn a_failed_write_is_undone_alone() {
        let conn = conn();
        // A trigger makes the second write of an update fail after the first succeeded.
        conn.execute_batch(
            "CREATE TRIGGER no_bad BEFORE INSERT ON kv WHEN NEW.key = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
        let (batch, rx) = collect(vec![
            Op::Set { key: "before".into(), value: json!(1).into() },
            Op::Update {
                expect: vec![],
                ops: vec![
                    Write::Set { key: "partial".into(), value: json!(1).into() },
                    Write::Set { key: "bad".into(), value: json!(1).into() },
                ],
            },
            Op::Set { key: "after".into(), value: json!(1).into() },
        ]);
        run_batch(&conn, batch, &limits(), &Counters::default());
        let results: Vec<_> = rx.try_iter().map(|(_, r)| r).collect();
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(matches!(results[1], Err(StoreError::Storage(_))));
        let keys: Vec<String> = conn
            .prepare("SELECT key FROM kv ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(keys, ["after", "before"]);
    }

    #[test]
    fn a_job_that_rolls_back_the_transaction_is_dropped_and_the_rest_rerun() {
        let conn = conn();
        // RAISE(ROLLBACK) ends the whole transaction, as SQLite does on some I/O errors.
        conn.execute_batch(
            "CREATE TRIGGER abort BEFORE INSERT ON kv WHEN NEW.key = 'abort'
             BEGIN SELECT RAISE(ROLLBACK, 'transaction rolled back'); END;",
        )
        .unwrap();
        let counters = Counters::default();
        let (batch, rx) = collect(vec![
            Op::Set { key: "a".into(), value: json!(1).into() },
            Op::Set { key: "abort".into(), value: json!(1).into() },
            Op::Get { key: "a".into() },
            Op::Set { key: "b".into(), value: json!(2).into() },
        ]);
        run_batch(&conn, batch, &limits(), &counters);
        let results: Vec<_> = rx.try_iter().map(|(_, r)| r).collect();
        assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
        assert!(matches!(&results[1], Err(StoreError::Storage(m)) if m.contains("rolled back")), "{results:?}");
        assert_eq!(results[2], Ok(Output::Value(Some(json!(1).into()))));
        assert_eq!(counters.snapshot(), Stats { jobs: 4, batches: 1, commits: 1 });
        let count: i64 = conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 2);
    }

    #[test]
    fn a_full_disk_fails_only_the_write_that_did_not_fit() {
        let conn = conn();
        // A database capped at its current size plus a little: like a full disk.
        let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0)).unwrap();
        conn.pragma_update(None, "max_page_count", pages + 2).unwrap();
        let big = Limits { value_bytes: 1 << 20, ..limits() };
        let (batch, rx) = collect(vec![
            Op::Set { key: "a".into(), value: json!(1).into() },
            Op::Set { key: "huge".into(), value: Value::Bytes(vec![7; 64 * 1024]) },
            Op::Set { key: "b".into(), value: json!(2).into() },
        ]);
        run_batch(&conn, batch, &big, &Counters::default());
        let results: Vec<_> = rx.try_iter().map(|(_, r)| r).collect();
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(matches!(results[1], Err(StoreError::Storage(_))), "{results:?}");
        let keys: Vec<String> = conn
            .prepare("SELECT key FROM kv ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn a_dropped_reply_answers_closed_and_a_panicking_one_is_contained() {
        let (tx, rx) = mpsc::channel();
        drop(ReplyTo::new(Box::new(move |r| tx.send(r).unwrap())));
        assert_eq!(rx.recv().unwrap(), Err(StoreError::Closed));
        ReplyTo::new(Box::new(|_| panic!("caller bug"))).send(Ok(Output::Value(None)));
    }
}
