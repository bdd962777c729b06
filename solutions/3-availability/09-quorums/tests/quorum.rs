//! Your three functions on their own: the ring of exercise 03 with nodes up or down by
//! decree, replies that arrive when a virtual clock says, and a store with hints in it.

use std::collections::BTreeMap;
use std::time::Duration;

use consistent_hashing_solution::{Ring, VNODES};
use node_kit::cart::AddItem;
use quorums_solution::{Carts, Shortfall, Store, Target, hand_off, quorum, targets};

const NODES: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];

fn ring() -> Ring {
    Ring::new(NODES, VNODES)
}

/// The key's nodes clockwise, all up: its three primaries, then the others.
fn order(ring: &Ring, key: &str) -> Vec<String> {
    ring.preflist(key, 5, |_| true)
        .into_iter()
        .map(|e| e.node)
        .collect()
}

fn primary(node: &str) -> Target {
    Target {
        node: node.into(),
        hint: None,
    }
}

fn fallback(node: &str, for_: &str) -> Target {
    Target {
        node: node.into(),
        hint: Some(for_.into()),
    }
}

#[test]
fn the_copies_go_to_the_up_primaries_and_a_hinted_fallback_for_each_down_one() {
    let ring = ring();
    for key in ["cart-1", "cart-42", "cart-777"] {
        let o = order(&ring, key);
        let all = targets(&ring, key, 3, |_| true, true);
        assert_eq!(
            all,
            vec![primary(&o[0]), primary(&o[1]), primary(&o[2])],
            "{key}, everyone up: its three primaries"
        );

        let second_down = |n: &str| n != o[1];
        assert_eq!(
            targets(&ring, key, 3, second_down, true),
            vec![primary(&o[0]), primary(&o[2]), fallback(&o[3], &o[1])],
            "{key} with its second primary {} down: the next node round, {}, keeps a hint for it",
            o[1],
            o[3]
        );
        let two_down = |n: &str| n != o[0] && n != o[2];
        assert_eq!(
            targets(&ring, key, 3, two_down, true),
            vec![
                primary(&o[1]),
                fallback(&o[3], &o[0]),
                fallback(&o[4], &o[2])
            ],
            "{key} with {} and {} down: two fallbacks, hinted in ring order",
            o[0],
            o[2]
        );
        assert_eq!(
            targets(&ring, key, 3, two_down, false),
            vec![primary(&o[1])],
            "{key}, a strict quorum: only the up primaries, no stand-ins"
        );
    }
}

/// A reply that comes after `ms` virtual milliseconds, ok or not.
async fn reply(ms: u64, ok: bool, value: &'static str) -> Result<&'static str, String> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if ok {
        Ok(value)
    } else {
        Err(format!("{value} failed"))
    }
}

fn virtual_clock() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn a_quorum_answers_as_soon_as_k_replies_are_in_and_fails_as_soon_as_k_is_out_of_reach() {
    virtual_clock().block_on(async {
        let started = tokio::time::Instant::now();
        let two = quorum(2, vec![reply(30, true, "c"), reply(10, true, "a"), reply(20, true, "b")]).await;
        assert_eq!(two, Ok(vec!["a", "b"]), "the first two to answer, in the order they came");
        assert_eq!(started.elapsed(), Duration::from_millis(20), "W = 2 waits for the second reply, not the third");

        let started = tokio::time::Instant::now();
        let one_bad = quorum(2, vec![reply(10, false, "a"), reply(20, true, "b"), reply(30, true, "c")]).await;
        assert_eq!(one_bad, Ok(vec!["b", "c"]), "one failure of three still reaches 2");
        assert_eq!(started.elapsed(), Duration::from_millis(30));

        let started = tokio::time::Instant::now();
        let hopeless = quorum(2, vec![reply(10, false, "a"), reply(20, false, "b"), reply(60_000, true, "c")]).await;
        let Err(Shortfall { needed: 2, ok: 0, errors }) = hopeless else {
            panic!("two failures of three cannot reach 2: expected a shortfall, got {hopeless:?}")
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(20),
            "once two of three failed, 2 is out of reach: fail then, not after the slow third's minute"
        );

        let started = tokio::time::Instant::now();
        let too_few = quorum(3, vec![reply(10, true, "a"), reply(20, true, "b")]).await;
        assert!(matches!(too_few, Err(Shortfall { needed: 3, .. })), "3 of 2 copies: {too_few:?}");
        assert!(started.elapsed() <= Duration::from_millis(20), "and no waiting past the last reply");
    });
}

fn add(id: &str) -> AddItem {
    AddItem {
        request_id: id.into(),
        item: format!("item-{id}"),
    }
}

#[test]
fn handoff_gives_each_returned_primary_its_hints_and_forgets_only_what_it_delivered() {
    virtual_clock().block_on(async {
        let store = Store::default();
        store.put("cart-1", &add("a"), Some("n2"));
        store.put("cart-2", &add("b"), Some("n2"));
        store.put("cart-1", &add("c"), Some("n3"));
        store.put("cart-1", &add("own"), None);

        // n2 is back, n3 is not; the send to n2 works.
        let sent: std::sync::Mutex<BTreeMap<String, Carts>> = Default::default();
        let handed = hand_off(
            &store,
            |n| n == "n2",
            |primary, hints| {
                sent.lock().unwrap().insert(primary, hints);
                async { Ok(()) }
            },
        )
        .await;
        let sent = sent.into_inner().unwrap();
        assert_eq!(
            sent.keys().collect::<Vec<_>>(),
            vec!["n2"],
            "only n2 is up: only n2 is sent its hints"
        );
        assert_eq!(sent["n2"]["cart-1"], vec![add("a")]);
        assert_eq!(sent["n2"]["cart-2"], vec![add("b")]);
        assert_eq!(handed, 2, "two writes handed over");
        assert_eq!(
            store.hinted_primaries(),
            vec!["n3"],
            "n2's hints are gone once delivered; n3's stay"
        );
        assert_eq!(
            store.read("cart-1"),
            vec![add("own")],
            "the node's own copy is not a hint"
        );

        // n3 comes back, but the send fails: the hints stay for the next round.
        let handed = hand_off(
            &store,
            |_| true,
            |_, _| async { Err("connection refused".to_string()) },
        )
        .await;
        assert_eq!(handed, 0);
        assert_eq!(
            store.hints_for("n3")["cart-1"],
            vec![add("c")],
            "a failed handoff must forget nothing"
        );

        // A write for n3 arrives while its handoff is on the way: it stays for the next round.
        let handed = hand_off(
            &store,
            |_| true,
            |primary, _| {
                store.put("cart-9", &add("late"), Some(&primary));
                async { Ok(()) }
            },
        )
        .await;
        assert_eq!(handed, 1);
        assert_eq!(
            store.hints_for("n3"),
            BTreeMap::from([("cart-9".to_string(), vec![add("late")])]),
            "forget what was delivered, not what came in meanwhile"
        );
    });
}
