//! The adaptive concurrency limit: at most `limit` requests in service at once, the rest
//! refused at once, and `limit` moved every sampling window by AIMD, so that it finds what
//! the service behind can take, and follows it when that changes.
//!
//! After Netflix's `concurrency-limits` (`AIMDLimit`), itself after TCP's congestion window
//! (Jacobson, 1988): no one tells the node its capacity; it probes for it. While the window's
//! requests were served within the latency target and the limit was in use, add a little;
//! when they were not, cut it by a factor. The limit climbs slowly into the queue and leaves
//! it fast.
//!
//! ```text
//!  every window (100 ms):   Window { served, latency (mean), peak_in_flight }
//!                                       │
//!                           Aimd::next_limit(limit, window)    <- yours
//!                                       │
//!  latency > target ───► limit × backoff    (multiplicative decrease)
//!  in use, in time  ───► limit + increase   (additive increase)
//!  else             ───► limit              (no news, or a limit nobody uses)
//!                           clamped to [min, max]
//! ```
//!
//! Why latency finds the optimum: a service of c workers of s each serves c / s a second.
//! With L requests in service (L >= c), each waits its turn behind the others, so by Little's
//! law its latency is W = L s / c. Holding W at the target T holds L at T c / s: the most
//! concurrency that still answers in time. When s doubles, that optimum halves, and so does
//! the limit that holds W at T.
//!
//! Yours to write: [`Aimd::next_limit`]. The rest (counting what is in flight, the windows,
//! the sampler that calls you, the alarm it feeds) is given.
//!
//! Where production differs: Netflix's gradient limit compares the latency with its long-run
//! minimum instead of a fixed target, so it needs no target at all; a real limiter would
//! also cut on errors and timeouts (a "drop"), and sample per request with a smoothing filter
//! rather than per window.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_kit::Metrics;
use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};

use crate::alarm::{Alarm, AlarmFigures, Transition};

/// How the limit moves: AIMD's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aimd {
    /// The least the limit may be: one request at a time still probes the service.
    pub min: f64,
    /// The most: a bound on the harm of a limit that grew while nothing tested it.
    pub max: f64,
    /// The latency the limit aims at: a window whose mean is over it cuts the limit.
    pub target: Duration,
    /// What a window in time adds (AIMD's additive increase).
    pub increase: f64,
    /// What a window over target multiplies the limit by, in (0, 1) (the multiplicative
    /// decrease).
    pub backoff: f64,
}

/// What one sampling window saw, as [`Aimd::next_limit`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    /// Requests whose service ended in the window.
    pub served: u64,
    /// Their mean latency, from admission to the end of service; `None` if none ended.
    pub latency: Option<Duration>,
    /// The most requests in service at once during the window: is the limit in use?
    pub peak_in_flight: usize,
}

impl Aimd {
    /// The limit after a window that saw `window`, from `limit` before it.
    pub fn next_limit(&self, limit: f64, window: &Window) -> f64 {
        // Over target: `window.latency > self.target` (exactly at target is in time). In use:
        // `2 * peak_in_flight >= limit` (Netflix's rule: a limit nobody reaches learns
        // nothing, so it must not grow). No latency (nothing served) is no news: keep it.
        todo!("Cut by backoff over target; else add increase if in use; clamp to min..max.")
    }
}

/// How long a sampling window lasts: the limit moves at most once per window.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The alarm's signal is the share of arrivals refused over this many windows (half a
/// second): long enough that a pause of the clients does not read as a calm.
pub const ALARM_WINDOWS: usize = 5;

/// The limiter: counts what is in service, admits under the limit, refuses over it, and once
/// a window moves the limit and tells the alarm how much it refused. Cheap to clone.
#[derive(Clone)]
pub struct Limiter(Arc<Inner>);

struct Inner {
    /// `None`: the limit is fixed (the control).
    aimd: Mutex<Option<Aimd>>,
    state: Mutex<State>,
    /// Where the figures go (`limit_*` and `alarm_*` on `/metrics`), if anywhere.
    metrics: Option<Metrics>,
}

struct State {
    limit: f64,
    in_flight: usize,
    /// The window being counted: its requests served, their latencies, its peak in flight,
    /// and its arrivals (admitted and refused), for the alarm.
    served: u64,
    latency_sum: Duration,
    peak_in_flight: usize,
    arrived: u64,
    refused: u64,
    /// The last [`ALARM_WINDOWS`] windows' arrivals and refusals, newest last: the alarm's
    /// signal is the share refused over them.
    recent: VecDeque<(u64, u64)>,
    refused_share: f64,
    /// Since the start: what `/internal/limit` and the counters show.
    admitted_total: u64,
    refused_total: u64,
    alarm: Alarm,
}

/// A request in service; dropping it ends its service and counts its latency.
pub struct Ticket {
    limiter: Limiter,
    admitted: Instant,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.limiter.0.state.lock();
        state.in_flight -= 1;
        state.served += 1;
        state.latency_sum += self.admitted.elapsed();
        self.limiter.publish(&state);
    }
}

/// The limiter's figures, as `GET /internal/limit` gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// False for the control: a fixed limit.
    pub adaptive: bool,
    pub limit: f64,
    pub in_flight: usize,
    pub admitted: u64,
    pub refused: u64,
    /// The share of arrivals refused over the last half second, 0 to 1: the alarm's signal.
    pub refused_share: f64,
    pub target_ms: f64,
    pub alarm: AlarmFigures,
}

impl Limiter {
    /// A limiter starting at `limit`, adaptive with `aimd` (or fixed without), raising
    /// `alarm` on the share it refuses.
    pub fn new(limit: f64, aimd: Option<Aimd>, alarm: Alarm, metrics: Option<Metrics>) -> Limiter {
        let limiter = Limiter(Arc::new(Inner {
            aimd: Mutex::new(aimd),
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                served: 0,
                latency_sum: Duration::ZERO,
                peak_in_flight: 0,
                arrived: 0,
                refused: 0,
                recent: VecDeque::with_capacity(ALARM_WINDOWS + 1),
                refused_share: 0.0,
                admitted_total: 0,
                refused_total: 0,
                alarm,
            }),
            metrics,
        }));
        limiter.publish(&limiter.0.state.lock());
        limiter
    }

    /// A ticket if fewer than the limit (rounded down, at least one) are in service, else
    /// `None`: refuse the request now.
    pub fn try_enter(&self) -> Option<Ticket> {
        let mut state = self.0.state.lock();
        state.arrived += 1;
        let slots = (state.limit.floor() as usize).max(1);
        if state.in_flight >= slots {
            state.refused += 1;
            state.refused_total += 1;
            self.count("limit_refused_total");
            return None;
        }
        state.in_flight += 1;
        state.peak_in_flight = state.peak_in_flight.max(state.in_flight);
        state.admitted_total += 1;
        self.count("limit_admitted_total");
        self.publish(&state);
        Some(Ticket {
            limiter: self.clone(),
            admitted: Instant::now(),
        })
    }

    /// Ends a window: moves the limit (if adaptive), feeds the alarm the share refused, and
    /// starts the next window. Returns the alarm's transition, if it made one.
    pub fn end_window(&self) -> Option<Transition> {
        let aimd = *self.0.aimd.lock();
        let mut state = self.0.state.lock();
        let window = Window {
            served: state.served,
            latency: (state.served > 0).then(|| state.latency_sum / state.served as u32),
            peak_in_flight: state.peak_in_flight,
        };
        if let Some(aimd) = aimd {
            state.limit = aimd.next_limit(state.limit, &window);
        }
        let window_counts = (state.arrived, state.refused);
        state.recent.push_back(window_counts);
        if state.recent.len() > ALARM_WINDOWS {
            state.recent.pop_front();
        }
        let (arrived, refused) = state
            .recent
            .iter()
            .fold((0, 0), |(a, r), (wa, wr)| (a + wa, r + wr));
        // No arrivals is no news (a client that paused, a test that stopped), not a calm.
        let mut transition = None;
        if arrived > 0 {
            state.refused_share = refused as f64 / arrived as f64;
            let share = state.refused_share;
            transition = state.alarm.observe(share, self.0.metrics.as_ref());
        }
        state.served = 0;
        state.latency_sum = Duration::ZERO;
        state.peak_in_flight = state.in_flight;
        state.arrived = 0;
        state.refused = 0;
        self.publish(&state);
        transition
    }

    /// Ends a window every [`WINDOW`], for as long as the node runs.
    pub fn spawn_sampler(&self) {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(WINDOW);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                limiter.end_window();
            }
        });
    }

    /// Fixes the limit at `limit` (the control), or makes it adaptive again from where it is.
    pub fn set_fixed(&self, fixed: Option<f64>, aimd: Aimd) {
        let mut adaptive = self.0.aimd.lock();
        let mut state = self.0.state.lock();
        match fixed {
            Some(limit) => {
                *adaptive = None;
                state.limit = limit;
            }
            None => *adaptive = Some(aimd),
        }
        self.publish(&state);
    }

    /// The figures now.
    pub fn figures(&self, target: Duration) -> Figures {
        let adaptive = self.0.aimd.lock().is_some();
        let state = self.0.state.lock();
        Figures {
            adaptive,
            limit: state.limit,
            in_flight: state.in_flight,
            admitted: state.admitted_total,
            refused: state.refused_total,
            refused_share: state.refused_share,
            target_ms: target.as_secs_f64() * 1000.0,
            alarm: state.alarm.figures(),
        }
    }

    fn publish(&self, state: &State) {
        let Some(metrics) = &self.0.metrics else {
            return;
        };
        metrics.set("limit_current", state.limit);
        metrics.set("limit_in_flight", state.in_flight as f64);
        metrics.set("limit_refused_share", state.refused_share);
    }

    fn count(&self, counter: &str) {
        if let Some(metrics) = &self.0.metrics {
            metrics.add(counter, 1.0);
        }
    }
}
