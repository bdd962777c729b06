//! The shop's edge node, given: `POST /checkout` through the regulator to a service of known
//! capacity (the kit's [`Capacity`]: c workers, s each, so c / s a second on any machine;
//! the kit's [`checkout`] edge: the wire, the receipt, the wiring).
//!
//! ```text
//! POST /checkout   {"cart": "<id>"}
//!   200 {"cart", "waited_ms", "served_ms"}     served
//!   503 {"error": "overloaded" | "queue_timeout", ...}, Retry-After: <s>   refused
//!   400 / 413 / 415 / 422                      bad input
//! GET  /internal/regulator   the regulator's figures (cluster cookie required)
//! PUT  /internal/regulator   {"regulated": false}: the control, every request straight to
//!                            the service's workers, however long the line
//! GET  /internal/capacity    the service's figures; PUT {"service_time_ms"} changes s
//! ```
//!
//! The regulator's slots are the service's workers (`limit = c`), so a request the regulator
//! lets through never waits behind its back: all the waiting is in the regulator's bounded
//! queue, where it can be seen and refused. Unregulated, the service's own queue (first come,
//! first served, unbounded) holds everyone.
//!
//! `/metrics` shows the regulator's gauges `regulator_queue_depth`, `regulator_queue_depth_peak`
//! and `regulator_in_service` and its counters `regulator_admitted_total`,
//! `regulator_rejected_total` and `regulator_expired_total`, beside the kit's `capacity_*`
//! figures (the unregulated queue is `capacity_queue_depth`). No labels: nothing a client
//! sends adds a series.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use node_kit::capacity::checkout::{self, Gate};
use node_kit::capacity::{Capacity, CapacityFlags};
use node_kit::{Json, NodeContext, Routes};
use serde::Deserialize;

pub use node_kit::capacity::checkout::Receipt;

use crate::regulator::{Figures, Limits, Pass, Regulator, refuse};

/// The edge's own flags, after `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    #[command(flatten)]
    pub capacity: CapacityFlags,
    /// The most requests waiting for a worker (the queue's size bound).
    #[arg(long, default_value_t = 8)]
    pub max_queue: usize,
    /// The longest a request may wait in the queue, in milliseconds (its time bound).
    #[arg(long, default_value_t = 100)]
    pub max_wait_ms: u64,
    /// What a refusal's Retry-After says, in milliseconds (sent in whole seconds, rounded up).
    #[arg(long, default_value_t = 1000)]
    pub retry_after_ms: u64,
    /// Start as the control: no regulator, every request waits for a worker.
    #[arg(long)]
    pub unregulated: bool,
}

/// The most a queue may be bounded to, or wait for: past these a bound bounds nothing.
const MAX_QUEUE: usize = 100_000;
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The edge, shared by its handlers: what sits in front of the service.
#[derive(Clone)]
struct Edge {
    regulator: Regulator,
    /// Off for the control run.
    regulated: Arc<AtomicBool>,
}

/// The node's routes, or why its flags cannot make one.
pub fn routes(ctx: &NodeContext, flags: &Flags) -> Result<Routes, String> {
    let capacity = Capacity::from_flags(&flags.capacity)?.with_metrics(&ctx.metrics);
    if flags.max_queue > MAX_QUEUE {
        return Err(format!(
            "--max-queue {}: at most {MAX_QUEUE}",
            flags.max_queue
        ));
    }
    let max_wait = Duration::from_millis(flags.max_wait_ms);
    if max_wait > MAX_WAIT {
        return Err(format!(
            "--max-wait-ms {}: at most 60000",
            flags.max_wait_ms
        ));
    }
    let limits = Limits {
        limit: capacity.workers(),
        max_queue: flags.max_queue,
        max_wait,
        retry_after: Duration::from_millis(flags.retry_after_ms),
    };
    let edge = Edge {
        regulator: Regulator::new(limits, Some(ctx.metrics.clone())),
        regulated: Arc::new(AtomicBool::new(!flags.unregulated)),
    };
    let internal = Router::new()
        .route("/regulator", get(figures).put(switch))
        .with_state(edge.clone());
    Ok(checkout::routes(&capacity, edge, internal))
}

impl Gate for Edge {
    /// Dropping it hands the slot to the next in line; none for the control.
    type Pass = Option<Pass>;

    async fn enter(&self) -> Result<Option<Pass>, Response> {
        if !self.regulated.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match self.regulator.enter().await {
            Ok(pass) => Ok(Some(pass)),
            Err(why) => Err(refuse(why, self.regulator.limits().retry_after)),
        }
    }
}

async fn figures(State(edge): State<Edge>) -> Json<Figures> {
    Json(
        edge.regulator
            .figures(edge.regulated.load(Ordering::Relaxed)),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    regulated: bool,
}

async fn switch(State(edge): State<Edge>, Json(switch): Json<Switch>) -> Json<Figures> {
    edge.regulated.store(switch.regulated, Ordering::Relaxed);
    tracing::info!(regulated = switch.regulated, "the regulator is switched");
    Json(edge.regulator.figures(switch.regulated))
}
