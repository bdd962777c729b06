//! Exercise 09, quorums and hinted handoff: N copies of every cart, W to write, R to read,
//! and a stand-in for a primary that is down.
//!
//! The shop's carts live on a ring (exercise 03). One copy is lost with its node; Riak keeps
//! N copies on the cart's preference list, acknowledges a write once W of them have it and
//! answers a read once R of them have answered. When R + W > N every read meets the latest
//! acknowledged write; with R = W = 1 it may not. When a primary is down, the next node round
//! the ring takes its copy as a *hint* (a sloppy quorum) and hands it back when the primary
//! returns.
//!
//! - [`quorum`]: yours to write: [`quorum::targets`] (the sloppy quorum's N copies),
//!   [`quorum::quorum`] (k of n replies, failing fast) and [`quorum::hand_off`].
//! - [`store`]: given. A node's copies and hints; copies are grow-only sets of adds that
//!   merge by union.
//! - [`node`]: given. The coordinator of every cart request, the copies' internal routes, the
//!   handoff loop; exercise 02's detector says who is up.
//! - `main.rs`: the node binary.

pub mod node;
pub mod quorum;
pub mod store;

pub use node::{CopyWrite, Flags, Node};
pub use quorum::{Shortfall, Target, hand_off, quorum, targets};
pub use store::{Carts, Store, StoreView, merge};
