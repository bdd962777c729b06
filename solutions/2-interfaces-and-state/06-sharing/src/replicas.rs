//! Copies to the peers, and the peers' copies back, for the classes the policy shares. Part
//! of it is yours.
//!
//! ```text
//! client ── PUT /sessions/s1 ──▶ n1   stores it, then, if the policy shares sessions:
//!                                ├──▶ n2  PUT /internal/copies/sessions/s1   200
//!                                └──▶ n3  PUT /internal/copies/sessions/s1   200
//! client ◀── 200, x-copied-to: n2,n3  (only once both answered, or timed out)
//! ```
//!
//! A copy is the whole value (a session, a cart's set of adds); the peer merges it into its
//! own. Copying is *synchronous*: a write is acknowledged only once every replica has taken
//! its copy or failed to within [`COPY_TIMEOUT`], so when the node dies right after the
//! acknowledgement, its peers already hold what it acknowledged. That is what the customer
//! pays for on every write: one round trip to the slowest replica.
//!
//! A peer that does not answer (dead, or on the other side of a partition) misses the copy,
//! and the write is acknowledged anyway: carts and sessions stay writable through a
//! partition (availability over consistency, Dynamo's choice for the cart). What the missed
//! peer lacks comes back when a read gathers every replica's copy and merges them (read
//! repair; see `crate::node`).

use std::time::Duration;

use futures_util::future::join_all;
use node_kit::{Peer, PeerClient};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::policy::{DataClass, Policy};

/// How long a node waits for one peer to take a copy, or to send its own. Long enough that a
/// busy peer is not taken for a missing one (a missed copy is a write the peer lacks until a
/// read repairs it); short enough that a partition costs a customer a second, not a minute.
pub const COPY_TIMEOUT: Duration = Duration::from_secs(1);

/// The peers a node copies to, as its policy says.
#[derive(Clone)]
pub struct Replicas {
    /// HTTP to the other nodes, with the cookie the copy routes need.
    peers: PeerClient,
    /// Which classes go to the peers.
    policy: Policy,
}

impl Replicas {
    pub fn new(peers: PeerClient, policy: Policy) -> Replicas {
        Replicas { peers, policy }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The peers that keep a copy of `class`: every peer if the policy shares it, else none.
    pub fn of(&self, class: DataClass) -> Vec<Peer> {
        if self.policy.shares(class) {
            self.peers.iter().collect()
        } else {
            Vec::new()
        }
    }

    /// Copies `value`, the node's copy of `key` in `class`, to every replica of the class at
    /// once, and returns when each has answered or timed out: the ids of the replicas that
    /// took it. No replica for the class: nothing to wait for.
    pub async fn copy<V: Serialize + Sync>(
        &self,
        class: DataClass,
        key: &str,
        value: &V,
    ) -> Vec<String> {
        // lab:todo Send the copy to every replica of the class at once; wait for all of them.
        // `self.of(class)` names them and `self.copy_to(..)` sends one copy (within its
        // timeout); return the ids of those whose copy was taken. A miss is logged, not fatal.
        let replicas = self.of(class);
        let answers = join_all(
            replicas
                .iter()
                .map(|peer| self.copy_to(peer, class, key, value)),
        )
        .await;
        let mut took = Vec::new();
        for (peer, answer) in replicas.iter().zip(answers) {
            match answer {
                Ok(()) => took.push(peer.id().to_string()),
                Err(why) => tracing::warn!(%class, key, peer = peer.id(), "copy missed: {why}"),
            }
        }
        took
        // lab:end
    }

    /// Sends one copy to one peer: `PUT /internal/copies/<class>/<key>`, within
    /// [`COPY_TIMEOUT`]. `Err` says why the peer did not take it.
    pub async fn copy_to<V: Serialize + Sync>(
        &self,
        peer: &Peer,
        class: DataClass,
        key: &str,
        value: &V,
    ) -> Result<(), String> {
        let answer = peer
            .request(Method::PUT, &copy_path(class, key))
            .timeout(COPY_TIMEOUT)
            .json(value)
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("{} answered {}", peer.id(), response.status())),
            Err(e) => Err(format!(
                "{} did not answer: {}",
                peer.id(),
                node_kit::error::causes(&e)
            )),
        }
    }

    /// Every replica's copy of `key` in `class` (`GET /internal/copies/<class>/<key>`), asked
    /// all at once, for a read to merge with its own: those that answer within
    /// [`COPY_TIMEOUT`]. None if the policy does not share the class.
    pub async fn gather<V: DeserializeOwned>(&self, class: DataClass, key: &str) -> Vec<V> {
        let path = copy_path(class, key);
        let replicas = self.of(class);
        let asks = replicas.iter().map(|peer| async {
            let response = peer
                .request(Method::GET, &path)
                .timeout(COPY_TIMEOUT)
                .send()
                .await
                .map_err(|e| node_kit::error::causes(&e))?;
            if !response.status().is_success() {
                return Err(format!("answered {}", response.status()));
            }
            response
                .json::<V>()
                .await
                .map_err(|e| node_kit::error::causes(&e))
        });
        let mut copies = Vec::new();
        for (peer, answer) in replicas.iter().zip(join_all(asks).await) {
            match answer {
                Ok(copy) => copies.push(copy),
                Err(why) => {
                    tracing::info!(%class, key, peer = peer.id(), "no copy to merge: {why}")
                }
            }
        }
        copies
    }
}

/// `/internal/copies/<class>/<key>`. Keys are validated ids (letters, digits, `-_.:`), so
/// they need no encoding.
fn copy_path(class: DataClass, key: &str) -> String {
    format!("/internal/copies/{}/{key}", class.name())
}
