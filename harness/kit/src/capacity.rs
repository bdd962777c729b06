//! A node of known capacity: `c` workers, each serving one request in a fixed service time
//! `s`, so the node serves at most `c / s` requests a second, on a 2-core laptop as on a
//! 64-core server. Section 4 (Scalability, exercises 12 to 15) measures every figure against
//! that number, which a CPU-bound service could never promise.
//!
//! The map:
//! - [`CapacityFlags`]: `--workers <c>` (default 4) and `--service-time-ms <s>` (default 25),
//!   for a node's own flags (`#[command(flatten)]`), or the environment variables
//!   `NODE_WORKERS` and `NODE_SERVICE_TIME_MS`.
//! - [`Capacity`]: the pool. [`Capacity::serve`] waits in one first-come, first-served queue
//!   for a worker, holds it for `s`, and says how long it waited and how long it was served.
//!   Whatever sits in front of it (exercise 13's regulator, 14's adaptive limit, 15's ring)
//!   calls `serve` once per request, or [`Capacity::serve_since`] with the moment the
//!   request arrived when it kept the request in a queue of its own first.
//! - [`Capacity::routes`]: the pool as a node: `POST /work` (one request's worth of work) and
//!   `GET`/`PUT /internal/capacity` (the pool's figures; a new service time while it runs, so
//!   that capacity can halve mid-run). Exercise 12 drives `POST /work` directly.
//! - [`checkout`]: the shop's edge in front of the pool (exercises 13 and 14): `POST /checkout`
//!   through a [`checkout::Gate`] of the edge's own, and its receipt.
//! - On `/metrics` ([`Capacity::with_metrics`]): `capacity_workers`,
//!   `capacity_service_time_seconds`, `capacity_queue_depth` (requests waiting for a worker),
//!   `capacity_busy_workers` and `capacity_served_total`. No labels, so nothing a client
//!   sends can add a series.
//!
//! How the time is kept. A worker is a slot that remembers when it is next free. A request
//! that gets a worker starts at the later of the moment it joined the queue and the moment
//! its worker came free, and ends one service time later; it sleeps until then. Tokio's timer
//! wakes a sleeper up to a millisecond late, and the next request on that worker is credited
//! with that lag (at most [`LAG_CREDIT`]), so the rounding does not eat into capacity: a pool
//! kept busy serves `c / s` a second, not `c / (s + 1 ms)`. A longer delay (a paused process,
//! a machine that stalls) is not credited: time the node did not run is work it did not do.
//!
//! A request abandoned while it is served (its client hung up, so the handler was dropped)
//! frees its place in the queue at once but leaves its worker busy until its service time
//! is up, as real work, once started, runs to its end: the next request on that worker
//! starts after it. One abandoned while it waits simply leaves the queue.
//!
//! Where production differs: real service times vary (here they are exactly `s`, so the
//! queueing is M/D/c at best), and a real node's capacity falls as it thrashes; this one's
//! never does, which is what makes it a yardstick.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::sync::Mutex;
use crate::{ApiError, Json, Metrics, Routes};

pub mod checkout;

/// The most workers a pool may have.
pub const MAX_WORKERS: usize = 1024;

/// The longest service time a pool may have.
pub const MAX_SERVICE_TIME: Duration = Duration::from_secs(60);

/// How much of a worker's late wake-up the next request on it is credited with: above
/// tokio's millisecond of timer rounding and an ordinary scheduling delay, far below a stall.
pub const LAG_CREDIT: Duration = Duration::from_millis(5);

/// The pool's size and speed, as flags of a node (flatten them into its own flags).
#[derive(Debug, Clone, clap::Args)]
pub struct CapacityFlags {
    /// Workers serving at once: c.
    #[arg(long, env = "NODE_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// How long each request holds its worker, in milliseconds: s. Capacity is c / s.
    #[arg(long, env = "NODE_SERVICE_TIME_MS", default_value_t = 25)]
    pub service_time_ms: u64,
}

/// One request's account of its visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// From joining the queue to starting work.
    pub waited: Duration,
    /// From starting work to the end of it: the service time (a little more if the node
    /// was too busy to wake on time).
    pub served: Duration,
}

/// A fixed pool of workers with a fixed service time; cheap to clone (all clones share it).
#[derive(Clone)]
pub struct Capacity(Arc<Inner>);

struct Inner {
    workers: usize,
    service_time_us: AtomicU64,
    /// One permit per worker; tokio's semaphore is fair, so this is the first-come,
    /// first-served queue.
    permits: Semaphore,
    /// When each worker is next free, and whether a request holds it now.
    slots: Mutex<Vec<Slot>>,
    /// Requests waiting for a worker: the queue depth.
    waiting: AtomicUsize,
    busy: AtomicUsize,
    served: AtomicU64,
    metrics: Mutex<Option<Metrics>>,
}

#[derive(Clone, Copy)]
struct Slot {
    free_at: Instant,
    taken: bool,
}

impl Capacity {
    /// A pool of `workers` with `service_time`, bounded by [`MAX_WORKERS`] and
    /// [`MAX_SERVICE_TIME`]; the reason in a sentence when out of bounds.
    pub fn new(workers: usize, service_time: Duration) -> Result<Capacity, String> {
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(format!(
                "--workers {workers}: a pool has 1 to {MAX_WORKERS} workers"
            ));
        }
        check_service_time(service_time)?;
        let now = Instant::now();
        Ok(Capacity(Arc::new(Inner {
            workers,
            service_time_us: AtomicU64::new(service_time.as_micros() as u64),
            permits: Semaphore::new(workers),
            slots: Mutex::new(vec![
                Slot {
                    free_at: now,
                    taken: false
                };
                workers
            ]),
            waiting: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            metrics: Mutex::new(None),
        })))
    }

    /// The pool a node's flags ask for.
    pub fn from_flags(flags: &CapacityFlags) -> Result<Capacity, String> {
        Capacity::new(flags.workers, Duration::from_millis(flags.service_time_ms))
    }

    /// Publishes the pool's figures on the node's `/metrics` from now on.
    pub fn with_metrics(self, metrics: &Metrics) -> Capacity {
        *self.0.metrics.lock() = Some(metrics.clone());
        self.publish();
        self
    }

    pub fn workers(&self) -> usize {
        self.0.workers
    }

    pub fn service_time(&self) -> Duration {
        Duration::from_micros(self.0.service_time_us.load(Ordering::Relaxed))
    }

    /// Changes the service time of every request that starts from now on.
    pub fn set_service_time(&self, service_time: Duration) -> Result<(), String> {
        check_service_time(service_time)?;
        self.0
            .service_time_us
            .store(service_time.as_micros() as u64, Ordering::Relaxed);
        self.publish();
        Ok(())
    }

    /// The capacity, c / s, in requests per second.
    pub fn per_second(&self) -> f64 {
        self.0.workers as f64 / self.service_time().as_secs_f64()
    }

    /// Requests waiting for a worker now.
    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::Relaxed)
    }

    /// Workers held by a request now.
    pub fn busy(&self) -> usize {
        self.0.busy.load(Ordering::Relaxed)
    }

    /// Requests served to their end since the pool was made.
    pub fn served(&self) -> u64 {
        self.0.served.load(Ordering::Relaxed)
    }

    /// Waits for a worker (first come, first served), holds it for the service time, and
    /// returns how long each took.
    pub async fn serve(&self) -> Served {
        self.serve_since(Instant::now()).await
    }

    /// [`Capacity::serve`] for a request that reached the node at `arrived` and waited in
    /// a queue of the node's own before it came here (exercise 13's regulator): the time it
    /// took that queue to hand it over is credited like a late wake-up (up to
    /// [`LAG_CREDIT`]), so a regulator in front costs the pool no capacity, and `waited`
    /// counts from `arrived`.
    pub async fn serve_since(&self, arrived: Instant) -> Served {
        let joined = arrived.min(Instant::now());
        let waiting = Count::up(self, &self.0.waiting);
        let permit = self
            .0
            .permits
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        drop(waiting);
        let busy = Count::up(self, &self.0.busy);
        let now = Instant::now();
        let service_time = self.service_time();
        let (slot, start, before) = {
            let mut slots = self.0.slots.lock();
            // A permit guarantees a free slot; the one that came free first is the one whose
            // release gave this request its permit.
            let (i, slot) = slots
                .iter_mut()
                .enumerate()
                .filter(|(_, s)| !s.taken)
                .min_by_key(|(_, s)| s.free_at)
                .expect("a permit means a free worker");
            let start = joined
                .max(slot.free_at)
                .max(now.checked_sub(LAG_CREDIT).unwrap_or(now));
            let before = slot.free_at;
            slot.taken = true;
            slot.free_at = start + service_time;
            (i, start, before)
        };
        // Gives the worker back even if this request is dropped: mid-service, its `free_at`
        // keeps it busy for the next request until the work would have ended; before its
        // start (its worker was still finishing abandoned work), it never began, and the
        // worker's time is given back.
        let release = Release {
            capacity: self,
            slot,
            start,
            before,
        };
        tokio::time::sleep_until((start + service_time).into()).await;
        // The slot before the permit: whoever the permit wakes must find a free slot.
        drop(release);
        drop(permit);
        drop(busy);
        self.0.served.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &*self.0.metrics.lock() {
            metrics.add("capacity_served_total", 1.0);
        }
        Served {
            waited: start.saturating_duration_since(joined),
            served: Instant::now().saturating_duration_since(start),
        }
    }

    /// The pool as a node's routes: `POST /work` and `GET`/`PUT /internal/capacity`.
    pub fn routes(&self) -> Routes {
        Routes::new()
            .public(
                Router::new()
                    .route("/work", post(work))
                    .with_state(self.clone()),
            )
            .internal(self.internal_routes())
    }

    /// Only `GET`/`PUT /capacity`, for a node that serves the pool behind routes of its own
    /// (mount them with [`Routes::internal`]).
    pub fn internal_routes(&self) -> Router {
        Router::new()
            .route("/capacity", get(figures).put(configure))
            .with_state(self.clone())
    }

    /// What `GET /internal/capacity` answers.
    pub fn figures(&self) -> Figures {
        Figures {
            workers: self.workers(),
            service_time_ms: self.service_time().as_secs_f64() * 1000.0,
            per_second: self.per_second(),
            waiting: self.waiting(),
            busy: self.busy(),
            served: self.served(),
        }
    }

    fn publish(&self) {
        if let Some(metrics) = &*self.0.metrics.lock() {
            metrics.set("capacity_workers", self.0.workers as f64);
            metrics.set(
                "capacity_service_time_seconds",
                self.service_time().as_secs_f64(),
            );
            metrics.set("capacity_queue_depth", self.waiting() as f64);
            metrics.set("capacity_busy_workers", self.busy() as f64);
        }
    }
}

fn check_service_time(service_time: Duration) -> Result<(), String> {
    if service_time < Duration::from_millis(1) || service_time > MAX_SERVICE_TIME {
        return Err(format!(
            "a service time of {service_time:?}: give 1 ms to {} s",
            MAX_SERVICE_TIME.as_secs()
        ));
    }
    Ok(())
}

/// One of the pool's counters, up while this lives (dropped with a cancelled request too).
struct Count<'a> {
    capacity: &'a Capacity,
    counter: &'a AtomicUsize,
}

impl<'a> Count<'a> {
    fn up(capacity: &'a Capacity, counter: &'a AtomicUsize) -> Count<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        capacity.publish();
        Count { capacity, counter }
    }
}

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
        self.capacity.publish();
    }
}

struct Release<'a> {
    capacity: &'a Capacity,
    slot: usize,
    /// When this request's work starts (it may be later than now).
    start: Instant,
    /// The slot's `free_at` before this request booked it.
    before: Instant,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut slots = self.capacity.0.slots.lock();
        let slot = &mut slots[self.slot];
        if Instant::now() < self.start {
            // Abandoned before its work began: the booking goes, or every abandoned request
            // would push the worker's next free moment further out, work nobody does.
            slot.free_at = self.before;
        }
        slot.taken = false;
    }
}

/// The pool's figures, as `GET /internal/capacity` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub workers: usize,
    pub service_time_ms: f64,
    /// c / s.
    pub per_second: f64,
    pub waiting: usize,
    pub busy: usize,
    pub served: u64,
}

/// What `PUT /internal/capacity` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    service_time_ms: u64,
}

/// What `POST /work` answers: how long the request waited for a worker and was served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkDone {
    pub waited_ms: f64,
    pub served_ms: f64,
}

impl From<Served> for WorkDone {
    fn from(s: Served) -> WorkDone {
        WorkDone {
            waited_ms: s.waited.as_secs_f64() * 1000.0,
            served_ms: s.served.as_secs_f64() * 1000.0,
        }
    }
}

async fn work(State(capacity): State<Capacity>) -> Json<WorkDone> {
    Json(capacity.serve().await.into())
}

async fn figures(State(capacity): State<Capacity>) -> Json<Figures> {
    Json(capacity.figures())
}

async fn configure(
    State(capacity): State<Capacity>,
    Json(change): Json<Change>,
) -> Result<Json<Figures>, ApiError> {
    capacity
        .set_service_time(Duration::from_millis(change.service_time_ms))
        .map_err(ApiError::bad_request)?;
    Ok(Json(capacity.figures()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clients` closed-loop clients keep the pool busy for `run`; the requests served.
    async fn closed_loop(capacity: &Capacity, clients: usize, run: Duration) -> u64 {
        let end = Instant::now() + run;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let capacity = capacity.clone();
            tasks.spawn(async move {
                let mut n = 0;
                while Instant::now() < end {
                    capacity.serve().await;
                    n += 1;
                }
                n
            });
        }
        tasks.join_all().await.into_iter().sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_pool_serves_c_over_s_a_second_and_queues_the_rest() {
        // c = 4, s = 10 ms: 400 a second. Three clients per worker keep it busy.
        let capacity = Capacity::new(4, Duration::from_millis(10)).unwrap();
        let metrics = Metrics::default();
        let capacity = capacity.with_metrics(&metrics);
        assert_eq!(capacity.per_second(), 400.0);
        let run = Duration::from_millis(1500);
        // Sampled every 5 ms for 200 ms mid-run, not once: a worker is idle for the instant
        // between its request's end and the next one's start, and beside a CPU hog the woken
        // task can wait milliseconds for a thread (a single sample once read 3 busy).
        let probe = {
            let capacity = capacity.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(600)).await;
                let mut samples = Vec::new();
                for _ in 0..40 {
                    samples.push((capacity.busy(), capacity.waiting()));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (samples, metrics.render())
            })
        };
        let served = closed_loop(&capacity, 12, run).await;
        let rate = served as f64 / run.as_secs_f64();
        let ratio = rate / capacity.per_second();
        println!("served {served} in {run:?}: {rate:.0}/s, {ratio:.3} of c/s");
        assert!(
            (0.85..=1.08).contains(&ratio),
            "a busy pool of 4 x 10 ms should serve about 400/s; it served {rate:.0}/s"
        );
        let (samples, text) = probe.await.unwrap();
        let most_busy = samples.iter().map(|&(busy, _)| busy).max();
        assert_eq!(
            most_busy,
            Some(4),
            "every worker is busy under 12 clients, and never more than 4: {samples:?}"
        );
        let waiting: Vec<usize> = samples
            .iter()
            .filter(|&&(busy, _)| busy == 4)
            .map(|&(_, waiting)| waiting)
            .collect();
        assert!(
            waiting.iter().any(|w| (6..=8).contains(w)) && waiting.iter().all(|&w| w <= 8),
            "12 clients, 4 served: about 8 wait, never more ({samples:?})"
        );
        assert!(text.contains("capacity_queue_depth "), "{text}");
        assert!(text.contains("capacity_workers 4"), "{text}");
        assert_eq!((capacity.busy(), capacity.waiting()), (0, 0));
        assert_eq!(capacity.served(), served);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_pool_serves_in_the_service_time_and_a_slower_one_serves_less() {
        let capacity = Capacity::new(2, Duration::from_millis(20)).unwrap();
        let one = capacity.serve().await;
        assert!(one.waited < Duration::from_millis(5), "{one:?}");
        assert!(
            (Duration::from_millis(19)..Duration::from_millis(60)).contains(&one.served),
            "{one:?}"
        );
        capacity
            .set_service_time(Duration::from_millis(40))
            .unwrap();
        let run = Duration::from_millis(1000);
        let served = closed_loop(&capacity, 6, run).await;
        let ratio = served as f64 / (capacity.per_second() * run.as_secs_f64());
        assert!(
            (0.85..=1.1).contains(&ratio),
            "{served} served at 2 x 40 ms"
        );
        assert!(capacity.set_service_time(Duration::ZERO).is_err());
        assert!(Capacity::new(0, Duration::from_millis(1)).is_err());
        assert!(Capacity::new(1, Duration::from_secs(61)).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_abandoned_while_it_waits_leaves_the_queue() {
        let capacity = Capacity::new(1, Duration::from_millis(50)).unwrap();
        let first = tokio::spawn({
            let capacity = capacity.clone();
            async move { capacity.serve().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let abandoned = tokio::time::timeout(Duration::from_millis(10), capacity.serve()).await;
        assert!(abandoned.is_err(), "it had to wait behind the first");
        assert_eq!(
            capacity.waiting(),
            0,
            "the abandoned request left the queue"
        );
        first.await.unwrap();
        assert_eq!(capacity.served(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_requests_cost_only_the_work_they_began() {
        // One worker, 50 ms. A request abandoned 10 ms into its service keeps the worker
        // busy until its 50 ms are up; the requests abandoned while they wait for that
        // (having the worker but not yet its time) cost nothing.
        let capacity = Capacity::new(1, Duration::from_millis(50)).unwrap();
        let t0 = Instant::now();
        let cut = |ms| tokio::time::timeout(Duration::from_millis(ms), capacity.serve());
        assert!(cut(10).await.is_err(), "abandoned mid-service");
        for _ in 0..20 {
            assert!(cut(2).await.is_err(), "abandoned before its start");
        }
        let served = capacity.serve().await;
        let done = t0.elapsed();
        // Had each abandoned request kept the worker for its 50 ms, the last would wait
        // about a second. (Not `done`: beside a CPU hog twenty 2 ms timeouts alone took
        // 150 ms.)
        assert!(
            served.waited < Duration::from_millis(300),
            "the worker is free 50 ms after the first start, so the next request waits for at \
             most the rest of those 50 ms; it waited {:?} ({served:?}, {done:?} after the first)",
            served.waited
        );
        assert_eq!(capacity.served(), 1);
    }
}
