//! The cart node of exercise 15, given: a ring of owners that grows while it serves. It calls
//! your [`moves`], [`hand_over`] and [`waits_for`].
//!
//! ```text
//! n4 starts with --ring n1,n2,n3 (it is not in it, so it joins):
//!   n4 ── GET /internal/ring ──▶ n1          the members now: [n1, n2, n3]
//!   n4 takes the ring [n1..n4], waits for the handoffs of n1, n2, n3, and tells each:
//!   n4 ── PUT /internal/ring {"members": [n1..n4]} ──▶ n1, n2, n3
//!        each: moves(old, new, its carts) → hand_over (hints for n4) → switches its ring,
//!        in one step, and answers how many carts it hands to n4
//!   n1 ── POST /internal/handoff {"from": "n1", "carts": {...}} ──▶ n4   (09's hand_off loop)
//! ```
//!
//! - Any node takes any cart request ([`CartService`] on the public routes) and sends it to
//!   the cart's owner on its ring, over the owner's internal cart routes. A node asked for a
//!   cart it no longer owns answers 421 naming the owner, and the asking node follows it:
//!   during a join some nodes have the new ring before others, which costs a request one
//!   more hop, never a failure.
//! - The owner serves each request with the kit's service of known capacity
//!   ([`node_kit::capacity`]: c workers of s each), so a node serves c / s a second on any
//!   machine, and N nodes N times that. A request that would wait behind more than
//!   `--max-queue` others is refused at once with 503 `overloaded`.
//! - Carts live in exercise 09's [`Store`] (grow-only sets of adds that merge by union, so a
//!   handoff that arrives twice counts once); the moved ones travel as its hints.
//!
//! Internal routes (cluster cookie): the cart API on the owner's own store
//! (`/internal/carts/...`), `GET /internal/ring` ([`RingView`]), `PUT /internal/ring`
//! ([`RingChange`], answered with a [`Change`]), `POST /internal/handoff` ([`Handoff`]),
//! `GET /internal/store` (09's [`StoreView`]) and the capacity's `/internal/capacity`.
//!
//! Teaching simplifications, where a real store would differ:
//! - one join at a time, told to the members by the joining node itself: Riak has one
//!   *claimant* that orders ring changes and gossips the ring, so two nodes joining at once
//!   cannot build two different rings;
//! - one copy of each cart, in memory (09 keeps N copies); the old owner keeps its stale copy
//!   of a moved cart (unread, since it no longer owns it) where Riak deletes a vnode's data
//!   once its handoff is done;
//! - a node that leaves hands nothing over: the harness's `leave` stops it, and its carts go
//!   with it (Riak's `cluster leave` hands every partition off first, then stops).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use consistent_hashing_solution::{Ring, VNODES};
use node_kit::capacity::{Capacity, CapacityFlags};
use node_kit::cart::{self, AddItem, Cart, CartError, CartService};
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, PeerClient, Routes};
use quorums_solution::{Carts, Store, StoreView, hand_off};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, RwLock};

use crate::claim::{hand_over, moves, waits_for};

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    #[command(flatten)]
    pub capacity: CapacityFlags,
    /// The ring's first members, comma-separated (default: this node and all its peers). A
    /// node that is not among them joins the ring when it starts.
    #[arg(long, value_delimiter = ',')]
    pub ring: Vec<String>,
    /// The most requests that may wait for a worker; one more is refused with 503.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub max_queue: u64,
    /// How long a node waits for the owner it sends a request to.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub forward_timeout_ms: u64,
    /// How often a node hands its moved carts over.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub handoff_every_ms: u64,
}

/// How long a new owner holds a request for a cart whose previous owner has not handed it
/// over yet, before it answers 503.
pub const HANDOFF_WAIT: Duration = Duration::from_secs(5);

/// `PUT /internal/ring`: the new member list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingChange {
    pub members: Vec<String>,
}

/// What a member did at its last ring change: its answer to `PUT /internal/ring`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub members: Vec<String>,
    /// Carts handed to each new owner.
    pub handed: BTreeMap<String, usize>,
}

/// `POST /internal/handoff`: the carts `from` hands to the node it posts to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub from: String,
    pub carts: Carts,
}

/// `GET /internal/ring`: the node's view of the ring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingView {
    pub members: Vec<String>,
    /// The old members whose handoff this node (a joiner) still waits for.
    pub awaited: Vec<String>,
    /// Carts this node handed to each new owner, over every ring change so far.
    pub handed: BTreeMap<String, usize>,
    /// Carts received from each old owner.
    pub received: BTreeMap<String, usize>,
    /// Hinted adds not delivered yet.
    pub pending: usize,
    /// Carts this node owns now and holds.
    pub owned: usize,
}

/// A cart node; cheap to clone.
#[derive(Clone)]
pub struct Node(Arc<Inner>);

struct Inner {
    me: String,
    /// Who owns which cart now; replaced whole at a ring change.
    ring: Mutex<Arc<Ring>>,
    /// The ring before this node joined: where the carts it gained were. None for a first
    /// member.
    before: Mutex<Option<Arc<Ring>>>,
    /// The old members whose handoff has not arrived (and that may have carts for us).
    awaited: Mutex<BTreeSet<String>>,
    /// Woken when a handoff arrives or an old member says it has nothing for us.
    arrived: Notify,
    /// Held shared by every apply to the store and by the handoff loop, alone by a ring
    /// change: handing carts over and switching the ring is one step for every request.
    gate: RwLock<()>,
    store: Store,
    capacity: Capacity,
    peers: PeerClient,
    /// Every node by id and address, this one too: where a 421 may send a request.
    directory: Vec<(String, String)>,
    /// Every id this node may hear of (itself and its peers): a ring names no one else.
    known: BTreeSet<String>,
    last_change: Mutex<Option<Change>>,
    handed: Mutex<BTreeMap<String, usize>>,
    received: Mutex<BTreeMap<String, usize>>,
    flags: Flags,
}

/// What a request does to a cart.
enum Op {
    Add(AddItem),
    Get,
}

impl Node {
    /// The node, its ring taken (and, for a node not on `--ring`, joined: the members asked,
    /// the ring changed on each in the background) and its handoff loop started.
    pub async fn start(ctx: &NodeContext, flags: Flags) -> Result<Node, String> {
        let me = ctx.config.id.clone();
        let capacity = Capacity::from_flags(&flags.capacity)?.with_metrics(&ctx.metrics);
        let known: BTreeSet<String> = ctx
            .config
            .peers
            .ids()
            .map(str::to_string)
            .chain([me.clone()])
            .collect();
        let first = if flags.ring.is_empty() {
            known.iter().cloned().collect()
        } else {
            flags.ring.clone()
        };
        if let Some(stranger) = first.iter().find(|id| !known.contains(*id)) {
            return Err(format!(
                "--ring names {stranger}, which is neither this node nor a peer"
            ));
        }
        let directory = ctx
            .config
            .peers
            .iter()
            .map(|(id, addr)| (id.to_string(), addr.to_string()))
            .chain([(me.clone(), ctx.addr.to_string())])
            .collect();
        let node = Node(Arc::new(Inner {
            ring: Mutex::new(Arc::new(Ring::new(first.clone(), VNODES))),
            before: Mutex::new(None),
            awaited: Mutex::default(),
            arrived: Notify::new(),
            gate: RwLock::new(()),
            store: Store::default(),
            capacity,
            peers: ctx.peers.clone(),
            directory,
            known,
            last_change: Mutex::new(None),
            handed: Mutex::default(),
            received: Mutex::default(),
            me,
            flags,
        }));
        if !first.contains(&node.0.me) {
            node.join(&first).await?;
        }
        tokio::spawn(node.clone().hand_off_forever());
        Ok(node)
    }

    fn ring(&self) -> Arc<Ring> {
        self.0.ring.lock().clone()
    }

    /// Joins the ring: asks the first listed member that answers for the members now, takes
    /// the ring with this node added, and tells every old member in the background.
    async fn join(&self, seeds: &[String]) -> Result<(), String> {
        let now = self.members_now(seeds).await?;
        if now.contains(&self.0.me) {
            // Joined before (a restart): the ring already has this node.
            *self.0.ring.lock() = Arc::new(Ring::new(now, VNODES));
            return Ok(());
        }
        let mut members = now.clone();
        members.push(self.0.me.clone());
        members.sort();
        tracing::info!(?now, "joining the ring");
        *self.0.before.lock() = Some(Arc::new(Ring::new(now.clone(), VNODES)));
        *self.0.awaited.lock() = now.iter().cloned().collect();
        *self.0.ring.lock() = Arc::new(Ring::new(members.clone(), VNODES));
        for old in now {
            tokio::spawn(self.clone().tell(old, members.clone()));
        }
        Ok(())
    }

    /// The members now, from the first of `seeds` that answers (retried for a while: the
    /// seeds may be busy).
    async fn members_now(&self, seeds: &[String]) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut why = Vec::new();
        while Instant::now() < deadline {
            for seed in seeds {
                match self
                    .call::<(), RingView>(seed, reqwest::Method::GET, "/internal/ring", None)
                    .await
                {
                    Ok(view) => return Ok(view.members),
                    Err(e) => why.push(e),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "no member of {seeds:?} told this node the ring: {}",
            why.last().map(String::as_str).unwrap_or("")
        ))
    }

    /// Tells `old` the new members, until it answers; an old member that hands this node
    /// nothing is waited for no longer.
    async fn tell(self, old: String, members: Vec<String>) {
        let change = RingChange { members };
        loop {
            match self
                .call::<_, Change>(&old, reqwest::Method::PUT, "/internal/ring", Some(&change))
                .await
            {
                Ok(answer) => {
                    let handed = answer.handed.get(&self.0.me).copied().unwrap_or(0);
                    tracing::info!(old, handed, "an old member took the new ring");
                    if handed == 0 {
                        self.0.awaited.lock().remove(&old);
                        self.0.arrived.notify_waiters();
                    }
                    return;
                }
                Err(why) => {
                    tracing::warn!(old, "the ring change is not through yet: {why}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Takes the ring `members`: hands over the carts this node no longer owns and switches,
    /// in one step. The same ring again changes nothing and answers what was done.
    async fn change_ring(&self, members: Vec<String>) -> Result<Change, ApiError> {
        for id in &members {
            cart::validate("member", id)?;
            if !self.0.known.contains(id) {
                return Err(unprocessable(format!(
                    "{id} is neither this node nor a peer of it"
                )));
            }
        }
        if !members.contains(&self.0.me) {
            return Err(unprocessable(format!(
                "the ring must keep {} (this node): a node leaves by stopping",
                self.0.me
            )));
        }
        let new = Ring::new(members, VNODES);
        let _alone = self.0.gate.write().await;
        let old = self.ring();
        if old.nodes() == new.nodes() {
            let last = self.0.last_change.lock().clone();
            return Ok(last.unwrap_or_else(|| Change {
                members: new.nodes().to_vec(),
                handed: BTreeMap::new(),
            }));
        }
        let view = self.0.store.view();
        let mine = view
            .carts
            .keys()
            .map(String::as_str)
            .filter(|cart| old.owner(cart) == self.0.me);
        let moved = moves(&old, &new, mine);
        let handed = hand_over(&self.0.store, &moved);
        let change = Change {
            members: new.nodes().to_vec(),
            handed: handed.clone(),
        };
        tracing::info!(members = ?change.members, ?handed, "the ring changed");
        *self.0.ring.lock() = Arc::new(new);
        *self.0.last_change.lock() = Some(change.clone());
        let mut total = self.0.handed.lock();
        for (to, n) in handed {
            *total.entry(to).or_insert(0) += n;
        }
        Ok(change)
    }

    /// A handoff from an old owner: its carts merged into this node's, and it is awaited no
    /// longer.
    fn receive(&self, handoff: Handoff) -> Result<(), ApiError> {
        cart::validate("from", &handoff.from)?;
        if !self.0.known.contains(&handoff.from) {
            return Err(unprocessable(format!(
                "{} is not a peer of this node",
                handoff.from
            )));
        }
        for cart in handoff.carts.keys() {
            cart::validate("cart", cart)?;
        }
        self.0.store.absorb(&handoff.carts);
        *self
            .0
            .received
            .lock()
            .entry(handoff.from.clone())
            .or_insert(0) += handoff.carts.len();
        self.0.awaited.lock().remove(&handoff.from);
        self.0.arrived.notify_waiters();
        tracing::info!(
            from = handoff.from,
            carts = handoff.carts.len(),
            "a handoff arrived"
        );
        Ok(())
    }

    async fn hand_off_forever(self) {
        let mut every = tokio::time::interval(Duration::from_millis(self.0.flags.handoff_every_ms));
        loop {
            every.tick().await;
            let send = |to: String, carts: Carts| {
                let node = self.clone();
                async move {
                    let handoff = Handoff {
                        from: node.0.me.clone(),
                        carts,
                    };
                    node.call::<_, serde_json::Value>(
                        &to,
                        reqwest::Method::POST,
                        "/internal/handoff",
                        Some(&handoff),
                    )
                    .await
                    .map(|_| ())
                }
            };
            // Shared with requests, alone from a ring change: never half a change's hints.
            let _shared = self.0.gate.read().await;
            let handed = hand_off(&self.0.store, |_| true, send).await;
            if handed > 0 {
                tracing::info!(handed, "moved carts handed to their new owners");
            }
        }
    }

    /// One JSON call to a peer's internal route.
    async fn call<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        peer: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, String> {
        let mut request = self
            .0
            .peers
            .request(peer, method, path)
            .ok_or_else(|| format!("{peer} is not a peer"))?
            .timeout(self.forward_timeout());
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
            .map_err(|e| format!("{peer}'s answer: {e}"))
    }

    fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.0.flags.forward_timeout_ms)
    }

    /// Any node's answer to a cart request: served here if this node owns the cart, else by
    /// its owner (following its 421s). A ring that changed under a request sends it on.
    async fn route(&self, cart: String, op: Op) -> Result<Cart, ApiError> {
        for _ in 0..3 {
            let owner = self.ring().owner(&cart).to_string();
            let answer = if owner == self.0.me {
                self.serve(&cart, &op).await
            } else {
                self.forward(&owner, &cart, &op).await
            };
            match answer {
                Err(e) if e.redirect().is_some() => continue,
                answer => return answer,
            }
        }
        Err(ApiError::unavailable(format!(
            "cart {cart}'s owner changed three times under this request; try again"
        )))
    }

    async fn forward(&self, owner: &str, cart: &str, op: &Op) -> Result<Cart, ApiError> {
        let peer = self
            .0
            .peers
            .peer(owner)
            .ok_or_else(|| ApiError::internal(format!("the ring names {owner}, not a peer")))?;
        let store = peer
            .carts()
            .follow_redirects(self.0.directory.iter().cloned())
            .timeout(self.forward_timeout());
        let answer = match op {
            Op::Add(add) => store.add(cart, add).await,
            Op::Get => store.get(cart).await,
        };
        answer.map(|a| a.cart).map_err(|e| match e {
            CartError::Refused {
                status: 503,
                message,
                ..
            } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!("{owner}: {message}"),
            ),
            CartError::Refused {
                status,
                code,
                message,
                ..
            } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "peer_error",
                format!("{owner} answered {status} {code}: {message}"),
            ),
            e => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "no_answer",
                format!("{owner}, the owner of cart {cart}, did not answer: {e}"),
            ),
        })
    }

    /// The owner's side: waits for the cart's handoff if it is on its way, does the request's
    /// work (the fixed service time), then applies it, or names the owner if the ring moved
    /// the cart meanwhile.
    async fn serve(&self, cart: &str, op: &Op) -> Result<Cart, ApiError> {
        self.until_handed(cart).await?;
        if self.0.capacity.waiting() as u64 >= self.0.flags.max_queue {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "{} has {} requests waiting for its {} workers; try again shortly",
                    self.0.me,
                    self.0.capacity.waiting(),
                    self.0.capacity.workers()
                ),
            ));
        }
        self.0.capacity.serve().await;
        let _shared = self.0.gate.read().await;
        let owner = self.ring().owner(cart).to_string();
        if owner != self.0.me {
            return Err(ApiError::misdirected(
                owner.clone(),
                format!("cart {cart} has moved to {owner}"),
            ));
        }
        let adds = match op {
            Op::Add(add) => self.0.store.put(cart, add, None),
            Op::Get => self.0.store.read(cart),
        };
        Ok(Cart {
            cart: cart.to_string(),
            items: adds.into_iter().map(|a| a.item).collect(),
        })
    }

    /// Holds a request while [`waits_for`] names a previous owner whose handoff is on its way.
    async fn until_handed(&self, cart: &str) -> Result<(), ApiError> {
        let deadline = tokio::time::Instant::now() + HANDOFF_WAIT;
        loop {
            let arrived = self.0.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the check, so a handoff that lands in between still wakes us.
            arrived.as_mut().enable();
            let before = self.0.before.lock().clone();
            let from = {
                let awaited = self.0.awaited.lock();
                waits_for(before.as_deref(), &self.ring(), &self.0.me, cart, &awaited)
            };
            let Some(from) = from else {
                return Ok(());
            };
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(ApiError::unavailable(format!(
                    "cart {cart} is still on its way from {from}, its previous owner; try again shortly"
                )));
            }
        }
    }

    /// What `GET /internal/ring` shows.
    pub fn view(&self) -> RingView {
        let ring = self.ring();
        let store = self.0.store.view();
        RingView {
            members: ring.nodes().to_vec(),
            awaited: self.0.awaited.lock().iter().cloned().collect(),
            handed: self.0.handed.lock().clone(),
            received: self.0.received.lock().clone(),
            pending: store
                .hints
                .values()
                .flat_map(|c| c.values())
                .map(Vec::len)
                .sum(),
            owned: store
                .carts
                .keys()
                .filter(|cart| ring.owner(cart) == self.0.me)
                .count(),
        }
    }

    /// The public cart API, and the internal routes.
    pub fn routes(&self) -> Routes {
        let internal = Router::new()
            .route("/ring", get(ring_view).put(ring_change))
            .route("/handoff", post(handoff))
            .route("/store", get(store_view))
            .with_state(self.clone())
            .merge(cart::routes(Owner(self.clone())))
            .merge(self.0.capacity.internal_routes());
        Routes::new()
            .public(cart::routes(self.clone()))
            .internal(internal)
    }
}

fn unprocessable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_ring", message)
}

impl CartService for Node {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        self.route(cart, Op::Add(add)).await
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        self.route(cart, Op::Get).await
    }
}

/// The owner's cart routes (`/internal/carts/...`): served here, or a 421 naming the owner.
#[derive(Clone)]
struct Owner(Node);

impl CartService for Owner {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        self.0.serve_or_name(&cart, Op::Add(add)).await
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        self.0.serve_or_name(&cart, Op::Get).await
    }
}

impl Node {
    async fn serve_or_name(&self, cart: &str, op: Op) -> Result<Cart, ApiError> {
        let owner = self.ring().owner(cart).to_string();
        if owner != self.0.me {
            return Err(ApiError::misdirected(
                owner.clone(),
                format!("cart {cart} is {owner}'s"),
            ));
        }
        self.serve(cart, &op).await
    }
}

async fn ring_view(State(node): State<Node>) -> Json<RingView> {
    Json(node.view())
}

async fn ring_change(
    State(node): State<Node>,
    Json(change): Json<RingChange>,
) -> Result<Json<Change>, ApiError> {
    node.change_ring(change.members).await.map(Json)
}

async fn handoff(
    State(node): State<Node>,
    Json(handoff): Json<Handoff>,
) -> Result<Json<serde_json::Value>, ApiError> {
    node.receive(handoff)?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

async fn store_view(State(node): State<Node>) -> Json<StoreView> {
    Json(node.0.store.view())
}
