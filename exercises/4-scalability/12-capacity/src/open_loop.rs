//! The core of an open-loop generator: the file you write first.
//!
//! A load generator that waits for each reply before it sends the next request (a closed
//! loop, the way most benchmarks and most load tools work) lets the server set the pace: when
//! the server stalls, the generator stops sending, and the requests that would have waited
//! are never sent, so never measured. The stall shows as one slow request among thousands.
//! Gil Tene named it *coordinated omission*: the tool and the server agree to hide the
//! problem. An open loop keeps the schedule whatever the server does, and times every request
//! from when it was *meant* to go, so a stalled second shows as every request that second
//! should have carried, each with the wait a user would have had.
//!
//! The harness's generator ([`harness::load`]) does the same at full size (a dispatcher
//! thread, late sends, timeouts, per-second windows); this is its core, in a dozen lines.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use node_kit::sync::Mutex;
use tokio::task::JoinSet;

/// Latencies, in an HDR histogram of microseconds; cheap to clone (clones share it), so each
/// request's task can record into it.
#[derive(Clone)]
pub struct Latencies(Arc<Mutex<Histogram<u64>>>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Arc::new(Mutex::new(harness::load::new_histogram())))
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies::default()
    }

    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        harness::load::record_us(&mut self.0.lock(), us);
    }

    /// How many were recorded.
    pub fn count(&self) -> u64 {
        self.0.lock().len()
    }

    /// The latency at quantile `q` (0.99 for p99); zero if none was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.0.lock().value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.lock().max())
    }

    /// A copy of the histogram.
    pub fn histogram(&self) -> Histogram<u64> {
        self.0.lock().clone()
    }
}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, p50 {:?}, p99 {:?}, max {:?}",
            self.count(),
            self.quantile(0.5),
            self.quantile(0.99),
            self.max()
        )
    }
}

/// Sends `rate` requests a second for `run`, open loop, and returns their latencies once
/// every reply is in.
///
/// Request `i` (from 0) is intended at `i / rate` seconds after the start; every request
/// intended before `run` is over is sent, and no other. `request(i)` makes request `i`: the
/// future it returns ends when the reply is in. Each request's latency counts from its
/// intended send time to the end of its future, never from the moment it was actually sent.
pub async fn open_loop<R, F>(rate: f64, run: Duration, request: R) -> Latencies
where
    R: Fn(u64) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    assert!(
        rate.is_finite() && rate > 0.0,
        "open_loop: a rate of {rate} a second; give one above 0"
    );
    // Wait for each intended time (tokio::time::sleep_until), then spawn the request as a
    // task (tokio::task::JoinSet) that records into a Latencies how long after its intended
    // time its reply came. Stop at the first request intended at or after the end of the
    // run; then wait for every task and return the Latencies.
    todo!("Send request i at start + i / rate, without waiting for earlier replies.")
}
