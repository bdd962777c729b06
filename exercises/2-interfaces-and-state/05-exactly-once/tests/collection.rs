//! The table must not remember every request id for ever. Every charge carries its client's
//! acknowledged watermark (`x-acked-through`), the ledger collects behind it, and a client
//! keeps at most its window of charges past the watermark, so the table holds at most a
//! window's worth of that client's entries, however many charges go by.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{SEED, charge_many, charge_one, ledger};
use harness::block_on;

/// The acknowledging client's window: the bound on its entries in the table.
const WINDOW: u64 = 32;

#[test]
fn the_table_stays_bounded_behind_the_acknowledged_watermark() {
    const N: usize = 2000;
    const CONTROL: usize = 500;
    let cluster = common::start(&[]);
    block_on(async {
        let client = Arc::new(common::client(&cluster, "acking").window(WINDOW));

        // Healthy: the table of a client that acknowledges stays within its window.
        charge_one(&cluster, &client).await;
        let charged = charge_many(&client, 100, Duration::from_millis(1)).await;
        assert!(common::without_receipt(&charged).is_empty());
        let table = ledger(&cluster).await.tables["acking"];
        assert!(
            table.peak as u64 <= WINDOW,
            "after 101 healthy charges the table held {} entries at its peak; the client never has more than {WINDOW} past its watermark",
            table.peak
        );

        // N more through a link that loses a fifth of its replies: repeats, and a watermark
        // held back by the charges still retrying.
        cluster.client_link("n1").drop_response(0.2);
        let charged = charge_many(&client, N, Duration::from_micros(500)).await;
        cluster.client_link("n1").clear();
        let missing = common::without_receipt(&charged);
        assert!(
            missing.is_empty(),
            "seed {SEED}: charges without a receipt: {missing:?}"
        );
        let books = ledger(&cluster).await;
        let table = books.tables["acking"];
        let sent = 101 + N as u64;
        println!(
            "acknowledging client: {sent} charges, table peak {} entries, {} at the end, watermark {}",
            table.peak, table.entries, table.acked
        );
        assert!(
            books.doubles().is_empty(),
            "seed {SEED}: double charges: {:?}",
            books.doubles()
        );
        assert!(
            table.peak as u64 <= WINDOW && table.entries as u64 <= WINDOW,
            "seed {SEED}: after {sent} charges the table held {} entries at its peak and {} at the end; with a window of {WINDOW} it must never hold more than {WINDOW}",
            table.peak,
            table.entries
        );
        assert!(
            table.acked + WINDOW >= sent,
            "the ledger knows the watermark {} of {sent} charges: it must be within the window of the last",
            table.acked
        );
    });

    // The control: a client that never acknowledges. Its table keeps every request id.
    block_on(async {
        let forgetful = Arc::new(common::client(&cluster, "forgetful").without_acks());
        cluster.client_link("n1").drop_response(0.2);
        let charged = charge_many(&forgetful, CONTROL, Duration::from_micros(500)).await;
        cluster.client_link("n1").clear();
        assert!(common::without_receipt(&charged).is_empty());
        let table = ledger(&cluster).await.tables["forgetful"];
        println!(
            "client without acknowledgements: {CONTROL} charges, {} entries",
            table.entries
        );
        assert_eq!(
            table.entries, CONTROL,
            "without a watermark nothing is collected: the table keeps all {CONTROL} request ids"
        );
    });
}
