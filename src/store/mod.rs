//! The core's durable key-value store: one SQLite file of global kiosk state.
//!
//! # Shape
//!
//! ```no_run
//! use vitrine::store::{state_dir, Op, Store, StoreConfig, StoreError, Value};
//!
//! let dir = state_dir(None).ok_or_else(|| StoreError::Open("no state directory".into()))?;
//! let (store, report) = Store::open(StoreConfig::in_dir(&dir))?;
//! if let Some(aside) = report.recovered_from {
//!     eprintln!("the old store was unreadable and is kept at {}", aside.display());
//! }
//! let op = Op::Set { key: "volume".into(), value: Value::Json(serde_json::json!(3)) };
//! store.submit(op, |result| {
//!     // Runs on the store thread once the write is on disk.
//!     println!("{result:?}");
//! });
//! store.close()?; // on SIGTERM: everything queued is committed, then the thread ends
//! # Ok::<(), vitrine::store::StoreError>(())
//! ```
//!
//! # Why a thread of its own
//!
//! GTK's main thread runs the UI and the IPC router and must never wait on the disk: an
//! fsync on an SD card can take tens of milliseconds, and SQLite may wait up to the busy
//! timeout for a lock. So one dedicated thread owns the only [`rusqlite::Connection`],
//! and [`Store`] is just a channel sender: [`Store::submit`] queues a job and returns at
//! once, and the job's reply callback runs later on the store thread. One owner also
//! means no locking inside the process and a total order of operations: replies come in
//! the order the jobs were submitted.
//!
//! # Why group commit
//!
//! With `synchronous=FULL` every commit is an fsync, and fsync is what a kiosk's storage
//! is slowest at. The thread blocks for the first job, then takes whatever else is
//! already queued (up to [`StoreConfig::max_batch`]) and runs the whole batch in one
//! transaction with one commit, so a burst of a thousand writes costs a handful of
//! fsyncs instead of a thousand. Each write runs in its own `SAVEPOINT`: a job that
//! fails or whose compare-and-set conflicts is undone alone and the rest of its batch
//! commits. Reads run in the same transaction and see the writes queued before them.
//!
//! # The durability contract
//!
//! A reply carrying `Ok` means the result is committed: the database is in WAL mode with
//! `synchronous=FULL`, so the WAL was fsynced before the reply was called, and the data
//! survives a crash, a `kill -9` or a power cut from then on. Replies are only called
//! after the batch's commit; if the commit fails, every job of the batch gets an error
//! and none of it was written. Reads are answered after the commit too, so a reply never
//! shows data that could still be lost.
//!
//! If the store is closed (or its thread has stopped), a reply is called with
//! [`StoreError::Closed`], possibly on the thread that submitted the job. A reply is
//! always called exactly once.
//!
//! # Start-up
//!
//! The kiosk uses [`Store::start`], which does all of this on the store thread while
//! the window comes up (jobs wait in the queue); [`Store::open`] does it before
//! returning. Either creates the directory (mode 0700), opens the file and checks it
//! (`PRAGMA quick_check`), then migrates its schema (up to [`SCHEMA_VERSION`]). A file that cannot be
//! read — garbage, truncated, failing the check, or written by a newer Vitrine — is moved
//! aside as `store.sqlite3.corrupt-<unix-millis>` with its `-wal`/`-shm` files, logged
//! as an error, and replaced by an empty store ([`OpenReport::recovered_from`]): a kiosk
//! must come back up rather than crash-loop on a bad file. Only an environment that makes
//! any store impossible (an unwritable directory, a file locked by another process) is an
//! error.
//!
//! # Errors for the IPC layer
//!
//! [`StoreError::TooLarge`] maps to `too_large`, [`StoreError::BadRequest`] to
//! `bad_args`, everything else to `internal`. A compare-and-set conflict is not an error
//! but [`Output::Conflict`].

mod location;
mod ops;
mod recover;
mod schema;
mod types;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

pub use location::{resolve_state_dir, state_dir, FILE_NAME};
pub use schema::VERSION as SCHEMA_VERSION;
pub use types::{Change, Entry, Op, OpenReport, Output, Pragmas, Stats, StoreConfig, StoreError, Value, Write};

use worker::{Counters, Job, ReplyTo};

/// A handle to the store thread. Cheap to clone; every clone talks to the same thread.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
    thread_id: ThreadId,
}

impl Store {
    /// Opens (creating, checking, migrating or recovering) the file and starts the store
    /// thread. Blocks on the disk: call it at start-up, before the UI runs.
    pub fn open(config: StoreConfig) -> Result<(Store, OpenReport), StoreError> {
        let (conn, report) = recover::open(&config)?;
        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel();
        let thread = worker::spawn(conn, queue, &config, Arc::clone(&counters))?;
        let thread_id = thread.thread().id();
        let shared = Shared { path: config.path, counters, thread: Mutex::new(Some(thread)), thread_id };
        Ok((Store { jobs, shared: Arc::new(shared) }, report))
    }

    /// Starts the store thread, which opens (creating, checking, migrating or
    /// recovering) the file itself and then serves jobs; returns at once. Jobs
    /// submitted meanwhile wait in the queue. So a slow disk or a large file's
    /// `quick_check` never delays the window. `opened` runs on the store thread with
    /// the outcome; if the open fails, every job is answered with that error.
    pub fn start<F>(config: StoreConfig, opened: F) -> Result<Store, StoreError>
    where
        F: FnOnce(Result<&OpenReport, &StoreError>) + Send + 'static,
    {
        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel();
        let path = config.path.clone();
        let thread = worker::spawn_opening(config, queue, Arc::clone(&counters), opened)?;
        let thread_id = thread.thread().id();
        let shared = Shared { path, counters, thread: Mutex::new(Some(thread)), thread_id };
        Ok(Store { jobs, shared: Arc::new(shared) })
    }

    /// Queues `op` and returns at once. `reply` is called exactly once, on the store
    /// thread, after the result is durable (see the module docs for the contract).
    pub fn submit<F>(&self, op: Op, reply: F)
    where
        F: FnOnce(Result<Output, StoreError>) + Send + 'static,
    {
        // A failed send hands the job back; dropping it answers the reply with `Closed`.
        let _ = self.jobs.send(Job::Op(op, ReplyTo::new(Box::new(reply))));
    }

    /// Runs `op` and waits for its durable result. Blocks: not for the GTK main thread.
    pub fn call(&self, op: Op) -> Result<Output, StoreError> {
        self.not_on_store_thread("call")?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(op, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Waits until every job submitted before this call is committed and answered.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.not_on_store_thread("flush")?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs.send(Job::Flush(tx)).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)
    }

    /// Commits everything queued before this call, closes the database (checkpointing
    /// the WAL) and waits for the thread to end. Jobs submitted afterwards, from any
    /// clone, are answered with [`StoreError::Closed`]. For SIGTERM. From a reply
    /// callback it cannot wait for its own thread: the thread ends after the current batch.
    pub fn close(self) -> Result<(), StoreError> {
        // If the send fails the thread is gone already; joining still collects its result.
        let _ = self.jobs.send(Job::Close);
        if self.not_on_store_thread("close").is_err() {
            return Ok(());
        }
        let handle = self.shared.thread.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match handle {
            Some(handle) => {
                handle.join().unwrap_or_else(|_| Err(StoreError::Storage("the store thread panicked".into())))
            }
            // Another clone closed it already.
            None => Ok(()),
        }
    }

    /// Jobs, batches and commits so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The connection's settings as SQLite reports them now. Blocks: for diagnostics
    /// and tests.
    pub fn pragmas(&self) -> Result<Pragmas, StoreError> {
        self.not_on_store_thread("pragmas")?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs.send(Job::Pragmas(tx)).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Reply callbacks run on the store thread: waiting there for the store would wait
    /// forever.
    fn not_on_store_thread(&self, what: &str) -> Result<(), StoreError> {
        if std::thread::current().id() == self.shared.thread_id {
            return Err(StoreError::BadRequest(format!("Store::{what} from a reply callback would wait for itself")));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.shared.path).finish_non_exhaustive()
    }
}
