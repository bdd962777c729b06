//! What a consistent-hash ring promises, checked on many rings: random node names, random
//! keys, random sets of nodes down. `harness::for_all!` runs each property on `CASES` cases
//! with the lab's fixed seed; a failure prints the seed and the smallest case proptest found.
//!
//! Run with `-- --nocapture` to see what each test measured.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use consistent_hashing::{PrefEntry, Ring, Role, VNODES, hash};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// Cases per property: enough to meet many ring shapes, few enough to run in seconds.
const CASES: u32 = 32;

#[test]
fn a_key_belongs_to_the_first_vnode_at_or_after_its_hash() {
    // Few vnodes, so that many keys hash past the last token and must wrap round to the first.
    let strategy = (node_set(1..=8), 1..=16usize, any::<u64>());
    harness::for_all!(CASES, strategy, |(nodes, vnodes, salt)| {
        let ring = Ring::new(&nodes, vnodes);
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, node) in ring.tokens() {
            *per_node.entry(node).or_default() += 1;
        }
        for node in &nodes {
            let placed = per_node.get(node.as_str()).copied().unwrap_or(0);
            prop_assert_eq!(
                placed,
                vnodes,
                "node {} has {} vnodes on the ring; every node must have exactly {}",
                node,
                placed,
                vnodes
            );
        }
        let tokens: Vec<u64> = ring.tokens().map(|(token, _)| token).collect();
        prop_assert!(
            tokens.is_sorted(),
            "the vnodes must be sorted by token (a lookup binary-searches them)"
        );

        for key in keys(salt, 200) {
            let expected = walk(&ring, &key)[0];
            prop_assert_eq!(
                ring.owner(&key),
                expected,
                "key {:?} hashes to {}: its owner is the node of the first vnode at or after that, wrapping past the last token to the first",
                key,
                hash(&key)
            );
        }

        // Every node builds its own ring from its own peer list: the order of the names (or a
        // name listed twice) must not change anything.
        let shuffled: Vec<&String> = nodes.iter().rev().chain(nodes.first()).collect();
        let again = Ring::new(shuffled, vnodes);
        prop_assert!(
            again.tokens().eq(ring.tokens()),
            "the same nodes listed in another order gave another ring: placement must depend on the node names only"
        );
        Ok(())
    });
}

#[test]
fn a_key_exactly_on_a_token_belongs_to_that_vnodes_node() {
    // The i-th vnode of a node sits at hash("<node>#<i>"), so the key "<node>#<i>" lands
    // exactly on its token. "At or after" includes the token itself: that vnode owns it, not
    // the next one round (which belongs to another node two times in three here).
    let nodes = ["n1", "n2", "n3"];
    let ring = Ring::new(nodes, 64);
    for node in nodes {
        for i in 0..64 {
            let key = format!("{node}#{i}");
            let token = hash(&key);
            assert!(
                ring.tokens().any(|(t, n)| t == token && n == node),
                "vnode {i} of {node} must sit at hash({key:?}) = {token}"
            );
            assert_eq!(
                ring.owner(&key),
                node,
                "key {key:?} hashes exactly onto the token of {node}'s vnode {i}: a key on a token belongs to that vnode (the first at *or after* its hash)"
            );
        }
    }
}

#[test]
fn adding_a_fifth_node_moves_only_the_keys_it_takes() {
    const KEYS: usize = 10_000;
    let ring_most = Cell::new(0.0_f64);
    let modulo_least = Cell::new(1.0_f64);
    harness::for_all!(CASES, growth(), |case| {
        let Growth { four, fifth, salt } = case;
        let before = Ring::new(&four, VNODES);
        let after = Ring::new(four.iter().chain([&fifth]), VNODES);
        let keys = keys(salt, KEYS);
        let mut moved = 0;
        for key in &keys {
            let (was, is) = (before.owner(key), after.owner(key));
            if was != is {
                prop_assert_eq!(
                    is,
                    fifth.as_str(),
                    "key {:?} moved from {} to {} when {} joined: a key only ever moves to the node that joined",
                    key,
                    was,
                    is,
                    fifth
                );
                moved += 1;
            }
        }
        let share = moved as f64 / KEYS as f64;
        prop_assert!(
            share <= 0.25,
            "adding a 5th node moved {:.1}% of the keys; on a ring the newcomer takes its share, about a fifth, never more than a quarter",
            share * 100.0
        );
        prop_assert!(
            share >= 0.15,
            "the 5th node took only {:.1}% of the keys; it should take about a fifth",
            share * 100.0
        );
        ring_most.set(ring_most.get().max(share));

        // The naive control on the same keys: node = hash(key) % n.
        let mut five = four.clone();
        five.push(fifth.clone());
        five.sort();
        let modulo_moved = keys
            .iter()
            .filter(|key| modulo_owner(&four, key) != modulo_owner(&five, key))
            .count();
        let modulo_share = modulo_moved as f64 / KEYS as f64;
        prop_assert!(
            modulo_share > 0.5,
            "hash % n moved only {:.1}% of the keys; it should move most of them",
            modulo_share * 100.0
        );
        modulo_least.set(modulo_least.get().min(modulo_share));
        Ok(())
    });
    println!(
        "adding a 5th node to 4 ({VNODES} vnodes each, {KEYS} keys, {CASES} cases): the ring moved at most {:.1}% of the keys, hash % n at least {:.1}%",
        ring_most.get() * 100.0,
        modulo_least.get() * 100.0
    );
}

#[test]
fn with_enough_vnodes_the_busiest_node_holds_at_most_1_25x_the_idlest() {
    const KEYS: usize = 20_000;
    let worst = Cell::new(1.0_f64);
    harness::for_all!(CASES, (node_set(3..=8), any::<u64>()), |(nodes, salt)| {
        let ring = Ring::new(&nodes, VNODES);
        let load = load(&ring, &keys(salt, KEYS));
        prop_assert!(
            load.ratio() <= 1.25,
            "with {} vnodes per node the busiest node holds {:.2}x the keys of the idlest (keys per node: {:?}); at most 1.25x expected",
            VNODES,
            load.ratio(),
            load.0
        );
        worst.set(worst.get().max(load.ratio()));
        Ok(())
    });

    // The control: one token per node cuts the circle into a few arcs of random lengths.
    let nodes = ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"];
    let one = load(&Ring::new(nodes, 1), &keys(0, KEYS));
    assert!(
        one.ratio() > 1.5,
        "with one vnode per node the busiest node holds only {:.2}x the keys of the idlest ({:?}); expected far more",
        one.ratio(),
        one.0
    );
    println!(
        "busiest / idlest node over {KEYS} keys: at most {:.3} with {VNODES} vnodes per node (3 to 8 nodes, {CASES} cases); {:.2} with 1 vnode (8 nodes)",
        worst.get(),
        one.ratio()
    );
}

#[test]
fn a_preflist_has_n_distinct_nodes_primaries_first_fallbacks_only_for_down_nodes() {
    harness::for_all!(CASES, lookup(), |case| {
        let Lookup {
            nodes,
            vnodes,
            key,
            n,
            down,
        } = case;
        let ring = Ring::new(&nodes, vnodes);
        let up: BTreeSet<&str> = nodes
            .iter()
            .map(String::as_str)
            .filter(|node| !down.contains(*node))
            .collect();
        let clockwise = walk(&ring, &key);

        // Everyone up: the first n distinct nodes clockwise, the owner first, all primaries.
        let healthy = ring.preflist(&key, n, |_| true);
        let expected: Vec<&str> = clockwise.iter().copied().take(n).collect();
        prop_assert_eq!(
            &names(&healthy),
            &expected,
            "preflist({:?}, {}) with every node up: the first {} distinct nodes clockwise from the key",
            key,
            n,
            n
        );
        prop_assert!(
            healthy.iter().all(|e| e.role == Role::Primary),
            "with every node up there is no fallback: {:?}",
            healthy
        );

        // Some nodes down.
        let list = ring.preflist(&key, n, |node| up.contains(node));
        let listed = names(&list);
        prop_assert_eq!(
            list.len(),
            n.min(up.len()),
            "preflist({:?}, {}) with {:?} down has {} nodes: {:?}; it must have n, or every up node if fewer are up",
            key,
            n,
            down,
            list.len(),
            listed
        );
        prop_assert_eq!(
            listed.iter().collect::<BTreeSet<_>>().len(),
            list.len(),
            "a preflist names each physical node once: {:?}",
            listed
        );
        prop_assert!(
            listed.iter().all(|node| up.contains(node)),
            "a preflist names only nodes that are up ({:?} are down): {:?}",
            down,
            listed
        );
        let primaries = list.iter().take_while(|e| e.role == Role::Primary).count();
        prop_assert!(
            list[primaries..].iter().all(|e| e.role == Role::Fallback),
            "primaries come first, then fallbacks: {:?}",
            list
        );
        let up_primaries: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|node| up.contains(node))
            .collect();
        prop_assert_eq!(
            &listed[..primaries],
            &up_primaries[..],
            "the primaries are the key's first {} nodes clockwise that are up",
            n
        );
        let fallbacks: Vec<&str> = clockwise
            .iter()
            .copied()
            .skip(n)
            .filter(|node| up.contains(node))
            .take(n - up_primaries.len())
            .collect();
        prop_assert_eq!(
            &listed[primaries..],
            &fallbacks[..],
            "one fallback per primary that is down, the next up nodes clockwise after the primaries (down: {:?}; all nodes clockwise: {:?})",
            down,
            clockwise
        );
        Ok(())
    });
}

/// Distinct node names, in sorted order.
fn node_set(count: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<String>> {
    btree_set("[a-z][a-z0-9-]{0,11}", count).prop_map(|set| set.into_iter().collect())
}

/// Four nodes, and a fifth that joins them.
#[derive(Debug)]
struct Growth {
    four: Vec<String>,
    fifth: String,
    /// Picks the keys.
    salt: u64,
}

fn growth() -> impl Strategy<Value = Growth> {
    (node_set(5..=5), 0..5usize, any::<u64>()).prop_map(|(mut nodes, newcomer, salt)| {
        let fifth = nodes.remove(newcomer);
        Growth {
            four: nodes,
            fifth,
            salt,
        }
    })
}

/// A preference list to ask for: a ring, a key, n, and the nodes that are down.
#[derive(Debug)]
struct Lookup {
    nodes: Vec<String>,
    vnodes: usize,
    key: String,
    n: usize,
    down: BTreeSet<String>,
}

fn lookup() -> impl Strategy<Value = Lookup> {
    let parts = (
        node_set(1..=8),
        1..=16usize,
        "[a-z0-9]{1,12}",
        1..=5usize,
        vec(any::<bool>(), 8),
    );
    parts.prop_map(|(nodes, vnodes, key, n, is_down)| {
        let down = nodes
            .iter()
            .zip(is_down)
            .filter(|(_, is_down)| *is_down)
            .map(|(node, _)| node.clone())
            .collect();
        Lookup {
            nodes,
            vnodes,
            key,
            n,
            down,
        }
    })
}

/// `count` cart ids, different for every `salt`.
fn keys(salt: u64, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("cart-{salt:x}-{i}")).collect()
}

/// The model: every distinct node in the order met going clockwise from the key, read off
/// the ring's tokens by a plain scan.
fn walk<'r>(ring: &'r Ring, key: &str) -> Vec<&'r str> {
    let tokens: Vec<(u64, &str)> = ring.tokens().collect();
    let point = hash(key);
    let start = tokens
        .iter()
        .position(|&(token, _)| token >= point)
        .unwrap_or(0);
    let mut order: Vec<&str> = Vec::new();
    for i in 0..tokens.len() {
        let node = tokens[(start + i) % tokens.len()].1;
        if !order.contains(&node) {
            order.push(node);
        }
    }
    order
}

fn names(list: &[PrefEntry]) -> Vec<&str> {
    list.iter().map(|e| e.node.as_str()).collect()
}

/// The naive placement: the (sorted) node at index `hash(key) % n`.
fn modulo_owner<'a>(nodes: &'a [String], key: &str) -> &'a str {
    &nodes[(hash(key) % nodes.len() as u64) as usize]
}

/// How many of the keys each node owns.
struct Load(BTreeMap<String, usize>);

impl Load {
    /// Keys of the busiest node over keys of the idlest (infinite if a node owns none).
    fn ratio(&self) -> f64 {
        let most = self.0.values().max().copied().unwrap_or(0);
        let least = self.0.values().min().copied().unwrap_or(0);
        most as f64 / least as f64
    }
}

fn load(ring: &Ring, keys: &[String]) -> Load {
    let mut load: BTreeMap<String, usize> =
        ring.nodes().iter().map(|node| (node.clone(), 0)).collect();
    for key in keys {
        *load.get_mut(ring.owner(key)).expect("the owner is a node") += 1;
    }
    Load(load)
}
