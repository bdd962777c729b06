//! Exercise 03, who owns cart 42: a consistent-hash ring with virtual nodes and preference
//! lists, after Riak Core.
//!
//! The shop keeps each cart on one logic node. With three nodes, which one holds cart 42?
//! Any node can take the customer's request, so every node must give the same answer without
//! asking anyone, the answer must hold when a node dies (someone else stands in), and adding
//! a fourth or a fifth node must not reshuffle every cart in the shop.
//!
//! The map:
//! - [`ring`]: yours to write: placing every node's vnodes on the ring, finding a key's
//!   owner, and its preference list (`preflist(key, n, up)`), with fallbacks for nodes that
//!   are down. Later exercises build on it (09 quorums, 15 adding a node).
//! - [`node`]: given: a node that serves the kit's cart API and sends each cart request to the
//!   first node of the cart's preference list that answers, naming it in `x-served-by`.
//! - `main.rs`: the node binary (the kit does the rest: flags, ready line, health, cookie).

pub mod node;
pub mod ring;

pub use node::SERVED_BY;
pub use ring::{PrefEntry, Ring, Role, VNODES, hash};
