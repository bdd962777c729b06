//! One dependency of the front-end, and how a call to it is guarded. Given.
//!
//! A call goes through three steps, each of which may refuse it:
//!
//! ```text
//!  ask the fuse ──blown──► 503 fuse_blown          (microseconds: nothing is sent)
//!      │ ok
//!  take a worker ──none──► 503 bulkhead_full       (microseconds: nothing is sent)
//!      │                   (the naive front-end waits here for the shared pool instead)
//!  call, within the timeout
//!      ├─ an answer (2xx, 4xx) ──► heal the fuse, pass the answer on
//!      └─ a timeout, a broken connection, a 5xx ──► melt the fuse, 504 / 502
//! ```
//!
//! A business error (the payment service's 402 `card_declined`) is an answer: the service
//! works and said no, as exercise 04 put it. It heals; only "I don't know" melts.
//!
//! The naive front-end ([`Guards::NONE`]) asks no fuse, and its dependencies share one pool
//! of workers ([`SharedPool`]) in which a caller waits for a free worker, as a thread pool's
//! queue or a connection pool's checkout does. Its wait counts against the call's timeout,
//! as reqwest's own pool checkout would.
//!
//! Every call opens a new connection (no keep-alive pool), so a hung call never holds a
//! connection another call would reuse, and the harness's proxy in front of the dependency
//! counts one connection per call: that is how a test counts what reached the dependency.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use node_kit::ApiError;
use node_kit::error::causes;
use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::bulkhead::{Bulkhead, BulkheadStats, Worker};
use crate::fuse::{Ask, Fuse, FuseStats, Policy};

/// Which guards the front-end uses; `PUT /internal/guards` switches them at run time (with
/// fresh fuses and workers), so one cluster can show the guarded and the naive front-end in
/// the same run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guards {
    /// A fuse per dependency.
    pub fuses: bool,
    /// A bulkhead per dependency; without, every dependency shares one waiting pool of the
    /// same total size.
    pub bulkheads: bool,
}

impl Guards {
    pub const ALL: Guards = Guards {
        fuses: true,
        bulkheads: true,
    };
    /// The naive control: no fuse, one shared pool.
    pub const NONE: Guards = Guards {
        fuses: false,
        bulkheads: false,
    };
}

/// Workers shared by every dependency, waited for in turn (first come, first served).
#[derive(Debug)]
pub struct SharedPool {
    limit: usize,
    slots: Arc<Semaphore>,
}

impl SharedPool {
    pub fn new(limit: usize) -> SharedPool {
        SharedPool {
            limit,
            slots: Arc::new(Semaphore::new(limit)),
        }
    }

    /// Workers busy now.
    pub fn busy(&self) -> usize {
        self.limit - self.slots.available_permits()
    }
}

/// Where a dependency's calls get their workers.
#[derive(Debug, Clone)]
pub enum Workers {
    /// Its own, refused at once when all are busy.
    Bulkhead(Bulkhead),
    /// The pool every dependency shares, waited for.
    Shared(Arc<SharedPool>),
}

/// A worker held for one call, from either kind of [`Workers`]; dropping it gives it back.
#[allow(dead_code)] // held only to be dropped
enum Held {
    Own(Worker),
    Shared(OwnedSemaphorePermit),
}

/// Why a guarded call got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The fuse is blown: nothing was sent.
    FuseBlown { dependency: String, reset: Duration },
    /// Every worker of the dependency's bulkhead is busy: nothing was sent.
    BulkheadFull { dependency: String, limit: usize },
    /// No answer within the timeout (waiting for a worker included).
    Timeout {
        dependency: String,
        timeout: Duration,
    },
    /// The connection failed, or the dependency answered 5xx.
    Failed { dependency: String, detail: String },
    /// The dependency's node is not one of this node's peers.
    NoNode { dependency: String, node: String },
}

impl CallError {
    /// The JSON error the front-end answers with.
    pub fn to_api(&self) -> ApiError {
        let message = self.to_string();
        match self {
            CallError::FuseBlown { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "fuse_blown", message)
            }
            CallError::BulkheadFull { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "bulkhead_full", message)
            }
            CallError::Timeout { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "dependency_timeout", message)
            }
            CallError::Failed { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "dependency_failed", message)
            }
            CallError::NoNode { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_dependency", message)
            }
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::FuseBlown { dependency, reset } => write!(
                f,
                "the {dependency} fuse is blown: not called; one probe goes through every {} ms",
                reset.as_millis()
            ),
            CallError::BulkheadFull { dependency, limit } => write!(
                f,
                "all {limit} workers for the {dependency} service are busy: not called"
            ),
            CallError::Timeout {
                dependency,
                timeout,
            } => write!(
                f,
                "the {dependency} service did not answer within {} ms",
                timeout.as_millis()
            ),
            CallError::Failed { dependency, detail } => {
                write!(f, "the {dependency} service failed: {detail}")
            }
            CallError::NoNode { dependency, node } => write!(
                f,
                "the {dependency} service's node {node} is not a peer of this node"
            ),
        }
    }
}

/// The dependency's answer, passed on as it is.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// How calls to a dependency went, as the front-end saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls actually sent.
    pub sent: u64,
    pub answered: u64,
    pub timeouts: u64,
    pub failed: u64,
    pub refused_by_fuse: u64,
    pub refused_by_bulkhead: u64,
}

/// A dependency as `GET /internal/guards` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DependencyReport {
    pub node: String,
    pub calls: CallStats,
    /// `None` without fuses.
    pub fuse: Option<FuseStats>,
    /// `None` without bulkheads.
    pub bulkhead: Option<BulkheadStats>,
    /// Workers busy now (its bulkhead's, or the shared pool's, which all dependencies count).
    pub busy: usize,
}

/// One dependency: where it is, its fuse and its workers.
pub struct Dependency {
    /// Its name in errors and reports: `payment`, `catalog`.
    name: String,
    node: String,
    /// `host:port` of the node, or `None` if it is not a peer.
    addr: Option<String>,
    fuse: Option<Fuse>,
    workers: Workers,
    timeout: Duration,
    stats: Mutex<CallStats>,
}

impl Dependency {
    pub fn new(
        name: &str,
        node: &str,
        addr: Option<String>,
        fuse: Option<Policy>,
        workers: Workers,
        timeout: Duration,
    ) -> Dependency {
        Dependency {
            name: name.to_string(),
            node: node.to_string(),
            addr,
            fuse: fuse.map(Fuse::new),
            workers,
            timeout,
            stats: Mutex::default(),
        }
    }

    /// Sends `method path` (with `body` as JSON, if any), guarded: see the module comment.
    pub async fn call(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CallError> {
        let started = Instant::now();
        let dependency = self.name.clone();
        let Some(addr) = &self.addr else {
            return Err(CallError::NoNode {
                dependency,
                node: self.node.clone(),
            });
        };
        if let Some(fuse) = &self.fuse
            && fuse.ask() == Ask::Blown
        {
            self.stats.lock().refused_by_fuse += 1;
            return Err(CallError::FuseBlown {
                dependency,
                reset: fuse.policy().reset,
            });
        }
        let timed_out = || CallError::Timeout {
            dependency: self.name.clone(),
            timeout: self.timeout,
        };
        let _held = match &self.workers {
            Workers::Bulkhead(bulkhead) => match bulkhead.try_acquire() {
                Some(worker) => Held::Own(worker),
                None => {
                    self.stats.lock().refused_by_bulkhead += 1;
                    return Err(CallError::BulkheadFull {
                        dependency,
                        limit: bulkhead.stats().limit,
                    });
                }
            },
            Workers::Shared(pool) => {
                let wait = pool.slots.clone().acquire_owned();
                match tokio::time::timeout(self.timeout, wait).await {
                    Ok(Ok(permit)) => Held::Shared(permit),
                    // Timed out in the queue: the dependency was never called, but for the
                    // caller it is the same wait, and the naive front-end melts nothing.
                    _ => {
                        self.stats.lock().timeouts += 1;
                        return Err(timed_out());
                    }
                }
            }
        };
        let left = self.timeout.saturating_sub(started.elapsed());
        self.stats.lock().sent += 1;
        let outcome = send(http, method, addr, path, body, left).await;
        let outcome = outcome.map_err(|failure| match failure {
            Failure::Timeout => timed_out(),
            Failure::Broken(detail) => CallError::Failed {
                dependency: self.name.clone(),
                detail,
            },
        });
        let mut stats = self.stats.lock();
        match &outcome {
            Ok(_) => stats.answered += 1,
            Err(CallError::Timeout { .. }) => stats.timeouts += 1,
            Err(_) => stats.failed += 1,
        }
        drop(stats);
        if let Some(fuse) = &self.fuse {
            match outcome {
                Ok(_) => fuse.heal(),
                Err(_) => fuse.melt(),
            }
        }
        outcome
    }

    pub fn report(&self) -> DependencyReport {
        let (bulkhead, busy) = match &self.workers {
            Workers::Bulkhead(bulkhead) => {
                let stats = bulkhead.stats();
                (Some(stats), stats.busy)
            }
            Workers::Shared(pool) => (None, pool.busy()),
        };
        DependencyReport {
            node: self.node.clone(),
            calls: *self.stats.lock(),
            fuse: self.fuse.as_ref().map(Fuse::stats),
            bulkhead,
            busy,
        }
    }
}

/// Why one attempt got no answer.
enum Failure {
    Timeout,
    Broken(String),
}

/// One request within `timeout`: a 2xx or 4xx with its JSON body is an answer; a 5xx, a
/// broken connection or a body that is not JSON is a failure.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    addr: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Broken(causes(&e))
        }
    };
    let mut request = http
        .request(method, format!("http://{addr}{path}"))
        .timeout(timeout);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    let text = response.text().await.map_err(classify)?;
    if status.is_server_error() {
        return Err(Failure::Broken(format!("answered {status}: {text}")));
    }
    let body = serde_json::from_str(&text)
        .map_err(|e| Failure::Broken(format!("answered {status} with no JSON ({e}): {text}")))?;
    Ok(Answer { status, body })
}
