//! Worker threads for blocking commands, so that a command that waits on disk or
//! network never stalls the GTK thread.
//!
//! The pool grows when every worker is busy (up to a cap), so one slow command cannot
//! hold up the others; workers beyond the minimum leave after a while idle.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long a worker beyond the minimum waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(30);

struct Shared {
    rx: Mutex<Receiver<Job>>,
    counts: Mutex<Counts>,
    min: usize,
}

#[derive(Default)]
struct Counts {
    workers: usize,
    /// Workers not running a job.
    idle: usize,
    /// Jobs sent but not yet taken by a worker.
    queued: usize,
}

pub struct Pool {
    tx: Sender<Job>,
    shared: Arc<Shared>,
    max: usize,
}

impl Pool {
    pub fn new(min: usize, max: usize) -> Self {
        let (tx, rx) = channel::<Job>();
        let shared = Arc::new(Shared { rx: Mutex::new(rx), counts: Mutex::new(Counts::default()), min: min.max(1) });
        let pool = Self { tx, shared, max: max.max(min).max(1) };
        for _ in 0..pool.shared.min {
            pool.grow();
        }
        pool
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        let grow = {
            let mut counts = lock(&self.shared.counts);
            counts.queued += 1;
            counts.queued > counts.idle && counts.workers < self.max
        };
        if grow {
            self.grow();
        }
        if self.tx.send(Box::new(job)).is_err() {
            log::error!("worker pool is gone; job dropped");
        }
    }

    /// Threads alive now (for tests and status).
    pub fn workers(&self) -> usize {
        lock(&self.shared.counts).workers
    }

    fn grow(&self) {
        let n = {
            let mut counts = lock(&self.shared.counts);
            counts.workers += 1;
            counts.idle += 1;
            counts.workers
        };
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new().name(format!("vitrine-worker-{n}")).spawn(move || work(&shared));
        if let Err(e) = spawned {
            log::error!("cannot start a worker thread: {e}");
            let mut counts = lock(&self.shared.counts);
            counts.workers -= 1;
            counts.idle -= 1;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn work(shared: &Shared) {
    loop {
        // Hold the lock only to take a job, not while running it.
        let job = lock(&shared.rx).recv_timeout(IDLE_EXIT);
        let job = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                let mut counts = lock(&shared.counts);
                if counts.workers > shared.min {
                    counts.workers -= 1;
                    counts.idle -= 1;
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        {
            let mut counts = lock(&shared.counts);
            counts.queued = counts.queued.saturating_sub(1);
            counts.idle -= 1;
        }
        // A panicking command must not take the worker down with it; its responder's
        // drop answers the page with `internal`.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("a blocking command panicked");
        }
        lock(&shared.counts).idle += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::{Duration, Instant};

    #[test]
    fn runs_jobs_and_survives_a_panicking_one() {
        let pool = Pool::new(2, 4);
        let (tx, rx) = channel();
        pool.spawn(|| panic!("boom"));
        for i in 0..10 {
            let tx = tx.clone();
            pool.spawn(move || tx.send(i).unwrap());
        }
        let mut got: Vec<i32> = (0..10).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn grows_so_a_slow_job_does_not_hold_up_a_quick_one() {
        let pool = Pool::new(1, 8);
        let (tx, rx) = channel();
        let slow = tx.clone();
        pool.spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            slow.send("slow").unwrap();
        });
        let start = Instant::now();
        pool.spawn(move || tx.send("quick").unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "quick");
        assert!(start.elapsed() < Duration::from_millis(400), "quick job waited for the slow one");
        assert!(pool.workers() >= 2);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "slow");
    }
}
