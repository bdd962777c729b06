//! A cart as every replica keeps it, and how two replicas' carts merge. Part of it is yours.
//!
//! A cart is a grow-only set of adds, keyed by the add's request id (a G-Set, the simplest
//! CRDT): an add is never taken back, and the same add seen twice (a retry, or one copy
//! arriving by two paths) is one add. Two replicas that took different adds while they could
//! not reach each other merge by union, and every replica that merges the same copies ends
//! with the same cart, whatever the order it met them in. That is Amazon's shopping cart in
//! Dynamo (DeCandia et al., 2007): "add to cart" must never be lost, so every replica accepts
//! it, and the replicas reconcile later.
//!
//! The naive merge, [`merge_lww`], keeps the copy written last and drops the other: right for
//! a value with one writer (a session), wrong for a cart that both sides of a partition
//! added to. It is here as the control the tests compare yours with (`--merge lww`).
//!
//! Teaching simplifications: removing an item is not modelled (Dynamo's carts let a removed
//! item come back after a merge; a real cart keeps removes as a second set, an OR-Set), and
//! every copy carries the whole cart rather than what changed.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use node_kit::cart::Cart;
use serde::{Deserialize, Serialize};

/// When and where a write was taken: the node's wall clock, then the node's id to break a tie.
/// Ordered by time first, so the later write compares greater.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// Milliseconds since the Unix epoch on the node that took the write. Wall clocks drift
    /// between machines, which is exactly why last-writer-wins is a poor judge of "last".
    pub at_ms: u64,
    pub node: String,
}

impl Stamp {
    /// A write taken now by `node`.
    pub fn now(node: &str) -> Stamp {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Stamp {
            at_ms,
            node: node.to_string(),
        }
    }
}

/// One add to a cart: what went in, and when and where it was first taken.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// Compared first, so the earlier of two adds is the smaller.
    pub at: Stamp,
    pub item: String,
}

/// A cart as a replica stores it and as copies carry it between nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartState {
    /// Every add the cart has seen, by request id.
    pub adds: BTreeMap<String, Add>,
}

impl CartState {
    /// Takes an add. A request id the cart already holds is a retry: nothing changes.
    pub fn add(&mut self, request_id: &str, item: &str, at: Stamp) {
        self.adds
            .entry(request_id.to_string())
            .or_insert_with(|| Add {
                at,
                item: item.to_string(),
            });
    }

    /// The items, in the order their adds were taken (ties by request id): the same order on
    /// every replica that holds the same adds.
    pub fn items(&self) -> Vec<String> {
        let mut adds: Vec<(&Add, &String)> = self.adds.iter().map(|(id, a)| (a, id)).collect();
        adds.sort();
        adds.into_iter().map(|(add, _)| add.item.clone()).collect()
    }

    /// The stamp of the latest add: what last-writer-wins compares. `None` for an empty cart.
    pub fn last_write(&self) -> Option<&Stamp> {
        self.adds.values().map(|add| &add.at).max()
    }

    /// The cart as the kit's cart API answers it.
    pub fn to_cart(&self, cart: &str) -> Cart {
        Cart {
            cart: cart.to_string(),
            items: self.items(),
        }
    }
}

/// Merges two replicas' copies of one cart: every add of either, one per request id.
///
/// It must not matter which replica merges, or in which order copies arrive: `merge(a, b)`
/// equals `merge(b, a)`, merging in a third copy gives the same cart whichever two went
/// first, and merging a copy with itself changes nothing. So when both copies hold the same
/// request id (a retry taken on two nodes, say), keep the *smaller* of the two adds: the
/// earlier one, which keeps the item where the customer first put it.
pub fn merge(a: &CartState, b: &CartState) -> CartState {
    // `Add` compares by its stamp first, so the earlier of two adds is the smaller (`min`).
    todo!("Merge the two carts: the union of their adds, one per request id (the earlier).")
}

/// The naive merge, the control: the copy with the latest write wins whole, the other is
/// dropped, with every add only it held.
pub fn merge_lww(a: &CartState, b: &CartState) -> CartState {
    if b.last_write() > a.last_write() {
        b.clone()
    } else {
        a.clone()
    }
}

/// How a node merges copies of a cart, chosen by its `--merge` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Merge {
    /// [`merge`]: every add of every copy.
    Union,
    /// [`merge_lww`]: the last-written copy only (the naive control).
    Lww,
}

impl Merge {
    pub fn apply(self, a: &CartState, b: &CartState) -> CartState {
        match self {
            Merge::Union => merge(a, b),
            Merge::Lww => merge_lww(a, b),
        }
    }
}
