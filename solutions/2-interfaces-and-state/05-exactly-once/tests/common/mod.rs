//! What the cluster tests share: a ledger node, a front-end's client of it, a stream of charges
//! sent on a schedule, and the ledger's books.

#![allow(dead_code)] // each test file uses its own part of it

use std::sync::Arc;
use std::time::Duration;

use exactly_once_solution::{Backoff, Charged, Client, LedgerView};
use harness::Cluster;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The seed of the proxies' lost replies and of the senders' jitter; a failure names it.
pub const SEED: u64 = 42;

/// A card the issuer accepts, and one it declines (ending in 0002).
pub const CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";

/// One ledger node (this crate's binary), with the node flags `flags`, its proxy seeded with
/// [`SEED`].
pub fn start(flags: &[&str]) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(1)
        .args(flags.iter().copied())
        .seed(SEED)
        .start()
        .expect("the ledger node starts")
}

/// Client `id` of n1, through its client proxy: retries quickly (20 ms doubling to 200 ms,
/// jittered, seeded), for 10 s per charge.
pub fn client(cluster: &Cluster, id: &str) -> Client {
    Client::new(id, [("n1", cluster.addr("n1").to_string())])
        .backoff(Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            jitter: true,
        })
        .seed(SEED)
}

/// `count` charges of 19.99 by `client`, one started every `every` (open loop: a charge
/// that waits for the client's window waits in its own task), then waits for all of them.
pub async fn charge_many(client: &Arc<Client>, count: usize, every: Duration) -> Vec<Charged> {
    let mut schedule = tokio::time::interval(every);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut charges = JoinSet::new();
    for i in 0..count {
        schedule.tick().await;
        let client = client.clone();
        charges.spawn(async move {
            let order = format!("{}-order-{i}", client.id());
            client.charge(&order, 1999, CARD).await
        });
    }
    let mut done = Vec::with_capacity(count);
    while let Some(charged) = charges.join_next().await {
        // A charge that panicked (a todo!() in the test process) fails with its own message.
        done.push(charged.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    done
}

/// One healthy charge on its own, before any batch, so that an unwritten function fails the
/// test once, at once, with its own message: a `todo!()` ends the node, and rather than let
/// the sender retry a dead node until its deadline, this watches the node and fails with its
/// panic line.
pub async fn charge_one(cluster: &Cluster, client: &Client) -> Charged {
    let charge = client.charge("first", 1999, CARD);
    tokio::pin!(charge);
    let charged = loop {
        tokio::select! {
            charged = &mut charge => break charged,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                cluster.check_alive().unwrap_or_else(|dead| panic!("{dead}"));
            }
        }
    };
    if let Err(e) = &charged.outcome {
        panic!("a healthy charge got no receipt: {e}");
    }
    charged
}

/// Every charge `n1` applied, and its clients' tables, read through its client proxy (clear
/// the proxy's faults first).
pub async fn ledger(cluster: &Cluster) -> LedgerView {
    let answer = cluster
        .http("n1")
        .get_json::<LedgerView>("/internal/ledger")
        .await;
    cluster.expect_answer(answer, "reading n1's ledger").await
}

/// The same, straight from the node, past the proxy and its faults.
pub async fn ledger_direct(cluster: &Cluster) -> LedgerView {
    let addr = cluster.direct_addr("n1").expect("n1 is running");
    let answer = reqwest::Client::new()
        .get(format!("http://{addr}/internal/ledger"))
        .header(node_kit::COOKIE_HEADER, cluster.cookie())
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let answer = cluster
        .expect_answer(answer, "reading n1's ledger directly")
        .await;
    cluster
        .expect_answer(answer.json::<LedgerView>().await, "n1's ledger as JSON")
        .await
}

/// The charges of `client`'s batch that got no receipt, with why.
pub fn without_receipt(charges: &[Charged]) -> Vec<String> {
    charges
        .iter()
        .filter_map(|c| match &c.outcome {
            Ok(_) => None,
            Err(e) => Some(format!("{}: {e}", c.request_id)),
        })
        .collect()
}

/// How many charges of client `id` the ledger applied twice or more.
pub fn doubles_of(view: &LedgerView, id: &str) -> usize {
    let prefix = format!("{id}-");
    view.doubles()
        .keys()
        .filter(|request| request.starts_with(&prefix))
        .count()
}
