//! The node: a member of a cluster with one leader, where carts are written. Given, not part
//! of the exercise; it asks your resolver what to do.
//!
//! - Failure detection is exercise 02's [`Monitor`] (links to every peer, ticks every T/4,
//!   `GET /cluster`). Every [`EVERY`] the node turns the peers the monitor has up, plus
//!   itself, into the view it hands the resolver, and keeps the [`Standing`] it gets back.
//! - Carts (the kit's cart API) are written at the leader of the standing's view, the lowest
//!   id: this is a *cluster singleton*, the one place a cart lives. A node that does not lead
//!   answers 421 naming the leader (the kit's redirect, which the harness's clients follow);
//!   a node whose side decided to stop answers 503 `minority`. Every answer a node serves
//!   carries `x-served-by: <its id>`, so a test sees which leader took each write.
//! - `GET /resolver` shows the node's standing: decision, view, leader, and the view it sees
//!   now with how long it has been stable.
//!
//! `--resolver auto-down` is the naive control: each node acts on what it sees at once and
//! never stops (Akka's old `auto-down-unreachable-after`), so both sides of a partition elect
//! a leader and both take writes.
//!
//! Simplifications a production system would not make: a new leader starts with an empty
//! cart store (a real singleton hands its state over, or replicates it: exercise 08), and a
//! node that decided to stop comes back by itself when it sees the majority again (Akka's
//! downed nodes must restart and rejoin).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use failure_detection_solution::Monitor;
use node_kit::cart::{self, AddItem, Cart, CartService};
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext};
use serde::Serialize;

use crate::resolver::{Decision, Resolver, Route, Standing, route};

/// How often a node hands its resolver the view it sees.
pub const EVERY: Duration = Duration::from_millis(20);

/// The header naming the node that served a cart request.
pub const SERVED_BY: &str = "x-served-by";

/// Which rule a node follows when its view changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Your resolver: keep-majority once the view is stable.
    KeepMajority,
    /// The naive control: act on any view at once, never stop.
    AutoDown,
}

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, Clone, clap::Args)]
pub struct Flags {
    /// T of exercise 02's detector: a silent peer is down 0.75 T to 1.25 T after it went quiet.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub tick_time_ms: u64,
    /// How long a view must stay the same before the resolver acts on it.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub stable_after_ms: u64,
    #[arg(long, value_enum, default_value_t = Strategy::KeepMajority)]
    pub resolver: Strategy,
}

/// What `GET /resolver` shows.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ResolverView {
    pub node: String,
    pub decision: Decision,
    /// The view the node acts on, and its leader.
    pub view: BTreeSet<String>,
    pub leader: Option<String>,
    /// The view the node sees now, and for how long it has been the same.
    pub seen: BTreeSet<String>,
    pub seen_for_ms: u64,
}

/// One node's state: what it sees, what it acts on, and the carts it holds as a leader.
#[derive(Clone)]
pub struct Node {
    me: String,
    strategy: Strategy,
    members: usize,
    state: Arc<Mutex<Watch>>,
    carts: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

/// The resolver and what the node last saw and decided.
struct Watch {
    resolver: Resolver,
    seen: BTreeSet<String>,
    seen_since: Instant,
    standing: Standing,
}

impl Node {
    /// Starts the monitor and the resolver loop; the routes serve carts and `GET /resolver`.
    pub fn start(ctx: &NodeContext, flags: &Flags) -> (Node, Monitor) {
        let me = ctx.config.id.clone();
        let members: BTreeSet<String> = ctx
            .config
            .peers
            .ids()
            .map(str::to_string)
            .chain([me.clone()])
            .collect();
        let monitor = Monitor::start(ctx, Duration::from_millis(flags.tick_time_ms));
        let now = Instant::now();
        let stable_after = Duration::from_millis(flags.stable_after_ms);
        let resolver = Resolver::new(members.clone(), stable_after, now);
        let node = Node {
            me,
            strategy: flags.resolver,
            members: members.len(),
            state: Arc::new(Mutex::new(Watch {
                standing: resolver.standing().clone(),
                resolver,
                seen: members,
                seen_since: now,
            })),
            carts: Arc::default(),
        };
        tokio::spawn(node.clone().watch(monitor.clone()));
        (node, monitor)
    }

    /// Every [`EVERY`]: the view seen (up peers and this node) to the resolver.
    async fn watch(self, monitor: Monitor) {
        let mut every = tokio::time::interval(EVERY);
        let mut last = self.standing();
        loop {
            every.tick().await;
            let seen: BTreeSet<String> = monitor
                .up_peers()
                .into_iter()
                .chain([self.me.clone()])
                .collect();
            let standing = self.observe(seen);
            if standing != last {
                let view: Vec<&str> = standing.view.iter().map(String::as_str).collect();
                tracing::info!(
                    decision = ?standing.decision,
                    leader = standing.leader().unwrap_or("none"),
                    "acting on a new view: {}",
                    view.join(", ")
                );
                last = standing;
            }
        }
    }

    fn observe(&self, seen: BTreeSet<String>) -> Standing {
        let now = Instant::now();
        let mut watch = self.state.lock();
        if seen != watch.seen {
            watch.seen = seen.clone();
            watch.seen_since = now;
        }
        watch.standing = match self.strategy {
            Strategy::KeepMajority => watch.resolver.observe(now, seen),
            Strategy::AutoDown => Standing {
                decision: Decision::Up,
                view: seen,
            },
        };
        watch.standing.clone()
    }

    fn standing(&self) -> Standing {
        self.state.lock().standing.clone()
    }

    fn view(&self) -> ResolverView {
        let watch = self.state.lock();
        ResolverView {
            node: self.me.clone(),
            decision: watch.standing.decision,
            leader: watch.standing.leader().map(str::to_string),
            view: watch.standing.view.clone(),
            seen: watch.seen.clone(),
            seen_for_ms: watch.seen_since.elapsed().as_millis() as u64,
        }
    }

    /// What this node does with a cart request now.
    fn route(&self) -> Result<(), ApiError> {
        let standing = self.standing();
        match route(&standing, &self.me) {
            Route::Serve => Ok(()),
            Route::Redirect(leader) => Err(ApiError::misdirected(
                leader.clone(),
                format!("{leader} leads this side of the cluster; carts are written there"),
            )),
            Route::Refuse => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "minority",
                format!(
                    "{} sees {} of {} members and has stopped: its side may not take writes",
                    self.me,
                    standing.view.len(),
                    self.members
                ),
            )),
        }
    }

    /// The cart API, `GET /resolver`, and the served-by header on every answer.
    pub fn router(&self) -> Router {
        let me = HeaderValue::from_str(&self.me).expect("node ids are header-safe");
        cart::routes(self.clone())
            .route("/resolver", get(resolver_view).with_state(self.clone()))
            .layer(axum::middleware::map_response(
                move |mut response: Response| {
                    let me = me.clone();
                    async move {
                        response.headers_mut().insert(SERVED_BY, me);
                        response
                    }
                },
            ))
    }
}

async fn resolver_view(State(node): State<Node>) -> Json<ResolverView> {
    Json(node.view())
}

impl CartService for Node {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        self.route()?;
        let mut carts = self.carts.lock();
        let items = carts.entry(cart.clone()).or_default();
        items.push(add.item);
        Ok(Cart {
            items: items.clone(),
            cart,
        })
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        self.route()?;
        let items = self.carts.lock().get(&cart).cloned().unwrap_or_default();
        Ok(Cart { cart, items })
    }
}
