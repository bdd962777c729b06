//! The logic node, given: it holds the shop's sessions and carts, and copies to its peers
//! what its policy shares.
//!
//! | route | what it does |
//! |---|---|
//! | `PUT /sessions/{id}` `{"user": ".."}` | logs in: stores the session, copies it if sessions are shared |
//! | `GET /sessions/{id}` | the session (404 `unknown_session` if no replica has it) |
//! | `POST /carts/{cart}/items`, `GET /carts/{cart}` | the kit's cart API (`node_kit::cart`) |
//! | `PUT`/`GET /internal/copies/{sessions,carts}/{key}` | a peer's copy in, this node's copy out |
//! | `GET /internal/carts/{cart}` | this node's own copy of a cart, without asking anyone |
//!
//! A write is applied here, then copied to the replicas of its class
//! ([`Replicas::copy`]) before it is acknowledged; the answer names the replicas that took
//! the copy in the [`COPIED_TO`] header (empty when none did). A read of a shared class
//! gathers every replica's copy and merges them with this node's own (read repair, as
//! Dynamo reconciles a cart's versions on read), then keeps the merged copy. After a
//! partition heals, the first read of a cart on any node brings back every add that either
//! side took. Carts merge with the node's `--merge` ([`Merge`]); sessions with
//! [`Session::merge`] (the later login).
//!
//! Teaching simplifications, where a real shop would differ:
//! - everything lives in memory: the only copies that survive a node are on its peers;
//! - every peer is a replica (three nodes, three copies); a larger cluster would copy to the
//!   next few nodes of the key's preference list (exercise 03, exercise 09);
//! - a missed copy is repaired only when the key is read (Riak and Cassandra also run
//!   anti-entropy in the background, comparing Merkle trees);
//! - sessions and carts are unbounded in number (each cart is bounded in items by the kit).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::put;
use node_kit::cart::{self, AddItem, Cart, CartService, validate};
use node_kit::sync::Mutex;
use node_kit::{ApiError, Json, NodeContext, Routes};

use crate::cart::{CartState, Merge, Stamp};
use crate::policy::{DataClass, Policy};
use crate::replicas::Replicas;
use crate::session::{Login, Session, SessionView};

/// The response header on every write: the replicas that took its copy, comma separated
/// (empty when none did, or the policy copies nothing).
pub const COPIED_TO: &str = "x-copied-to";

/// The routes of a logic node with the given policy and cart merge.
pub fn routes(ctx: &NodeContext, policy: Policy, merge: Merge) -> Routes {
    let shop = Arc::new(Shop {
        me: ctx.config.id.clone(),
        replicas: Replicas::new(ctx.peers.clone(), policy),
        merge,
        sessions: Mutex::default(),
        carts: Mutex::default(),
    });
    let public = Router::new()
        .route("/sessions/{id}", put(login).get(read_session))
        .with_state(shop.clone())
        .merge(cart::routes(Carts(shop.clone())))
        .layer(middleware::from_fn(name_the_copies));
    let internal = Router::new()
        .route(
            "/copies/sessions/{id}",
            put(take_session_copy).get(send_session_copy),
        )
        .route(
            "/copies/carts/{cart}",
            put(take_cart_copy).get(send_cart_copy),
        )
        .with_state(shop.clone())
        .merge(cart::routes(OwnCopy(shop)));
    Routes::new().public(public).internal(internal)
}

/// A logic node's state.
pub struct Shop {
    /// This node's id, in the stamps of the writes it takes.
    me: String,
    /// Who gets a copy of what.
    replicas: Replicas,
    /// How copies of a cart are merged: the union, or the naive control.
    merge: Merge,
    /// This node's copy of each session it knows.
    sessions: Mutex<HashMap<String, Session>>,
    /// This node's copy of each cart it knows.
    carts: Mutex<HashMap<String, CartState>>,
}

impl Shop {
    /// Merges `copy` into this node's own copy of `cart`; returns the result.
    fn merge_cart(&self, cart: &str, copy: &CartState) -> CartState {
        let mut carts = self.carts.lock();
        let own = carts.entry(cart.to_string()).or_default();
        *own = self.merge.apply(own, copy);
        own.clone()
    }

    /// Merges `copy` into this node's own copy of session `id`; returns the result.
    fn merge_session(&self, id: &str, copy: Session) -> Session {
        let mut sessions = self.sessions.lock();
        let merged = match sessions.remove(id) {
            Some(own) => own.merge(copy),
            None => copy,
        };
        sessions.insert(id.to_string(), merged.clone());
        merged
    }
}

/// The public cart API over the shop: copies on add, read repair on read.
struct Carts(Arc<Shop>);

impl CartService for Carts {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        let shop = &self.0;
        let state = {
            let mut carts = shop.carts.lock();
            let own = carts.entry(cart.clone()).or_default();
            own.add(&add.request_id, &add.item, Stamp::now(&shop.me));
            own.clone()
        };
        let took = shop.replicas.copy(DataClass::Carts, &cart, &state).await;
        note_copies(&took);
        Ok(state.to_cart(&cart))
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        let shop = &self.0;
        let copies: Vec<CartState> = shop.replicas.gather(DataClass::Carts, &cart).await;
        let mut merged = shop.carts.lock().get(&cart).cloned().unwrap_or_default();
        for copy in &copies {
            merged = shop.merge.apply(&merged, copy);
        }
        if !copies.is_empty() && !merged.adds.is_empty() {
            // Read repair: keep what the replicas taught us (merged with any add taken
            // meanwhile).
            merged = shop.merge_cart(&cart, &merged);
        }
        Ok(merged.to_cart(&cart))
    }
}

/// This node's own copies of carts, under `/internal/carts/{cart}`: what one replica holds,
/// asking no one (tests read every replica with it). An add here is applied here only.
struct OwnCopy(Arc<Shop>);

impl CartService for OwnCopy {
    async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
        let mut carts = self.0.carts.lock();
        let own = carts.entry(cart.clone()).or_default();
        own.add(&add.request_id, &add.item, Stamp::now(&self.0.me));
        Ok(own.to_cart(&cart))
    }

    async fn get(&self, cart: String) -> Result<Cart, ApiError> {
        let carts = self.0.carts.lock();
        Ok(carts.get(&cart).cloned().unwrap_or_default().to_cart(&cart))
    }
}

async fn login(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
    Json(login): Json<Login>,
) -> Result<Json<SessionView>, ApiError> {
    validate("session id", &id)?;
    validate("user", &login.user)?;
    let session = Session {
        user: login.user,
        at: Stamp::now(&shop.me),
    };
    let session = shop.merge_session(&id, session);
    let took = shop.replicas.copy(DataClass::Sessions, &id, &session).await;
    note_copies(&took);
    Ok(Json(SessionView {
        session: id,
        user: session.user,
    }))
}

async fn read_session(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    validate("session id", &id)?;
    let copies: Vec<Option<Session>> = shop.replicas.gather(DataClass::Sessions, &id).await;
    let mut found = shop.sessions.lock().get(&id).cloned();
    for copy in copies.into_iter().flatten() {
        found = Some(match found {
            Some(own) => own.merge(copy),
            None => copy,
        });
    }
    match found {
        Some(session) => {
            let session = shop.merge_session(&id, session);
            Ok(Json(SessionView {
                session: id,
                user: session.user,
            }))
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_session",
            format!("no session {id} here: log in again"),
        )),
    }
}

async fn take_session_copy(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
    Json(copy): Json<Session>,
) -> Result<StatusCode, ApiError> {
    validate("session id", &id)?;
    validate("user", &copy.user)?;
    validate("stamp node", &copy.at.node)?;
    shop.merge_session(&id, copy);
    Ok(StatusCode::NO_CONTENT)
}

async fn send_session_copy(
    State(shop): State<Arc<Shop>>,
    Path(id): Path<String>,
) -> Result<Json<Option<Session>>, ApiError> {
    validate("session id", &id)?;
    Ok(Json(shop.sessions.lock().get(&id).cloned()))
}

async fn take_cart_copy(
    State(shop): State<Arc<Shop>>,
    Path(cart): Path<String>,
    Json(copy): Json<CartState>,
) -> Result<StatusCode, ApiError> {
    validate("cart id", &cart)?;
    for (request_id, add) in &copy.adds {
        validate("request_id", request_id)?;
        validate("item", &add.item)?;
        validate("stamp node", &add.at.node)?;
    }
    shop.merge_cart(&cart, &copy);
    Ok(StatusCode::NO_CONTENT)
}

async fn send_cart_copy(
    State(shop): State<Arc<Shop>>,
    Path(cart): Path<String>,
) -> Result<Json<CartState>, ApiError> {
    validate("cart id", &cart)?;
    Ok(Json(
        shop.carts.lock().get(&cart).cloned().unwrap_or_default(),
    ))
}

tokio::task_local! {
    /// The replicas that took the copy of the write being answered: set by the write, turned
    /// into the `x-copied-to` header by `name_the_copies`. (The kit's `Cart` is shared by
    /// every exercise, so the copies travel beside it rather than in it.)
    static COPIED: RefCell<Option<Vec<String>>>;
}

fn note_copies(took: &[String]) {
    let _ = COPIED.try_with(|copied| *copied.borrow_mut() = Some(took.to_vec()));
}

/// Middleware on the public routes: adds the [`COPIED_TO`] header to a write's answer.
async fn name_the_copies(request: Request, next: Next) -> Response {
    COPIED
        .scope(RefCell::new(None), async move {
            let mut response = next.run(request).await;
            let took = COPIED.with(|copied| copied.borrow_mut().take());
            if let Some(value) = took.and_then(|t| HeaderValue::from_str(&t.join(",")).ok()) {
                response.headers_mut().insert(COPIED_TO, value);
            }
            response
        })
        .await
}
