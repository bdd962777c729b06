//! The regulator at the edge: every request is served at once, queued (within a bound on
//! the queue's length and on each wait), or refused at once with 503 and `Retry-After`.
//!
//! After Ulf Wiger's `jobs` (Erlang): a queue with a counter regulator (at most `limit` jobs
//! at once), a `max_size` and a `max_time`. A request that would wait past the bounds is
//! refused *before* it costs anything, so that the requests admitted are served in time.
//!
//! ```text
//!            admit()                 next_in_line()            refuse()
//! request ──► serve now? ── yes ──► [ in service: <= limit ] ──► answer
//!                 │ no                      ▲ a slot frees: the head of the queue,
//!                 ▼                         │ unless it waited over max_wait
//!            queue full? ── no ──► [ queue: <= max_queue ] ── too old ──► 503 queue_timeout
//!                 │ yes
//!                 ▼
//!            503 overloaded, Retry-After: at once
//! ```
//!
//! Yours to write: [`Limits::admit`], [`next_in_line`] and [`refuse`]. The rest (the queue's
//! bookkeeping, handing a freed slot to the next in line, cancellation, the figures) is given.
//!
//! Where production differs: `jobs` also regulates by rate and samples the node's load to
//! move its limits (exercise 14 does that); a real edge would shed by priority (checkouts
//! before browsing) and would not answer the same `Retry-After` to everyone at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use node_kit::sync::Mutex;
use node_kit::{ApiError, Metrics};
use serde::Serialize;
use tokio::sync::oneshot;

/// The regulator's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most requests in service at once: `jobs`' counter regulator. The edge sets it to
    /// the service's workers, so nothing waits behind the regulator's back.
    pub limit: usize,
    /// The most requests waiting: `jobs`' `max_size`.
    pub max_queue: usize,
    /// The longest a request may wait in the queue: `jobs`' `max_time`.
    pub max_wait: Duration,
    /// What a refusal tells the client to wait before it tries again.
    pub retry_after: Duration,
}

/// What [`Limits::admit`] decides for a request that has just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A slot is free: serve it now.
    Serve,
    /// Every slot is taken but the queue has room: wait for a slot.
    Queue,
    /// The queue is full: refuse it now, before it costs anything.
    Reject,
}

/// Why a request was refused, and what its 503 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Refused on arrival: every slot taken, the queue full.
    Full { max_queue: usize },
    /// Queued, but it waited longer than the queue allows before a slot came free.
    Expired {
        waited: Duration,
        max_wait: Duration,
    },
}

impl Limits {
    /// Decides for a request that arrives while `in_service` requests are being served and
    /// `queued` are waiting.
    pub fn admit(&self, in_service: usize, queued: usize) -> Admission {
        // lab:todo Serve while a slot is free, queue while the queue has room, else reject.
        // `self.limit` slots, `self.max_queue` places in the queue. A freed slot goes to
        // the queue's head first, so a free slot means nobody is waiting.
        if in_service < self.limit {
            Admission::Serve
        } else if queued < self.max_queue {
            Admission::Queue
        } else {
            Admission::Reject
        }
        // lab:end
    }
}

/// A request waiting in the queue.
#[derive(Debug)]
pub struct Waiter {
    /// When it joined the queue: the start of its wait.
    pub queued_at: Instant,
    wake: oneshot::Sender<Turn>,
}

/// What a waiter is told when it leaves the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A slot is yours.
    Serve,
    /// You waited too long: `waited` (answer 503).
    Expired { waited: Duration },
}

impl Waiter {
    /// A waiter that joined at `queued_at`, and the receiver its request waits on.
    pub fn new(queued_at: Instant) -> (Waiter, oneshot::Receiver<Turn>) {
        let (wake, turn) = oneshot::channel();
        (Waiter { queued_at, wake }, turn)
    }

    /// Tells the waiter it waited too long (`now - queued_at`); its request answers 503.
    pub fn expire(self, now: Instant) {
        let waited = now.saturating_duration_since(self.queued_at);
        // A request whose client has gone has nobody to tell.
        let _ = self.wake.send(Turn::Expired { waited });
    }

    /// Gives the waiter the slot; `Err` if its request is gone (its client hung up).
    fn serve(self) -> Result<(), ()> {
        self.wake.send(Turn::Serve).map_err(|_| ())
    }
}

/// Takes the next request to serve from the head of `queue` at `now`: every waiter found
/// first that has waited longer than `max_wait` is expired on the way.
pub fn next_in_line(
    queue: &mut VecDeque<Waiter>,
    now: Instant,
    max_wait: Duration,
) -> Option<Waiter> {
    // lab:todo Pop the head: expire each waiter over max_wait, return the first within it.
    // A waiter's wait is `now - waiter.queued_at`; `waiter.expire(now)` answers it. Waiting
    // exactly `max_wait` is still in time. An empty queue (or one of only expired waiters)
    // gives `None`.
    while let Some(waiter) = queue.pop_front() {
        if now.saturating_duration_since(waiter.queued_at) > max_wait {
            waiter.expire(now);
        } else {
            return Some(waiter);
        }
    }
    None
    // lab:end
}

/// The answer to a refused request: 503 with a `Retry-After` header in whole seconds (at
/// least 1, rounded up) and the JSON error `overloaded` (refused on arrival) or
/// `queue_timeout` (waited too long).
pub fn refuse(why: Overload, retry_after: Duration) -> Response {
    // lab:todo Answer 503 with Retry-After (whole seconds, rounded up, >= 1) and the JSON error.
    // `ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message).into_response()` is
    // the body; `response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s))`
    // adds the header. The message says why, in words a person reads.
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let error = match why {
        Overload::Full { max_queue } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            OVERLOADED,
            format!(
                "every worker is busy and {max_queue} requests wait already; try again in {seconds} s"
            ),
        ),
        Overload::Expired { waited, max_wait } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            QUEUE_TIMEOUT,
            format!(
                "waited {} ms in the queue, longer than its {} ms; try again in {seconds} s",
                waited.as_millis(),
                max_wait.as_millis()
            ),
        ),
    };
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
    // lab:end
}

/// The error code of a request refused on arrival.
pub const OVERLOADED: &str = "overloaded";
/// The error code of a request that waited too long in the queue.
pub const QUEUE_TIMEOUT: &str = "queue_timeout";

/// The regulator: the limits, the slots in service and the queue. Cheap to clone.
#[derive(Clone)]
pub struct Regulator(Arc<Inner>);

struct Inner {
    limits: Limits,
    state: Mutex<State>,
    /// Where the figures go (`regulator_*` on `/metrics`), if anywhere.
    metrics: Option<Metrics>,
}

#[derive(Default)]
struct State {
    in_service: usize,
    queue: VecDeque<Waiter>,
    /// The longest the queue has been: the bound a test holds it to.
    peak_queue: usize,
    admitted: u64,
    rejected: u64,
    expired: u64,
}

/// A slot in service, held while the request is served; dropping it hands the slot on.
pub struct Pass {
    regulator: Regulator,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.regulator.release();
    }
}

/// The regulator's figures, as `GET /internal/regulator` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Figures {
    pub regulated: bool,
    pub limit: usize,
    pub max_queue: usize,
    pub max_wait_ms: u64,
    pub in_service: usize,
    pub queued: usize,
    pub peak_queue: usize,
    pub admitted: u64,
    pub rejected: u64,
    pub expired: u64,
}

impl Regulator {
    pub fn new(limits: Limits, metrics: Option<Metrics>) -> Regulator {
        let regulator = Regulator(Arc::new(Inner {
            limits,
            state: Mutex::new(State::default()),
            metrics,
        }));
        regulator.publish(&regulator.0.state.lock());
        regulator
    }

    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    /// Waits for a slot: at once if [`Limits::admit`] says serve, in the queue if it says
    /// queue (until [`next_in_line`] picks this request, or expires it), or not at all.
    pub async fn enter(&self) -> Result<Pass, Overload> {
        let limits = self.0.limits;
        let turn = {
            let mut state = self.0.state.lock();
            match limits.admit(state.in_service, state.queue.len()) {
                Admission::Serve => {
                    state.in_service += 1;
                    state.admitted += 1;
                    self.count("regulator_admitted_total", 1);
                    self.publish(&state);
                    return Ok(self.pass());
                }
                Admission::Reject => {
                    state.rejected += 1;
                    self.count("regulator_rejected_total", 1);
                    self.publish(&state);
                    return Err(Overload::Full {
                        max_queue: limits.max_queue,
                    });
                }
                Admission::Queue => {
                    let (waiter, turn) = Waiter::new(Instant::now());
                    state.queue.push_back(waiter);
                    state.peak_queue = state.peak_queue.max(state.queue.len());
                    self.publish(&state);
                    turn
                }
            }
        };
        let mut waiting = Waiting {
            turn,
            regulator: self,
        };
        match (&mut waiting.turn).await {
            // The slot is this request's now: its Pass gives it back.
            Ok(Turn::Serve) => Ok(self.pass()),
            Ok(Turn::Expired { waited }) => Err(Overload::Expired {
                waited,
                max_wait: limits.max_wait,
            }),
            Err(_) => unreachable!("a waiter is answered before it is dropped"),
        }
    }

    fn pass(&self) -> Pass {
        Pass {
            regulator: self.clone(),
        }
    }

    /// A slot came free: the next in line gets it, or nobody does.
    fn release(&self) {
        let max_wait = self.0.limits.max_wait;
        let mut state = self.0.state.lock();
        loop {
            let before = state.queue.len();
            let next = next_in_line(&mut state.queue, Instant::now(), max_wait);
            let expired = before - state.queue.len() - usize::from(next.is_some());
            state.expired += expired as u64;
            self.count("regulator_expired_total", expired);
            match next {
                // The slot passes on: still one in service.
                Some(waiter) => {
                    if waiter.serve().is_ok() {
                        state.admitted += 1;
                        self.count("regulator_admitted_total", 1);
                        break;
                    }
                    // Its request is gone; the next one, then.
                }
                None => {
                    state.in_service -= 1;
                    break;
                }
            }
        }
        self.publish(&state);
    }

    /// The figures now.
    pub fn figures(&self, regulated: bool) -> Figures {
        let state = self.0.state.lock();
        let limits = self.0.limits;
        Figures {
            regulated,
            limit: limits.limit,
            max_queue: limits.max_queue,
            max_wait_ms: limits.max_wait.as_millis() as u64,
            in_service: state.in_service,
            queued: state.queue.len(),
            peak_queue: state.peak_queue,
            admitted: state.admitted,
            rejected: state.rejected,
            expired: state.expired,
        }
    }

    fn publish(&self, state: &State) {
        let Some(metrics) = &self.0.metrics else {
            return;
        };
        metrics.set("regulator_queue_depth", state.queue.len() as f64);
        metrics.set("regulator_queue_depth_peak", state.peak_queue as f64);
        metrics.set("regulator_in_service", state.in_service as f64);
    }

    fn count(&self, counter: &str, by: usize) {
        if let Some(metrics) = &self.0.metrics {
            metrics.add(counter, by as f64);
        }
    }
}

/// A request in the queue. Dropped before its turn came (its client hung up), it stays in
/// the queue until [`next_in_line`] reaches it and finds nobody to serve; dropped just after
/// it was given a slot, it hands the slot on.
struct Waiting<'a> {
    turn: oneshot::Receiver<Turn>,
    regulator: &'a Regulator,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.turn.close();
        if let Ok(Turn::Serve) = self.turn.try_recv() {
            self.regulator.release();
        }
    }
}
