//! Watching what each node thinks: every running node's answer to one `GET`, polled together,
//! the latest kept with the moment it arrived, every ask logged in a [`History`].
//!
//! A scenario's workload sees requests succeed or fail; some demos need each node's own
//! account instead (who it thinks is down, who it thinks is primary, which side of a
//! partition it is on). [`Views`] is that: the demo decides what the views mean.
//!
//! ```no_run
//! # async fn demo(cluster: &harness::Cluster) -> Result<(), harness::ClusterError> {
//! use std::time::Duration;
//! let mut views = harness::watch::Views::<serde_json::Value>::new(
//!     cluster, "/cluster", Duration::from_millis(300), harness::history::History::new(),
//! );
//! views.poll().await?; // fails at once, with its panic, if a node exited by itself
//! if let Some(seen) = views.latest("n1") {
//!     println!("n1 says {} ({:?} ago)", seen.view, seen.at.elapsed());
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::cluster::{Cluster, ClusterError};
use crate::deployment::NodeState;
use crate::history::{Action, History};

/// A node's view and when it arrived.
#[derive(Debug, Clone)]
pub struct Seen<V> {
    pub view: V,
    pub at: Instant,
}

/// The latest view of every node that answers.
pub struct Views<'a, V> {
    cluster: &'a Cluster,
    http: reqwest::Client,
    path: String,
    history: History,
    latest: BTreeMap<String, Seen<V>>,
}

impl<'a, V: DeserializeOwned + Send + 'static> Views<'a, V> {
    /// Asks for `GET path`; a node that takes longer than `timeout` has no view that round.
    pub fn new(cluster: &'a Cluster, path: &str, timeout: Duration, history: History) -> Self {
        let http = reqwest::Client::builder()
            // Below the nodes' idle timeout, so a pooled connection is never reused as the node
            // closes it.
            .pool_idle_timeout(node_kit::peer::POOL_IDLE)
            .timeout(timeout)
            .no_proxy()
            .build()
            .expect("an HTTP client with a timeout and no proxy");
        Views {
            cluster,
            http,
            path: path.to_string(),
            history,
            latest: BTreeMap::new(),
        }
    }

    /// One round: asks every running node at once and waits for every answer (or timeout).
    /// A node that exited by itself fails the round with its diagnostics.
    pub async fn poll(&mut self) -> Result<(), ClusterError> {
        self.cluster.check_alive()?;
        let mut asks = tokio::task::JoinSet::new();
        for id in self.cluster.ids() {
            if self.cluster.state(&id) != NodeState::Up {
                self.latest.remove(&id);
                continue;
            }
            let url = format!("http://{}{}", self.cluster.addr(&id), self.path);
            let http = self.http.clone();
            let invocation = self.history.invoke(
                id.clone(),
                Action::Request {
                    name: format!("GET {}", self.path),
                },
            );
            asks.spawn(async move {
                let view = match http.get(&url).send().await {
                    Ok(response) if response.status().is_success() => {
                        match response.json::<V>().await {
                            Ok(view) => {
                                invocation.ok();
                                Some(view)
                            }
                            Err(_) => {
                                invocation.fail("bad_body");
                                None
                            }
                        }
                    }
                    Ok(response) => {
                        invocation.fail(format!("http_{}", response.status().as_u16()));
                        None
                    }
                    Err(e) if e.is_timeout() => {
                        invocation.unknown("timeout");
                        None
                    }
                    Err(_) => {
                        invocation.fail("connect");
                        None
                    }
                };
                (id, view, Instant::now())
            });
        }
        while let Some(Ok((id, view, at))) = asks.join_next().await {
            match view {
                Some(view) => self.latest.insert(id, Seen { view, at }),
                None => self.latest.remove(&id),
            };
        }
        Ok(())
    }

    /// The node's latest view, if it answered the last round.
    pub fn latest(&self, id: &str) -> Option<&Seen<V>> {
        self.latest.get(id)
    }

    /// Every ask so far.
    pub fn history(&self) -> &History {
        &self.history
    }
}
