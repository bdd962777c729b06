//! The payment service node, given: the other end of the interface, and a witness of what
//! reached it.
//!
//! ```text
//! POST /payments/{operation}  {"request_id", "order", "amount_cents", "card"}
//!   200 {receipt}                 carried out
//!   402 {"error": "card_declined" | "refund_exceeds_charges", ...}   a business error
//!   400 / 404 / 413 / 415 / 422   bad input: an unknown operation, an invalid id, ...
//! GET /internal/arrivals          every request that reached this node, in order
//!                                 (cluster cookie required)
//! ```
//!
//! Every request that reaches the handler is recorded as an [`Arrival`] before anything else
//! happens, declined and refused ones included: that is what the tests count (how many times
//! a request id arrived, how many arrivals per 100 ms).
//!
//! Teaching simplifications, where a real payment service would differ: the books live in
//! memory on each node, separately (no node knows what another charged); nothing is
//! deduplicated (a repeated charge is charged again: exercise 05 adds the dedup table); and
//! the arrival log grows with every request, up to [`MAX_ARRIVALS`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use node_kit::cart::validate;
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, Routes};
use serde::{Deserialize, Serialize};

use crate::interface::{CARD_DECLINED, Operation, Payment, REFUND_EXCEEDS_CHARGES, Receipt};

/// The most arrivals a node remembers; later ones are served but not recorded.
pub const MAX_ARRIVALS: usize = 1_000_000;

/// One request as it reached the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub request_id: String,
    pub operation: Operation,
    pub order: String,
    /// Microseconds since the node started.
    pub t_us: u64,
}

/// The node's routes: the payment API in public, its arrival log under `/internal`.
pub fn routes(ctx: &NodeContext) -> Routes {
    let books = Books {
        node: ctx.config.id.clone(),
        started: Instant::now(),
        state: Arc::default(),
    };
    Routes::new()
        .public(
            Router::new()
                .route("/payments/{operation}", post(pay))
                .with_state(books.clone()),
        )
        .internal(
            Router::new()
                .route("/arrivals", get(arrivals))
                .with_state(books),
        )
}

/// The node's books, shared by its handlers.
#[derive(Clone)]
struct Books {
    /// Named in every receipt, so a caller sees which node of its preference list answered.
    node: String,
    /// The origin of arrival times.
    started: Instant,
    state: Arc<Mutex<Ledger>>,
}

#[derive(Default)]
struct Ledger {
    arrivals: Vec<Arrival>,
    /// Per order: what was charged and what was refunded, in cents.
    orders: HashMap<String, Totals>,
}

#[derive(Default)]
struct Totals {
    charged: u64,
    refunded: u64,
}

async fn pay(
    State(books): State<Books>,
    Path(operation): Path<String>,
    Json(payment): Json<Payment>,
) -> Result<Json<Receipt>, ApiError> {
    let op = Operation::named(&operation).ok_or_else(|| {
        let known: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_operation",
            format!(
                "no operation {operation:?}: the payment service has {}",
                known.join(", ")
            ),
        )
    })?;
    validate("request_id", &payment.request_id)?;
    validate("order", &payment.order)?;
    if payment.amount_cents == 0 {
        return Err(ApiError::bad_request("amount_cents must be at least 1"));
    }
    if !(12..=19).contains(&payment.card.len()) || !payment.card.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::bad_request("card must be 12 to 19 digits"));
    }

    let mut ledger = books.state.lock();
    if ledger.arrivals.len() < MAX_ARRIVALS {
        let t_us = books.started.elapsed().as_micros() as u64;
        ledger.arrivals.push(Arrival {
            request_id: payment.request_id.clone(),
            operation: op,
            order: payment.order.clone(),
            t_us,
        });
    }
    let declined = payment.card.ends_with("0002");
    let totals = ledger.orders.entry(payment.order.clone()).or_default();
    match op {
        Operation::Authorize | Operation::Charge if declined => {
            return Err(business(CARD_DECLINED, "the card's issuer declined it"));
        }
        // One hold per order, kept by the card's issuer: asking again holds the same money,
        // not twice as much, and moves none.
        Operation::Authorize => {}
        Operation::Charge => totals.charged += payment.amount_cents,
        Operation::Refund => {
            let left = totals.charged - totals.refunded;
            if payment.amount_cents > left {
                return Err(business(
                    REFUND_EXCEEDS_CHARGES,
                    format!(
                        "order {} has {left} cents left to refund, not {}",
                        payment.order, payment.amount_cents
                    ),
                ));
            }
            totals.refunded += payment.amount_cents;
        }
    }
    Ok(Json(Receipt {
        request_id: payment.request_id,
        operation: op,
        order: payment.order,
        amount_cents: payment.amount_cents,
        node: books.node.clone(),
    }))
}

/// A business error: 402, the code the interface declares, a sentence.
fn business(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYMENT_REQUIRED, code, message)
}

async fn arrivals(State(books): State<Books>) -> Json<Vec<Arrival>> {
    Json(books.state.lock().arrivals.clone())
}
