//! The dedup table lives in the ledger node's memory; the charges do not (they are on file,
//! as a card network's records would be). Kill the node while charges whose replies were lost
//! are being retried, start it again, and the retries meet a node that has forgotten every
//! request id it answered: they are charged again. One copy of the table is not enough: the
//! Availability section is about keeping a second one.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SEED, charge_many, charge_one, ledger, ledger_direct};
use exactly_once::{Backoff, Client, LedgerView};
use harness::{Cluster, block_on};

/// Charges in flight when the node dies: fewer than the client's window, so all start.
const K: usize = 50;

/// Waits until n1 has charged every one of `client`'s first `K` charges of `batch` once,
/// read straight from the node (the client's link loses every reply meanwhile).
async fn until_charged(cluster: &Cluster, id: &str) -> LedgerView {
    let prefix = format!("{id}-");
    let started = Instant::now();
    loop {
        let books = ledger_direct(cluster).await;
        let charged = books
            .charges
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .count();
        if charged >= K {
            return books;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "only {charged} of {K} charges of {id} reached the ledger in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client whose retries come every 100 to 400 ms, for 15 s.
fn slow_retrying(cluster: &Cluster, id: &str) -> Arc<Client> {
    Arc::new(
        common::client(cluster, id)
            .backoff(Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_millis(400),
                jitter: true,
            })
            .deadline(Duration::from_secs(15)),
    )
}

#[test]
fn killing_the_node_that_holds_the_table_brings_duplicates_back() {
    let cluster = common::start(&[]);
    block_on(async {
        // Healthy: every reply lost for a while, every charge retried, each charged once.
        let client = slow_retrying(&cluster, "before");
        charge_one(&cluster, &client).await;
        cluster.client_link("n1").drop_response(1.0);
        let batch = tokio::spawn({
            let client = client.clone();
            async move { charge_many(&client, K, Duration::from_millis(1)).await }
        });
        until_charged(&cluster, "before").await;
        tokio::time::sleep(Duration::from_millis(500)).await; // a few rounds of repeats
        cluster.client_link("n1").clear();
        let charged = batch.await.expect("the batch");
        assert!(common::without_receipt(&charged).is_empty());
        let books = ledger(&cluster).await;
        assert!(
            books.doubles().is_empty(),
            "seed {SEED}: the node did not die, yet these were charged twice: {:?}",
            books.doubles()
        );
        assert!(
            books.repeats as usize >= K,
            "every one of the {K} lost replies is repeated at least once (repeats: {})",
            books.repeats
        );

        // The same, but the node that holds the table is killed while the charges are being
        // retried, and started again (same data directory: the charges survive, the table
        // does not).
        let client = slow_retrying(&cluster, "crash");
        cluster.client_link("n1").drop_response(1.0);
        let batch = tokio::spawn({
            let client = client.clone();
            async move { charge_many(&client, K, Duration::from_millis(1)).await }
        });
        until_charged(&cluster, "crash").await;
        cluster.kill("n1").expect("kill n1");
        cluster.client_link("n1").clear();
        cluster.restart("n1").expect("restart n1");
        let charged = batch.await.expect("the batch");
        let missing = common::without_receipt(&charged);
        assert!(
            missing.is_empty(),
            "charges without a receipt after the restart: {missing:?}"
        );
        let books = ledger(&cluster).await;
        let doubles = common::doubles_of(&books, "crash");
        println!(
            "killed with {K} charges retrying: {doubles} of them charged twice after the restart; before the kill: none of {K}"
        );
        assert_eq!(
            doubles, K,
            "seed {SEED}: each of the {K} charges was charged before the kill and retried after it, at a node that forgot its table: each must be charged twice"
        );
        assert_eq!(
            common::doubles_of(&books, "before"),
            0,
            "the charges before the kill are on file, once each"
        );
    });
}
