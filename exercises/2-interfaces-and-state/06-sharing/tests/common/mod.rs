//! What the cluster tests share: three logic nodes with a policy, and a customer's words for
//! them (log in, add to the cart, read it back) through any node.

#![allow(dead_code)] // each test file uses its own part of it

use std::collections::HashMap;

use harness::Cluster;
use harness::check::FinalReads;
use harness::eventually::NodeHttp;
use node_kit::cart::{AddItem, Answer, CartError};
use reqwest::Method;
use sharing::{COPIED_TO, Login, SessionView};

/// The nodes, as the harness names them.
pub const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// The seed of the tests' choices (which node takes which add) and of the proxies.
pub const SEED: u64 = 42;

/// Three logic nodes (this crate's binary) sharing what `share` says, merging carts with
/// `merge` (`union` or `lww`).
pub fn start(share: &str, merge: &str) -> Cluster {
    let cluster = Cluster::builder(harness::node_bin!())
        .nodes(NODES.len())
        .args(["--share", share, "--merge", merge])
        .seed(SEED)
        .start()
        .expect("the logic nodes start");
    assert_eq!(cluster.ids(), NODES, "the harness names its nodes n1..n3");
    cluster
}

/// A write's answer: what it returned, and the replicas that took its copy.
pub struct Written<T> {
    pub value: T,
    /// The `x-copied-to` header, split and sorted: the replicas holding a copy at the
    /// acknowledgement.
    pub copied_to: Vec<String>,
}

/// The shop as a customer (or a test) reaches it: any node, by id.
pub struct Shop<'a> {
    pub cluster: &'a Cluster,
    nodes: HashMap<String, NodeHttp>,
}

impl<'a> Shop<'a> {
    pub fn new(cluster: &'a Cluster) -> Shop<'a> {
        let nodes = NODES
            .iter()
            .map(|id| (id.to_string(), cluster.http(id)))
            .collect();
        Shop { cluster, nodes }
    }

    pub fn node(&self, id: &str) -> &NodeHttp {
        &self.nodes[id]
    }

    /// Logs `user` in as session `id` through node `via`.
    pub async fn login(&self, via: &str, id: &str, user: &str) -> Written<SessionView> {
        let answer = self
            .node(via)
            .request(Method::PUT, &format!("/sessions/{id}"))
            .json(&Login { user: user.into() })
            .send()
            .await;
        let what = format!("the login of {user} as session {id} through {via}");
        let response = self.cluster.expect_answer(answer, &what).await;
        let copied_to = copied_to(response.headers().get(COPIED_TO).map(|v| v.as_bytes()));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what} was answered {status}: {body}");
        let value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what} answered {body:?}, not a session: {e}"));
        Written { value, copied_to }
    }

    /// Session `id` as node `via` answers it: `None` for 404 (`unknown_session`).
    pub async fn session(&self, via: &str, id: &str) -> Option<SessionView> {
        let path = format!("/sessions/{id}");
        let answer = self.node(via).get(&path).send().await;
        let what = format!("the read of session {id} through {via}");
        let response = self.cluster.expect_answer(answer, &what).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status == 404 {
            assert!(
                body.contains("unknown_session"),
                "{what}: a 404 must say unknown_session: {body}"
            );
            return None;
        }
        assert!(status.is_success(), "{what} was answered {status}: {body}");
        Some(
            serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{what} answered {body:?}, not a session: {e}")),
        )
    }

    /// Adds `item` (its own request id) to `cart` through node `via`, without judging the
    /// outcome.
    pub async fn try_add(&self, via: &str, cart: &str, item: &str) -> Result<Answer, CartError> {
        let add = AddItem {
            request_id: item.into(),
            item: item.into(),
        };
        self.node(via).carts().add(cart, &add).await
    }

    /// Adds `item` to `cart` through node `via`; anything but an acknowledgement fails.
    pub async fn add(&self, via: &str, cart: &str, item: &str) -> Written<Vec<String>> {
        let answer = self.try_add(via, cart, item).await;
        let what = format!("the add of {item} to cart {cart} through {via}");
        let answer = self.cluster.expect_answer(answer, &what).await;
        written(answer)
    }

    /// `cart` as node `via` answers it (merging every replica's copy it can reach).
    pub async fn cart(&self, via: &str, cart: &str) -> Vec<String> {
        let answer = self.node(via).carts().get(cart).await;
        let what = format!("the read of cart {cart} through {via}");
        self.cluster.expect_answer(answer, &what).await.cart.items
    }

    /// What node `id` itself holds of `cart`, asking no one (its internal route).
    pub async fn own_copy(&self, id: &str, cart: &str) -> Vec<String> {
        let answer = self.node(id).internal_carts().get(cart).await;
        let what = format!("the read of {id}'s own copy of cart {cart}");
        self.cluster.expect_answer(answer, &what).await.cart.items
    }

    /// Whether node `id` itself holds session `session` (its internal route).
    pub async fn holds_session(&self, id: &str, session: &str) -> bool {
        let path = format!("/internal/copies/sessions/{session}");
        let copy: Result<Option<serde_json::Value>, String> = self.node(id).get_json(&path).await;
        let what = format!("the read of {id}'s own copy of session {session}");
        self.cluster.expect_answer(copy, &what).await.is_some()
    }

    /// Every cart in `carts` as node `via` answers it: the final reads a checker reads.
    pub async fn read_all(&self, via: &str, carts: &[String]) -> FinalReads {
        let mut finals = FinalReads::new();
        for cart in carts {
            finals.insert(cart.clone(), self.cart(via, cart).await);
        }
        finals
    }
}

/// An acknowledged add, with the replicas that took its copy.
pub fn written(answer: Answer) -> Written<Vec<String>> {
    let copied_to = copied_to(answer.headers.get(COPIED_TO).map(|v| v.as_bytes()));
    Written {
        value: answer.cart.items,
        copied_to,
    }
}

fn copied_to(header: Option<&[u8]>) -> Vec<String> {
    let header = header.expect("every write's answer names its copies in x-copied-to");
    let mut ids: Vec<String> = String::from_utf8_lossy(header)
        .split(',')
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}
