//! The node and the ways to reach it, given.
//!
//! ```text
//! POST /work                 one request's worth of work: waits for one of the c workers,
//!                            holds it for s; 200 {"waited_ms", "served_ms"}
//! GET  /internal/capacity    the pool: {"workers", "service_time_ms", "per_second",
//!                            "waiting", "busy", "served"} (cluster cookie required)
//! PUT  /internal/capacity    {"service_time_ms": <s>}: a new service time from now on
//! GET  /metrics              capacity_queue_depth, capacity_busy_workers, ... (the kit's)
//! ```

use std::time::Duration;

use harness::eventually::NodeHttp;
use node_kit::capacity::{Capacity, CapacityFlags, Figures};
use node_kit::{NodeContext, Routes};

pub use node_kit::capacity::WorkDone;

/// The node's routes: the kit's pool, its figures on `/metrics`.
pub fn routes(ctx: &NodeContext, flags: &CapacityFlags) -> Result<Routes, String> {
    Ok(Capacity::from_flags(flags)?
        .with_metrics(&ctx.metrics)
        .routes())
}

/// One `POST /work` to `url` (`http://<addr>/work`): the node's account of it, or what went
/// wrong in a few words.
pub async fn work(client: &reqwest::Client, url: &str) -> Result<WorkDone, String> {
    let response = client.post(url).send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout".to_string()
        } else {
            format!("no answer: {e}")
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("http_{}", status.as_u16()));
    }
    response
        .json::<WorkDone>()
        .await
        .map_err(|e| format!("not a WorkDone: {e}"))
}

/// A plain HTTP client for the load (no proxy; idle connections dropped before the node
/// drops them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// The work a node holds at one moment, by its own count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    /// Requests waiting for a worker.
    pub waiting: usize,
    /// Workers serving one.
    pub busy: usize,
}

impl InFlight {
    /// Everything in the node: L in Little's law.
    pub fn total(&self) -> usize {
        self.waiting + self.busy
    }

    /// Asks `node` once (`GET /internal/capacity`).
    pub async fn read(node: &NodeHttp) -> Result<InFlight, String> {
        let figures: Figures = node.get_json("/internal/capacity").await?;
        Ok(InFlight {
            waiting: figures.waiting,
            busy: figures.busy,
        })
    }

    /// Reads `node` every `every` for `over`, and returns the mean of the totals (the
    /// average L) and how many readings it took.
    pub async fn mean(
        node: &NodeHttp,
        every: Duration,
        over: Duration,
    ) -> Result<(f64, usize), String> {
        let end = tokio::time::Instant::now() + over;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut sum, mut n) = (0usize, 0usize);
        while tokio::time::Instant::now() < end {
            ticks.tick().await;
            sum += InFlight::read(node).await?.total();
            n += 1;
        }
        Ok((sum as f64 / n.max(1) as f64, n))
    }
}
