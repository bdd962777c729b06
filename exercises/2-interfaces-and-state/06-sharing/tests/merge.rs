//! The merge of two replicas' carts, on random carts, no cluster: every add of either kept
//! once, and the same cart whichever replica merges, in whichever order.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sharing::{Add, CartState, Stamp, merge, merge_lww};

/// A random cart: request ids from a small pool (so two carts often share some, as replicas
/// of one cart do), stamps from a short span on three nodes (so ties and near-ties happen).
fn cart() -> impl Strategy<Value = CartState> {
    let add = (0u64..20, 1usize..=3, "[a-d]").prop_map(|(at_ms, node, item)| Add {
        at: Stamp {
            at_ms,
            node: format!("n{node}"),
        },
        item,
    });
    proptest::collection::btree_map("r[0-9]", add, 0..8).prop_map(|adds| CartState { adds })
}

#[test]
fn a_merged_cart_holds_every_add_of_both_once_whoever_merges() {
    harness::for_all!(256, (cart(), cart(), cart()), |(a, b, c)| {
        let merged = merge(&a, &b);

        let ids = |cart: &CartState| cart.adds.keys().cloned().collect::<BTreeSet<_>>();
        let both: BTreeSet<String> = ids(&a).union(&ids(&b)).cloned().collect();
        prop_assert_eq!(
            ids(&merged),
            both,
            "merge(a, b) must hold every request id of a and of b, and no other\na = {:?}\nb = {:?}",
            a,
            b
        );
        for (id, add) in &merged.adds {
            let earlier = match (a.adds.get(id), b.adds.get(id)) {
                (Some(x), Some(y)) => x.min(y),
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => unreachable!("checked above"),
            };
            prop_assert_eq!(
                add,
                earlier,
                "request id {} is in both carts: the merge keeps the earlier add\na = {:?}\nb = {:?}",
                id,
                a,
                b
            );
        }
        prop_assert_eq!(
            &merge(&b, &a),
            &merged,
            "merge(b, a) must equal merge(a, b): both replicas must end with the same cart"
        );
        prop_assert_eq!(
            merge(&merge(&a, &b), &c),
            merge(&a, &merge(&b, &c)),
            "merging a third copy must give the same cart whichever two merged first"
        );
        prop_assert_eq!(
            &merge(&a, &a),
            &a,
            "merging a cart with itself must change nothing"
        );
        Ok(())
    });

    // The control: last writer wins keeps one copy whole, so each side of a partition that
    // added something only it holds loses it, unless it wrote last.
    let mut ours = CartState::default();
    ours.add("r1", "book", stamp(10, "n1"));
    let mut theirs = CartState::default();
    theirs.add("r2", "lamp", stamp(11, "n2"));
    assert_eq!(merge(&ours, &theirs).items(), ["book", "lamp"]);
    assert_eq!(
        merge_lww(&ours, &theirs).items(),
        ["lamp"],
        "last writer wins drops the book: the control must lose it"
    );
}

#[test]
fn a_retried_add_is_one_add_in_the_order_first_taken() {
    // The customer clicked "add" on n1 (no answer in time) and again on n2: one request id.
    let mut n1 = CartState::default();
    n1.add("r1", "book", stamp(10, "n1"));
    n1.add("r2", "tea", stamp(12, "n1"));
    let mut n2 = CartState::default();
    n2.add("r1", "book", stamp(14, "n2"));
    n2.add("r3", "lamp", stamp(11, "n2"));
    for merged in [merge(&n1, &n2), merge(&n2, &n1)] {
        assert_eq!(
            merged.items(),
            ["book", "lamp", "tea"],
            "one book, where it was first put: {merged:?}"
        );
        assert_eq!(merged.adds["r1"].at, stamp(10, "n1"));
    }
}

fn stamp(at_ms: u64, node: &str) -> Stamp {
    Stamp {
        at_ms,
        node: node.to_string(),
    }
}
