//! The words a cluster test is written in, beyond starting and breaking nodes: wait until
//! something holds, and talk to a node by its id.
//!
//! ```no_run
//! # async fn demo(cluster: &harness::Cluster) {
//! use std::time::Duration;
//! let n1 = cluster.http("n1");
//! let view: serde_json::Value = cluster
//!     .eventually("n1 to see n2 up", Duration::from_secs(3), async || {
//!         let view: serde_json::Value = n1.get_json("/cluster").await?;
//!         if view["peers"]["n2"]["state"] == "up" { Ok(view) } else { Err(format!("n1 says {view}")) }
//!     })
//!     .await;
//! # }
//! ```
//!
//! - [`Cluster::eventually`] polls a check until it holds. Before every round it checks that
//!   every node that should be running still is, so a node that panicked (a skeleton's
//!   `todo!()`) fails the test at once with its panic line and log tail, instead of a wait
//!   that times out or a request that "got no answer".
//! - [`Cluster::expect_answer`] is the same for a single request: when it got no answer
//!   because its node died, the death is what the test reports.
//! - [`Cluster::http`] gives a [`NodeHttp`] (HTTP to one node through its client proxy, with
//!   the cookie for internal routes when asked), and [`Cluster::carts`] the kit's
//!   [`CartClient`] for a node; [`NodeHttp::metric`] reads one figure off its `/metrics`.
//! - [`Cluster::replicas`] reads every cart from every node's own store, so a checker can hold
//!   each replica to the history, not only the copy a read finds.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use node_kit::cart::CartClient;
use node_kit::error::causes;
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;

use crate::check::FinalReads;
use crate::cluster::Cluster;
use crate::deployment::NodeState;

/// How often [`Cluster::eventually`] runs its check.
pub const POLL: Duration = Duration::from_millis(20);

/// How long a node that lost a request may take to finish dying before the test gives up on
/// seeing its panic: the kit's panic hook prints, then exits.
pub const DYING_GRACE: Duration = Duration::from_secs(1);

/// How long a [`NodeHttp`] request waits for an answer unless told otherwise.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

impl Cluster {
    /// Runs `check` every [`POLL`] until it returns `Ok`, and returns that value. `Err(why)`
    /// means "not yet"; the last `why` is in the failure after `limit`. Before each round
    /// every node that should run is checked: one that exited fails the test at once with
    /// its panic line and log tail. A check may also assert what must never happen meanwhile.
    ///
    /// # Panics
    /// When a node died, or `check` did not hold within `limit`: that is the test failing.
    pub async fn eventually<T>(
        &self,
        what: &str,
        limit: Duration,
        mut check: impl AsyncFnMut() -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Err(dead) = self.check_alive() {
                panic!("while waiting for {what}: {dead}");
            }
            let why = match check().await {
                Ok(value) => return value,
                Err(why) => why,
            };
            if started.elapsed() >= limit {
                // The check may have failed because a node is dying: show that first.
                self.await_death(&format!("while waiting for {what}")).await;
                panic!("waited {} ms for {what}, but {why}", limit.as_millis());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The value of a request's `result`, or the test's failure: the panic and log tail of a
    /// node that died (a request usually goes unanswered because its node just crashed), or
    /// else `what` and the error (no answer, or the node's refusal).
    ///
    /// # Panics
    /// When `result` is an error: that is the test failing.
    pub async fn expect_answer<T, E: fmt::Display>(&self, result: Result<T, E>, what: &str) -> T {
        match result {
            Ok(value) => value,
            Err(e) => {
                self.await_death(what).await;
                panic!("{what} failed: {e}");
            }
        }
    }

    /// Waits up to [`DYING_GRACE`] for a node to be seen dead, and fails with its
    /// diagnostics if one is; returns if all stay alive.
    async fn await_death(&self, context: &str) {
        let deadline = Instant::now() + DYING_GRACE;
        loop {
            if let Err(dead) = self.check_alive() {
                panic!("{context}: {dead}");
            }
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// HTTP to node `id` through its client proxy.
    ///
    /// # Panics
    /// If `id` is not a node of this cluster, as [`Cluster::addr`] does.
    pub fn http(&self, id: &str) -> NodeHttp {
        let http = reqwest::Client::builder()
            // Below the nodes' idle timeout, so a pooled connection is never reused as the node
            // closes it.
            .pool_idle_timeout(node_kit::peer::POOL_IDLE)
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        NodeHttp {
            id: id.to_string(),
            addr: self.addr(id).to_string(),
            cookie: self.cookie().to_string(),
            http,
            timeout: HTTP_TIMEOUT,
        }
    }

    /// The kit's cart client for node `id`'s public cart API, through its client proxy.
    pub fn carts(&self, id: &str) -> CartClient {
        self.http(id).carts()
    }

    /// What each node that is up stores itself of every cart in `carts` (its own store
    /// under `/internal`, asking no one), by node id: one [`FinalReads`] per replica, for
    /// [`crate::check`]'s checkers (`NoLostAcks` over each copy, not only the one a read
    /// finds). Killed and paused nodes are left out; a read that gets no answer fails the test.
    pub async fn replicas(&self, carts: &[impl AsRef<str>]) -> BTreeMap<String, FinalReads> {
        let mut replicas = BTreeMap::new();
        for id in self.ids() {
            if self.state(&id) != NodeState::Up {
                continue;
            }
            let store = self.http(&id).internal_carts();
            let mut stored = FinalReads::new();
            for cart in carts {
                let cart = cart.as_ref();
                let what = format!("the read of {id}'s own copy of cart {cart}");
                let answer = self.expect_answer(store.get(cart).await, &what).await;
                stored.insert(cart.to_string(), answer.cart.items);
            }
            replicas.insert(id, stored);
        }
        replicas
    }
}

/// HTTP to one node of a [`Cluster`], by id; see [`Cluster::http`].
#[derive(Debug, Clone)]
pub struct NodeHttp {
    id: String,
    /// The node's client proxy, stable across restarts.
    addr: String,
    /// The cluster cookie, for the node's internal routes.
    cookie: String,
    http: reqwest::Client,
    timeout: Duration,
}

impl NodeHttp {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits at most `timeout` for each answer (default [`HTTP_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> NodeHttp {
        NodeHttp { timeout, ..self }
    }

    /// `http://<node>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request to `path` (e.g. `/cluster`); a path under `/internal` carries the cookie.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, self.url(path))
            .timeout(self.timeout);
        if path.starts_with("/internal/") {
            request.header(node_kit::COOKIE_HEADER, &self.cookie)
        } else {
            request
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// `GET path`, parsed as `T`. The error is a sentence naming the node and what went
    /// wrong: no answer, an error status, or a body that is not a `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let id = &self.id;
        let response = self
            .get(path)
            .send()
            .await
            .map_err(|e| format!("{id} did not answer GET {path}: {}", causes(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("{id}'s answer to GET {path} broke off: {}", causes(&e)))?;
        if !status.is_success() {
            return Err(format!("{id} answered GET {path} with {status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| {
            format!(
                "{id} answered GET {path} with something that is not a {}: {e}: {body}",
                std::any::type_name::<T>()
            )
        })
    }

    /// One figure from the node's `GET /metrics`: `series` is a metric's name
    /// (`callee_calls_at_work`) or a name with its labels as the text shows them
    /// (`node_requests_total{method="GET",route="/health",status="200"}`). The error says
    /// whether the node did not answer or does not show that series.
    pub async fn metric(&self, series: &str) -> Result<f64, String> {
        let id = &self.id;
        let text = self
            .get("/metrics")
            .send()
            .await
            .map_err(|e| format!("{id} did not answer GET /metrics: {}", causes(&e)))?
            .text()
            .await
            .map_err(|e| format!("{id}'s /metrics broke off: {}", causes(&e)))?;
        let value = text.lines().find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
        });
        value.ok_or_else(|| format!("{id}'s /metrics shows no {series}"))
    }

    /// The node's public cart API.
    pub fn carts(&self) -> CartClient {
        CartClient::with_http(self.http.clone(), &self.addr).timeout(self.timeout)
    }

    /// The node's own cart store, served under `/internal` (with the cookie).
    pub fn internal_carts(&self) -> CartClient {
        self.carts().internal(&self.cookie)
    }
}
