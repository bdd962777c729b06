//! What the cluster tests share: the payment nodes, a front-end's sender to them, a stream of
//! payments sent on a schedule, and what each node says reached it.

#![allow(dead_code)] // each test file uses its own part of it

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::Cluster;
use retries_solution::{Arrival, Operation, Payment, PaymentError, Receipt, Sender};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The seed of the proxies' loss and lost replies; a failure names it.
pub const SEED: u64 = 42;

/// A cluster of `n` payment nodes (this crate's binary), its proxies seeded with [`SEED`].
pub fn start(n: usize) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(n)
        .seed(SEED)
        .start()
        .expect("the payment nodes start")
}

/// A front-end's sender to `nodes`, in that order, each through its client proxy.
pub fn sender(cluster: &Cluster, nodes: &[&str]) -> Sender {
    Sender::http(nodes.iter().map(|id| (*id, cluster.addr(id).to_string())))
}

/// Payment `i` of a batch: its request id and order are `<batch>-<i>`.
pub fn payment(batch: &str, i: usize) -> Payment {
    Payment {
        request_id: format!("{batch}-{i}"),
        order: format!("{batch}-{i}"),
        amount_cents: 1999,
        card: "4242424242424242".into(),
    }
}

/// What one send came to, and how long it took.
pub struct Sent {
    pub request_id: String,
    pub outcome: Result<Receipt, PaymentError>,
    pub took: Duration,
}

/// How a batch is sent: the sender's function under test.
#[derive(Clone, Copy)]
pub enum Mode {
    AtMostOnce,
    AtLeastOnce { deadline: Duration },
}

/// Sends `count` payments of `batch` as `op`, one every `every` (open loop: on schedule,
/// whether or not earlier ones are done), and waits for all of them. A send the test
/// process was too busy to start on time goes late rather than in a burst with the next
/// ones: a burst of the test's own making would look like a retry storm at the node.
pub async fn send_batch(
    sender: &Arc<Sender>,
    op: Operation,
    mode: Mode,
    batch: &str,
    count: usize,
    every: Duration,
) -> Vec<Sent> {
    let mut schedule = tokio::time::interval(every);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sends = JoinSet::new();
    for i in 0..count {
        schedule.tick().await;
        let sender = sender.clone();
        let payment = payment(batch, i);
        sends.spawn(async move {
            let t0 = Instant::now();
            let outcome = match mode {
                Mode::AtMostOnce => sender.send_at_most_once(op, &payment).await,
                Mode::AtLeastOnce { deadline } => {
                    sender.send_at_least_once(op, &payment, deadline).await
                }
            };
            Sent {
                request_id: payment.request_id,
                outcome,
                took: t0.elapsed(),
            }
        });
    }
    let mut done = Vec::with_capacity(count);
    while let Some(sent) = sends.join_next().await {
        // A send that panicked (a todo!()) fails the test with its own message.
        done.push(sent.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    done
}

/// One healthy send on its own, before any batch: the test's first step, so that a function
/// not written yet fails the test once, with its own message, rather than in every task of
/// a batch.
pub async fn send_one(sender: &Sender, op: Operation, mode: Mode) -> Receipt {
    let payment = payment("first", 0);
    let outcome = match mode {
        Mode::AtMostOnce => sender.send_at_most_once(op, &payment).await,
        Mode::AtLeastOnce { deadline } => sender.send_at_least_once(op, &payment, deadline).await,
    };
    outcome.unwrap_or_else(|e| panic!("a healthy {op} got no receipt: {e}"))
}

/// Every request that reached `node`, in order.
pub async fn arrivals(cluster: &Cluster, node: &str) -> Vec<Arrival> {
    let answer = cluster
        .http(node)
        .get_json::<Vec<Arrival>>("/internal/arrivals")
        .await;
    cluster
        .expect_answer(answer, &format!("reading {node}'s arrivals"))
        .await
}

/// How many times each request id of `batch` reached any of `nodes`.
pub async fn received(cluster: &Cluster, nodes: &[&str], batch: &str) -> HashMap<String, usize> {
    let prefix = format!("{batch}-");
    let mut counts = HashMap::new();
    for node in nodes {
        for arrival in arrivals(cluster, node).await {
            if arrival.request_id.starts_with(&prefix) {
                *counts.entry(arrival.request_id).or_insert(0) += 1;
            }
        }
    }
    counts
}
