//! Worker threads for blocking commands, so that a command that waits on disk or
//! network never stalls the GTK thread.
//!
//! The pool grows when every worker is busy (up to a cap), so one slow command cannot
//! hold up the others; workers beyond the minimum leave after a while idle.
//!
//! Jobs belong to an owner (the calling surface), and the pool is fair between owners:
//! one owner runs at most [`Pool::share`] jobs at once (half the cap), and owners with
//! queued jobs take turns for free workers. A surface flooding slow calls therefore
//! leaves workers for the others, and waits behind no one but itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long a worker beyond the minimum waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(30);

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    min: usize,
    share: usize,
}

#[derive(Default)]
struct State {
    queues: BTreeMap<String, VecDeque<Job>>,
    /// Owners with queued jobs, in the order they get their next turn.
    turns: VecDeque<String>,
    running: BTreeMap<String, usize>,
    workers: usize,
    /// Workers not running a job.
    idle: usize,
}

impl State {
    /// The next job, in turn, of an owner under its share.
    fn take(&mut self, share: usize) -> Option<(String, Job)> {
        for _ in 0..self.turns.len() {
            let owner = self.turns.pop_front()?;
            let running = self.running.get(&owner).copied().unwrap_or(0);
            let job = if running < share { self.queues.get_mut(&owner).and_then(VecDeque::pop_front) } else { None };
            let more = self.queues.get(&owner).is_some_and(|q| !q.is_empty());
            if more {
                self.turns.push_back(owner.clone());
            } else {
                self.queues.remove(&owner);
            }
            if let Some(job) = job {
                *self.running.entry(owner.clone()).or_default() += 1;
                return Some((owner, job));
            }
        }
        None
    }

    /// Queued jobs that a free worker could start now.
    fn runnable(&self, share: usize) -> usize {
        self.queues
            .iter()
            .map(|(owner, q)| q.len().min(share.saturating_sub(self.running.get(owner).copied().unwrap_or(0))))
            .sum()
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    max: usize,
}

impl Pool {
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            min,
            share: (max / 2).max(1),
        });
        let pool = Self { shared, max };
        for _ in 0..min {
            pool.grow();
        }
        pool
    }

    /// Runs `job` on a worker, fairly with the jobs of other owners.
    pub fn spawn(&self, owner: &str, job: impl FnOnce() + Send + 'static) {
        let grow = {
            let mut state = lock(&self.shared.state);
            let queue = state.queues.entry(owner.to_string()).or_default();
            queue.push_back(Box::new(job));
            if queue.len() == 1 {
                state.turns.push_back(owner.to_string());
            }
            state.runnable(self.shared.share) > state.idle && state.workers < self.max
        };
        if grow {
            self.grow();
        }
        self.shared.work.notify_one();
    }

    /// Threads alive now.
    #[cfg(test)]
    pub fn workers(&self) -> usize {
        lock(&self.shared.state).workers
    }

    /// Jobs one owner may run at once.
    #[cfg(test)]
    pub fn share(&self) -> usize {
        self.shared.share
    }

    fn grow(&self) {
        let n = {
            let mut state = lock(&self.shared.state);
            state.workers += 1;
            state.idle += 1;
            state.workers
        };
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new().name(format!("vitrine-worker-{n}")).spawn(move || work(&shared));
        if let Err(e) = spawned {
            log::error!("cannot start a worker thread: {e}");
            let mut state = lock(&self.shared.state);
            state.workers -= 1;
            state.idle -= 1;
        }
    }
}

/// The pool as one surface's commands see it: what they spawn is that surface's.
#[derive(Clone, Copy)]
pub struct OwnedPool<'a> {
    pool: &'a Pool,
    owner: &'a str,
}

impl OwnedPool<'_> {
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.pool.spawn(self.owner, job);
    }
}

impl Pool {
    pub fn owned_by<'a>(&'a self, owner: &'a str) -> OwnedPool<'a> {
        OwnedPool { pool: self, owner }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn work(shared: &Shared) {
    let mut state = lock(&shared.state);
    loop {
        let Some((owner, job)) = state.take(shared.share) else {
            let (next, timeout) =
                shared.work.wait_timeout(state, IDLE_EXIT).unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            if timeout.timed_out() && state.workers > shared.min && state.runnable(shared.share) == 0 {
                state.workers -= 1;
                state.idle -= 1;
                return;
            }
            continue;
        };
        state.idle -= 1;
        // Hold the lock only to take a job, not while running it.
        drop(state);
        // A panicking command must not take the worker down with it; dropping its
        // `ReplyTo` answers the page with `internal`.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("a blocking command panicked");
        }
        state = lock(&shared.state);
        state.idle += 1;
        if let Some(n) = state.running.get_mut(&owner) {
            *n -= 1;
            if *n == 0 {
                state.running.remove(&owner);
            }
        }
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
        pool.spawn("main", || panic!("boom"));
        for i in 0..10 {
            let tx = tx.clone();
            pool.spawn("main", move || tx.send(i).unwrap());
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
        pool.spawn("main", move || {
            std::thread::sleep(Duration::from_millis(500));
            slow.send("slow").unwrap();
        });
        let start = Instant::now();
        pool.spawn("main", move || tx.send("quick").unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "quick");
        assert!(start.elapsed() < Duration::from_millis(400), "quick job waited for the slow one");
        assert!(pool.workers() >= 2);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "slow");
    }

    #[test]
    fn one_owner_flooding_slow_jobs_leaves_workers_for_another() {
        let pool = Pool::new(1, 8);
        let (tx, rx) = channel();
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        for _ in 0..40 {
            let (tx, running) = (tx.clone(), Arc::clone(&running));
            pool.spawn("flood", move || {
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 = r.1.max(r.0);
                }
                std::thread::sleep(Duration::from_millis(300));
                running.lock().unwrap().0 -= 1;
                tx.send("flood").unwrap();
            });
        }
        let start = Instant::now();
        pool.spawn("other", move || tx.send("other").unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "other");
        assert!(start.elapsed() < Duration::from_millis(250), "waited {:?} behind the flood", start.elapsed());
        for _ in 0..40 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "flood");
        }
        assert_eq!(running.lock().unwrap().1, pool.share(), "the flood ran more than its share at once");
    }

    #[test]
    fn owners_with_queued_jobs_take_turns() {
        let mut state = State::default();
        for (owner, n) in [("a", 3), ("b", 2)] {
            for _ in 0..n {
                state.queues.entry(owner.to_string()).or_default().push_back(Box::new(|| {}));
            }
            state.turns.push_back(owner.to_string());
        }
        let order: Vec<String> = std::iter::from_fn(|| state.take(10).map(|(o, _)| o)).collect();
        assert_eq!(order, ["a", "b", "a", "b", "a"]);
        // Under a share of 1, an owner with a job running waits for its turn.
        let mut state = State::default();
        state.queues.entry("a".into()).or_default().push_back(Box::new(|| {}));
        state.turns.push_back("a".into());
        state.running.insert("a".into(), 1);
        assert!(state.take(1).is_none());
        assert_eq!(state.runnable(1), 0);
        assert_eq!(state.turns.len(), 1, "a keeps its place");
    }
}
