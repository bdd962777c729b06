//! Exercise 15, scale out: a node joins the ring under load, the carts it now owns are
//! handed to it, and three nodes serve three times what one does.
//!
//! The shop's carts live on a ring of logic nodes (exercise 03), each node with a fixed
//! capacity (section 4's service of known capacity: c workers of s each). Black Friday is
//! coming and one more node is cheaper than a bigger one: add it while the shop serves. Only
//! the carts the new node now owns may move, none may be lost or read without its items on
//! the way, and no customer may see an error.
//!
//! The map:
//! - [`claim`]: yours to write: [`moves`] (which carts change owner: the claim),
//!   [`hand_over`] (the moved carts become exercise 09's hints for their new owner) and
//!   [`waits_for`] (a new owner holds a cart's requests until its previous owner handed it
//!   over). Given: [`naive_owner`], the `hash % n` control.
//! - [`node`]: given. The cart node: any node takes any request and sends it to the cart's
//!   owner, the owner serves it at a fixed cost, a joining node asks for the ring and tells
//!   every member, 09's handoff loop delivers the moved carts.
//! - `main.rs`: the node binary.

pub mod claim;
pub mod node;

pub use claim::{Move, hand_over, moves, naive_owner, waits_for};
pub use node::{Change, Flags, HANDOFF_WAIT, Handoff, Node, RingChange, RingView};
