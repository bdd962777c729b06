//! The HTTP client a node uses to reach its peers: a timeout, the cookie, and nothing else.
//!
//! No retries, no failure detection, no circuit breaking: those are what the exercises teach,
//! so the kit must not hide them.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};

use crate::COOKIE_HEADER;
use crate::config::Peers;

#[derive(Clone, Debug)]
pub struct PeerClient {
    http: reqwest::Client,
    peers: Peers,
    cookie: String,
}

/// The default per-request timeout. Exercises override it per request where the timeout is the
/// lesson.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

impl PeerClient {
    pub fn new(peers: Peers, cookie: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .connect_timeout(DEFAULT_TIMEOUT)
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

    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// A request to `path` on peer `id` (e.g. `/internal/replicate`), carrying the cookie.
    /// `None` if `id` is not a peer.
    pub fn request(&self, id: &str, method: Method, path: &str) -> Option<RequestBuilder> {
        let addr = self.peers.addr(id)?;
        Some(
            self.http
                .request(method, format!("http://{addr}{path}"))
                .header(COOKIE_HEADER, &self.cookie),
        )
    }

    /// The underlying client, for requests to addresses that are not peers.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
