//! How one attempt reaches a node, and what time it is: the two things a sender needs from the
//! world, each behind a trait so a test can replace them. Given.
//!
//! - [`Transport`]: one attempt of one operation at one node, within a timeout, classified
//!   into a receipt, a business error or a transport error. [`HttpTransport`] is the real one.
//! - [`Clock`]: now, and sleep. [`WallClock`] is the real one; the backoff tests use a
//!   virtual clock whose sleep returns at once, so a schedule of many seconds runs in
//!   microseconds and never depends on how busy the machine is.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use node_kit::error::causes;

use crate::interface::{Operation, Payment, PaymentError, Receipt, TransportError, TransportKind};

/// One attempt at one node.
pub trait Transport: Send + Sync {
    /// Sends `payment` as `op` to `node` and waits at most `timeout` for the answer.
    fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> impl Future<Output = Result<Receipt, PaymentError>> + Send;
}

/// A transport shared by several senders (or kept by a test to look at afterwards).
impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> impl Future<Output = Result<Receipt, PaymentError>> + Send {
        (**self).attempt(node, op, payment, timeout)
    }
}

/// What time it is, for a sender.
pub trait Clock: Send + Sync {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
    /// Returns once `duration` has passed.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock: tokio's timers, time since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Instant,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// The payment service over HTTP: `POST /payments/<operation>` on each node.
///
/// A new connection for every attempt (no keep-alive pool), so that the harness proxy's
/// per-connection `loss` strikes each attempt with its probability, as packet loss would.
/// (A real client keeps connections alive; a lost packet there stalls the request the same.)
#[derive(Debug, Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
    /// Node id to `host:port`.
    nodes: HashMap<String, String>,
}

impl HttpTransport {
    /// A transport to `nodes`, given as `(id, host:port)` pairs.
    pub fn new<I, S, A>(nodes: I) -> HttpTransport
    where
        I: IntoIterator<Item = (S, A)>,
        S: Into<String>,
        A: Into<String>,
    {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a plain HTTP client builds");
        let nodes = nodes
            .into_iter()
            .map(|(id, addr)| (id.into(), addr.into()))
            .collect();
        HttpTransport { http, nodes }
    }
}

impl Transport for HttpTransport {
    async fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> Result<Receipt, PaymentError> {
        let failure = |kind, detail: String| {
            PaymentError::Transport(TransportError {
                node: node.to_string(),
                kind,
                detail,
            })
        };
        let Some(addr) = self.nodes.get(node) else {
            // Nothing was sent anywhere: a configuration mistake, answered at once.
            return Err(PaymentError::Business {
                status: 400,
                code: "unknown_node".into(),
                message: format!("{node} is not one of the transport's nodes"),
            });
        };
        let kind_of = |e: &reqwest::Error| {
            if e.is_timeout() {
                TransportKind::Timeout
            } else {
                TransportKind::Connection
            }
        };
        let sent = self
            .http
            .post(format!("http://{addr}{}", op.path()))
            .json(payment)
            .timeout(timeout)
            .send()
            .await;
        let response = sent.map_err(|e| failure(kind_of(&e), causes(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| failure(kind_of(&e), format!("the answer broke off: {}", causes(&e))))?;
        if status.is_success() {
            serde_json::from_str(&body).map_err(|e| {
                failure(
                    TransportKind::Connection,
                    format!("a 2xx that is not a receipt ({e}): {body}"),
                )
            })
        } else if status.is_client_error() {
            // The kit's JSON error shape: {"error": code, "message": sentence}.
            let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            Err(PaymentError::Business {
                status: status.as_u16(),
                code: error["error"].as_str().unwrap_or("unknown").to_string(),
                message: error["message"].as_str().unwrap_or(&body).to_string(),
            })
        } else {
            Err(failure(TransportKind::ServerError(status.as_u16()), body))
        }
    }
}
