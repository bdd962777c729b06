//! The three functions on their own, without a cluster: who promotes on a verdict, what a
//! message's epoch makes a node do, and when a write may be acknowledged.

use std::time::Duration;

use primary_backup::{Fence, Reply, Shortfall, View, ack_after_w, fence, on_verdict};
use tokio::sync::mpsc;

fn view(epoch: u64, primary: &str) -> View {
    View {
        epoch,
        primary: primary.to_string(),
    }
}

fn up(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn the_lowest_live_backup_promotes_itself_into_the_next_epoch_and_no_other() {
    let now = view(1, "n1");
    // Healthy first: a verdict on a backup changes nothing, on any node.
    for me in ["n1", "n2"] {
        assert_eq!(
            on_verdict(&now, me, "n3", &up(&["n1", "n2"])),
            None,
            "{me} must not promote when a backup (n3) dies: the primary n1 is alive"
        );
    }
    // The primary dies: both backups see it, exactly one promotes, one epoch on.
    assert_eq!(
        on_verdict(&now, "n2", "n1", &up(&["n3"])),
        Some(view(2, "n2")),
        "n2 is the lowest live id when n1 dies: it must promote itself to epoch 2"
    );
    assert_eq!(
        on_verdict(&now, "n3", "n1", &up(&["n2"])),
        None,
        "n3 must leave the promotion to n2, the lowest live id"
    );
    // The dead primary is never "alive", even if a stale list still names it.
    assert_eq!(
        on_verdict(&now, "n2", "n1", &up(&["n1", "n3"])),
        Some(view(2, "n2")),
        "the dead primary n1 does not count as alive"
    );
    // When the lower backup is gone too, the next one takes over, from any epoch.
    assert_eq!(
        on_verdict(&view(7, "n2"), "n3", "n2", &up(&[])),
        Some(view(8, "n3")),
        "alone with a dead primary in epoch 7, n3 promotes itself to epoch 8"
    );
    assert_eq!(
        on_verdict(&view(7, "n2"), "n1", "n2", &up(&["n3"])),
        Some(view(8, "n1")),
        "n1 is lower than n3: it promotes, whoever was primary"
    );
}

#[test]
fn a_stale_epoch_is_refused_and_a_later_one_adopted() {
    let mine = view(3, "n2");
    assert_eq!(fence(&mine, &view(3, "n2")), Fence::Current, "my own view");
    assert_eq!(
        fence(&mine, &view(2, "n1")),
        Fence::Stale,
        "epoch 2 is over once this node is in epoch 3"
    );
    assert_eq!(
        fence(&mine, &view(1, "n2")),
        Fence::Stale,
        "an old epoch of the same primary is stale too"
    );
    assert_eq!(
        fence(&mine, &view(4, "n3")),
        Fence::Newer,
        "epoch 4 is later: adopt it"
    );
    assert_eq!(
        fence(&mine, &view(9, "n1")),
        Fence::Newer,
        "any later epoch is adopted, whoever its primary"
    );
    assert_eq!(
        fence(&mine, &view(3, "n1")),
        Fence::Stale,
        "epoch 3 already has a primary (n2): a second claim on it is refused"
    );
}

/// Replies to a write, as the backups would send them; the channel stays open.
fn replies(sent: &[Reply]) -> (mpsc::Sender<Reply>, mpsc::Receiver<Reply>) {
    let (tx, rx) = mpsc::channel(8);
    for reply in sent {
        tx.try_send(reply.clone()).expect("room in the channel");
    }
    (tx, rx)
}

fn no_answer() -> Reply {
    Reply::NoAnswer("n3 did not answer".into())
}

#[test]
fn a_write_is_acknowledged_as_soon_as_w_copies_exist() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Waits at most a moment: an ack that needs a reply that never comes fails the test.
    let within = |w: usize, rx: &mut mpsc::Receiver<Reply>| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(500), ack_after_w(w, rx))
                .await
                .unwrap_or_else(|_| panic!("ack_after_w({w}) waited for a reply it did not need, or for one that never comes"))
        })
    };

    // W = 2: the primary's copy and the first backup's; the second backup is not awaited.
    let (_open, mut rx) = replies(&[Reply::Stored]);
    assert_eq!(within(2, &mut rx), Ok(2), "own copy + one stored = 2");
    // A backup that does not answer is passed over for one that does.
    let (_open, mut rx) = replies(&[no_answer(), Reply::Stored]);
    assert_eq!(within(2, &mut rx), Ok(2));
    // W = 3 needs both backups.
    let (_open, mut rx) = replies(&[Reply::Stored, Reply::Stored]);
    assert_eq!(within(3, &mut rx), Ok(3));
    // W = 1, the naive primary: its own copy is enough, no backup is awaited.
    let (_open, mut rx) = replies(&[]);
    assert_eq!(
        within(1, &mut rx),
        Ok(1),
        "W = 1 acknowledges on the primary's copy alone"
    );

    // Too few: every backup answered (the channel closed) and W copies do not exist.
    let (tx, mut rx) = replies(&[no_answer(), Reply::Stored]);
    drop(tx);
    assert_eq!(
        within(3, &mut rx),
        Err(Shortfall::TooFew {
            copies: 2,
            w: 3,
            why: vec!["n3 did not answer".into()],
        }),
        "2 copies of the 3 needed: not acknowledged, and why"
    );
    let (tx, mut rx) = replies(&[]);
    drop(tx);
    assert_eq!(
        within(2, &mut rx),
        Err(Shortfall::TooFew {
            copies: 1,
            w: 2,
            why: vec![],
        })
    );
    // A backup in a later epoch ends it at once: this node is not the primary any more,
    // whatever the other backup says after.
    let (_open, mut rx) = replies(&[Reply::Stale(view(2, "n2")), Reply::Stored]);
    assert_eq!(
        within(2, &mut rx),
        Err(Shortfall::Stale(view(2, "n2"))),
        "a stale refusal means step down, not count on"
    );
}
