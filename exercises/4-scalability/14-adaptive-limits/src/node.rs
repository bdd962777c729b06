//! The shop's edge node, given: `POST /checkout` through the adaptive limiter to a service of
//! known capacity (the kit's [`Capacity`]: c workers, s each, c / s a second on any machine),
//! whose service time can change while it runs (`PUT /internal/capacity`): capacity halves.
//! The wire, the receipt and the wiring are the kit's [`checkout`] edge, as in exercise 13.
//!
//! ```text
//! POST /checkout   {"cart": "<id>"}
//!   200 {"cart", "waited_ms", "served_ms"}                  served
//!   503 {"error": "overloaded", ...}, Retry-After: 1        over the limit: refused at once
//!   400 / 413 / 415 / 422                                   bad input
//! GET  /internal/limit      the limiter's figures and its alarm (cluster cookie required)
//! PUT  /internal/limit      {"fixed": 20}: the control, a limit that never moves;
//!                           {"fixed": null}: adaptive again
//! GET  /internal/capacity   the service's figures; PUT {"service_time_ms"} changes s
//! ```
//!
//! Unlike exercise 13's regulator there is no queue in front: a request over the limit is
//! refused at once, and the limit itself decides how much waits in the service's own queue
//! (L - c of the L in service). The alarm `overload` watches the share of arrivals refused
//! per window: set above 20%, cleared below 5%.
//!
//! `/metrics` shows the gauges `limit_current`, `limit_in_flight`, `limit_refused_share`,
//! `alarm_overload_active` (1 while set), the counters `limit_admitted_total`,
//! `limit_refused_total`, `alarm_overload_set_total`, `alarm_overload_cleared_total`, beside
//! the kit's `capacity_*`. The alarm's name is part of the metric's name because the kit's
//! registry has no labels for a node's own metrics; a registry with them would show
//! `alarm_active{alarm="overload"}`.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use node_kit::capacity::checkout::{self, Gate};
use node_kit::capacity::{Capacity, CapacityFlags};
use node_kit::{ApiError, Json, NodeContext, Routes};
use serde::Deserialize;

pub use node_kit::capacity::checkout::{OVERLOADED, Receipt};

use crate::alarm::{Alarm, Watermarks};
use crate::limit::{Aimd, Figures, Limiter, Ticket};

/// The edge's own flags, after `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    #[command(flatten)]
    pub capacity: CapacityFlags,
    /// The latency the limit aims at, in milliseconds (AIMD cuts the limit above it).
    #[arg(long, default_value_t = 100)]
    pub target_ms: u64,
    /// The limit to start from (default: twice the service's workers, so that the jitter of
    /// a load well below capacity is not refused while the limit finds its level).
    #[arg(long)]
    pub initial_limit: Option<usize>,
    /// Start as the control: a limit fixed at this, never moved.
    #[arg(long)]
    pub fixed_limit: Option<usize>,
}

/// The bounds of the limit: one request probes the service; past `MAX_LIMIT` a limit bounds
/// nothing this service could serve in time.
pub const MIN_LIMIT: f64 = 1.0;
pub const MAX_LIMIT: f64 = 200.0;

/// AIMD's steps: one more request per window in time, a fifth fewer per window over target.
pub const INCREASE: f64 = 1.0;
pub const BACKOFF: f64 = 0.8;

/// The overload alarm: set when over a fifth of a window's arrivals were refused, cleared
/// when under one in twenty were.
pub const OVERLOAD: Watermarks = Watermarks {
    high: 0.20,
    low: 0.05,
};

/// The edge's AIMD for a latency `target`.
pub fn aimd(target: Duration) -> Aimd {
    Aimd {
        min: MIN_LIMIT,
        max: MAX_LIMIT,
        target,
        increase: INCREASE,
        backoff: BACKOFF,
    }
}

/// The edge, shared by its handlers: what sits in front of the service.
#[derive(Clone)]
struct Edge {
    limiter: Limiter,
    aimd: Aimd,
}

/// The node's routes, or why its flags cannot make one.
pub fn routes(ctx: &NodeContext, flags: &Flags) -> Result<Routes, String> {
    let capacity = Capacity::from_flags(&flags.capacity)?.with_metrics(&ctx.metrics);
    let target = Duration::from_millis(flags.target_ms);
    if target < Duration::from_millis(1) || target > Duration::from_secs(60) {
        return Err(format!("--target-ms {}: give 1 to 60000", flags.target_ms));
    }
    let initial = flags.initial_limit.unwrap_or(2 * capacity.workers());
    for (flag, limit) in [
        ("--initial-limit", Some(initial)),
        ("--fixed-limit", flags.fixed_limit),
    ] {
        if let Some(limit) = limit
            && !(MIN_LIMIT..=MAX_LIMIT).contains(&(limit as f64))
        {
            return Err(format!("{flag} {limit}: give {MIN_LIMIT} to {MAX_LIMIT}"));
        }
    }
    let aimd = aimd(target);
    let alarm = Alarm::new("overload", OVERLOAD);
    alarm.publish(&ctx.metrics);
    let limiter = match flags.fixed_limit {
        Some(fixed) => Limiter::new(fixed as f64, None, alarm, Some(ctx.metrics.clone())),
        None => Limiter::new(initial as f64, Some(aimd), alarm, Some(ctx.metrics.clone())),
    };
    limiter.spawn_sampler();
    let edge = Edge { limiter, aimd };
    let internal = Router::new()
        .route("/limit", get(figures).put(fix))
        .with_state(edge.clone());
    Ok(checkout::routes(&capacity, edge, internal))
}

impl Gate for Edge {
    /// Dropping it counts the request's latency.
    type Pass = Ticket;

    /// Over the limit, refused at once: no queue in front.
    async fn enter(&self) -> Result<Ticket, Response> {
        self.limiter.try_enter().ok_or_else(|| {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                OVERLOADED,
                "the edge is at its concurrency limit; try again in 1 s",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            response
        })
    }
}

async fn figures(State(edge): State<Edge>) -> Json<Figures> {
    Json(edge.limiter.figures(edge.aimd.target))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fix {
    fixed: Option<usize>,
}

async fn fix(State(edge): State<Edge>, Json(fix): Json<Fix>) -> Result<Json<Figures>, ApiError> {
    if let Some(limit) = fix.fixed
        && !(MIN_LIMIT..=MAX_LIMIT).contains(&(limit as f64))
    {
        return Err(ApiError::bad_request(format!(
            "a fixed limit of {limit}: give {MIN_LIMIT} to {MAX_LIMIT}"
        )));
    }
    edge.limiter
        .set_fixed(fix.fixed.map(|l| l as f64), edge.aimd);
    tracing::info!(fixed = ?fix.fixed, "the limit is switched");
    Ok(Json(edge.limiter.figures(edge.aimd.target)))
}
