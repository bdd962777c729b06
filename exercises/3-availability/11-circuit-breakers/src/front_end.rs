//! The shop's front-end, given: two pages, each backed by one dependency, each call guarded.
//!
//! ```text
//! POST /checkout          a Payment (exercise 04's)  ──► the payment service's POST /payments/authorize
//! GET  /products/{item}                               ──► the catalog's GET /catalog/{item}
//!   the dependency's answer as it is (200, or 402 card_declined, 400 ...), or
//!   503 fuse_blown | bulkhead_full | no_dependency, 504 dependency_timeout, 502 dependency_failed
//! GET  /internal/guards   which guards are on, and each dependency's calls, fuse and workers
//! PUT  /internal/guards   {"fuses": bool, "bulkheads": bool}: switch them, with fresh state
//! ```
//!
//! The front-end's flags ([`FrontEndFlags`]) name the two dependencies' nodes and set the
//! call timeout, the workers per dependency and the fuse's policy. Every node of this
//! exercise serves all three parts of the shop (front-end, payment, catalog); a test or a
//! demo uses n1 as the front-end, n2 as the payment service and n3 as the catalog.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use node_kit::cart::validate;
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, Routes};
use retries_solution::{Operation, Payment};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bulkhead::Bulkhead;
use crate::dependency::{Dependency, DependencyReport, Guards, SharedPool, Workers};
use crate::fuse::Policy;

/// The front-end's own flags, after the kit's and `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct FrontEndFlags {
    /// The payment service's node.
    #[arg(long, default_value = "n2")]
    pub payment_node: String,
    /// The catalog's node.
    #[arg(long, default_value = "n3")]
    pub catalog_node: String,
    /// How long a call to a dependency may take, waiting for a worker included.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub call_timeout_ms: u64,
    /// Workers per dependency (its bulkhead); the naive front-end shares twice as many.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: u64,
    /// Melts a fuse tolerates within its window; one more blows it.
    #[arg(long, default_value_t = 3)]
    pub fuse_tolerate: u32,
    /// How long a melt counts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub fuse_window_ms: u64,
    /// How long a blown fuse refuses everyone before it lets one probe through, and between
    /// probes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub fuse_reset_ms: u64,
}

impl FrontEndFlags {
    pub fn policy(&self) -> Policy {
        Policy {
            tolerate: self.fuse_tolerate,
            window: Duration::from_millis(self.fuse_window_ms),
            reset: Duration::from_millis(self.fuse_reset_ms),
        }
    }
}

/// The front-end's state, shared by its handlers.
#[derive(Clone)]
struct FrontEnd {
    flags: FrontEndFlags,
    /// `id=host:port` of every peer, to find the dependencies' nodes.
    peers: node_kit::config::Peers,
    /// One connection per call, no keep-alive: see [`crate::dependency`].
    http: reqwest::Client,
    /// The guards in force and their state; replaced whole by `PUT /internal/guards`, so a
    /// call in flight finishes with the state it started with.
    guarded: Arc<Mutex<Arc<Guarded>>>,
}

/// The dependencies under one setting of the guards.
struct Guarded {
    guards: Guards,
    payment: Dependency,
    catalog: Dependency,
}

/// `GET /internal/guards`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardsReport {
    pub guards: Guards,
    pub payment: DependencyReport,
    pub catalog: DependencyReport,
}

impl FrontEnd {
    fn guarded(&self, guards: Guards) -> Guarded {
        Guarded::new(&self.flags, &self.peers, guards)
    }

    fn now(&self) -> Arc<Guarded> {
        self.guarded.lock().clone()
    }
}

impl Guarded {
    /// Fresh fuses and workers for `guards`.
    fn new(flags: &FrontEndFlags, peers: &node_kit::config::Peers, guards: Guards) -> Guarded {
        let timeout = Duration::from_millis(flags.call_timeout_ms);
        let workers = flags.workers as usize;
        let shared = Arc::new(SharedPool::new(2 * workers));
        let dependency = |name: &str, node: &str| {
            let pool = if guards.bulkheads {
                Workers::Bulkhead(Bulkhead::new(workers))
            } else {
                Workers::Shared(shared.clone())
            };
            let fuse = guards.fuses.then(|| flags.policy());
            let addr = peers.addr(node).map(str::to_string);
            Dependency::new(name, node, addr, fuse, pool, timeout)
        };
        Guarded {
            guards,
            payment: dependency("payment", &flags.payment_node),
            catalog: dependency("catalog", &flags.catalog_node),
        }
    }
}

/// `routes` with the front-end's added, every guard on.
pub fn add_to(routes: Routes, ctx: &NodeContext, flags: FrontEndFlags) -> Routes {
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a plain HTTP client builds");
    let peers = ctx.config.peers.clone();
    let guarded = Guarded::new(&flags, &peers, Guards::ALL);
    let front_end = FrontEnd {
        flags,
        peers,
        http,
        guarded: Arc::new(Mutex::new(Arc::new(guarded))),
    };
    routes
        .public(
            Router::new()
                .route("/checkout", post(checkout))
                .route("/products/{item}", get(product))
                .with_state(front_end.clone()),
        )
        .internal(
            Router::new()
                .route("/guards", get(report).put(switch))
                .with_state(front_end),
        )
}

async fn checkout(
    State(front_end): State<FrontEnd>,
    Json(payment): Json<Payment>,
) -> Result<Response, ApiError> {
    let body = serde_json::to_value(&payment).map_err(|e| ApiError::internal(e.to_string()))?;
    let path = Operation::Authorize.path();
    let guarded = front_end.now();
    let answer = guarded
        .payment
        .call(&front_end.http, reqwest::Method::POST, &path, Some(&body))
        .await
        .map_err(|e| e.to_api())?;
    Ok(pass_on(answer.status, answer.body))
}

async fn product(
    State(front_end): State<FrontEnd>,
    Path(item): Path<String>,
) -> Result<Response, ApiError> {
    validate("item", &item)?;
    let guarded = front_end.now();
    let answer = guarded
        .catalog
        .call(
            &front_end.http,
            reqwest::Method::GET,
            &format!("/catalog/{item}"),
            None,
        )
        .await
        .map_err(|e| e.to_api())?;
    Ok(pass_on(answer.status, answer.body))
}

/// A dependency's answer, with its status.
fn pass_on(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn report(State(front_end): State<FrontEnd>) -> Json<GuardsReport> {
    let guarded = front_end.now();
    Json(GuardsReport {
        guards: guarded.guards,
        payment: guarded.payment.report(),
        catalog: guarded.catalog.report(),
    })
}

async fn switch(
    State(front_end): State<FrontEnd>,
    Json(guards): Json<Guards>,
) -> Json<GuardsReport> {
    let fresh = Arc::new(front_end.guarded(guards));
    *front_end.guarded.lock() = fresh;
    report(State(front_end)).await
}
