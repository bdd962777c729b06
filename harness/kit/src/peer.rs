//! The HTTP client a node uses to reach its peers: a timeout, the cookie, and nothing else.
//!
//! No retries, no failure detection, no circuit breaking: those are what the exercises teach,
//! so the kit must not hide them.
//!
//! [`PeerClient`] knows every peer; [`PeerClient::peer`] (or [`PeerClient::iter`]) gives a
//! [`Peer`], the handle for one of them: requests to its routes, its cart store, and framed
//! links to it, each carrying the cluster cookie without the caller handling it.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};

use crate::COOKIE_HEADER;
use crate::cart::CartClient;
use crate::config::Peers;
use crate::link::Link;

#[derive(Clone, Debug)]
pub struct PeerClient {
    http: reqwest::Client,
    peers: Peers,
    cookie: String,
}

/// The default per-request timeout. Exercises override it per request where the timeout is the
/// lesson.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the kit's clients keep an idle connection for reuse: below the 10 s after which a
/// node closes an idle one (its default read timeout), so a client does not pick a connection
/// the node is closing at that moment.
pub const POOL_IDLE: Duration = Duration::from_secs(5);

impl PeerClient {
    pub fn new(peers: Peers, cookie: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .connect_timeout(DEFAULT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        PeerClient {
            http,
            peers,
            cookie,
        }
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The handle for peer `id`; `None` if `id` is not a peer.
    pub fn peer(&self, id: &str) -> Option<Peer> {
        let addr = self.peers.addr(id)?;
        Some(Peer {
            id: id.to_string(),
            addr: addr.to_string(),
            http: self.http.clone(),
            cookie: self.cookie.clone(),
        })
    }

    /// Every peer's handle, in id order.
    pub fn iter(&self) -> impl Iterator<Item = Peer> + '_ {
        self.peers.ids().filter_map(|id| self.peer(id))
    }

    /// A request to `path` on peer `id` (e.g. `/internal/replicate`), carrying the cookie.
    /// `None` if `id` is not a peer.
    pub fn request(&self, id: &str, method: Method, path: &str) -> Option<RequestBuilder> {
        Some(self.peer(id)?.request(method, path))
    }

    /// The underlying client, for requests to addresses that are not peers.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// One peer: where it is, and the ways to reach it with the cluster cookie.
#[derive(Clone, Debug)]
pub struct Peer {
    id: String,
    /// `host:port` as the peer list gives it (in the harness, the proxy for this link).
    addr: String,
    http: reqwest::Client,
    cookie: String,
}

impl Peer {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The peer's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A request to `path` on this peer (e.g. `/internal/replicate`), carrying the cookie and
    /// the kit's [`DEFAULT_TIMEOUT`] (set another with `.timeout(..)`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .header(COOKIE_HEADER, &self.cookie)
    }

    /// The peer's own cart store, served under `/internal` ([`CartClient::internal`]), over
    /// the shared client and its [`DEFAULT_TIMEOUT`].
    pub fn carts(&self) -> CartClient {
        CartClient::with_http(self.http.clone(), &self.addr).internal(&self.cookie)
    }

    /// Opens a framed link to this peer ([`Link::dial`]).
    pub async fn dial(&self) -> std::io::Result<Link> {
        Link::dial(&self.addr, &self.cookie).await
    }
}
