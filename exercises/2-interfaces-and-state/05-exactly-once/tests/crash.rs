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

/// Waits until `done` holds for n1's books, read straight from the node (the client's link
/// loses every reply meanwhile); fails after 10 s, saying `what` never happened.
async fn until(cluster: &Cluster, what: &str, done: impl Fn(&LedgerView) -> bool) -> LedgerView {
    let started = Instant::now();
    loop {
        let books = ledger_direct(cluster).await;
        if done(&books) {
            return books;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "seed {SEED}: after 10 s, {what} had not happened: {books:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many request ids of client `id` the books charged at least once.
fn charged_ids(books: &LedgerView, id: &str) -> usize {
    let prefix = format!("{id}-");
    books
        .charges
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .count()
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
        // Each charged once (K + the first), and each repeated at least once since.
        let repeated = format!("all {K} charges charged and repeated at least once");
        until(&cluster, &repeated, |books| {
            charged_ids(books, "before") > K && books.repeats as usize >= K
        })
        .await;
        cluster.client_link("n1").clear();
        let charged = batch.await.expect("the batch");
        assert!(common::without_receipt(&charged).is_empty());
        let books = ledger(&cluster).await;
        assert!(
            books.doubles().is_empty(),
            "seed {SEED}: the node did not die, yet these were charged twice: {:?}",
            books.doubles()
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
        let first = format!("the first attempt of every one of the {K} charges");
        until(&cluster, &first, |books| charged_ids(books, "crash") >= K).await;
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
