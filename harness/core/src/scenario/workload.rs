//! The workload: cart traffic (or plain GETs) on seeded nodes, every operation in the
//! history, and the final reads a run takes once the faults are healed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::check::FinalReads;
use crate::history::{Action, History};
use crate::load::{self, Outcome, Shot};

/// The traffic: each operation adds a unique item to a seeded cart or reads one (or GETs the
/// workload's path), on a seeded node. The item is the request id (`w<index>`), so a lost or
/// duplicated add is visible in the final read.
pub(super) struct Traffic {
    pub(super) http: reqwest::Client,
    pub(super) addrs: Vec<(String, SocketAddr)>,
    pub(super) history: History,
    /// A plain GET instead of cart traffic.
    pub(super) get: Option<String>,
    pub(super) carts: usize,
    pub(super) read_share: f64,
    pub(super) seed: u64,
}

impl load::Operation for Traffic {
    async fn call(&self, shot: Shot) -> Outcome {
        let mut rng =
            StdRng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ shot.index);
        let (node, addr) = &self.addrs[rng.random_range(0..self.addrs.len())];
        if let Some(path) = &self.get {
            let invocation = self.history.invoke(
                node.clone(),
                Action::Request {
                    name: format!("GET {path}"),
                },
            );
            let outcome =
                load::http_outcome(self.http.get(format!("http://{addr}{path}")).send().await)
                    .await;
            outcome.record(invocation);
            return outcome;
        }
        let cart = format!("c{}", rng.random_range(0..self.carts));
        if rng.random_bool(self.read_share) {
            let invocation = self
                .history
                .invoke(node.clone(), Action::Read { key: cart.clone() });
            let sent = self
                .http
                .get(format!("http://{addr}/carts/{cart}"))
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    match response.json::<node_kit::cart::Cart>().await {
                        Ok(read) => {
                            invocation.read(read.items);
                            Outcome::Ok
                        }
                        Err(_) => {
                            invocation.fail("bad_body");
                            Outcome::fail("bad_body")
                        }
                    }
                }
                other => {
                    let outcome = load::http_outcome(other).await;
                    outcome.record(invocation);
                    outcome
                }
            }
        } else {
            let item = format!("w{}", shot.index);
            let add = node_kit::cart::AddItem {
                request_id: item.clone(),
                item: item.clone(),
            };
            let invocation = self.history.invoke(
                node.clone(),
                Action::Add {
                    key: cart.clone(),
                    item,
                },
            );
            let sent = self
                .http
                .post(format!("http://{addr}/carts/{cart}/items"))
                .json(&add)
                .send()
                .await;
            let outcome = load::http_outcome(sent).await;
            outcome.record(invocation);
            outcome
        }
    }
}

/// Reads every cart once, trying each node in turn until one answers (3 rounds).
pub(super) async fn final_reads(
    http: &reqwest::Client,
    addrs: &[(String, SocketAddr)],
    carts: usize,
) -> FinalReads {
    let mut finals = BTreeMap::new();
    for c in 0..carts {
        let cart = format!("c{c}");
        'tries: for _ in 0..3 {
            for (_, addr) in addrs {
                let read = http.get(format!("http://{addr}/carts/{cart}")).send().await;
                if let Ok(response) = read
                    && response.status().is_success()
                    && let Ok(read) = response.json::<node_kit::cart::Cart>().await
                {
                    finals.insert(cart.clone(), read.items);
                    break 'tries;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    finals
}
