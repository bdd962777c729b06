//! The replicated cart node, given: the plumbing around your three functions.
//!
//! ```text
//!  client ── POST /carts/42/items ──▶ n3 (a backup)   421 misdirected, x-lab-redirect: n1
//!  client ── POST /carts/42/items ──▶ n1 (the primary, epoch 1)
//!                                      ├──▶ n2  POST /internal/replicate {view: 1/n1, ..}  stored
//!                                      └──▶ n3  POST /internal/replicate {view: 1/n1, ..}  (later)
//!  client ◀── 200 {cart}   as soon as ack_after_w counts W copies (n1's own, then n2's)
//! ```
//!
//! - [`Replica`] is the node's state (its view, its role, its carts) and serves the kit's
//!   cart API: the primary replicates each add to every backup and answers once
//!   [`ack_after_w`] says there are W copies; a backup answers every cart request with a
//!   redirect to the primary it knows (the kit's [`CartClient`](node_kit::CartClient) follows
//!   it), so clients may ask any node.
//! - Every message between nodes carries the sender's [`View`], and [`fence`] decides what
//!   the receiver does with it: a stale epoch is refused with 409 `stale_epoch` and the
//!   receiver's view, which is how an old primary learns that it has been replaced.
//! - A watcher polls exercise 02's failure detector ([`Monitor`]): when a peer it has seen up
//!   is declared down, [`on_verdict`] says whether this node promotes itself. Promotion
//!   takes the new view, asks the other nodes to join it (each answers with every cart it
//!   holds), merges what it got, serves, and pushes the merged carts back to the backups.
//! - A node that starts asks its peers which view they are in before it serves; one that
//!   restarts (its data directory says it ran before) also copies the primary's carts,
//!   because it lost its own.
//!
//! Why the new primary collects carts first: a write acknowledged with W copies is on W
//! nodes, not necessarily on the new primary. The primary that died held one of them, so
//! W - 1 live nodes hold it; hearing from N - W other nodes besides itself, the new primary
//! meets at least one of them (Viewstamped Replication's view change, Raft's "the leader has
//! every committed entry"). With W = 1 no count is enough: the only copy may have died.
//!
//! Teaching simplifications, where a real system would differ:
//! - carts live in memory: the copies on other machines are the durability (the book's two
//!   computers). A real primary-backup store writes a log to disk as well;
//! - a primary sends whole adds, not a numbered log, and backups merge by request id, so
//!   copies may list a cart's items in different orders;
//! - a write that reaches some backups but not W copies is answered 503, although the
//!   backups that stored it keep it (a real client would be told "I don't know");
//! - a primary that loses contact with every backup keeps its role (and, with W > 1, takes
//!   no write): there are no leases, so reads from a primary cut off from the rest may be
//!   stale until a backup's message fences it;
//! - the choice of the next primary relies on the backups' detectors agreeing; when they do
//!   not, two backups may claim the same epoch, and the lower id wins the tie.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use failure_detection_solution::{Monitor, PeerView, Verdict, answer_ticks};
use node_kit::cart::{self, AddItem, Cart, CartService};
use node_kit::error::causes;
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, Peer, PeerClient, Routes};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::ack::{Reply, Shortfall, ack_after_w};
use crate::view::{Fence, View, fence, on_verdict};

/// How long the primary waits for one backup to store a write.
pub const REPLICATE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a node waits for a peer's answer about views and carts (joining, promoting).
pub const CONTROL_TIMEOUT: Duration = Duration::from_millis(500);

/// How often the watcher reads the failure detector's verdicts. Far below its tick interval
/// (T/4), so a verdict is acted on within a few milliseconds.
pub const WATCH_EVERY: Duration = Duration::from_millis(10);

/// The wait between two rounds of a promotion that has not heard from enough nodes yet.
pub const PROMOTION_RETRY: Duration = Duration::from_millis(100);

/// How a node is set up: the exercise's two knobs.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Copies of a write, the primary's own included, before it is acknowledged.
    pub w: usize,
    /// T of exercise 02's tick detector: a hung peer is down after about T; a killed one as
    /// soon as its connection closes.
    pub tick_time: Duration,
}

/// What a node does in its view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes every cart request of its epoch.
    Primary,
    /// Has taken a new epoch and is collecting the other nodes' carts: serves nothing yet.
    Promoting,
    /// Stores what the primary replicates; sends clients to the primary.
    Backup,
}

/// One add as a node stores it: the request id makes a repeated add (or the same add
/// arriving from two copies) one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub request_id: String,
    pub item: String,
}

/// Every cart a node holds.
pub type Carts = BTreeMap<String, Vec<Entry>>;

/// `POST /internal/replicate`: one add, from the primary of `view`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicate {
    pub view: View,
    pub cart: String,
    pub add: AddItem,
}

/// `POST /internal/promote`: "I am the primary of `view`; join it, and send me your carts".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    pub view: View,
}

/// A node's carts in its view: the answer to a promotion, the body of `POST /internal/sync`
/// (a new primary's merged carts) and of `GET /internal/sync` (what a restarted node copies).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub view: View,
    pub carts: Carts,
}

/// `GET /view` (and `/internal/view`): what a node believes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub node: String,
    pub view: View,
    pub role: Role,
    pub w: usize,
}

/// The body of a 409 `stale_epoch` refusal: the JSON error shape, and the view the refusing
/// node is in, so the sender learns who replaced it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleEpoch {
    pub error: String,
    pub message: String,
    pub view: View,
}

impl IntoResponse for StaleEpoch {
    fn into_response(self) -> Response {
        (StatusCode::CONFLICT, Json(self)).into_response()
    }
}

/// The error code of a refused stale epoch.
pub const STALE_EPOCH: &str = "stale_epoch";

/// The node: its view, its role and its carts, shared by every request and task.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    me: String,
    /// N, the cluster's size, this node included: with W it says how many nodes a new
    /// primary must hear from.
    nodes: usize,
    w: usize,
    peers: PeerClient,
    state: Mutex<ReplicaState>,
}

/// Changed only under the lock, a few statements at a time, never across an `.await`.
struct ReplicaState {
    view: View,
    role: Role,
    carts: Carts,
}

/// Starts the node: its detector, its view (asking the peers), its watcher; returns its
/// routes. A node that restarts copies the primary's carts before it serves.
pub async fn start(ctx: &NodeContext, config: Config) -> Result<Routes, String> {
    let me = ctx.config.id.clone();
    let nodes = ctx.config.peers.len() + 1;
    if !(1..=nodes).contains(&config.w) {
        return Err(format!(
            "--w {}: a write needs between 1 and {nodes} copies on a cluster of {nodes}",
            config.w
        ));
    }
    let first = View::first(ctx.config.peers.ids().chain([me.as_str()]));
    let replica = Replica {
        inner: Arc::new(Inner {
            me,
            nodes,
            w: config.w,
            peers: ctx.peers.clone(),
            state: Mutex::new(ReplicaState {
                view: first,
                role: Role::Backup,
                carts: Carts::new(),
            }),
        }),
    };
    let monitor = Monitor::start(ctx, config.tick_time);
    replica.join(ran_before(ctx)?).await;
    tokio::spawn(replica.clone().watch(monitor.clone()));
    let public = Router::new()
        .route("/view", get(status))
        .with_state(replica.clone())
        .merge(cart::routes(replica.clone()))
        .merge(monitor.router());
    let internal = Router::new()
        .route("/replicate", post(replicate))
        .route("/promote", post(promote))
        .route("/sync", post(sync).get(snapshot))
        .route("/view", get(status))
        .with_state(replica.clone())
        .merge(cart::routes(OwnCopy(replica)));
    Ok(Routes::new()
        .public(public)
        .internal(internal)
        .on_link(answer_ticks))
}

/// Whether this node ran before with the same data directory (a restart), and notes that it
/// has now. Without a data directory every start is a first start.
fn ran_before(ctx: &NodeContext) -> Result<bool, String> {
    let Some(dir) = &ctx.config.data_dir else {
        return Ok(false);
    };
    let marker = dir.join("started");
    let before = marker.exists();
    std::fs::write(&marker, b"this node has started here before\n")
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(before)
}

impl Replica {
    fn me(&self) -> &str {
        &self.inner.me
    }

    /// This node's view and role right now.
    pub fn status(&self) -> Status {
        let state = self.inner.state.lock();
        Status {
            node: self.inner.me.clone(),
            view: state.view.clone(),
            role: state.role,
            w: self.inner.w,
        }
    }

    /// The view to serve a client request in, or the answer that sends the client elsewhere.
    fn serving(&self) -> Result<View, ApiError> {
        let state = self.inner.state.lock();
        let View { epoch, primary } = &state.view;
        match state.role {
            Role::Primary => Ok(state.view.clone()),
            Role::Promoting => Err(ApiError::unavailable(format!(
                "{} is becoming the primary of epoch {epoch}; try again in a moment",
                self.me()
            ))),
            Role::Backup => Err(ApiError::misdirected(
                primary.clone(),
                format!(
                    "{} is a backup in epoch {epoch}: send cart requests to the primary, {primary}",
                    self.me()
                ),
            )),
        }
    }

    /// Checks a message's view against this node's and, unless it is stale, takes it.
    /// `Err` is the 409 refusal to answer.
    fn admit(&self, state: &mut ReplicaState, theirs: &View) -> Result<(), StaleEpoch> {
        match fence(&state.view, theirs) {
            Fence::Stale => Err(self.stale(&state.view, theirs)),
            Fence::Current => Ok(()),
            Fence::Newer => {
                self.adopt(state, theirs.clone());
                Ok(())
            }
        }
    }

    /// Moves to a later view as a backup (a primary or a promoting node steps down).
    fn adopt(&self, state: &mut ReplicaState, view: View) {
        if state.role != Role::Backup {
            tracing::warn!(
                old = ?state.view, new = ?view,
                "a later view exists: stepping down to backup"
            );
        } else {
            tracing::info!(epoch = view.epoch, primary = %view.primary, "joining a later view");
        }
        state.view = view;
        state.role = Role::Backup;
    }

    /// The 409 that refuses a message from `theirs`.
    fn stale(&self, mine: &View, theirs: &View) -> StaleEpoch {
        let message = format!(
            "{} is in epoch {} (primary {}): epoch {} of {} is over",
            self.me(),
            mine.epoch,
            mine.primary,
            theirs.epoch,
            theirs.primary
        );
        tracing::info!("refused: {message}");
        StaleEpoch {
            error: STALE_EPOCH.into(),
            message,
            view: mine.clone(),
        }
    }

    /// Where this node starts: the view its peers are in (the latest any of them answers),
    /// or the first view if none is later. A node that ran before lost its carts: it copies
    /// the primary's, or, if it is still named primary itself, starts a new epoch.
    async fn join(&self, restarted: bool) {
        let mut asks = JoinSet::new();
        for peer in self.inner.peers.iter() {
            asks.spawn(async move { ask_view(&peer).await });
        }
        let mut latest = self.status().view;
        while let Some(answer) = asks.join_next().await {
            if let Ok(Some(view)) = answer
                && view.epoch > latest.epoch
            {
                latest = view;
            }
        }
        if latest.primary != self.me() {
            {
                let mut state = self.inner.state.lock();
                state.view = latest.clone();
                state.role = Role::Backup;
            }
            if restarted || latest.epoch > 1 {
                self.catch_up(&latest.primary).await;
            }
            tracing::info!(epoch = latest.epoch, primary = %latest.primary, restarted, "joined as a backup");
        } else if restarted {
            // The others still name this node primary: it died and came back before they
            // noticed, with nothing in memory. A new epoch makes them hand over their carts.
            let next = View {
                epoch: latest.epoch + 1,
                primary: self.me().to_string(),
            };
            tracing::warn!(
                ?latest,
                "restarted while named primary: starting a new epoch"
            );
            let replica = self.clone();
            tokio::spawn(async move { replica.promote(latest, next).await });
        } else {
            self.inner.state.lock().role = Role::Primary;
            tracing::info!(epoch = latest.epoch, "starting as the primary");
        }
    }

    /// Copies the primary's carts into this node's (a few tries: it may be promoting).
    async fn catch_up(&self, primary: &str) {
        let Some(peer) = self.inner.peers.peer(primary) else {
            return;
        };
        for _ in 0..20 {
            let answer = peer
                .request(Method::GET, "/internal/sync")
                .timeout(CONTROL_TIMEOUT)
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
                && let Ok(snapshot) = response.json::<Snapshot>().await
            {
                let mut state = self.inner.state.lock();
                if self.admit(&mut state, &snapshot.view).is_ok() {
                    merge(&mut state.carts, snapshot.carts);
                    tracing::info!(
                        primary,
                        carts = state.carts.len(),
                        "copied the primary's carts"
                    );
                }
                return;
            }
            tokio::time::sleep(PROMOTION_RETRY).await;
        }
        tracing::warn!(primary, "could not copy the primary's carts");
    }

    /// Reads the failure detector's verdicts and acts on them: a peer it declares down goes
    /// to [`on_verdict`], which may promote this node.
    async fn watch(self, monitor: Monitor) {
        let mut ticker = tokio::time::interval(WATCH_EVERY);
        let mut seen_up = BTreeSet::new();
        loop {
            ticker.tick().await;
            let cluster = monitor.view();
            let up: Vec<String> = cluster
                .peers
                .iter()
                .filter(|(_, peer)| peer.state == Verdict::Up)
                .map(|(id, _)| id.clone())
                .collect();
            seen_up.extend(up.iter().cloned());
            let (view, role) = {
                let state = self.inner.state.lock();
                (state.view.clone(), state.role)
            };
            if role != Role::Backup {
                continue;
            }
            let down = cluster
                .peers
                .iter()
                .filter(|(id, peer)| is_verdict_down(peer, seen_up.contains(*id)));
            for (peer, _) in down {
                if let Some(next) = on_verdict(&view, self.me(), peer, &up) {
                    tracing::warn!(down = %peer, epoch = next.epoch, "the failure detector says {peer} is down: promoting myself");
                    self.promote(view, next).await;
                    break;
                }
            }
        }
    }

    /// Becomes the primary of `next` (taken over from `from`): asks every peer to join it
    /// until enough of them answered with their carts, merges those, serves, and pushes the
    /// merged carts to every backup. Gives up if a later view turns up.
    async fn promote(&self, from: View, next: View) {
        {
            let mut state = self.inner.state.lock();
            if state.view != from || state.role == Role::Primary {
                return;
            }
            state.view = next.clone();
            state.role = Role::Promoting;
        }
        // Every write acknowledged in `from` is on W nodes, one of them perhaps the dead
        // primary: hearing from N - W others besides this node meets at least one of them.
        let others = self
            .inner
            .peers
            .peers()
            .ids()
            .filter(|peer| *peer != from.primary)
            .count();
        let needed = (self.inner.nodes - self.inner.w).min(others);
        loop {
            let mut asks = JoinSet::new();
            for peer in self.inner.peers.iter() {
                let view = next.clone();
                asks.spawn(async move { ask_to_join(&peer, view).await });
            }
            // Enough answers end the round: a hung peer must not hold the promotion for its
            // whole timeout (the asks still out are dropped).
            let (mut joined, mut rival) = (Vec::new(), None::<View>);
            while joined.len() < needed.max(1)
                && let Some(answer) = asks.join_next().await
            {
                match answer {
                    Ok(Joined::Carts(carts)) => joined.push(carts),
                    Ok(Joined::Refused(view)) => rival = Some(view),
                    _ => {}
                }
            }
            let heard = joined.len();
            let snapshot = {
                let mut state = self.inner.state.lock();
                if state.view != next {
                    return; // a later view reached this node meanwhile: it stepped down
                }
                if let Some(view) = rival {
                    // A later epoch, or a rival claim on this one by a lower id: it wins.
                    if fence(&next, &view) == Fence::Newer
                        || (view.epoch == next.epoch && view.primary < next.primary)
                    {
                        self.adopt(&mut state, view);
                        return;
                    }
                }
                if heard >= needed {
                    for carts in joined {
                        merge(&mut state.carts, carts);
                    }
                    state.role = Role::Primary;
                    Some(Snapshot {
                        view: next.clone(),
                        carts: state.carts.clone(),
                    })
                } else {
                    None
                }
            };
            if let Some(snapshot) = snapshot {
                tracing::warn!(
                    epoch = next.epoch,
                    "promoted: primary of epoch {}",
                    next.epoch
                );
                for peer in self.inner.peers.iter() {
                    tokio::spawn(push_carts(peer, snapshot.clone()));
                }
                return;
            }
            tracing::info!(
                heard,
                needed,
                "not enough nodes joined epoch {} yet",
                next.epoch
            );
            tokio::time::sleep(PROMOTION_RETRY).await;
        }
    }
}

impl CartService for Replica {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        let view = self.serving()?;
        let message = Replicate {
            view: view.clone(),
            cart: cart.clone(),
            add: add.clone(),
        };
        // Every backup gets the write at once; the copies count as they answer. The sends go
        // on after the answer: a backup that answers late still gets its copy.
        let (replies, mut counted) = mpsc::channel(self.inner.peers.peers().len().max(1));
        for peer in self.inner.peers.iter() {
            let (message, replies) = (message.clone(), replies.clone());
            tokio::spawn(async move {
                let _ = replies.send(replicate_to(&peer, &message).await).await;
            });
        }
        drop(replies);
        match ack_after_w(self.inner.w, &mut counted).await {
            Ok(_copies) => {
                let mut state = self.inner.state.lock();
                if state.view != view || state.role != Role::Primary {
                    drop(state);
                    return Err(self.serving().err().unwrap_or_else(|| {
                        ApiError::unavailable("the view changed during the write; try again")
                    }));
                }
                let items = apply(&mut state.carts, &cart, add);
                Ok(Cart { cart, items })
            }
            Err(Shortfall::Stale(later)) => {
                {
                    let mut state = self.inner.state.lock();
                    if fence(&state.view, &later) == Fence::Newer {
                        self.adopt(&mut state, later);
                    }
                }
                Err(self.serving().err().unwrap_or_else(|| {
                    ApiError::unavailable("a backup refused this epoch; try again")
                }))
            }
            Err(Shortfall::TooFew { copies, w, why }) => Err(ApiError::unavailable(format!(
                "only {copies} of the {w} copies a write needs ({}); nothing acknowledged",
                why.join("; ")
            ))),
        }
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        self.serving()?;
        let state = self.inner.state.lock();
        let items = items(state.carts.get(&cart));
        Ok(Cart { cart, items })
    }
}

/// The cart API under `/internal`: this node's own copy of each cart, whatever its role, so a
/// test (or you, with the cookie) can see which nodes hold a write. It takes no adds: only a
/// primary's replication writes to a copy.
struct OwnCopy(Replica);

impl CartService for OwnCopy {
    async fn add(&self, _cart: String, _add: AddItem) -> Result<Cart, ApiError> {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "a node's own copy takes adds only from its primary (POST /internal/replicate)",
        ))
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        let state = self.0.inner.state.lock();
        let items = items(state.carts.get(&cart));
        Ok(Cart { cart, items })
    }
}

/// Whether the detector has declared this peer down, as opposed to not knowing it yet.
/// Exercise 02's monitor starts every peer down until its link is up and the first tick is
/// answered, which on a busy machine comes tens of milliseconds after the link connected. A
/// peer is down for real once it was up (`seen_up`, by this node's watcher), or when nothing
/// was heard from it since it went down (a peer killed before the watcher saw it up).
fn is_verdict_down(peer: &PeerView, seen_up: bool) -> bool {
    let silent_since_down = peer.last_heard_ms_ago.is_some_and(|ago| ago > peer.for_ms);
    peer.state == Verdict::Down
        && peer.last_heard_ms_ago.is_some()
        && (seen_up || silent_since_down)
}

/// Adds `add` to `cart` unless its request id is there already; returns the cart's items.
fn apply(carts: &mut Carts, cart: &str, add: AddItem) -> Vec<String> {
    let entries = carts.entry(cart.to_string()).or_default();
    if !entries.iter().any(|e| e.request_id == add.request_id) {
        entries.push(Entry {
            request_id: add.request_id,
            item: add.item,
        });
    }
    items(Some(entries))
}

fn items(entries: Option<&Vec<Entry>>) -> Vec<String> {
    entries
        .map(|entries| entries.iter().map(|e| e.item.clone()).collect())
        .unwrap_or_default()
}

/// Adds to `carts` every entry of `other` it lacks.
fn merge(carts: &mut Carts, other: Carts) {
    for (cart, entries) in other {
        for entry in entries {
            let add = AddItem {
                request_id: entry.request_id,
                item: entry.item,
            };
            apply(carts, &cart, add);
        }
    }
}

/// Checks the ids of a replicated add as the public cart API would.
fn validate(cart: &str, add: &AddItem) -> Result<(), ApiError> {
    cart::validate("cart id", cart)?;
    cart::validate("request_id", &add.request_id)?;
    cart::validate("item", &add.item)
}

/// `POST /internal/replicate`: a backup stores one add of the primary of the message's view.
async fn replicate(State(replica): State<Replica>, Json(message): Json<Replicate>) -> Response {
    if let Err(e) = validate(&message.cart, &message.add) {
        return e.into_response();
    }
    let mut state = replica.inner.state.lock();
    if let Err(refusal) = replica.admit(&mut state, &message.view) {
        return refusal.into_response();
    }
    apply(&mut state.carts, &message.cart, message.add);
    Json(serde_json::json!({ "stored": true })).into_response()
}

/// `POST /internal/promote`: joins the new primary's view and answers with every cart.
async fn promote(State(replica): State<Replica>, Json(message): Json<Promote>) -> Response {
    let mut state = replica.inner.state.lock();
    if let Err(refusal) = replica.admit(&mut state, &message.view) {
        return refusal.into_response();
    }
    let snapshot = Snapshot {
        view: state.view.clone(),
        carts: state.carts.clone(),
    };
    Json(snapshot).into_response()
}

/// `POST /internal/sync`: merges a new primary's carts.
async fn sync(State(replica): State<Replica>, Json(snapshot): Json<Snapshot>) -> Response {
    for (cart, entries) in &snapshot.carts {
        for entry in entries {
            let add = AddItem {
                request_id: entry.request_id.clone(),
                item: entry.item.clone(),
            };
            if let Err(e) = validate(cart, &add) {
                return e.into_response();
            }
        }
    }
    let mut state = replica.inner.state.lock();
    if let Err(refusal) = replica.admit(&mut state, &snapshot.view) {
        return refusal.into_response();
    }
    merge(&mut state.carts, snapshot.carts);
    Json(serde_json::json!({ "merged": true })).into_response()
}

/// `GET /internal/sync`: the primary's carts, for a node that restarted.
async fn snapshot(State(replica): State<Replica>) -> Result<Json<Snapshot>, ApiError> {
    replica.serving()?;
    let state = replica.inner.state.lock();
    Ok(Json(Snapshot {
        view: state.view.clone(),
        carts: state.carts.clone(),
    }))
}

/// `GET /view`: this node's view and role.
async fn status(State(replica): State<Replica>) -> Json<Status> {
    Json(replica.status())
}

/// Sends one add to one backup; what it answered, as [`ack_after_w`] counts it.
async fn replicate_to(peer: &Peer, message: &Replicate) -> Reply {
    let sent = peer
        .request(Method::POST, "/internal/replicate")
        .timeout(REPLICATE_TIMEOUT)
        .json(message)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Reply::NoAnswer(format!("{} did not answer: {}", peer.id(), causes(&e))),
    };
    match response.status() {
        status if status.is_success() => Reply::Stored,
        StatusCode::CONFLICT => match response.json::<StaleEpoch>().await {
            Ok(refusal) => Reply::Stale(refusal.view),
            Err(e) => Reply::NoAnswer(format!("{} refused: {e}", peer.id())),
        },
        status => Reply::NoAnswer(format!("{} answered {status}", peer.id())),
    }
}

/// A peer's answer to a promotion.
enum Joined {
    Carts(Carts),
    Refused(View),
    NoAnswer,
}

async fn ask_to_join(peer: &Peer, view: View) -> Joined {
    let sent = peer
        .request(Method::POST, "/internal/promote")
        .timeout(CONTROL_TIMEOUT)
        .json(&Promote { view })
        .send()
        .await;
    let Ok(response) = sent else {
        return Joined::NoAnswer;
    };
    match response.status() {
        status if status.is_success() => match response.json::<Snapshot>().await {
            Ok(snapshot) => Joined::Carts(snapshot.carts),
            Err(_) => Joined::NoAnswer,
        },
        StatusCode::CONFLICT => match response.json::<StaleEpoch>().await {
            Ok(refusal) => Joined::Refused(refusal.view),
            Err(_) => Joined::NoAnswer,
        },
        _ => Joined::NoAnswer,
    }
}

async fn ask_view(peer: &Peer) -> Option<View> {
    let response = peer
        .request(Method::GET, "/internal/view")
        .timeout(CONTROL_TIMEOUT)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json::<Status>().await.ok().map(|s| s.view)
}

async fn push_carts(peer: Peer, snapshot: Snapshot) {
    let sent = peer
        .request(Method::POST, "/internal/sync")
        .timeout(REPLICATE_TIMEOUT)
        .json(&snapshot)
        .send()
        .await;
    if let Err(e) = sent {
        tracing::info!(peer = %peer.id(), "could not push the merged carts: {}", causes(&e));
    }
}
