//! The shop's edge for section 4: `POST /checkout` through whatever sits in front of a
//! [`Capacity`] pool (exercise 13's regulator, 14's adaptive limit), defined once so that
//! every edge speaks the same wire and one client (`harness::checkout`) serves them all.
//!
//! ```text
//! POST /checkout   {"cart": "<id>"}
//!   200 {"cart", "waited_ms", "served_ms"}                       served
//!   503 {"error": "overloaded" | "queue_timeout", ...}, Retry-After: <s>   refused
//!   400 / 413 / 415 / 422                                        bad input
//! GET  /internal/capacity   the pool's figures; PUT {"service_time_ms"} changes s
//! ```
//!
//! An edge says only how it lets a checkout through ([`Gate`]) and which routes of its own it
//! adds under `/internal`; [`routes`] does the rest: the cart's validation, the admission,
//! the pool's work, the receipt.

use std::future::Future;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::{Capacity, Served};
use crate::cart::validate;
use crate::{Json, Routes};

/// The error code of a checkout refused at once (the client counts it `rejected`).
pub const OVERLOADED: &str = "overloaded";

/// What sits in front of the pool: it lets a checkout through, or refuses it with the
/// answer to send (a 503 with `Retry-After`).
pub trait Gate: Clone + Send + Sync + 'static {
    /// Held while the checkout is served: dropping it gives its place to the next one.
    type Pass: Send;

    /// Lets one checkout through (after a wait in a queue of its own, if it keeps one), or
    /// refuses it.
    fn enter(&self) -> impl Future<Output = Result<Self::Pass, Response>> + Send;
}

/// `POST /checkout` through `gate` to `capacity`, and under `/internal` the edge's own
/// routes (`internal`, state applied) beside the pool's `/capacity`.
pub fn routes<G: Gate>(capacity: &Capacity, gate: G, internal: Router) -> Routes {
    Routes::new()
        .public(
            Router::new()
                .route("/checkout", post(checkout::<G>))
                .with_state((gate, capacity.clone())),
        )
        .internal(internal.merge(capacity.internal_routes()))
}

/// What `POST /checkout` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkout {
    cart: String,
}

/// A served checkout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub cart: String,
    /// Time waiting for a worker, in the edge's queue or the pool's, in milliseconds.
    pub waited_ms: f64,
    pub served_ms: f64,
}

impl Receipt {
    fn new(cart: String, served: Served) -> Receipt {
        Receipt {
            cart,
            waited_ms: served.waited.as_secs_f64() * 1000.0,
            served_ms: served.served.as_secs_f64() * 1000.0,
        }
    }
}

async fn checkout<G: Gate>(
    State((gate, capacity)): State<(G, Capacity)>,
    Json(order): Json<Checkout>,
) -> Response {
    if let Err(e) = validate("cart", &order.cart) {
        return e.into_response();
    }
    // A checkout's wait counts from its arrival, through the gate's queue if it has one.
    let arrived = Instant::now();
    // Held until the work is done.
    let _pass = match gate.enter().await {
        Ok(pass) => pass,
        Err(refusal) => return refusal,
    };
    let served = capacity.serve_since(arrived).await;
    Json(Receipt::new(order.cart, served)).into_response()
}
