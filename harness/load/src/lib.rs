//! Load: requests at a target rate, with latencies that do not lie.
//!
//! The map:
//! - [`Schedule`]: the target rate over time (constant, steps, a ramp). It fixes the
//!   *intended* send time of every request before the run starts.
//! - [`Mode`]: open loop (requests go out at their intended times whether or not earlier ones
//!   have been answered) or closed loop (N workers, each waits for its reply before it sends
//!   again, the way most load tools and most benchmarks work).
//! - [`Operation`]: what one request does, supplied by the caller (any async closure taking a
//!   [`Shot`] and returning an [`Outcome`]): plain HTTP for `lab load`, a cart workload that
//!   also writes a history (`harness::history`) for a scenario.
//! - [`Load`]: the generator. [`Load::run`] drives the operation and returns a [`LoadReport`]:
//!   HDR histograms overall and per second, counts by outcome, late sends; its
//!   [`LoadReport::summary`] is what `lab load --json` prints.
//! - [`HttpTarget`] ([`http`]): one fixed HTTP/1.1 request as an operation, written as bytes
//!   and read with httparse over kept-alive connections: what `lab load` drives. In open loop
//!   it brings its own senders, one per connection ([`Operation::senders`], [`Feed`]).
//! - [`HttpCall`]: the same on reqwest, for callers that want its client (redirects, a pool
//!   shared with other calls), and [`http_outcome`], the one place that decides whether a
//!   reqwest exchange ended ok, fail or unknown.
//!
//! Why open loop. A closed-loop worker that waits 1 s for a stalled server sends nothing
//! during that second, so the requests that would have waited are never sent and never
//! measured: the stall shows as one slow request among thousands (coordinated omission: the
//! load tool and the server agree to hide the problem). In open loop the i-th request has an
//! intended send time, and its latency counts from that time to its reply, so the 200
//! requests a stalled second should have carried each show the wait a user would have had.
//!
//! Open loop, in detail. A dispatcher thread walks the schedule and, at each intended time,
//! spawns the request as a task on the caller's tokio runtime. It is a plain thread, not a
//! task, because tokio's timer ticks in whole milliseconds: a dispatcher task would send up
//! to a millisecond late and add that to every latency it measures. Above 4 000 requests a
//! second it wakes once per [`DISPATCH_QUANTUM`] and sends what is due as a batch, since each
//! wake-up costs CPU the requests need. A request whose task starts more than
//! [`LATE_TOLERANCE`] after its intended time is a *late send*: the generator itself could
//! not keep up (too few cores, too many requests in flight), and the report says so instead
//! of quietly sending less. A request the dispatcher reaches only after the run's end is
//! *dropped* and counted (k6 calls these dropped iterations).
//!
//! An operation that owns connections (such as [`HttpTarget`]) runs the open loop its own
//! way instead: a fixed set of senders, one per connection, claim the shots as they come due
//! from a [`Feed`] (one shared counter into the schedule), and the dispatcher thread only
//! wakes a sender that is waiting. No task is spawned and no connection looked up per
//! request, and a sender that is busy takes its next shot itself when it is done; a shot that
//! finds every sender busy waits for one, late, and that wait is in its latency.
//!
//! Windows: each one-second [`Window`] counts the requests scheduled in it (`sent`, `late`)
//! and the replies that *completed* in it (`ok`, `failed`, `unknown`, `latency`), so a stall
//! shows as a gap in throughput followed by the burst of slow replies it caused.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use node_kit::sync::Mutex;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

mod feed;
pub mod http;
pub use feed::{Claim, Feed};
pub use http::HttpTarget;

/// How far behind its intended time a request may start before it counts as a late send.
///
/// Two milliseconds: above the ordinary wake-up jitter of a thread or a task on a busy
/// laptop (tens to hundreds of microseconds, a millisecond for tokio's timer), so a healthy
/// run reports (almost) none, and far below any latency a lab scenario cares about.
pub const LATE_TOLERANCE: Duration = Duration::from_millis(2);

/// The open-loop dispatcher wakes at most once per quantum and sends everything due by then.
///
/// Every wake-up of a thread costs CPU (on a virtual machine, 10-15 µs of it), and a
/// dispatcher that woke for each request would spend more on waking than on sending above a
/// few thousand requests a second. So up to 4 000 requests a second each goes out at its
/// own time; above that they go in small batches, each request at most this much after its
/// time (and that lag is in its measured latency, as any lag of the generator must be).
///
/// Why 250 µs. Each batch also saves the target wake-ups (its requests arrive together).
/// Measured at 20 000/s against `hello_target` on 2 cores (issue 13), three alternating
/// rounds: `lab load` took 0.90-0.94 cores at 100 µs, 0.85-0.88 at 250 µs and 0.83-0.85 at
/// 500 µs, with 24k, 17k and 14k context switches a second; a quarter of a millisecond is
/// well inside [`LATE_TOLERANCE`] and below a lab node's own latency.
pub const DISPATCH_QUANTUM: Duration = Duration::from_micros(250);

/// The width of a report window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// The highest rate a schedule may ask for, requests per second: more than one dispatcher
/// thread can send, and low enough that a schedule's request count stays far inside a `u64`.
pub const MAX_RATE: f64 = 1_000_000.0;

/// The most open-loop requests in flight, or closed-loop workers, a run may ask for: each is a
/// task with its own memory (a million closed-loop workers took over a gigabyte).
pub const MAX_CONCURRENCY: usize = 100_000;

/// The target rate over time, in requests per second.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Constant {
        rate: f64,
    },
    /// Each `(how long, rate)` in turn; the last rate holds until the run ends.
    Steps(Vec<(Duration, f64)>),
    /// From `from` to `to` linearly over `over`, then `to` until the run ends.
    Ramp {
        from: f64,
        to: f64,
        over: Duration,
    },
}

impl Schedule {
    /// The rate at time `t` into the run.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        self.segments()
            .iter()
            .find(|s| t < s.start + s.len)
            .map_or(0.0, |s| {
                s.from + (s.to - s.from) * ((t - s.start) / s.len).min(1.0)
            })
    }

    fn validate(&self) -> Result<(), LoadError> {
        let rates: Vec<f64> = match self {
            Schedule::Constant { rate } => vec![*rate],
            Schedule::Steps(steps) => steps.iter().map(|&(_, r)| r).collect(),
            Schedule::Ramp { from, to, .. } => vec![*from, *to],
        };
        if let Some(bad) = rates.iter().find(|r| !r.is_finite() || **r < 0.0) {
            return Err(LoadError::Rate(format!("{bad} is not a rate")));
        }
        if let Some(high) = rates.iter().find(|r| **r > MAX_RATE) {
            return Err(LoadError::Rate(format!(
                "{high} per second is more than the generator sends ({MAX_RATE})"
            )));
        }
        if !rates.iter().any(|&r| r > 0.0) {
            return Err(LoadError::Rate(
                "every rate is 0: nothing would be sent".into(),
            ));
        }
        Ok(())
    }

    /// The schedule as pieces of linearly changing rate; the last one never ends.
    fn segments(&self) -> Vec<Segment> {
        let mut segments = Vec::new();
        let mut start = 0.0;
        let mut push = |len: f64, from: f64, to: f64| {
            segments.push(Segment {
                start,
                len,
                from,
                to,
            });
            start += len;
        };
        match self {
            Schedule::Constant { rate } => push(f64::INFINITY, *rate, *rate),
            Schedule::Steps(steps) => {
                for &(len, rate) in steps {
                    push(len.as_secs_f64(), rate, rate);
                }
                let last = steps.last().map_or(0.0, |&(_, r)| r);
                push(f64::INFINITY, last, last);
            }
            Schedule::Ramp { from, to, over } => {
                push(over.as_secs_f64(), *from, *to);
                push(f64::INFINITY, *to, *to);
            }
        }
        segments
    }
}

/// A stretch of the schedule whose rate goes linearly from `from` to `to` (requests/s).
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    len: f64,
    from: f64,
    to: f64,
}

/// The intended send time of every request: the k-th request (from 0) goes out when the
/// schedule's expected count of requests reaches k.
#[derive(Debug, Clone)]
struct Timeline {
    /// Each segment with the number of requests scheduled before it.
    segments: Vec<(Segment, f64)>,
}

impl Timeline {
    fn new(schedule: &Schedule) -> Self {
        let mut before = 0.0;
        let segments = schedule
            .segments()
            .into_iter()
            .map(|s| {
                let at = (s, before);
                before += (s.from + s.to) / 2.0 * s.len;
                at
            })
            .collect();
        Timeline { segments }
    }

    /// When the k-th request is due; `None` if never (the schedule's rate fell to 0).
    fn time_of(&self, k: u64) -> Option<Duration> {
        let k = k as f64;
        let (s, before) = self.segments.iter().find(|(s, before)| {
            let count = (s.from + s.to) / 2.0 * s.len;
            k < before + count || (s.len.is_infinite() && s.from > 0.0)
        })?;
        let n = k - before;
        if n == 0.0 {
            return Some(Duration::from_secs_f64(s.start));
        }
        // Solve from*t + (to-from)/(2*len)*t^2 = n for t, in the form that stays exact
        // when the rate is constant (to == from) and when it starts at 0.
        let slope = if s.len.is_finite() {
            (s.to - s.from) / s.len
        } else {
            0.0
        };
        let t = 2.0 * n / (s.from + (s.from * s.from + 2.0 * slope * n).max(0.0).sqrt());
        // Beyond what a Duration holds (a rate of 1e-300 per second) is never.
        Duration::try_from_secs_f64(s.start + t).ok()
    }

    /// How many requests are due before `end`.
    fn count_before(&self, end: Duration) -> u64 {
        // Sends are increasing in k: binary search on the first one at or after `end`.
        let (mut lo, mut hi) = (0u64, 1u64);
        while self.time_of(hi).is_some_and(|t| t < end) {
            lo = hi;
            // Unreachable with rates up to MAX_RATE; saturating keeps a bug from wrapping.
            if hi == u64::MAX {
                return u64::MAX;
            }
            hi = hi.saturating_mul(2);
        }
        if self.time_of(lo).is_none_or(|t| t >= end) {
            return 0;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.time_of(mid).is_some_and(|t| t < end) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    }
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// Every request at its intended time; latency from that time. The honest way.
    Open,
    /// `workers` workers; each takes the next intended time, waits for it if it is early,
    /// sends, and waits for the reply before it takes another. Latency counts from the
    /// actual send, as most load tools do: a worker stuck on a slow reply sends late and
    /// measures only its own wait. Shown next to open loop to teach the difference.
    Closed { workers: usize },
}

/// One request as the generator sees it, handed to the [`Operation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shot {
    /// Its number in the schedule, from 0: seed a workload's choices with it.
    pub index: u64,
    /// Its intended send time, since the run's start.
    pub intended: Duration,
    /// The closed-loop worker sending it.
    pub worker: Option<usize>,
}

/// How a request ended, as the history counts it: `Ok`, `Fail` (definitely not applied) or
/// `Unknown` (maybe applied: a timeout, a connection lost after the request was sent). The
/// kind is a short name (`timeout`, `connect`, `http_503`) that the report counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail(Cow<'static, str>),
    Unknown(Cow<'static, str>),
}

impl Outcome {
    pub fn fail(kind: impl Into<Cow<'static, str>>) -> Self {
        Outcome::Fail(kind.into())
    }

    pub fn unknown(kind: impl Into<Cow<'static, str>>) -> Self {
        Outcome::Unknown(kind.into())
    }

    /// Finishes a history's invocation with this outcome (a read records its items itself).
    pub fn record(&self, invocation: impl Finish) {
        match self {
            Outcome::Ok => invocation.ok(),
            Outcome::Fail(kind) => invocation.fail(kind.as_ref()),
            Outcome::Unknown(kind) => invocation.unknown(kind.as_ref()),
        }
    }
}

/// An operation a log holds open until it is finished one way: what [`Outcome::record`]
/// finishes. `harness::history::Invocation` is one (the load generator does not depend on
/// the history, so that it can be built optimised on its own).
pub trait Finish {
    fn ok(self);
    fn fail(self, kind: &str);
    fn unknown(self, kind: &str);
}

/// A log of operations that [`LoadReport::from_history`] can read: `harness::history::History`
/// is one.
pub trait OperationLog {
    /// Each operation in the order it was invoked: when it was invoked and, if it ended,
    /// when and how (from the start of the log).
    fn each_operation(&self, f: &mut dyn FnMut(Duration, Option<(Duration, Outcome)>));
}

/// What one request does. Any `Fn(Shot) -> impl Future<Output = Outcome>` is one.
pub trait Operation: Send + Sync + 'static {
    fn call(&self, shot: Shot) -> impl Future<Output = Outcome> + Send;

    /// How many long-lived senders the open loop should run for this operation, 0 for a
    /// task per request (the default). An operation that owns a fixed set of connections
    /// says how many: each sender then keeps one for itself ([`Operation::send_from`]), and
    /// at most this many requests (or [`Load::max_in_flight`], if lower) are in flight.
    fn senders(&self) -> usize {
        0
    }

    /// One sender of the open loop: takes shots from `feed` as they come due, sends each and
    /// hands back its outcome, until the feed has no more. The default calls
    /// [`Operation::call`] for each under the run's timeout; [`HttpTarget`] keeps a
    /// connection of its own across them. Only called if [`Operation::senders`] is above 0.
    fn send_from(&self, feed: &Feed) -> impl Future<Output = ()> + Send {
        feed.call_each(self)
    }
}

impl<F, Fut> Operation for F
where
    F: Fn(Shot) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    fn call(&self, shot: Shot) -> impl Future<Output = Outcome> + Send {
        self(shot)
    }
}

/// One fixed HTTP request, sent again for every shot: what `lab load` drives.
#[derive(Debug)]
pub struct HttpCall {
    client: reqwest::Client,
    request: reqwest::Request,
}

impl HttpCall {
    /// `request` must have a body made of bytes (or none), so that it can be cloned per shot.
    pub fn new(client: reqwest::Client, request: reqwest::Request) -> Self {
        HttpCall { client, request }
    }
}

impl Operation for HttpCall {
    async fn call(&self, _: Shot) -> Outcome {
        let Some(request) = self.request.try_clone() else {
            return Outcome::fail("streaming_body");
        };
        http_outcome(self.client.execute(request).await).await
    }
}

/// What an HTTP exchange amounts to, reading the body to its end (so that the connection goes
/// back to the pool). A 2xx is `Ok`; any other status is `Fail` (`http_503`): the node
/// answered, and the node contract says a non-2xx did not apply. A refused connection is
/// `Fail` (`connect`): nothing was sent. Anything that breaks after the request went out is
/// `Unknown` (`reset`, `timeout`): it may have been applied.
pub async fn http_outcome(result: reqwest::Result<reqwest::Response>) -> Outcome {
    let unknown = |e: reqwest::Error| {
        if e.is_timeout() {
            Outcome::unknown("timeout")
        } else {
            Outcome::unknown("reset")
        }
    };
    let mut response = match result {
        Ok(response) => response,
        Err(e) if e.is_connect() => return Outcome::fail("connect"),
        Err(e) => return unknown(e),
    };
    loop {
        match response.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return unknown(e),
        }
    }
    let status = response.status();
    if status.is_success() {
        Outcome::Ok
    } else {
        Outcome::Fail(Cow::Owned(format!("http_{}", status.as_u16())))
    }
}

/// Live counters of a run in progress, for a progress bar.
///
/// One set of counters per shard (see [`Tally`]), each on its own cache line, summed when
/// read: every request bumps two of them, and one shared set would bounce between the cores
/// on every request.
#[derive(Debug, Default)]
pub struct Progress {
    shards: [Counters; SHARDS],
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    sent: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
}

impl Progress {
    fn sum(&self, counter: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|c| counter(c).load(Ordering::Relaxed))
            .sum()
    }
    fn here(&self) -> &Counters {
        &self.shards[shard()]
    }
    pub fn sent(&self) -> u64 {
        self.sum(|c| &c.sent)
    }
    pub fn completed(&self) -> u64 {
        self.sum(|c| &c.completed)
    }
    /// Requests that ended `Fail` or `Unknown`.
    pub fn errors(&self) -> u64 {
        self.sum(|c| &c.errors)
    }
    pub fn late(&self) -> u64 {
        self.sum(|c| &c.late)
    }
}

/// The generator, configured. Build it, then [`Load::run`] it.
///
/// ```no_run
/// # async fn demo() -> Result<(), harness_load::LoadError> {
/// use std::time::Duration;
/// use harness_load::{Load, Outcome, Schedule, Shot};
///
/// let report = Load::new(Schedule::Constant { rate: 200.0 }, Duration::from_secs(10))
///     .run(|_: Shot| async { Outcome::Ok })
///     .await?;
/// println!("p99 {} ms", report.summary().p99_ms);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Load {
    schedule: Schedule,
    duration: Duration,
    mode: Mode,
    timeout: Duration,
    max_in_flight: usize,
    start: Option<Instant>,
    progress: Arc<Progress>,
}

impl Load {
    /// Open loop at `schedule` for `duration`, 5 s timeout, at most 4096 requests in flight.
    pub fn new(schedule: Schedule, duration: Duration) -> Self {
        Load {
            schedule,
            duration,
            mode: Mode::Open,
            timeout: Duration::from_secs(5),
            max_in_flight: 4096,
            start: None,
            progress: Arc::default(),
        }
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// A request not answered within `timeout` ends `Unknown("timeout")`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most open-loop requests in flight at once. At the limit the dispatcher waits, and
    /// the requests it holds back count as late: a bound on sockets and memory when the target
    /// stops answering, never a silent slowdown.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Time zero of the run (default: when `run` is called). Give the history and the fault
    /// schedule the same instant, so that the report lines them up.
    pub fn starting_at(mut self, start: Instant) -> Self {
        self.start = Some(start);
        self
    }

    /// Live counters, updated while the run goes.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// How many requests the schedule asks for.
    pub fn scheduled(&self) -> u64 {
        Timeline::new(&self.schedule).count_before(self.duration)
    }

    /// Drives `op` on the current tokio runtime and waits for every reply (or its timeout).
    pub async fn run<O: Operation>(self, op: O) -> Result<LoadReport, LoadError> {
        self.schedule.validate()?;
        if self.duration.is_zero() {
            return Err(LoadError::Duration);
        }
        let concurrency = match self.mode {
            Mode::Open => self.max_in_flight,
            Mode::Closed { workers } => workers,
        };
        if concurrency == 0 || concurrency > MAX_CONCURRENCY {
            return Err(LoadError::Concurrency);
        }
        let timeline = Timeline::new(&self.schedule);
        let scheduled = timeline.count_before(self.duration);
        let start = self.start.unwrap_or_else(Instant::now);
        let tally = Arc::new(Tally::new(
            start,
            self.mode == Mode::Open,
            self.progress.clone(),
        ));
        let op = Arc::new(op);
        let sent = match self.mode {
            Mode::Open => self.run_open(&timeline, start, &tally, op).await?,
            Mode::Closed { workers } => {
                // No more workers than requests: the rest would only cost memory.
                let needed = usize::try_from(scheduled).unwrap_or(usize::MAX).max(1);
                let workers = workers.min(needed);
                self.run_closed(workers, &timeline, start, &tally, op).await
            }
        };
        let elapsed = start.elapsed();
        // Every request has ended (each task records before it gives back its permit).
        let record = tally.take();
        Ok(LoadReport {
            mode: self.mode,
            duration: self.duration,
            elapsed,
            scheduled,
            dropped: scheduled - sent,
            record,
        })
    }

    /// The dispatcher thread spawns each request at its time; returns how many it sent.
    async fn run_open<O: Operation>(
        &self,
        timeline: &Timeline,
        start: Instant,
        tally: &Arc<Tally>,
        op: Arc<O>,
    ) -> Result<u64, LoadError> {
        if op.senders() > 0 {
            return self.run_senders(timeline, start, tally, op).await;
        }
        let handle = Handle::current();
        let in_flight = Arc::new(Semaphore::new(self.max_in_flight));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let dispatcher = Dispatcher {
            timeline: timeline.clone(),
            start,
            end: start + self.duration,
            timeout: self.timeout,
            in_flight: in_flight.clone(),
            tally: tally.clone(),
            handle,
        };
        std::thread::Builder::new()
            .name("lab-load-dispatcher".into())
            .spawn(move || {
                let sent = dispatcher.run(op);
                let _ = done_tx.send(sent);
            })
            .map_err(LoadError::Thread)?;
        let sent = done_rx.await.map_err(|_| LoadError::DispatcherDied)?;
        // Every request holds one permit until it ends: taking all of them waits for the last.
        let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let _ = in_flight.acquire_many(all).await;
        Ok(sent)
    }

    /// The open loop with the operation's own senders ([`feed`]); returns how many they sent.
    async fn run_senders<O: Operation>(
        &self,
        timeline: &Timeline,
        start: Instant,
        tally: &Arc<Tally>,
        op: Arc<O>,
    ) -> Result<u64, LoadError> {
        let feed = Arc::new(Feed::new(
            timeline.clone(),
            start,
            start + self.duration,
            self.timeout,
            tally.clone(),
        ));
        // Dropped on an early return, which aborts the senders.
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..op.senders().min(self.max_in_flight) {
            let (op, feed) = (op.clone(), feed.clone());
            senders.spawn(async move { op.send_from(&feed).await });
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let dispatcher = feed.clone();
        std::thread::Builder::new()
            .name("lab-load-dispatcher".into())
            .spawn(move || {
                dispatcher.dispatch();
                let _ = done_tx.send(());
            })
            .map_err(LoadError::Thread)?;
        if done_rx.await.is_err() {
            return Err(LoadError::DispatcherDied);
        }
        while let Some(result) = senders.join_next().await {
            if let Err(e) = result
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Ok(feed.sent())
    }

    async fn run_closed<O: Operation>(
        &self,
        workers: usize,
        timeline: &Timeline,
        start: Instant,
        tally: &Arc<Tally>,
        op: Arc<O>,
    ) -> u64 {
        let next = Arc::new(AtomicU64::new(0));
        let end = start + self.duration;
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..workers {
            let (next, timeline, tally, op) =
                (next.clone(), timeline.clone(), tally.clone(), op.clone());
            let timeout = self.timeout;
            tasks.spawn(async move {
                let mut sent = 0u64;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(at) = timeline.time_of(index).filter(|&at| start + at < end) else {
                        break;
                    };
                    if start + at > Instant::now() {
                        tokio::time::sleep_until((start + at).into()).await;
                    }
                    let sent_at = Instant::now();
                    // A closed loop stops at the end: what it had not sent by then, it never
                    // sends (the run's `dropped`).
                    if sent_at >= end {
                        break;
                    }
                    let shot = Shot {
                        index,
                        intended: at,
                        worker: Some(worker),
                    };
                    tally.sending(shot, sent_at);
                    let outcome = call_with_timeout(&*op, shot, timeout).await;
                    tally.completed(shot, sent_at, Instant::now(), outcome);
                    sent += 1;
                }
                sent
            });
        }
        let mut sent = 0;
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok(n) => sent += n,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        sent
    }
}

async fn call_with_timeout<O: Operation>(op: &O, shot: Shot, timeout: Duration) -> Outcome {
    tokio::time::timeout(timeout, op.call(shot))
        .await
        .unwrap_or(Outcome::Unknown(Cow::Borrowed("timeout")))
}

/// The open loop's sender, on its own thread.
struct Dispatcher {
    timeline: Timeline,
    start: Instant,
    /// The schedule's end: nothing intended at or after it is sent.
    end: Instant,
    timeout: Duration,
    in_flight: Arc<Semaphore>,
    tally: Arc<Tally>,
    handle: Handle,
}

impl Dispatcher {
    fn run<O: Operation>(self, op: Arc<O>) -> u64 {
        precise_sleeps();
        let mut sent = 0;
        let mut next = 0;
        let mut last_wake: Option<Instant> = None;
        while let Some(due) = self.due(next) {
            // Sleep until the next request is due, but wake at most once per quantum.
            let wake = last_wake.map_or(due, |last| due.max(last + DISPATCH_QUANTUM));
            let now = Instant::now();
            if wake > now {
                std::thread::sleep(wake - now);
            }
            let now = Instant::now();
            last_wake = Some(now);
            // Reached after the end plus the tolerance, a request would be a late send after
            // the run: it and the rest are dropped instead.
            if now >= self.end + LATE_TOLERANCE {
                break;
            }
            // Everything due by now goes out together.
            let mut batch = Vec::new();
            while let Some(due) = self.due(next).filter(|&due| due <= now) {
                let permit = match self.in_flight.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        // At the limit: launch what is ready, then wait for a request to end.
                        sent += self.launch(std::mem::take(&mut batch), &op);
                        match self.handle.block_on(self.in_flight.clone().acquire_owned()) {
                            Ok(permit) if Instant::now() < self.end + LATE_TOLERANCE => permit,
                            _ => return sent,
                        }
                    }
                };
                let shot = Shot {
                    index: next,
                    intended: due - self.start,
                    worker: None,
                };
                batch.push((shot, permit));
                next += 1;
            }
            sent += self.launch(batch, &op);
        }
        sent
    }

    /// When request `index` is due, if it is due before the end.
    fn due(&self, index: u64) -> Option<Instant> {
        let at = self.start + self.timeline.time_of(index)?;
        (at < self.end).then_some(at)
    }

    /// Spawns a batch of requests on the runtime: one task that spawns the rest from inside
    /// it, which wakes one runtime thread instead of one per request.
    fn launch<O: Operation>(&self, batch: Vec<(Shot, OwnedSemaphorePermit)>, op: &Arc<O>) -> u64 {
        let n = batch.len() as u64;
        let request = {
            let (op, tally, timeout) = (op.clone(), self.tally.clone(), self.timeout);
            move |(shot, permit): (Shot, OwnedSemaphorePermit)| {
                let (op, tally) = (op.clone(), tally.clone());
                async move {
                    let sent_at = Instant::now();
                    tally.sending(shot, sent_at);
                    let outcome = call_with_timeout(&*op, shot, timeout).await;
                    tally.completed(shot, sent_at, Instant::now(), outcome);
                    drop(permit);
                }
            }
        };
        let mut batch = batch.into_iter();
        match (batch.next(), batch.len()) {
            (None, _) => {}
            (Some(one), 0) => {
                self.handle.spawn(request(one));
            }
            (Some(first), _) => {
                self.handle.spawn(async move {
                    for rest in batch {
                        tokio::spawn(request(rest));
                    }
                    request(first).await;
                });
            }
        }
        n
    }
}

/// Linux lets a sleeping thread wake up to 50 µs late by default (timer slack, to batch
/// wake-ups and save power); the dispatcher asks for exact wake-ups, since every microsecond
/// it oversleeps is added to a measured latency. Elsewhere sleeps are as exact as they are.
fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// How many pieces a run's figures are kept in: more than the threads of any runtime the
/// lab starts, so that two threads rarely share one.
const SHARDS: usize = 16;

/// The shard of the calling thread: each thread takes the next one the first time it asks.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// Counts and histograms, shared by every request task of a run, in shards: each thread
/// records into its own (one uncontended lock per request, its memory staying in that core's
/// cache) and [`Tally::take`] merges them once, at the end. A single shared record cost more
/// per request, in lock hand-offs between the cores, than the HTTP exchange itself.
struct Tally {
    start: Instant,
    /// Which latency is the headline [`Record::latency`]: from the intended send time (open
    /// loop) or from the actual send (closed loop, as most tools measure).
    from_intended: bool,
    progress: Arc<Progress>,
    shards: Box<[Shard]>,
}

#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<Record>);

impl Tally {
    fn new(start: Instant, from_intended: bool, progress: Arc<Progress>) -> Self {
        Tally {
            start,
            from_intended,
            progress,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    /// A request is about to go out at `now`: the live counters only (the record learns of
    /// it with its reply, in one lock).
    fn sending(&self, shot: Shot, now: Instant) {
        let counters = self.progress.here();
        counters.sent.fetch_add(1, Ordering::Relaxed);
        if now.saturating_duration_since(self.start + shot.intended) > LATE_TOLERANCE {
            counters.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `shot`, sent at `sent_at`, ended at `done` with `outcome`.
    fn completed(&self, shot: Shot, sent_at: Instant, done: Instant, outcome: Outcome) {
        let intended = self.start + shot.intended;
        let lag = sent_at.saturating_duration_since(intended);
        let late = lag > LATE_TOLERANCE;
        let micros = |from: Instant| done.saturating_duration_since(from).as_micros() as u64;
        let (corrected, uncorrected) = (micros(intended), micros(sent_at));
        let latency_us = if self.from_intended {
            corrected
        } else {
            uncorrected
        };
        let counters = self.progress.here();
        counters.completed.fetch_add(1, Ordering::Relaxed);
        if outcome != Outcome::Ok {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }

        let mut record = self.shards[shard()].0.lock();
        record.sent += 1;
        record.max_lag = record.max_lag.max(lag);
        let window = record.window(shot.intended);
        window.sent += 1;
        if late {
            window.late += 1;
            record.late_sends += 1;
        }
        record_us(&mut record.latency, latency_us);
        record_us(&mut record.corrected, corrected);
        record_us(&mut record.uncorrected, uncorrected);
        record.latency_of_outcome(&outcome, latency_us);
        let window = record.window(done.saturating_duration_since(self.start));
        record_us(&mut window.latency, latency_us);
        match &outcome {
            Outcome::Ok => {
                window.ok += 1;
                record_us(&mut window.ok_latency, latency_us);
            }
            Outcome::Fail(_) => window.failed += 1,
            Outcome::Unknown(_) => window.unknown += 1,
        }
        match outcome {
            Outcome::Ok => record.ok += 1,
            Outcome::Fail(kind) => *record.failed.entry(kind.into_owned()).or_default() += 1,
            Outcome::Unknown(kind) => *record.unknown.entry(kind.into_owned()).or_default() += 1,
        }
    }

    /// Everything recorded so far, merged, leaving the tally empty.
    fn take(&self) -> Record {
        let mut all = Record::default();
        for shard in self.shards.iter() {
            // Every update is complete before it can panic, so a poisoned shard is still good.
            all.merge(std::mem::take(&mut *shard.0.lock()));
        }
        all
    }
}

/// What a run measured; [`LoadReport`] derefs to it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Requests that went out.
    pub sent: u64,
    /// Of those, how many started more than [`LATE_TOLERANCE`] after their intended time.
    pub late_sends: u64,
    /// The latest any request started, behind its intended time.
    pub max_lag: Duration,
    pub ok: u64,
    /// `Fail` outcomes by kind.
    pub failed: BTreeMap<String, u64>,
    /// `Unknown` outcomes by kind.
    pub unknown: BTreeMap<String, u64>,
    /// Every request's latency in microseconds, whatever its outcome (a timeout is a wait
    /// too). Open loop: from the intended send time; closed loop: from the actual send.
    pub latency: Histogram<u64>,
    /// The same requests from their intended send time, whatever the mode: what a user who
    /// arrived on schedule waited (coordinated omission corrected).
    pub corrected: Histogram<u64>,
    /// The same requests from their actual send: what the server took, plus the network, and
    /// nothing of the time a request spent waiting to be sent.
    pub uncorrected: Histogram<u64>,
    /// The same latencies by how each request ended: [`OK`] for the `Ok` ones, the kind
    /// for the others (`http_503`, `timeout`). A node that sheds load answers its
    /// rejections fast and its admitted requests slowly; read apart, neither hides the
    /// other. Bounded by the operation's set of kinds.
    pub latency_by_outcome: BTreeMap<String, Histogram<u64>>,
    /// One per second of the run, from 0, as long as replies kept coming.
    pub windows: Vec<Window>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            sent: 0,
            late_sends: 0,
            max_lag: Duration::ZERO,
            ok: 0,
            failed: BTreeMap::new(),
            unknown: BTreeMap::new(),
            latency: new_histogram(),
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            latency_by_outcome: BTreeMap::new(),
            windows: Vec::new(),
        }
    }
}

/// The key of the `Ok` outcomes in [`Record::latency_by_outcome`].
pub const OK: &str = "ok";

impl Record {
    /// The latencies (µs) of the requests that ended `kind` ([`OK`], `http_503`, ...), if any did.
    pub fn latency_of(&self, kind: &str) -> Option<&Histogram<u64>> {
        self.latency_by_outcome.get(kind)
    }

    fn latency_of_outcome(&mut self, outcome: &Outcome, us: u64) {
        let kind = match outcome {
            Outcome::Ok => OK,
            Outcome::Fail(kind) | Outcome::Unknown(kind) => kind.as_ref(),
        };
        if !self.latency_by_outcome.contains_key(kind) {
            self.latency_by_outcome
                .insert(kind.to_string(), new_histogram());
        }
        if let Some(histogram) = self.latency_by_outcome.get_mut(kind) {
            record_us(histogram, us);
        }
    }

    /// Adds `other`'s counts, histograms and windows to this one's.
    pub fn merge(&mut self, other: Record) {
        self.sent += other.sent;
        self.late_sends += other.late_sends;
        self.max_lag = self.max_lag.max(other.max_lag);
        self.ok += other.ok;
        for (kind, n) in other.failed {
            *self.failed.entry(kind).or_default() += n;
        }
        for (kind, n) in other.unknown {
            *self.unknown.entry(kind).or_default() += n;
        }
        add_histogram(&mut self.latency, &other.latency);
        add_histogram(&mut self.corrected, &other.corrected);
        add_histogram(&mut self.uncorrected, &other.uncorrected);
        for (kind, histogram) in other.latency_by_outcome {
            match self.latency_by_outcome.get_mut(&kind) {
                Some(mine) => add_histogram(mine, &histogram),
                None => {
                    self.latency_by_outcome.insert(kind, histogram);
                }
            }
        }
        for theirs in other.windows {
            let mine = self.window(theirs.start);
            mine.sent += theirs.sent;
            mine.late += theirs.late;
            mine.ok += theirs.ok;
            mine.failed += theirs.failed;
            mine.unknown += theirs.unknown;
            add_histogram(&mut mine.latency, &theirs.latency);
            add_histogram(&mut mine.ok_latency, &theirs.ok_latency);
        }
    }

    /// The window holding time `t`, created (with those before it) if needed.
    pub fn window(&mut self, t: Duration) -> &mut Window {
        let i = (t.as_micros() / WINDOW.as_micros()) as usize;
        while self.windows.len() <= i {
            let start = WINDOW * self.windows.len() as u32;
            self.windows.push(Window::new(start));
        }
        &mut self.windows[i]
    }
}

/// An HDR histogram of microseconds, 3 significant digits, growing as values need.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Records a latency, growing the histogram to fit it. Not `saturating_record`: that one
/// never grows an auto-resizing histogram and would clamp a 5 s timeout to whatever the
/// largest earlier value was, hiding exactly the outliers this generator exists to show.
pub fn record_us(histogram: &mut Histogram<u64>, us: u64) {
    if histogram.record(us).is_err() {
        histogram.saturating_record(us);
    }
}

/// Adds `from`'s values to `into`, growing it to fit (as [`record_us`] does).
fn add_histogram(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone)]
pub struct Window {
    pub start: Duration,
    /// Requests scheduled in this second that went out (whenever they did).
    pub sent: u64,
    /// Of those, the late ones.
    pub late: u64,
    /// Replies that came back in this second, by outcome.
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Latencies (µs) of the requests that ended in this second.
    pub latency: Histogram<u64>,
    /// Of those, the ones that ended `Ok`.
    pub ok_latency: Histogram<u64>,
}

impl Window {
    pub fn new(start: Duration) -> Self {
        Window {
            start,
            sent: 0,
            late: 0,
            ok: 0,
            failed: 0,
            unknown: 0,
            latency: new_histogram(),
            ok_latency: new_histogram(),
        }
    }

    /// Failed and unknown replies.
    pub fn errors(&self) -> u64 {
        self.failed + self.unknown
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub mode: Mode,
    /// How long the schedule ran (the run then waits for its last replies).
    pub duration: Duration,
    /// From the start to the last reply.
    pub elapsed: Duration,
    /// Requests the schedule asked for.
    pub scheduled: u64,
    /// Requests the run's time was up for before they could be sent.
    pub dropped: u64,
    pub record: Record,
}

impl std::ops::Deref for LoadReport {
    type Target = Record;
    fn deref(&self) -> &Record {
        &self.record
    }
}

impl LoadReport {
    /// The figures of whatever a history logged, for a report of activity that no [`Load`]
    /// drove (a demo's own polls of its nodes, say): each operation counts in the second it
    /// was sent and its reply in the second it ended, as a closed loop of `workers`.
    pub fn from_history(history: &impl OperationLog, workers: usize) -> LoadReport {
        let mut record = Record::default();
        let mut last = Duration::ZERO;
        history.each_operation(&mut |invoked, end| {
            record.sent += 1;
            record.window(invoked).sent += 1;
            last = last.max(invoked);
            let Some((at, outcome)) = end else { return };
            last = last.max(at);
            let waited = u64::try_from(at.saturating_sub(invoked).as_micros()).unwrap_or(u64::MAX);
            record_us(&mut record.latency, waited);
            record_us(&mut record.corrected, waited);
            record_us(&mut record.uncorrected, waited);
            record.latency_of_outcome(&outcome, waited);
            let window = record.window(at);
            record_us(&mut window.latency, waited);
            match outcome {
                Outcome::Ok => {
                    window.ok += 1;
                    record_us(&mut window.ok_latency, waited);
                    record.ok += 1;
                }
                Outcome::Fail(kind) => {
                    window.failed += 1;
                    *record.failed.entry(kind.into_owned()).or_default() += 1;
                }
                Outcome::Unknown(kind) => {
                    window.unknown += 1;
                    *record.unknown.entry(kind.into_owned()).or_default() += 1;
                }
            }
        });
        LoadReport {
            mode: Mode::Closed { workers },
            duration: last.max(Duration::from_millis(1)),
            elapsed: last,
            scheduled: record.sent,
            dropped: 0,
            record,
        }
    }

    /// The schedule's mean rate, requests per second.
    pub fn target_rate(&self) -> f64 {
        self.scheduled as f64 / self.duration.as_secs_f64()
    }

    /// What went out, per second of the schedule.
    pub fn achieved_rate(&self) -> f64 {
        self.sent as f64 / self.duration.as_secs_f64()
    }

    /// The figures `lab load --json` prints and `verdict.json` keeps.
    pub fn summary(&self) -> Summary {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let errors = self.failed.iter().chain(&self.unknown);
        Summary {
            mode: match self.mode {
                Mode::Open => "open",
                Mode::Closed { .. } => "closed",
            },
            workers: match self.mode {
                Mode::Open => None,
                Mode::Closed { workers } => Some(workers),
            },
            duration_s: self.duration.as_secs_f64(),
            elapsed_s: self.elapsed.as_secs_f64(),
            target_rate: round(self.target_rate(), 1),
            achieved_rate: round(self.achieved_rate(), 1),
            scheduled: self.scheduled,
            sent: self.sent,
            ok: self.ok,
            failed: self.failed.values().sum(),
            unknown: self.unknown.values().sum(),
            errors: errors.map(|(k, n)| (k.clone(), *n)).collect(),
            late_sends: self.late_sends,
            dropped: self.dropped,
            max_lag_ms: round(self.max_lag.as_secs_f64() * 1000.0, 3),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.latency.max() as f64 / 1000.0,
            corrected: Percentiles::of(&self.corrected),
            uncorrected: Percentiles::of(&self.uncorrected),
        }
    }
}

/// Why a run's two latencies differ, in one sentence, for the table and `--json`.
pub const CORRECTION: &str = "corrected counts from when each request was due, uncorrected \
from when it went out: the difference is the time requests waited to be sent (for a busy \
generator, or for a closed-loop worker stuck on a slow reply), which a user arriving on time \
would have waited too (coordinated omission)";

/// A latency histogram's percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
        }
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// A run's figures, flat, for JSON. The `p*_ms` are the mode's headline latency (open loop:
/// corrected; closed loop: uncorrected); `corrected` and `uncorrected` give both, side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    pub duration_s: f64,
    pub elapsed_s: f64,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub scheduled: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Failed and unknown outcomes by kind.
    pub errors: BTreeMap<String, u64>,
    pub late_sends: u64,
    pub dropped: u64,
    pub max_lag_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// Every request from its intended send time (the headline figures above in open loop).
    pub corrected: Percentiles,
    /// Every request from its actual send (the headline figures above in closed loop).
    pub uncorrected: Percentiles,
}

/// A load that cannot run as configured.
#[derive(Debug)]
pub enum LoadError {
    Rate(String),
    Duration,
    Concurrency,
    Thread(std::io::Error),
    DispatcherDied,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Rate(why) => write!(f, "bad rate: {why}; give requests per second above 0"),
            LoadError::Duration => write!(f, "the duration is 0: give how long to send for"),
            LoadError::Concurrency => write!(
                f,
                "workers or requests in flight must be 1 to {MAX_CONCURRENCY}"
            ),
            LoadError::Thread(e) => write!(f, "cannot start the dispatcher thread: {e}"),
            LoadError::DispatcherDied => write!(f, "the dispatcher thread panicked (see above)"),
        }
    }
}

impl std::error::Error for LoadError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn close(a: Duration, b: f64) -> bool {
        (a.as_secs_f64() - b).abs() < 1e-9
    }

    #[test]
    fn a_constant_rate_sends_at_even_intervals() {
        let t = Timeline::new(&Schedule::Constant { rate: 200.0 });
        assert_eq!(t.time_of(0), Some(Duration::ZERO));
        assert!(close(t.time_of(1).unwrap(), 0.005));
        assert!(close(t.time_of(2000).unwrap(), 10.0));
        assert_eq!(t.count_before(secs(10.0)), 2000);
        assert_eq!(t.count_before(secs(10.0001)), 2001);
    }

    #[test]
    fn steps_change_rate_at_their_boundaries_and_the_last_holds() {
        let schedule = Schedule::Steps(vec![
            (secs(1.0), 10.0),
            (secs(1.0), 0.0),
            (secs(1.0), 100.0),
        ]);
        let t = Timeline::new(&schedule);
        assert!(close(t.time_of(9).unwrap(), 0.9));
        // The pause: the 11th request waits for the third step.
        assert!(close(t.time_of(10).unwrap(), 2.0));
        assert!(close(t.time_of(11).unwrap(), 2.01));
        assert!(close(t.time_of(110).unwrap(), 3.0));
        assert!(close(t.time_of(210).unwrap(), 4.0));
        assert_eq!(t.count_before(secs(3.0)), 110);
        assert_eq!(schedule.rate_at(secs(1.5)), 0.0);
        assert_eq!(schedule.rate_at(secs(99.0)), 100.0);
    }

    #[test]
    fn a_schedule_that_falls_to_zero_ends() {
        let t = Timeline::new(&Schedule::Steps(vec![(secs(1.0), 5.0), (secs(1.0), 0.0)]));
        assert_eq!(t.time_of(5), None);
        assert_eq!(t.count_before(secs(60.0)), 5);
    }

    #[test]
    fn a_ramp_sends_what_its_area_says_and_then_holds() {
        // 0 to 100/s over 10 s: 500 requests, the k-th at sqrt(k/5) s.
        let schedule = Schedule::Ramp {
            from: 0.0,
            to: 100.0,
            over: secs(10.0),
        };
        let t = Timeline::new(&schedule);
        assert_eq!(t.time_of(0), Some(Duration::ZERO));
        assert!(close(t.time_of(20).unwrap(), 2.0));
        assert!(close(t.time_of(500).unwrap(), 10.0));
        assert!(close(t.time_of(600).unwrap(), 11.0));
        assert_eq!(t.count_before(secs(10.0)), 500);
        assert_eq!(schedule.rate_at(secs(5.0)), 50.0);

        // Downwards: 100 to 0 over 2 s is 100 requests, then nothing.
        let down = Timeline::new(&Schedule::Ramp {
            from: 100.0,
            to: 0.0,
            over: secs(2.0),
        });
        assert!(close(down.time_of(75).unwrap(), 1.0));
        assert_eq!(down.count_before(secs(5.0)), 100);
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        let zero = Schedule::Constant { rate: 0.0 }.validate().unwrap_err();
        assert!(zero.to_string().contains("every rate is 0"), "{zero}");
        let nan = Schedule::Ramp {
            from: f64::NAN,
            to: 1.0,
            over: secs(1.0),
        };
        assert!(nan.validate().is_err());
        assert!(Schedule::Steps(vec![(secs(1.0), -1.0)]).validate().is_err());
    }

    #[test]
    fn absurd_rates_and_durations_are_refused_or_bounded_never_a_panic() {
        let high = Schedule::Constant { rate: 1e300 }.validate().unwrap_err();
        assert!(
            high.to_string().contains("more than the generator sends"),
            "{high}"
        );
        let ramp = Schedule::Ramp {
            from: 1.0,
            to: 1e300,
            over: secs(1.0),
        };
        assert!(ramp.validate().is_err());
        // The highest rate for three years: a count, not an overflow.
        let t = Timeline::new(&Schedule::Constant { rate: MAX_RATE });
        assert_eq!(t.count_before(secs(1e8)), 100_000_000_000_000);
        // A rate so low its second request is due after what a Duration holds: never.
        let slow = Timeline::new(&Schedule::Constant { rate: 1e-300 });
        assert_eq!(slow.time_of(1), None);
        assert_eq!(slow.count_before(secs(1e8)), 1);
    }

    #[tokio::test]
    async fn too_much_concurrency_is_refused_before_anything_starts() {
        let load = || Load::new(Schedule::Constant { rate: 10.0 }, secs(0.1));
        let ok = |_: Shot| async { Outcome::Ok };
        for load in [
            load().max_in_flight(usize::MAX),
            load().max_in_flight(0),
            load().mode(Mode::Closed { workers: 1_000_000 }),
        ] {
            let err = load.run(ok).await.unwrap_err();
            assert!(err.to_string().contains("1 to 100000"), "{err}");
        }
        // Many workers for few requests: only as many as there are requests run.
        let report = load()
            .mode(Mode::Closed { workers: 50_000 })
            .run(ok)
            .await
            .unwrap();
        assert_eq!(report.sent, 1);
    }

    #[test]
    fn windows_keep_sends_by_schedule_and_replies_by_completion() {
        let start = Instant::now();
        let tally = Tally::new(start, true, Arc::default());
        let shot = Shot {
            index: 0,
            intended: secs(0.5),
            worker: None,
        };
        // Sent 10 ms late, answered 1.6 s after it was due.
        tally.sending(shot, start + secs(0.51));
        tally.completed(
            shot,
            start + secs(0.51),
            start + secs(2.1),
            Outcome::fail("http_503"),
        );
        let record = tally.take();
        assert_eq!(record.windows.len(), 3);
        assert_eq!((record.windows[0].sent, record.windows[0].late), (1, 1));
        assert_eq!(record.windows[2].failed, 1);
        assert_eq!(record.windows[2].latency.max(), record.latency.max());
        assert_eq!(record.failed["http_503"], 1);
        assert_eq!(record.max_lag, secs(0.01));
        // Corrected from the intended 0.5 s, uncorrected from the actual 0.51 s.
        assert_eq!(record.corrected.max(), record.latency.max());
        assert!(record.corrected.max() > record.uncorrected.max());
        assert!((1_595_000..1_601_000).contains(&record.corrected.max()));
        assert!((1_585_000..1_591_000).contains(&record.uncorrected.max()));
    }

    /// A plain `#[tokio::test]` runtime has one thread; the in-flight limit makes the
    /// dispatcher wait for replies, which must still come.
    #[tokio::test]
    async fn an_open_run_works_on_a_single_threaded_runtime_at_its_in_flight_limit() {
        let report = Load::new(Schedule::Constant { rate: 100.0 }, secs(0.3))
            .max_in_flight(2)
            .run(|_: Shot| async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Outcome::Ok
            })
            .await
            .unwrap();
        // Two at a time for 30 ms each is about 66 a second, of the 100 asked.
        let s = report.summary();
        assert_eq!((s.sent + s.dropped, s.ok), (30, s.sent), "{s:?}");
        assert!(
            s.late_sends > 0 && s.dropped > 0,
            "held back by the limit: {s:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_run_sends_every_scheduled_request_and_counts_outcomes() {
        let load = Load::new(Schedule::Constant { rate: 100.0 }, secs(0.5)).timeout(secs(0.2));
        let scheduled = load.scheduled();
        let report = load
            .run(|shot: Shot| async move {
                match shot.index % 10 {
                    0 => Outcome::fail("http_503"),
                    1 => std::future::pending().await,
                    _ => Outcome::Ok,
                }
            })
            .await
            .unwrap();
        assert_eq!(scheduled, 50);
        // A dispatcher that wakes after the end drops what is left (a CPU hog beside the test
        // stalled it at the very end): those are the last ones, indices 42 to 49 at most, all
        // of them `Ok` ones, so every other count is exact.
        assert_eq!(report.sent + report.dropped, 50);
        assert!(report.dropped <= 8, "{} dropped", report.dropped);
        let ok = 40 - report.dropped;
        assert_eq!(report.failed["http_503"], 5);
        assert_eq!(
            report.unknown["timeout"], 5,
            "a request never answered is unknown"
        );
        assert_eq!(report.ok, ok);
        assert!(
            report.latency.max() >= 200_000,
            "the timeouts are waits too: {}",
            report.latency.max()
        );
        // Read apart by outcome: the fast 503s do not hide the slow timeouts, nor the reverse.
        assert_eq!(report.latency_of(OK).map(|h| h.len()), Some(ok));
        assert_eq!(report.latency_of("http_503").map(|h| h.len()), Some(5));
        assert!(report.latency_of("http_503").unwrap().max() < 100_000);
        assert!(report.latency_of("timeout").unwrap().min() >= 200_000);
        assert!(report.latency_of("connect").is_none());
        let ok_in_windows: u64 = report.windows.iter().map(|w| w.ok_latency.len()).sum();
        assert_eq!(ok_in_windows, ok);
    }

    /// An operation with `n` senders of its own, each calling `call` (the default sender).
    struct WithSenders<F>(usize, F);

    impl<F, Fut> Operation for WithSenders<F>
    where
        F: Fn(Shot) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send,
    {
        fn call(&self, shot: Shot) -> impl Future<Output = Outcome> + Send {
            (self.1)(shot)
        }
        fn senders(&self) -> usize {
            self.0
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_send_each_shot_once_in_order_and_count_outcomes() {
        let load = Load::new(Schedule::Constant { rate: 100.0 }, secs(0.5)).timeout(secs(0.2));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let op = WithSenders(8, {
            let seen = seen.clone();
            move |shot: Shot| {
                seen.lock().push(shot.index);
                async move {
                    match shot.index % 10 {
                        0 => Outcome::fail("http_503"),
                        1 => std::future::pending().await,
                        _ => Outcome::Ok,
                    }
                }
            }
        });
        let report = load.run(op).await.unwrap();
        // Sent at the machine's pace: a busy one may drop the last few, never send one twice.
        let s = report.summary();
        assert_eq!(s.sent + s.dropped, 50, "{s:?}");
        let mut seen = seen.lock().clone();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..s.sent).collect::<Vec<_>>(),
            "each shot once: {s:?}"
        );
        let tenth = |r: u64| (0..s.sent).filter(|i| i % 10 == r).count() as u64;
        assert_eq!(
            report.failed.get("http_503").copied(),
            Some(tenth(0)),
            "{s:?}"
        );
        assert_eq!(
            report.unknown.get("timeout").copied(),
            Some(tenth(1)),
            "{s:?}"
        );
        assert_eq!(report.ok, s.sent - tenth(0) - tenth(1), "{s:?}");
        assert!(report.latency_of("timeout").unwrap().min() >= 200_000);
    }

    /// The senders are the in-flight bound: never more than `max_in_flight` at once, and a
    /// shot none of them is free for waits, late, with that wait in its latency.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_are_bounded_by_max_in_flight_and_a_shot_waiting_for_one_is_late() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let op = WithSenders(8, {
            let (now, most) = (now.clone(), most.clone());
            move |_: Shot| {
                let (now, most) = (now.clone(), most.clone());
                async move {
                    let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(at_once, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Outcome::Ok
                }
            }
        });
        // Two senders of 30 ms each keep up with about 66 a second of the 100 asked.
        let report = Load::new(Schedule::Constant { rate: 100.0 }, secs(0.6))
            .max_in_flight(2)
            .run(op)
            .await
            .unwrap();
        let s = report.summary();
        assert_eq!(most.load(Ordering::SeqCst), 2, "{s:?}");
        assert_eq!((s.sent + s.dropped, s.ok), (60, s.sent), "{s:?}");
        assert!(
            s.late_sends > 0 && s.dropped > 0,
            "held back by the bound: {s:?}"
        );
        assert!(
            report.corrected.max() > report.uncorrected.max() + 100_000,
            "the wait for a sender is in the corrected latency only: {s:?}"
        );
    }
}
