//! The claim and the handoff: which carts move when the ring changes, and how they reach
//! their new owner before anyone reads them there. The file you write.
//!
//! A node joins. Every node builds the new ring from the new member list (exercise 03's
//! [`Ring`]: the same names give the same ring everywhere), and each old member compares it
//! with the old one: a cart whose owner changes must go to its new owner. On a consistent-hash
//! ring only the carts in the arcs the new node's vnodes take change owner, about 1/N of
//! them, all to the new node; with `hash % n` ([`naive_owner`]) almost every cart would.
//!
//! The old owner hands its moved carts over with exercise 09's hinted handoff: each becomes
//! a *hint* for its new owner in the node's [`Store`], and 09's [`hand_off`] loop delivers
//! the hints and forgets them once they arrived, exactly as it hands a returned primary the
//! writes its stand-in kept. Riak does the same: ownership handoff and hinted handoff are
//! one mechanism.
//!
//! Meanwhile no request may fail and none may read a cart without its moved items. The old
//! owner switches its ring and turns its moved carts into hints in one step, so from then
//! on it sends every request for them on (a 421 naming the new owner) and their hints stop
//! changing. The new owner, until a cart's previous owner has handed its carts over, holds
//! the requests for that cart ([`waits_for`]): a few milliseconds late, never wrong.
//!
//! Yours to write: [`moves`], [`hand_over`] and [`waits_for`].
//!
//! [`hand_off`]: quorums_solution::hand_off
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::{BTreeMap, BTreeSet};

use consistent_hashing_solution::{Ring, hash};
use quorums_solution::Store;

/// One cart that changes owner with the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub cart: String,
    /// Its owner on the old ring: the node that hands it over.
    pub from: String,
    /// Its owner on the new ring: the node that gets it.
    pub to: String,
}

/// The claim: which of `carts` change owner between the `old` ring and the `new` one, in the
/// order given, each with its old and its new owner. A cart whose owner stays is not a move.
pub fn moves<'a>(old: &Ring, new: &Ring, carts: impl IntoIterator<Item = &'a str>) -> Vec<Move> {
    // Ring::owner(cart) gives a cart's owner; keep the carts whose two owners differ, as
    // Move { cart, from: old owner, to: new owner }, in the order of `carts`.
    todo!("Return the carts whose owner on the new ring differs from the old one.")
}

/// Hands `moves` (carts this node owned until now) over to 09's handoff: each moved cart's
/// adds, as this node holds them, become hints for the cart's new owner, which the handoff
/// loop then delivers. Returns how many carts were handed to each new owner; a cart with no
/// adds here is not handed (there is nothing to send).
pub fn hand_over(store: &Store, moves: &[Move]) -> BTreeMap<String, usize> {
    // store.read(cart) is this node's own copy (a Vec<AddItem>); store.put(cart, add,
    // Some(new_owner)) keeps one add as a hint for that node. Count a cart once, and only if
    // it had adds to hand over.
    todo!("Make each moved cart's adds hints for its new owner; count carts per owner.")
}

/// Whose handoff node `me` must wait for before it answers for `cart`: the cart's owner on
/// the ring from `before` this node joined, if `me` owns the cart `now`, that node did
/// before, and its handoff is still `awaited`. `None`, serve at once, in every other case (a
/// node that never joined has no `before`).
pub fn waits_for(
    before: Option<&Ring>,
    now: &Ring,
    me: &str,
    cart: &str,
    awaited: &BTreeSet<String>,
) -> Option<String> {
    // Only when `me` owns the cart on `now` and `before` is Some: its owner there is where
    // the cart's items are, and they are still on their way if that node is in `awaited`.
    todo!("The cart's previous owner while its handoff to `me` is awaited; else None.")
}

/// The control: who owns `cart` if carts are placed by `hash(cart) % n` over the sorted
/// `nodes`. Changing n moves almost every cart (all but about 1 in n + 1).
pub fn naive_owner<'a>(cart: &str, nodes: &'a [String]) -> &'a str {
    &nodes[(hash(cart) % nodes.len() as u64) as usize]
}
