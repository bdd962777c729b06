//! A partition splits n1 from n2 and n3 while customers keep adding to the same carts on both
//! sides. Every add is acknowledged (a cart stays writable: Dynamo's choice), so the copies
//! drift apart. After the partition heals, a read through any node merges the replicas'
//! copies, and the harness's checker holds every merged cart to every acknowledged add.

mod common;

use std::collections::BTreeMap;

use common::{SEED, Shop, start};
use futures_util::future::join_all;
use harness::block_on;
use harness::check::{Checker, Duplicates, FinalReads, NoLostAcks};
use harness::history::{Action, History};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The carts both sides add to.
const CARTS: usize = 6;

/// Adds per cart on each side of the partition.
const ADDS_PER_SIDE: usize = 2;

/// n1 alone on one side, n2 and n3 on the other.
const MINORITY: [&str; 1] = ["n1"];
const MAJORITY: [&str; 2] = ["n2", "n3"];

#[test]
fn after_a_partition_heals_every_merged_cart_holds_every_acknowledged_add() {
    let union = split_and_heal("union");
    for (via, finals) in &union.finals {
        let lost = NoLostAcks.check(&union.history, finals);
        assert!(
            lost.passed,
            "seed {SEED}: after the partition healed, the carts read through {via} lost acknowledged adds: {}\n\
             a merge must keep every add of both copies (the union, one add per request id)",
            lost.detail
        );
        let doubled = Duplicates { max: 0 }.check(&union.history, finals);
        assert!(
            doubled.passed,
            "seed {SEED}: an add retried on both sides of the partition must be in its cart once, \
             read through {via}: {}",
            doubled.detail
        );
    }
    for (node, copies) in &union.own_copies {
        let lost = NoLostAcks.check(&union.history, copies);
        assert!(
            lost.passed,
            "seed {SEED}: once every cart was read, {node}'s own copies still lack acknowledged \
             adds: {} (a read keeps the merged cart)",
            lost.detail
        );
    }

    // The control: last writer wins keeps the copy written last, whole, and drops the other
    // side's adds. Same seed, same partition, same adds.
    let lww = split_and_heal("lww");
    let lost = NoLostAcks.check(&lww.history, &lww.finals["n1"]);
    assert!(
        lost.figure > 0.0,
        "seed {SEED}: the naive merge (last writer wins) should lose acknowledged adds after a \
         partition, yet it lost none: {}",
        lost.detail
    );
    println!(
        "seed {SEED}: union lost no acknowledged add; last writer wins lost {} ({})",
        lost.figure, lost.detail
    );
}

/// What one run left behind: every add in a history, and the carts after healing.
struct Healed {
    history: History,
    /// Every cart as each node answers it (merging the replicas), by node.
    finals: BTreeMap<String, FinalReads>,
    /// Every cart as each node holds it itself, after those reads.
    own_copies: BTreeMap<String, FinalReads>,
}

/// Three nodes sharing everything and merging with `merge`: healthy adds, a partition with
/// adds on both sides, heal, and every cart read through every node.
fn split_and_heal(merge: &str) -> Healed {
    let cluster = start("everything", merge);
    let carts: Vec<String> = (0..CARTS).map(|c| format!("c{c}")).collect();
    let mut rng = StdRng::seed_from_u64(SEED);
    let history = History::new();
    let mut healed = Healed {
        history: history.clone(),
        finals: BTreeMap::new(),
        own_copies: BTreeMap::new(),
    };
    block_on(async {
        let shop = Shop::new(&cluster);
        // Healthy: an add through a seeded node reaches every replica before its ack.
        for cart in &carts {
            let via = common::NODES[rng.random_range(0..3)];
            let item = format!("{cart}-before");
            let invocation = history.invoke(via, add(cart, &item));
            let added = shop.add(via, cart, &item).await;
            invocation.ok();
            assert_eq!(
                added.copied_to.len(),
                2,
                "share everything: the add of {item} through {via} must be copied to both peers, \
                 not {:?}",
                added.copied_to
            );
            for node in common::NODES {
                assert_eq!(
                    shop.own_copy(node, cart).await,
                    std::slice::from_ref(&item),
                    "{node}'s own copy of {cart} after a healthy add"
                );
            }
        }

        cluster
            .partition(&[&MINORITY, &MAJORITY])
            .expect("partition n1 | n2 n3");
        // Both sides add to every cart at once, and one add is retried across the partition:
        // its customer got no answer from n1 in time and tried n2 with the same request id.
        let mut adds: Vec<(&str, String, String)> = Vec::new();
        for cart in &carts {
            for i in 0..ADDS_PER_SIDE {
                adds.push(("n1", cart.clone(), format!("{cart}-n1-{i}")));
                let via = MAJORITY[rng.random_range(0..2)];
                adds.push((via, cart.clone(), format!("{cart}-{via}-{i}")));
            }
        }
        adds.push(("n1", carts[0].clone(), "retried".into()));
        adds.push(("n2", carts[0].clone(), "retried".into()));
        let sends = adds.iter().map(|(via, cart, item)| {
            let (shop, history) = (&shop, &history);
            async move {
                let invocation = history.invoke(*via, add(cart, item));
                let answer = shop.try_add(via, cart, item).await;
                match &answer {
                    Ok(_) => invocation.ok(),
                    Err(e) if e.may_have_applied() => invocation.unknown(e.kind()),
                    Err(e) => invocation.fail(e.kind()),
                }
                (*via, cart, item, answer)
            }
        });
        for (via, cart, item, answer) in join_all(sends).await {
            let answer = shop.cluster.expect_answer(answer, &format!("seed {SEED}: the add of {item} to {cart} through {via} during the partition (a cart must stay writable on both sides)")).await;
            let copied_to = common::written(answer).copied_to;
            let reachable: Vec<&str> = if via == "n1" {
                Vec::new()
            } else {
                MAJORITY.into_iter().filter(|n| *n != via).collect()
            };
            assert_eq!(
                copied_to, reachable,
                "seed {SEED}: during the partition, the add of {item} through {via} can only be \
                 copied to its own side"
            );
        }

        cluster.heal();
        for node in common::NODES {
            healed
                .finals
                .insert(node.to_string(), shop.read_all(node, &carts).await);
        }
        healed.own_copies = cluster.replicas(&carts).await;
    });
    healed
}

fn add(cart: &str, item: &str) -> Action {
    Action::Add {
        key: cart.to_string(),
        item: item.to_string(),
    }
}
