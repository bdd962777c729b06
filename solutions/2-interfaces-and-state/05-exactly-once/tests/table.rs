//! The dedup table on its own: no node, no network, the same answer on any machine. Each test
//! is one client's requests as the ledger sees them arrive.

use exactly_once_solution::{Begin, DedupTable, Entry, Receipt, Reply};
use retries_solution::Operation;

/// The reply the ledger gave charge `seq`.
fn charged(seq: u64) -> Reply {
    Reply::Charged(Receipt {
        request_id: format!("shop-1-{seq}"),
        operation: Operation::Charge,
        order: format!("order-{seq}"),
        amount_cents: 1999,
        node: "n1".into(),
    })
}

#[test]
fn a_repeat_gets_the_original_reply_and_is_not_new() {
    let mut table = DedupTable::new();
    assert!(table.is_empty(), "a new table holds nothing");
    assert_eq!(table.begin(1), Begin::New, "the first arrival of 1 is new");
    assert!(!table.is_empty(), "a table that began 1 holds it");
    table.finish(1, charged(1));
    assert_eq!(
        table.begin(1),
        Begin::Repeat(charged(1)),
        "a repeat of 1 must get 1's original reply, and must not be carried out again"
    );
    assert_eq!(
        table.begin(1),
        Begin::Repeat(charged(1)),
        "every repeat gets it, not only the first"
    );
    let declined = Reply::Declined {
        message: "the card's issuer declined it".into(),
    };
    assert_eq!(table.begin(2), Begin::New, "2 is new: it is not 1");
    table.finish(2, declined.clone());
    assert_eq!(
        table.begin(2),
        Begin::Repeat(declined),
        "a declined card is an answer too: its repeat gets the same no"
    );
    assert_eq!(table.len(), 2, "the table holds 1 and 2");
}

#[test]
fn a_copy_that_arrives_while_the_first_is_carried_out_is_not_new() {
    let mut table = DedupTable::new();
    assert_eq!(table.begin(7), Begin::New);
    assert_eq!(
        table.entry(7),
        Some(&Entry::InProgress),
        "begin must mark a new request in progress before it returns"
    );
    for _ in 0..3 {
        assert_eq!(
            table.begin(7),
            Begin::InProgress,
            "a copy of 7 arriving before 7 is finished must not be carried out (not New)"
        );
    }
    assert_eq!(table.begin(8), Begin::New, "another request is still new");
    table.finish(7, charged(7));
    assert_eq!(table.entry(7), Some(&Entry::Done(charged(7))));
    assert_eq!(table.begin(7), Begin::Repeat(charged(7)));
    assert_eq!(
        table.begin(8),
        Begin::InProgress,
        "finishing 7 finishes 7 only"
    );
}

#[test]
fn collect_forgets_what_the_client_acknowledged_and_nothing_more() {
    let mut table = DedupTable::new();
    for seq in 1..=10 {
        assert_eq!(table.begin(seq), Begin::New);
        if seq != 4 {
            table.finish(seq, charged(seq));
        }
    }
    assert_eq!(table.len(), 10);

    table.collect(5);
    assert_eq!(table.acked(), 5, "the table remembers the watermark");
    assert_eq!(
        table.len(),
        5,
        "after collect(5), only 6 to 10 are left (entries at or below 5 are dropped)"
    );
    for seq in 1..=5 {
        assert_eq!(table.entry(seq), None, "{seq} is at or below the watermark");
        assert_eq!(
            table.begin(seq),
            Begin::Acknowledged,
            "{seq} is at or below the watermark 5: a stray copy, refused (never New again)"
        );
    }
    assert_eq!(
        table.begin(6),
        Begin::Repeat(charged(6)),
        "6 is above the watermark: still remembered"
    );
    assert_eq!(
        table.len(),
        5,
        "refusing stray copies adds nothing to the table"
    );

    table.collect(3);
    assert_eq!(
        table.acked(),
        5,
        "an older watermark (a request that left before the last one) does not move it back"
    );
    assert_eq!(table.begin(4), Begin::Acknowledged, "4 stays acknowledged");
    assert_eq!(table.len(), 5, "and nothing comes back");

    table.finish(4, charged(4));
    assert_eq!(
        table.entry(4),
        None,
        "finishing a request already collected does not bring it back"
    );

    table.collect(10);
    assert!(table.is_empty(), "collect(10) leaves nothing of 1 to 10");
    assert_eq!(table.begin(11), Begin::New, "11 is new");
    assert_eq!(table.len(), 1);
}
