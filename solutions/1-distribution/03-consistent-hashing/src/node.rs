//! The cart node, given: every node is a front door for every cart, and the home of the carts
//! the ring gives it.
//!
//! ```text
//! client ── GET /carts/42 ──▶ n3 (any node)    ring.preflist("42", 3, up) = [n1, n2, n3]
//!                              ├──▶ n1  GET /internal/carts/42    no answer (n1 is down)
//!                              └──▶ n2  GET /internal/carts/42 ──▶ 200 {cart}
//! client ◀── 200 {cart}, x-served-by: n2
//! ```
//!
//! - [`CartRouter`] serves the kit's public cart API: it asks the nodes of the cart's
//!   preference list in order, over the internal route, until one answers.
//! - [`Store`] holds the carts this node is asked to store; the kit's same cart API serves it
//!   under `/internal` (cluster cookie required).
//! - Every public answer names the node that served it in the [`SERVED_BY`] header, so a test
//!   (or you, with `curl -i`) can see who owns a cart.
//!
//! Teaching simplifications, where a real shop would differ:
//! - carts live in memory, in one copy: a node that dies loses its carts, and a fallback
//!   starts from an empty cart (exercise 09 keeps replicas and hands carts back to a primary
//!   that returns);
//! - a node learns that a peer is down only when a request to it fails, and believes it for
//!   [`SUSPECT_FOR`] (exercise 02 builds a real failure detector);
//! - an add that timed out may still have been applied by the slow node, and is applied again
//!   by the next one (exercises 04 and 05 are about exactly that).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use node_kit::cart::{self, AddItem, Cart, CartError, CartService};
use node_kit::sync::Mutex;
use node_kit::{ApiError, NodeContext, PeerClient, Routes};

use crate::ring::{Ring, VNODES};

/// The response header that names the node that served a cart request.
pub const SERVED_BY: &str = "x-served-by";

/// How many nodes of a cart's preference list a request may try: Riak's `n_val`, 3 by
/// default. Here the cart lives on the first that answers; the others are where a request
/// goes when the nodes before them do not answer.
pub const N_VAL: usize = 3;

/// How long a node waits for a peer before trying the next node of the preference list.
/// Short, because a hung owner must not hang the customer; not too short, because a busy
/// peer taken for down sends its carts to a fallback.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a peer that failed to answer is taken for down (left out of preference lists).
pub const SUSPECT_FOR: Duration = Duration::from_secs(2);

/// The routes of a cart node: the public cart API over a [`CartRouter`], and the internal one
/// over this node's [`Store`].
pub fn routes(ctx: &NodeContext) -> Routes {
    let me = ctx.config.id.clone();
    // Every node builds the same ring: all the ids, its own included, in any order.
    let nodes = ctx.config.peers.ids().chain([me.as_str()]);
    let ring = Ring::new(nodes, VNODES);
    let store = Store::default();
    let router = CartRouter {
        me,
        ring,
        store: store.clone(),
        peers: ctx.peers.clone(),
        suspects: Arc::default(),
    };
    Routes::new()
        .public(cart::routes(router).layer(middleware::from_fn(name_the_server)))
        .internal(cart::routes(store))
}

/// The public cart API of a node: sends each request to the cart's preference list.
#[derive(Clone)]
pub struct CartRouter {
    /// This node's id: a preference list entry that names it is served from `store` directly.
    me: String,
    /// Who owns which cart. Built once: this exercise's cluster never changes (exercise 15
    /// adds a node under load).
    ring: Ring,
    /// The carts stored on this node, for the requests the ring sends to this node itself.
    store: Store,
    /// HTTP to the other nodes, with the cookie the internal routes need.
    peers: PeerClient,
    /// When each peer last failed to answer: the node's (crude) view of who is down.
    suspects: Arc<Mutex<HashMap<String, Instant>>>,
}

/// What a request does to a cart.
enum Op {
    Add(AddItem),
    Get,
}

/// Why a node of the preference list did not serve a request.
enum Failure {
    /// No answer (refused, reset, timed out): the node may be down; try the next one.
    NoAnswer(String),
    /// The node answered with an error: it is up, and the error is the answer.
    Refused(ApiError),
}

impl CartRouter {
    /// Tries the nodes of the cart's preference list in order until one serves the request.
    async fn route(&self, cart: String, op: Op) -> Result<Cart, ApiError> {
        let preflist = self.ring.preflist(&cart, N_VAL, |node| self.is_up(node));
        for entry in &preflist {
            let answer = if entry.node == self.me {
                Ok(self.store.apply(&cart, &op))
            } else {
                self.forward(&entry.node, &cart, &op).await
            };
            match answer {
                Ok(answer) => {
                    note_server(&entry.node);
                    return Ok(answer);
                }
                Err(Failure::Refused(error)) => return Err(error),
                Err(Failure::NoAnswer(why)) => {
                    tracing::warn!(cart, node = %entry.node, role = ?entry.role, "{why}; trying the next node of the preference list");
                    self.suspects
                        .lock()
                        .insert(entry.node.clone(), Instant::now());
                }
            }
        }
        let tried: Vec<&str> = preflist.iter().map(|e| e.node.as_str()).collect();
        Err(ApiError::unavailable(format!(
            "no node of cart {cart}'s preference list [{}] answered; try again shortly",
            tried.join(", ")
        )))
    }

    /// Is `node` up as far as this node knows? It never doubts itself.
    fn is_up(&self, node: &str) -> bool {
        node == self.me
            || self
                .suspects
                .lock()
                .get(node)
                .is_none_or(|since| since.elapsed() >= SUSPECT_FOR)
    }

    /// Sends the request to `node`'s store over the internal route.
    async fn forward(&self, node: &str, cart: &str, op: &Op) -> Result<Cart, Failure> {
        let peer = self.peers.peer(node).ok_or_else(|| {
            Failure::Refused(ApiError::internal(format!(
                "the ring names {node}, not a peer"
            )))
        })?;
        let store = peer.carts().timeout(FORWARD_TIMEOUT);
        let answer = match op {
            Op::Add(add) => store.add(cart, add).await,
            Op::Get => store.get(cart).await,
        };
        match answer {
            Ok(answer) => Ok(answer.cart),
            Err(CartError::Refused {
                status,
                code,
                message,
                ..
            }) => Err(Failure::Refused(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "peer_error",
                format!("{node} answered {status} {code}: {message}"),
            ))),
            Err(e) => Err(Failure::NoAnswer(format!("{node} did not answer: {e}"))),
        }
    }
}

impl CartService for CartRouter {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        self.route(cart, Op::Add(add)).await
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        self.route(cart, Op::Get).await
    }
}

/// The carts this node stores, in memory (a teaching simplification: see the module comment).
#[derive(Clone, Default)]
pub struct Store {
    /// Cart id to its items, in the order they were added.
    carts: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl Store {
    fn apply(&self, cart: &str, op: &Op) -> Cart {
        let mut carts = self.carts.lock();
        let items = match op {
            Op::Add(add) => {
                let items = carts.entry(cart.to_string()).or_default();
                items.push(add.item.clone());
                items.clone()
            }
            Op::Get => carts.get(cart).cloned().unwrap_or_default(),
        };
        Cart {
            cart: cart.to_string(),
            items,
        }
    }
}

impl CartService for Store {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        Ok(self.apply(&cart, &Op::Add(add)))
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        Ok(self.apply(&cart, &Op::Get))
    }
}

tokio::task_local! {
    /// The node that served the request being answered: set by the router, turned into the
    /// `x-served-by` header by `name_the_server`. (The kit's `Cart` is shared by every
    /// exercise, so who served it travels beside it rather than in it.)
    static SERVER: RefCell<Option<String>>;
}

fn note_server(node: &str) {
    let _ = SERVER.try_with(|server| *server.borrow_mut() = Some(node.to_string()));
}

/// Middleware on the public cart routes: adds the [`SERVED_BY`] header to the answer.
async fn name_the_server(request: Request, next: Next) -> Response {
    SERVER
        .scope(RefCell::new(None), async move {
            let mut response = next.run(request).await;
            let server = SERVER.with(|server| server.borrow_mut().take());
            if let Some(value) = server.and_then(|s| HeaderValue::from_str(&s).ok()) {
                response.headers_mut().insert(SERVED_BY, value);
            }
            response
        })
        .await
}
