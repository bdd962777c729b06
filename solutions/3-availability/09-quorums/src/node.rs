//! The data node: any node coordinates any cart request over the cart's preference list.
//! Given, not part of the exercise; it calls your [`targets`], [`quorum`] and [`hand_off`].
//!
//! - An add goes to every copy [`targets`] names at once (each copy's write a task of its
//!   own, so it finishes even after the quorum is reached) and is acknowledged once W copies
//!   have it. A read asks the same copies and answers once R have, merged ([`merge`]).
//! - Who is up comes from exercise 02's [`Monitor`] (T = `--tick-time-ms`, its view on
//!   `GET /cluster`); a node counts itself up, and a peer it has not heard from yet.
//! - Every `--handoff-every-ms` a node runs [`hand_off`] for the hints it keeps.
//! - Internal routes (cookie): `POST /internal/replica/{cart}` (one copy's write, with its
//!   hint), `GET /internal/replica/{cart}` (this node's own copy), `POST /internal/handoff`
//!   (copies a fallback kept for this node), `GET /internal/store` (everything it holds).
//!
//! A write that reaches fewer than W copies is refused with 503 `no_quorum`, as Riak does;
//! like Riak's, it may still be on the copies it reached (the history counts it failed, and
//! no checker counts it lost). A production store would also repair stale copies on read and
//! compare copies in the background (Riak's read repair and active anti-entropy).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use consistent_hashing_solution::{Ring, VNODES};
use failure_detection_solution::{Monitor, Verdict};
use node_kit::cart::{self, AddItem, Cart, CartService};
use node_kit::{ApiError, Json, NodeContext, PeerClient};
use serde::{Deserialize, Serialize};

use crate::quorum::{Target, hand_off, quorum, targets};
use crate::store::{Carts, Store, StoreView, merge};

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// N: how many copies of each cart.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub n: u64,
    /// R: copies a read waits for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub r: u64,
    /// W: copies a write waits for.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub w: u64,
    /// A strict quorum: no fallbacks, only the primaries that are up.
    #[arg(long)]
    pub strict: bool,
    /// T of exercise 02's detector.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub tick_time_ms: u64,
    /// How long one copy's write or read may take.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub copy_timeout_ms: u64,
    /// How often a node hands its hints over.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub handoff_every_ms: u64,
}

/// One copy's write, as sent to `POST /internal/replica/{cart}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyWrite {
    pub add: AddItem,
    pub hint: Option<String>,
}

/// A data node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    me: String,
    ring: Arc<Ring>,
    monitor: Monitor,
    peers: PeerClient,
    store: Store,
    flags: Flags,
}

impl Node {
    /// Starts the monitor and the handoff loop.
    pub fn start(ctx: &NodeContext, flags: Flags) -> Node {
        let me = ctx.config.id.clone();
        let members: Vec<String> = ctx
            .config
            .peers
            .ids()
            .map(str::to_string)
            .chain([me.clone()])
            .collect();
        let node = Node {
            ring: Arc::new(Ring::new(members, VNODES)),
            monitor: Monitor::start(ctx, Duration::from_millis(flags.tick_time_ms)),
            peers: ctx.peers.clone(),
            store: Store::default(),
            me,
            flags,
        };
        tokio::spawn(node.clone().hand_off_forever());
        node
    }

    /// Who this node counts up now: itself, every peer the detector has up, and every peer
    /// it has not heard from yet (a node that just started must not write its first carts to
    /// itself alone; a peer that really is dead then costs one copy's timeout, not a quorum).
    fn up_now(&self) -> impl Fn(&str) -> bool + use<> {
        let view = self.monitor.view();
        let me = self.me.clone();
        move |id: &str| {
            id == me
                || view
                    .peers
                    .get(id)
                    .is_some_and(|p| p.state == Verdict::Up || p.last_heard_ms_ago.is_none())
        }
    }

    fn copies(&self, cart: &str) -> Vec<Target> {
        let n = self.flags.n as usize;
        targets(&self.ring, cart, n, self.up_now(), !self.flags.strict)
    }

    fn copy_timeout(&self) -> Duration {
        Duration::from_millis(self.flags.copy_timeout_ms)
    }

    /// One copy's write at `target`, as a task of its own: it runs to the end even if the
    /// quorum no longer waits for it.
    fn write_copy(
        &self,
        target: Target,
        cart: &str,
        add: &AddItem,
    ) -> tokio::task::JoinHandle<Result<Vec<AddItem>, String>> {
        let node = self.clone();
        let (cart, add) = (cart.to_string(), add.clone());
        tokio::spawn(async move {
            if target.node == node.me {
                return Ok(node.store.put(&cart, &add, target.hint.as_deref()));
            }
            let body = CopyWrite {
                add,
                hint: target.hint,
            };
            let path = format!("/internal/replica/{cart}");
            node.call(&target.node, reqwest::Method::POST, &path, Some(&body))
                .await
        })
    }

    fn read_copy(
        &self,
        target: Target,
        cart: &str,
    ) -> tokio::task::JoinHandle<Result<Vec<AddItem>, String>> {
        let node = self.clone();
        let cart = cart.to_string();
        tokio::spawn(async move {
            // A fallback's copy of someone else's cart is a hint: it reads its hint as the copy.
            if target.node == node.me {
                return Ok(match &target.hint {
                    None => node.store.read(&cart),
                    Some(primary) => node
                        .store
                        .hints_for(primary)
                        .remove(&cart)
                        .unwrap_or_default(),
                });
            }
            let path = match &target.hint {
                None => format!("/internal/replica/{cart}"),
                Some(primary) => format!("/internal/replica/{cart}?hint={primary}"),
            };
            node.call::<()>(&target.node, reqwest::Method::GET, &path, None)
                .await
        })
    }

    async fn call<B: Serialize>(
        &self,
        peer: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Vec<AddItem>, String> {
        let mut request = self
            .peers
            .request(peer, method, path)
            .ok_or_else(|| format!("{peer} is not a peer"))?
            .timeout(self.copy_timeout());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| format!("{peer}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{peer} answered {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("{peer}'s copy: {e}"))
    }

    async fn hand_off_forever(self) {
        let mut every = tokio::time::interval(Duration::from_millis(self.flags.handoff_every_ms));
        loop {
            every.tick().await;
            let send = |primary: String, hints: Carts| {
                let node = self.clone();
                async move {
                    let request = node
                        .peers
                        .request(&primary, reqwest::Method::POST, "/internal/handoff")
                        .ok_or_else(|| format!("{primary} is not a peer"))?
                        .timeout(node.copy_timeout())
                        .json(&hints);
                    match request.send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("{primary} answered {}", r.status())),
                        Err(e) => Err(format!("{primary}: {e}")),
                    }
                }
            };
            let handed = hand_off(&self.store, self.up_now(), send).await;
            if handed > 0 {
                tracing::info!(
                    handed,
                    "hinted handoff: writes handed back to their primaries"
                );
            }
        }
    }

    /// The cart API and the internal routes.
    pub fn routes(&self) -> (Router, Router) {
        let internal = Router::new()
            .route("/replica/{cart}", post(copy_write).get(copy_read))
            .route("/handoff", post(handoff))
            .route("/store", get(store_view))
            .with_state(self.clone());
        (
            cart::routes(self.clone()).merge(self.monitor.router()),
            internal,
        )
    }
}

fn no_quorum(what: &str, needed: u64, shortfall: crate::quorum::Shortfall) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_quorum",
        format!(
            "the {what} reached {} of the {needed} copies it needs: {}",
            shortfall.ok,
            shortfall.errors.join("; ")
        ),
    )
}

async fn joined(
    handle: tokio::task::JoinHandle<Result<Vec<AddItem>, String>>,
) -> Result<Vec<AddItem>, String> {
    handle
        .await
        .map_err(|e| format!("a copy's task failed: {e}"))?
}

fn items(cart: String, adds: Vec<AddItem>) -> Cart {
    Cart {
        cart,
        items: adds.into_iter().map(|a| a.item).collect(),
    }
}

impl CartService for Node {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        let writes = self
            .copies(&cart)
            .into_iter()
            .map(|t| joined(self.write_copy(t, &cart, &add)))
            .collect();
        let copies = quorum(self.flags.w as usize, writes)
            .await
            .map_err(|s| no_quorum("write", self.flags.w, s))?;
        Ok(items(cart, merge(copies)))
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        let reads = self
            .copies(&cart)
            .into_iter()
            .map(|t| joined(self.read_copy(t, &cart)))
            .collect();
        let copies = quorum(self.flags.r as usize, reads)
            .await
            .map_err(|s| no_quorum("read", self.flags.r, s))?;
        Ok(items(cart, merge(copies)))
    }
}

async fn copy_write(
    State(node): State<Node>,
    Path(cart): Path<String>,
    Json(write): Json<CopyWrite>,
) -> Result<Json<Vec<AddItem>>, ApiError> {
    cart::validate("cart", &cart)?;
    if let Some(primary) = &write.hint {
        cart::validate("hint", primary)?;
    }
    Ok(Json(node.store.put(
        &cart,
        &write.add,
        write.hint.as_deref(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadQuery {
    hint: Option<String>,
}

async fn copy_read(
    State(node): State<Node>,
    Path(cart): Path<String>,
    axum::extract::Query(query): axum::extract::Query<ReadQuery>,
) -> Result<Json<Vec<AddItem>>, ApiError> {
    cart::validate("cart", &cart)?;
    Ok(Json(match query.hint {
        None => node.store.read(&cart),
        Some(primary) => node
            .store
            .hints_for(&primary)
            .remove(&cart)
            .unwrap_or_default(),
    }))
}

async fn handoff(
    State(node): State<Node>,
    Json(handed): Json<Carts>,
) -> Result<Json<Vec<AddItem>>, ApiError> {
    for cart in handed.keys() {
        cart::validate("cart", cart)?;
    }
    node.store.absorb(&handed);
    Ok(Json(Vec::new()))
}

async fn store_view(State(node): State<Node>) -> Json<StoreView> {
    Json(node.store.view())
}
