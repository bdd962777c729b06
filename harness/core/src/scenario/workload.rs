//! The workload: cart traffic (or plain GETs) on seeded nodes, every operation in the
//! history, and the final reads a run takes once the faults are healed. Carts go through the
//! kit's typed client, so an add's outcome means what the cart API promises: a 2xx is an
//! acknowledged write, an error status definitely not applied, a lost answer unknown. A node
//! that redirects (a backup naming its primary) is followed, by id, to the node it names.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use node_kit::cart::{AddItem, CartClient, CartError};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::check::FinalReads;
use crate::history::{Action, History, Invocation};
use crate::load::{self, Outcome, Shot};

/// The traffic: each operation adds a unique item to a seeded cart or reads one (or GETs the
/// workload's path), on a seeded node. The item is the request id (`w<index>`), so a lost or
/// duplicated add is visible in the final read. A scenario drives it with `harness::load`;
/// the dashboard, at a rate its page changes, calls it shot by shot.
pub struct Traffic {
    pub http: reqwest::Client,
    /// The nodes clients send to, each with its cart client (sharing `http`'s pool).
    pub nodes: Vec<Node>,
    /// Where every operation is recorded.
    pub history: History,
    /// A plain GET instead of cart traffic.
    pub get: Option<String>,
    pub carts: usize,
    pub read_share: f64,
    /// With the shot's index, picks each operation's node, cart and kind.
    pub seed: u64,
}

/// A node as the workload reaches it.
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    pub carts: CartClient,
}

impl Node {
    /// Node `id` at `addr`. Its cart client follows redirects to any node of `everyone` (id,
    /// address), so a node that answers "ask the primary" costs the workload one more hop, not
    /// a failed operation: the history records the node the operation was sent to and, when
    /// it is another, the node that served it.
    pub fn new(
        http: &reqwest::Client,
        id: &str,
        addr: SocketAddr,
        everyone: &[(String, SocketAddr)],
    ) -> Node {
        Node {
            id: id.to_string(),
            addr,
            carts: CartClient::with_http(http.clone(), addr)
                .follow_redirects(everyone.iter().cloned()),
        }
    }
}

/// How a cart request that got no cart back counts: unknown if it may have been applied.
fn outcome_of(error: &CartError) -> Outcome {
    if error.may_have_applied() {
        Outcome::unknown(error.kind())
    } else {
        Outcome::fail(error.kind())
    }
}

impl load::Operation for Traffic {
    async fn call(&self, shot: Shot) -> Outcome {
        let mut rng =
            StdRng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ shot.index);
        let node = &self.nodes[rng.random_range(0..self.nodes.len())];
        if let Some(path) = &self.get {
            let invocation = self.history.invoke(
                node.id.clone(),
                Action::Request {
                    name: format!("GET {path}"),
                },
            );
            let url = format!("http://{}{path}", node.addr);
            let outcome = load::http_outcome(self.http.get(url).send().await).await;
            outcome.record(invocation);
            return outcome;
        }
        let cart = format!("c{}", rng.random_range(0..self.carts));
        if rng.random_bool(self.read_share) {
            let invocation = self
                .history
                .invoke(node.id.clone(), Action::Read { key: cart.clone() });
            match node.carts.get(&cart).await {
                Ok(answer) => {
                    served(invocation, answer.served_by).read(answer.cart.items);
                    Outcome::Ok
                }
                // A read changes nothing: whatever went wrong, it did not happen.
                Err(e) => {
                    invocation.fail(e.kind());
                    Outcome::fail(e.kind())
                }
            }
        } else {
            let item = format!("w{}", shot.index);
            let add = AddItem {
                request_id: item.clone(),
                item: item.clone(),
            };
            let invocation = self.history.invoke(
                node.id.clone(),
                Action::Add {
                    key: cart.clone(),
                    item,
                },
            );
            let (outcome, invocation) = match node.carts.add(&cart, &add).await {
                Ok(answer) => (Outcome::Ok, served(invocation, answer.served_by)),
                Err(e) => (outcome_of(&e), invocation),
            };
            outcome.record(invocation);
            outcome
        }
    }
}

/// The invocation, told which node served it if a redirect took it elsewhere.
fn served(invocation: Invocation, by: Option<String>) -> Invocation {
    match by {
        Some(node) => invocation.served_by(node),
        None => invocation,
    }
}

/// Reads every cart once, trying each node in turn until one answers (3 rounds).
pub(super) async fn final_reads(nodes: &[Node], carts: usize) -> FinalReads {
    let mut finals = BTreeMap::new();
    for c in 0..carts {
        let cart = format!("c{c}");
        'tries: for _ in 0..3 {
            for node in nodes {
                if let Ok(answer) = node.carts.get(&cart).await {
                    finals.insert(cart.clone(), answer.cart.items);
                    break 'tries;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    finals
}
