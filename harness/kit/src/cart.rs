//! The shop's cart API, defined once for every data node (exercise 03 on) so workloads,
//! checkers and demos are written once.
//!
//! | request                        | body                                  | answer                        |
//! |--------------------------------|---------------------------------------|-------------------------------|
//! | `POST /carts/{cart}/items`     | `{"request_id": "...", "item": "..."}` | 200 [`Cart`]: the add is acknowledged |
//! | `GET /carts/{cart}`            |                                       | 200 [`Cart`] (empty if unknown) |
//!
//! A 2xx on an add is an acknowledged write: the node promises the item is in the cart and
//! stays there. Anything else, a timeout included, promises nothing. `request_id` names the
//! add so a retried request can be recognised (exercise 05); `item` is what goes in the cart.
//! Cart ids, request ids and items are 1 to 64 characters of letters, digits, `-`, `_`, `.`
//! and `:`, and not `.` or `..` (an HTTP client would resolve those as path steps); anything
//! else is a 400 with the JSON error shape.
//!
//! A cart holds at most [`MAX_ITEMS`]: an add to a full cart is refused with 409 `cart_full`
//! (nothing applied), because every add answers the whole cart and an unbounded one makes
//! each answer larger and slower than the last. The routes learn that a cart is full from
//! the node's own answers, so a node's storage needs no code for it; a cart can pass the cap
//! by the adds already in flight when it filled, and by one after a restart.
//!
//! A node that does not serve a cart request itself (a backup, when only the primary takes
//! writes) answers 421 `misdirected` ([`ApiError::misdirected`]) and names the node that does
//! in the [`REDIRECT_HEADER`] header, by id: only the client knows how *it* reaches that node
//! (through the harness's proxy for it, or a container's published port), so a redirect
//! cannot carry an address. A [`CartClient`] given the cluster's ids and addresses
//! ([`CartClient::follow_redirects`]) resends the request there, at most [`MAX_REDIRECTS`]
//! times; every workload, checker and test then works unchanged whichever node it asks.
//!
//! A node plugs its storage in by implementing [`CartService`] and serving [`routes`].
//! Everyone who talks to a node's carts (workloads, checkers, tests, a node forwarding to its
//! peers) uses [`CartClient`], so no one formats a cart URL by hand.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::collections::{BTreeMap, HashSet};

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::COOKIE_HEADER;
use crate::error::{ApiError, Json, causes};
use crate::sync::Mutex;

/// The path of the add route, in axum's syntax.
pub const ADD_ITEM_PATH: &str = "/carts/{cart}/items";
/// The path of the read route, in axum's syntax.
pub const CART_PATH: &str = "/carts/{cart}";

/// The most items a cart holds; see the module comment.
pub const MAX_ITEMS: usize = 1000;

/// The header of a 421 `misdirected` answer that names, by id, the node to ask instead.
pub const REDIRECT_HEADER: &str = "x-lab-redirect";

/// How many redirects a [`CartClient`] follows for one request: enough for a backup that
/// names a stale primary which names the new one, few enough that two nodes naming each
/// other end quickly (the last 421 is the answer).
pub const MAX_REDIRECTS: usize = 3;

/// One add: the body of `POST /carts/{cart}/items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub request_id: String,
    pub item: String,
}

/// A cart as a node answers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub cart: String,
    /// Items in the order the node applied them; a duplicate add shows up twice.
    pub items: Vec<String>,
}

/// A node's cart storage. Futures must be `Send` because axum serves them on any thread.
pub trait CartService: Send + Sync + 'static {
    /// Applies an add; `Ok` means acknowledged (durable as far as this node promises).
    fn add(
        &self,
        cart: String,
        add: AddItem,
    ) -> impl Future<Output = Result<Cart, ApiError>> + Send;
    /// Reads a cart; an unknown cart is empty, not an error.
    fn get(&self, cart: String) -> impl Future<Output = Result<Cart, ApiError>> + Send;
}

/// The cart routes over `service`, with input validated before the service sees it.
pub fn routes<S: CartService>(service: S) -> Router {
    let shop = Shop {
        service,
        full: Mutex::new(HashSet::new()),
    };
    Router::new()
        .route(ADD_ITEM_PATH, post(add::<S>))
        .route(CART_PATH, get(read::<S>))
        .with_state(Arc::new(shop))
}

/// A node's cart service and the carts its answers showed full.
struct Shop<S> {
    service: S,
    /// Only full carts are kept, so this is small next to the carts themselves.
    full: Mutex<HashSet<String>>,
}

impl<S> Shop<S> {
    /// Notes a cart the node answered, if it is full.
    fn answered(&self, cart: Cart) -> Json<Cart> {
        if cart.items.len() >= MAX_ITEMS {
            self.full.lock().insert(cart.cart.clone());
        }
        Json(cart)
    }
}

async fn add<S: CartService>(
    State(shop): State<Arc<Shop<S>>>,
    cart: CartId,
    Json(add): Json<AddItem>,
) -> Result<Json<Cart>, ApiError> {
    let CartId(cart) = cart;
    validate("request_id", &add.request_id)?;
    validate("item", &add.item)?;
    if shop.full.lock().contains(&cart) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cart_full",
            format!("cart {cart} is full: a cart holds at most {MAX_ITEMS} items"),
        ));
    }
    let cart = shop.service.add(cart, add).await?;
    Ok(shop.answered(cart))
}

async fn read<S: CartService>(
    State(shop): State<Arc<Shop<S>>>,
    CartId(cart): CartId,
) -> Result<Json<Cart>, ApiError> {
    let cart = shop.service.get(cart).await?;
    Ok(shop.answered(cart))
}

/// The `{cart}` of a cart route, validated; a path axum cannot decode (`%FF`) is a 400 with
/// the JSON error shape too.
struct CartId(String);

impl<St: Send + Sync> FromRequestParts<St> for CartId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let Path(cart) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("bad cart id in the path: {e}")))?;
        validate("cart id", &cart)?;
        Ok(CartId(cart))
    }
}

/// Checks an id or item: 1 to 64 of letters, digits, `-`, `_`, `.`, `:`, and not `.` or `..`.
pub fn validate(what: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {value:?} is invalid: use 1 to 64 letters, digits, '-', '_', '.' or ':' \
             (and not \".\" or \"..\")"
        )))
    }
}

/// How long a [`CartClient`] made by [`CartClient::new`] waits for an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one node's cart API.
///
/// ```no_run
/// # async fn demo() -> Result<(), node_kit::cart::CartError> {
/// use node_kit::cart::{AddItem, CartClient};
/// let n1 = CartClient::new("127.0.0.1:4001");
/// n1.add("42", &AddItem { request_id: "r1".into(), item: "book".into() }).await?;
/// let cart = n1.get("42").await?.cart;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CartClient {
    http: reqwest::Client,
    /// `host:port` of the node, for URLs and for error messages.
    addr: String,
    /// Set for a node's own store under `/internal`, which needs the cluster cookie.
    cookie: Option<String>,
    /// Per-request timeout; `None` leaves it to `http`'s own.
    timeout: Option<Duration>,
    /// Node id to `host:port`, as this client reaches each node: where a redirect
    /// ([`REDIRECT_HEADER`]) may send a request. Empty: redirects are answers, not followed.
    directory: Arc<BTreeMap<String, String>>,
}

/// A 2xx answer: the cart as the node answered it, and the headers it came with (a routing
/// node may say in one which node served the request).
#[derive(Debug, Clone)]
pub struct Answer {
    pub cart: Cart,
    pub headers: HeaderMap,
    /// The id of the node that answered, when redirects led the request there from the node
    /// this client asks (a history records it as the node that served the operation);
    /// `None` when that node answered itself.
    pub served_by: Option<String>,
}

impl Answer {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a cart request got no cart back. What it means for an add is the point: only
/// [`CartError::Connect`] and [`CartError::Refused`] say the add was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartError {
    /// No connection could be made: nothing was sent, so nothing was applied.
    Connect(String),
    /// The request went out and no answer came in time: it may have been applied.
    Timeout(String),
    /// The connection broke after the request went out (reset, closed): it may have been
    /// applied.
    Broken(String),
    /// The node answered with an error status: by the cart API's promise, nothing was applied.
    Refused {
        addr: String,
        status: u16,
        /// The JSON error body's `error` code; empty if the body was not the JSON error shape.
        code: String,
        message: String,
    },
    /// A 2xx whose body is not a cart. The 2xx acknowledged the add, so it may be in.
    BadAnswer(String),
}

impl CartError {
    /// True when the request may have been applied although no cart came back: a history
    /// records such an add as unknown, never as failed (nor as lost).
    pub fn may_have_applied(&self) -> bool {
        matches!(
            self,
            CartError::Timeout(_) | CartError::Broken(_) | CartError::BadAnswer(_)
        )
    }

    /// A short, stable name for histories and reports: `connect`, `timeout`, `reset`,
    /// `http_<status>` or `bad_body`.
    pub fn kind(&self) -> String {
        match self {
            CartError::Connect(_) => "connect".into(),
            CartError::Timeout(_) => "timeout".into(),
            CartError::Broken(_) => "reset".into(),
            CartError::Refused { status, .. } => format!("http_{status}"),
            CartError::BadAnswer(_) => "bad_body".into(),
        }
    }
}

impl fmt::Display for CartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CartError::Connect(why)
            | CartError::Timeout(why)
            | CartError::Broken(why)
            | CartError::BadAnswer(why) => f.write_str(why),
            CartError::Refused {
                addr,
                status,
                code,
                message,
            } => write!(f, "{addr} answered {status} {code}: {message}"),
        }
    }
}

impl std::error::Error for CartError {}

impl CartClient {
    /// The public cart API of the node at `addr` (`host:port`), over an HTTP client of its
    /// own that waits [`CLIENT_TIMEOUT`] for an answer.
    pub fn new(addr: impl fmt::Display) -> CartClient {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(crate::peer::POOL_IDLE)
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        CartClient::with_http(http, addr).timeout(CLIENT_TIMEOUT)
    }

    /// The same over `http`, whose connection pool and timeouts it shares.
    pub fn with_http(http: reqwest::Client, addr: impl fmt::Display) -> CartClient {
        CartClient {
            http,
            addr: addr.to_string(),
            cookie: None,
            timeout: None,
            directory: Arc::default(),
        }
    }

    /// Follows redirects: a 421 answer naming one of `nodes` (id, `host:port`) in
    /// [`REDIRECT_HEADER`] is sent again to that node, at most [`MAX_REDIRECTS`] times. A
    /// redirect to a node not listed is the answer (a [`CartError::Refused`] with status 421).
    pub fn follow_redirects<I, K, A>(self, nodes: I) -> CartClient
    where
        I: IntoIterator<Item = (K, A)>,
        K: Into<String>,
        A: fmt::Display,
    {
        let directory = nodes
            .into_iter()
            .map(|(id, addr)| (id.into(), addr.to_string()))
            .collect();
        CartClient {
            directory: Arc::new(directory),
            ..self
        }
    }

    /// The node's own store instead: the cart API a node serves under `/internal` (its
    /// [`crate::Routes::internal`]), which needs the cluster `cookie`.
    pub fn internal(self, cookie: impl Into<String>) -> CartClient {
        CartClient {
            cookie: Some(cookie.into()),
            ..self
        }
    }

    /// Waits at most `timeout` for each answer.
    pub fn timeout(self, timeout: Duration) -> CartClient {
        CartClient {
            timeout: Some(timeout),
            ..self
        }
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `POST /carts/{cart}/items`: adds an item. `Ok` is an acknowledged write.
    pub async fn add(&self, cart: &str, add: &AddItem) -> Result<Answer, CartError> {
        self.follow(&[cart, "items"], Some(add)).await
    }

    /// `GET /carts/{cart}`: reads a cart (an unknown cart is empty).
    pub async fn get(&self, cart: &str) -> Result<Answer, CartError> {
        self.follow(&[cart], None).await
    }

    /// Sends the request (a POST of `add`, or a GET) to this node, then to each node a
    /// redirect names, while the directory knows it and the hops last.
    async fn follow(&self, segments: &[&str], add: Option<&AddItem>) -> Result<Answer, CartError> {
        let mut at = self.clone();
        let mut hops = 0;
        let mut served_by = None;
        loop {
            let url = at.url(segments)?;
            let request = match add {
                Some(add) => at.http.post(url).json(add),
                None => at.http.get(url),
            };
            let (answer, redirect) = at.send(request).await;
            match redirect.and_then(|to| self.directory.get_key_value(&to)) {
                Some((id, addr)) if hops < MAX_REDIRECTS => {
                    hops += 1;
                    at.addr = addr.clone();
                    served_by = Some(id.clone());
                }
                _ => {
                    return answer.map(|answer| Answer {
                        served_by,
                        ..answer
                    });
                }
            }
        }
    }

    /// `http://<addr>[/internal]/carts/<segments>`, each segment percent-encoded, so a bad
    /// cart id reaches the node (and its 400) instead of changing the path. `.` and `..`
    /// cannot be sent as a segment (a URL resolves them as path steps): they get the node's
    /// 400 from here, without a request.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, CartError> {
        if let Some(step) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            let refusal = validate("cart id", step).expect_err("a path step is not a cart id");
            return Err(CartError::Refused {
                addr: self.addr.clone(),
                status: refusal.status.as_u16(),
                code: refusal.code.to_string(),
                message: refusal.message,
            });
        }
        let mut url = reqwest::Url::parse(&format!("http://{}/", self.addr))
            .map_err(|e| CartError::Connect(format!("{:?} is not host:port: {e}", self.addr)))?;
        {
            let mut path = url.path_segments_mut().expect("an http URL has a path");
            path.pop_if_empty();
            if self.cookie.is_some() {
                path.push("internal");
            }
            path.push("carts").extend(segments);
        }
        Ok(url)
    }

    /// One request to this client's node: the answer, and the node a 421 redirect names.
    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
    ) -> (Result<Answer, CartError>, Option<String>) {
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE_HEADER, cookie);
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (Err(self.no_answer(&e)), None),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return (Err(self.no_answer(&e)), None),
        };
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(error) => (error.error, error.message),
                Err(_) => (
                    String::new(),
                    String::from_utf8_lossy(&body).trim().to_string(),
                ),
            };
            let refusal = CartError::Refused {
                addr: self.addr.clone(),
                status: status.as_u16(),
                code,
                message,
            };
            let redirect = headers
                .get(REDIRECT_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|_| status == StatusCode::MISDIRECTED_REQUEST)
                .map(str::to_string);
            return (Err(refusal), redirect);
        }
        let answer = match serde_json::from_slice::<Cart>(&body) {
            Ok(cart) => Ok(Answer {
                cart,
                headers,
                served_by: None,
            }),
            Err(e) => Err(CartError::BadAnswer(format!(
                "{} answered {status} with a body that is not a cart ({e}): {:?}",
                self.addr,
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))),
        };
        (answer, None)
    }

    fn no_answer(&self, e: &reqwest::Error) -> CartError {
        let addr = &self.addr;
        if e.is_connect() {
            CartError::Connect(format!("cannot connect to {addr}: {}", causes(e)))
        } else if e.is_timeout() {
            CartError::Timeout(format!("{addr} did not answer in time"))
        } else {
            CartError::Broken(format!(
                "the connection to {addr} broke before its answer: {}",
                causes(e)
            ))
        }
    }
}

/// The JSON error shape ([`ApiError`]) as a client reads it.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(validate("cart id", "42").is_ok());
        assert!(validate("item", "w3:17").is_ok());
        for bad in ["", "a b", "x/y", ".", "..", &"x".repeat(65)] {
            let err = validate("cart id", bad).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert!(err.message.contains("cart id"), "{err}");
        }
    }

    #[test]
    fn add_rejects_unknown_fields() {
        let err = serde_json::from_str::<AddItem>(r#"{"request_id":"r","item":"i","x":1}"#);
        assert!(err.is_err());
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;
    use std::collections::HashMap;

    /// Carts in memory, for the client's tests.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<String>>>);

    impl CartService for Memory {
        async fn add(&self, cart: String, add: AddItem) -> Result<Cart, ApiError> {
            let mut carts = self.0.lock();
            let items = carts.entry(cart.clone()).or_default();
            items.push(add.item);
            Ok(Cart {
                cart,
                items: items.clone(),
            })
        }
        async fn get(&self, cart: String) -> Result<Cart, ApiError> {
            let items = self.0.lock().get(&cart).cloned().unwrap_or_default();
            Ok(Cart { cart, items })
        }
    }

    /// Serves the cart routes publicly and, with a cookie check, under `/internal`.
    async fn serve() -> String {
        let internal = routes(Memory::default()).layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| async move {
                if req
                    .headers()
                    .get(COOKIE_HEADER)
                    .is_some_and(|c| c == "secret")
                {
                    next.run(req).await
                } else {
                    axum::http::StatusCode::FORBIDDEN.into_response()
                }
            },
        ));
        let app = routes(Memory::default()).nest("/internal", internal);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }

    use axum::response::IntoResponse;

    fn add(item: &str) -> AddItem {
        AddItem {
            request_id: format!("r-{item}"),
            item: item.into(),
        }
    }

    #[tokio::test]
    async fn adds_and_reads_a_cart() {
        let node = CartClient::new(serve().await);
        node.add("42", &add("book")).await.unwrap();
        let added = node.add("42", &add("pen")).await.unwrap();
        assert_eq!(added.cart.items, ["book", "pen"]);
        let read = node.get("42").await.unwrap();
        assert_eq!(read.cart.cart, "42");
        assert_eq!(read.cart.items, ["book", "pen"]);
        assert!(read.header("content-type").unwrap().contains("json"));
        assert!(node.get("7").await.unwrap().cart.items.is_empty());
    }

    #[tokio::test]
    async fn the_internal_store_is_another_cart_api_and_needs_the_cookie() {
        let addr = serve().await;
        let store = CartClient::new(&addr).internal("secret");
        store.add("42", &add("book")).await.unwrap();
        assert_eq!(store.get("42").await.unwrap().cart.items, ["book"]);
        assert!(
            CartClient::new(&addr)
                .get("42")
                .await
                .unwrap()
                .cart
                .items
                .is_empty()
        );
        let refused = CartClient::new(&addr).internal("wrong").get("42").await;
        assert!(
            matches!(refused, Err(CartError::Refused { status: 403, .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_bad_cart_id_reaches_the_node_and_is_refused_with_its_reason() {
        let node = CartClient::new(serve().await);
        let err = node.add("bad id/x", &add("book")).await.unwrap_err();
        let CartError::Refused {
            status,
            code,
            message,
            ..
        } = &err
        else {
            panic!("expected a refusal, got {err:?}");
        };
        assert_eq!((*status, code.as_str()), (400, "bad_request"));
        assert!(message.contains("cart id"), "{message}");
        assert!(!err.may_have_applied());
        assert_eq!(err.kind(), "http_400");
    }

    #[tokio::test]
    async fn dot_cart_ids_are_refused_by_the_node_and_by_the_client() {
        let addr = serve().await;
        for id in [".", ".."] {
            // What a client that does not resolve path steps sends.
            let body = r#"{"request_id":"r","item":"i"}"#;
            for raw in [
                format!(
                    "POST /carts/{id}/items HTTP/1.1\r\nhost: lab\r\ncontent-type: \
                     application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                format!("GET /carts/{id} HTTP/1.1\r\nhost: lab\r\nconnection: close\r\n\r\n"),
            ] {
                let reply = raw_request(&addr, &raw).await;
                assert!(reply.starts_with("HTTP/1.1 400"), "{raw}: {reply}");
                assert!(reply.contains("\"error\":\"bad_request\""), "{reply}");
            }
            let err = CartClient::new(&addr)
                .add(id, &add("book"))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CartError::Refused { status: 400, message, .. } if message.contains("cart id")),
                "{id:?}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_full_cart_refuses_adds_with_409_and_stays_readable() {
        let node = CartClient::new(serve().await);
        for i in 0..MAX_ITEMS {
            node.add("big", &add(&format!("i{i}"))).await.unwrap();
        }
        let err = node.add("big", &add("one-more")).await.unwrap_err();
        assert!(
            matches!(&err, CartError::Refused { status: 409, code, .. } if code == "cart_full"),
            "{err:?}"
        );
        assert!(!err.may_have_applied());
        assert_eq!(node.get("big").await.unwrap().cart.items.len(), MAX_ITEMS);
        node.add("small", &add("book"))
            .await
            .expect("other carts still take adds");
    }

    /// Answers every cart request with a redirect to node `to`.
    struct Elsewhere(&'static str);

    impl CartService for Elsewhere {
        async fn add(&self, _: String, _: AddItem) -> Result<Cart, ApiError> {
            Err(ApiError::misdirected(self.0, format!("ask {}", self.0)))
        }
        async fn get(&self, _: String) -> Result<Cart, ApiError> {
            Err(ApiError::misdirected(self.0, format!("ask {}", self.0)))
        }
    }

    async fn serve_app(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }

    #[tokio::test]
    async fn a_redirect_is_followed_by_id_within_its_hops_and_is_an_answer_otherwise() {
        let home = serve().await;
        let backup = serve_app(routes(Elsewhere("home"))).await;
        let lost = serve_app(routes(Elsewhere("nowhere"))).await;
        let looping = serve_app(routes(Elsewhere("loop"))).await;
        let directory = [
            ("home", home.clone()),
            ("backup", backup.clone()),
            ("nowhere-listed", lost.clone()),
            ("loop", looping.clone()),
        ];

        // Not following: the 421 is the answer, naming the node in its header.
        let err = CartClient::new(&backup)
            .add("42", &add("book"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CartError::Refused { status: 421, code, .. } if code == "misdirected"),
            "{err:?}"
        );
        assert!(!err.may_have_applied());

        // Following: the add lands at home, and so does the read; both say home served them.
        let via_backup = CartClient::new(&backup).follow_redirects(directory.clone());
        let added = via_backup.add("42", &add("book")).await.unwrap();
        assert_eq!(added.served_by.as_deref(), Some("home"));
        let read = via_backup.get("42").await.unwrap();
        assert_eq!(read.cart.items, ["book"]);
        assert_eq!(read.served_by.as_deref(), Some("home"));
        let direct = CartClient::new(&home).follow_redirects(directory.clone());
        assert_eq!(
            direct.get("42").await.unwrap().served_by,
            None,
            "no redirect"
        );
        assert_eq!(
            CartClient::new(&home).get("42").await.unwrap().cart.items,
            ["book"]
        );

        // A node the directory does not know, and a loop: the last 421 is the answer.
        for (from, to) in [(&lost, "nowhere"), (&looping, "loop")] {
            let err = CartClient::new(from)
                .follow_redirects(directory.clone())
                .add("42", &add("pen"))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CartError::Refused { status: 421, message, .. } if message.contains(to)),
                "{err:?}"
            );
        }
    }

    /// Sends `raw` on a fresh connection and reads the reply until the server closes.
    async fn raw_request(addr: &str, raw: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
        String::from_utf8_lossy(&reply).into_owned()
    }

    #[tokio::test]
    async fn no_node_is_a_connect_error_and_a_silent_one_a_timeout() {
        // A port that was just free: nothing listens there.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = CartClient::new(free).get("42").await.unwrap_err();
        assert!(matches!(err, CartError::Connect(_)), "{err:?}");
        assert!(!err.may_have_applied() && err.kind() == "connect");
        assert!(err.to_string().contains(&free.to_string()), "{err}");

        // Accepts the connection and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((conn, _)) = silent.accept().await {
                open.push(conn);
            }
        });
        let err = CartClient::new(addr)
            .timeout(Duration::from_millis(200))
            .add("42", &add("book"))
            .await
            .unwrap_err();
        assert!(matches!(err, CartError::Timeout(_)), "{err:?}");
        assert!(err.may_have_applied() && err.kind() == "timeout");
    }
}
