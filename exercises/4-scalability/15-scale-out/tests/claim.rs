//! Your three functions, called directly: the claim against the `hash % n` control, the
//! hand-over into 09's hints, and who a new owner waits for.

use std::collections::{BTreeMap, BTreeSet};

use consistent_hashing_solution::{Ring, VNODES};
use node_kit::cart::AddItem;
use quorums_solution::Store;
use scale_out::{Move, hand_over, moves, naive_owner, waits_for};

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

fn ring(n: usize) -> Ring {
    Ring::new(ids(n), VNODES)
}

fn carts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cart-{i}")).collect()
}

fn add(n: usize) -> AddItem {
    AddItem {
        request_id: format!("r{n}"),
        item: format!("item-{n}"),
    }
}

#[test]
fn a_join_moves_about_one_nth_of_the_carts_all_to_the_new_node_and_hash_mod_n_moves_most() {
    let carts = carts(20_000);
    for n in [1, 2, 3, 4] {
        let (old, new) = (ring(n), ring(n + 1));
        let moved = moves(&old, &new, carts.iter().map(String::as_str));
        let share = moved.len() as f64 / carts.len() as f64;
        let ideal = 1.0 / (n + 1) as f64;
        println!(
            "{n} -> {} nodes: {} of {} carts move ({:.1}%; ideal {:.1}%)",
            n + 1,
            moved.len(),
            carts.len(),
            share * 100.0,
            ideal * 100.0
        );
        assert!(
            (0.85 * ideal..=1.15 * ideal).contains(&share),
            "{n} -> {} nodes: about 1/{} of the carts should move, {:.1}% moved",
            n + 1,
            n + 1,
            share * 100.0
        );
        let newcomer = format!("n{}", n + 1);
        for m in &moved {
            assert_eq!(
                m.to, newcomer,
                "a join moves carts only to the new node: {m:?}"
            );
            assert_eq!(m.from, old.owner(&m.cart), "from its old owner: {m:?}");
            assert_ne!(m.from, m.to);
        }
        let gone: BTreeSet<&str> = moved.iter().map(|m| m.cart.as_str()).collect();
        let mut stayed = carts.iter().filter(|c| !gone.contains(c.as_str()));
        assert!(
            stayed.all(|c| old.owner(c) == new.owner(c)),
            "every cart not in the list keeps its owner"
        );

        // The control in the same test: place by hash % n and change n.
        let (before, after) = (ids(n), ids(n + 1));
        let naive = carts
            .iter()
            .filter(|c| naive_owner(c, &before) != naive_owner(c, &after))
            .count();
        let naive_share = naive as f64 / carts.len() as f64;
        println!("  hash % n: {naive} move ({:.1}%)", naive_share * 100.0);
        // From one node to two, any placement moves half; from two on, hash % n moves n of
        // every n + 1 carts.
        if n >= 2 {
            assert!(
                naive_share >= 0.6 && naive_share >= 1.8 * share,
                "the hash % n control should move most carts ({:.1}%) against the ring's {:.1}%",
                naive_share * 100.0,
                share * 100.0
            );
        }
    }
}

#[test]
fn moves_keeps_the_order_given_and_names_both_owners() {
    let (old, new) = (ring(3), ring(4));
    let all = carts(400);
    let picked: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|c| old.owner(c) != new.owner(c))
        .take(5)
        .collect();
    let kept = all
        .iter()
        .map(String::as_str)
        .find(|c| old.owner(c) == new.owner(c))
        .expect("some cart keeps its owner");
    let mut asked: Vec<&str> = picked.iter().rev().copied().collect();
    asked.insert(2, kept);
    let moved = moves(&old, &new, asked.iter().copied());
    let expected: Vec<Move> = picked
        .iter()
        .rev()
        .map(|c| Move {
            cart: c.to_string(),
            from: old.owner(c).to_string(),
            to: new.owner(c).to_string(),
        })
        .collect();
    assert_eq!(
        moved, expected,
        "the moved carts, in the order given, and no other"
    );
    assert!(
        moves(&old, &old, asked.iter().copied()).is_empty(),
        "same ring, no move"
    );
    assert!(moves(&old, &new, []).is_empty());
}

#[test]
fn hand_over_turns_each_moved_carts_adds_into_hints_for_its_new_owner() {
    let store = Store::default();
    store.put("a", &add(1), None);
    store.put("a", &add(2), None);
    store.put("b", &add(3), None);
    store.put("c", &add(4), None);
    store.put("d", &add(5), None);
    let to = |cart: &str, node: &str| Move {
        cart: cart.into(),
        from: "n1".into(),
        to: node.into(),
    };
    // "e" was never written here: nothing to hand over.
    let handed = hand_over(
        &store,
        &[to("a", "n4"), to("b", "n4"), to("c", "n3"), to("e", "n4")],
    );
    assert_eq!(
        handed,
        BTreeMap::from([("n4".to_string(), 2), ("n3".to_string(), 1)]),
        "carts per new owner, each once, an empty one not at all"
    );
    let view = store.view();
    assert_eq!(
        view.hints["n4"]["a"],
        vec![add(1), add(2)],
        "every add of a"
    );
    assert_eq!(view.hints["n4"]["b"], vec![add(3)]);
    assert_eq!(view.hints["n3"]["c"], vec![add(4)]);
    assert_eq!(view.hints.len(), 2, "no hints for anyone else: {view:?}");
    assert!(
        !view.hints["n4"].contains_key("e"),
        "nothing for a cart never written"
    );
    assert!(
        !view.hints.values().any(|h| h.contains_key("d")),
        "a cart that did not move is not handed over"
    );
    assert_eq!(store.read("d"), vec![add(5)], "and stays as it was");
    assert!(hand_over(&store, &[]).is_empty());
}

#[test]
fn a_new_owner_waits_only_for_the_previous_owner_of_a_cart_it_gained() {
    let (before, now) = (ring(3), ring(4));
    let all = carts(400);
    let gained = all
        .iter()
        .find(|c| now.owner(c) == "n4")
        .expect("n4 owns some cart");
    let previous = before.owner(gained).to_string();
    let elsewhere = all
        .iter()
        .find(|c| now.owner(c) != "n4")
        .expect("another node owns some cart");
    let awaited: BTreeSet<String> = ids(3).into_iter().collect();

    assert_eq!(
        waits_for(Some(&before), &now, "n4", gained, &awaited),
        Some(previous.clone()),
        "a cart n4 gained: wait for its previous owner's handoff"
    );
    let others: BTreeSet<String> = ids(3).into_iter().filter(|id| *id != previous).collect();
    assert_eq!(
        waits_for(Some(&before), &now, "n4", gained, &others),
        None,
        "its previous owner's handoff arrived: serve"
    );
    assert_eq!(
        waits_for(Some(&before), &now, "n4", elsewhere, &awaited),
        None,
        "not n4's cart: nothing to wait for"
    );
    assert_eq!(
        waits_for(None, &now, "n4", gained, &awaited),
        None,
        "a node that never joined waits for no one"
    );
    assert_eq!(
        waits_for(Some(&before), &now, &previous, gained, &awaited),
        None,
        "the previous owner is not the owner now"
    );
}
