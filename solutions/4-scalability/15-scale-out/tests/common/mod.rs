//! What the cluster tests and the demo share: a ring of this crate's nodes with some held
//! back to join later, seeded cart traffic on the harness's open-loop generator (every
//! operation in a history, for the harness's checkers), and the nodes' views of the ring.

#![allow(dead_code)] // each test file, and the demo, uses its own part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::Cluster;
use harness::history::{Action, History};
use harness::load::{Load, LoadReport, Outcome, Schedule, Shot};
use node_kit::cart::{AddItem, CartClient, CartError};
use scale_out_solution::RingView;

/// The flags of a node whose requests cost `service_ms` on one of `workers` workers.
pub fn node_args(first: usize, workers: usize, service_ms: u64, max_queue: u64) -> Vec<String> {
    let ring: Vec<String> = (1..=first).map(|i| format!("n{i}")).collect();
    [
        "--ring".to_string(),
        ring.join(","),
        "--workers".into(),
        workers.to_string(),
        "--service-time-ms".into(),
        service_ms.to_string(),
        "--max-queue".into(),
        max_queue.to_string(),
        // Far above any wait a healthy node makes: a busy machine is slow, not down.
        "--forward-timeout-ms".into(),
        "8000".into(),
    ]
    .into()
}

/// Node `id`'s view of the ring.
pub async fn ring_view(cluster: &Cluster, id: &str) -> Result<RingView, String> {
    cluster.http(id).get_json("/internal/ring").await
}

/// Waits until every member sees a ring of `n` members, waits for no handoff and has none
/// left to deliver: the join is over.
pub async fn settled(cluster: &Cluster, n: usize, within: Duration) {
    for id in cluster.members() {
        cluster
            .eventually(
                &format!("{id} to see a settled ring of {n}"),
                within,
                async || {
                    let view = ring_view(cluster, &id).await?;
                    if view.members.len() == n && view.awaited.is_empty() && view.pending == 0 {
                        Ok(())
                    } else {
                        Err(format!("{id}'s view: {view:?}"))
                    }
                },
            )
            .await;
    }
}

/// A seeded number for shot `index`: splitmix64 of the seed and the index.
pub fn draw(seed: u64, index: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(salt.wrapping_mul(0xd1b5_4a32_d192_ed69));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Cart traffic: what to send, and where.
#[derive(Clone)]
pub struct Traffic {
    /// (id, client of its public cart API) for each node the traffic goes to.
    pub nodes: Vec<(String, CartClient)>,
    pub carts: usize,
    pub read_share: f64,
    pub seed: u64,
    pub history: History,
    /// Names the adds (`<prefix><index>`), so two runs on one cluster never collide.
    pub prefix: String,
    /// If set, only the first this many of `nodes` get traffic (the members so far).
    pub live: Option<Arc<AtomicUsize>>,
}

impl Traffic {
    /// Traffic to `nodes` of `cluster`, each request's client giving up after `timeout`.
    pub fn to(cluster: &Cluster, nodes: &[String], timeout: Duration, seed: u64) -> Traffic {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(node_kit::peer::POOL_IDLE)
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let nodes = nodes
            .iter()
            .map(|id| {
                let client = CartClient::with_http(http.clone(), cluster.addr(id)).timeout(timeout);
                (id.clone(), client)
            })
            .collect();
        Traffic {
            nodes,
            carts: 200,
            read_share: 0.5,
            seed,
            history: History::new(),
            prefix: "w".into(),
            live: None,
        }
    }

    pub fn cart(&self, index: u64) -> String {
        format!("cart-{}", draw(self.seed, index, 1) % self.carts as u64)
    }

    /// Runs at `rate` a second for `run`, open loop.
    pub async fn run(&self, rate: f64, run: Duration) -> LoadReport {
        let traffic = self.clone();
        Load::new(Schedule::Constant { rate }, run)
            .timeout(Duration::from_secs(10))
            .run(move |shot: Shot| {
                let traffic = traffic.clone();
                async move { traffic.one(shot.index).await }
            })
            .await
            .unwrap_or_else(|e| panic!("the load could not run: {e}"))
    }

    /// One seeded operation: an add of a unique item, or a read, of a seeded cart at a
    /// seeded node; into the history.
    pub async fn one(&self, index: u64) -> Outcome {
        let live = self
            .live
            .as_ref()
            .map_or(self.nodes.len(), |n| n.load(Ordering::Relaxed))
            .clamp(1, self.nodes.len());
        let (node, client) = &self.nodes[(draw(self.seed, index, 2) % live as u64) as usize];
        let cart = self.cart(index);
        let read = (draw(self.seed, index, 3) % 1000) as f64 / 1000.0 < self.read_share;
        if read {
            let call = self
                .history
                .invoke(node, Action::Read { key: cart.clone() });
            match client.get(&cart).await {
                Ok(answer) => {
                    call.read(answer.cart.items);
                    Outcome::Ok
                }
                Err(e) => finish(call, &e),
            }
        } else {
            let item = format!("{}{index}", self.prefix);
            let call = self.history.invoke(
                node,
                Action::Add {
                    key: cart.clone(),
                    item: item.clone(),
                },
            );
            let add = AddItem {
                request_id: item.clone(),
                item,
            };
            match client.add(&cart, &add).await {
                Ok(_) => {
                    call.ok();
                    Outcome::Ok
                }
                Err(e) => finish(call, &e),
            }
        }
    }
}

fn finish(call: harness::history::Invocation, e: &CartError) -> Outcome {
    let outcome = if e.may_have_applied() {
        Outcome::unknown(e.kind())
    } else {
        Outcome::fail(e.kind())
    };
    match e {
        CartError::Refused { code, .. } if code == "overloaded" => {
            call.fail("overloaded");
            Outcome::fail("overloaded")
        }
        _ => {
            outcome.record(call);
            outcome
        }
    }
}

/// Every cart of `traffic` (`cart-0` ..), read through `via` (which asks each cart's
/// owner), 16 at a time: each read costs its owner a service time too.
pub async fn final_reads(cluster: &Cluster, via: &str, carts: usize) -> harness::check::FinalReads {
    let client = cluster.carts(via);
    let mut finals = harness::check::FinalReads::new();
    let names: Vec<String> = (0..carts).map(|i| format!("cart-{i}")).collect();
    for chunk in names.chunks(16) {
        let mut reads = tokio::task::JoinSet::new();
        for cart in chunk {
            let (client, cart) = (client.clone(), cart.clone());
            reads.spawn(async move {
                let answer = client.get(&cart).await;
                (cart, answer)
            });
        }
        while let Some(read) = reads.join_next().await {
            let (cart, answer) = read.expect("a final read's task");
            let what = format!("the final read of {cart} via {via}");
            let answer = cluster.expect_answer(answer, &what).await;
            finals.insert(cart, answer.cart.items);
        }
    }
    finals
}

/// Requests sent from `from` to `to` (since the history's start) that were served, per
/// second. Counted by when they were sent, not when their answers came: a machine that
/// stalls for a moment delays answers past a window's end, but does not serve fewer.
pub fn served_per_second(history: &History, from: Duration, to: Duration) -> f64 {
    let served = history
        .operations()
        .iter()
        .filter(|op| op.is_ok() && op.invoked >= from && op.invoked < to)
        .count();
    served as f64 / (to - from).as_secs_f64()
}
