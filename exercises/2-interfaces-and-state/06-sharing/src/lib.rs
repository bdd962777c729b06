//! Exercise 06, share nothing, something or everything: which state is replicated is a
//! per-data-class decision, and a cart that both sides of a partition added to must merge
//! back without losing an add.
//!
//! The shop's logic nodes hold two kinds of state: sessions (who is logged in) and carts.
//! When a logic node dies, whatever it held alone dies with it. Copying a class to the peers
//! keeps it, and costs a round trip on every write of that class. And once copies exist, a
//! partition lets them drift apart: they must merge again.
//!
//! The map:
//! - [`policy`]: yours to write: [`Policy::shares`], which classes each policy (the node's
//!   `--share nothing|something|everything`) copies to the peers.
//! - [`replicas`]: yours to write: [`Replicas::copy`], the synchronous copy to every replica
//!   before a write is acknowledged. Given: one copy to one peer, and gathering the peers'
//!   copies for a read.
//! - [`cart`]: a cart as a grow-only set of adds keyed by request id; yours to write:
//!   [`merge`], the union of two replicas' carts. Given: [`merge_lww`], the naive control
//!   (`--merge lww`).
//! - [`session`]: given. A session, merged by last writer wins (it has one writer).
//! - [`node`]: given. The logic node: the sessions API, the kit's cart API, the copy routes,
//!   read repair.
//! - `main.rs`: the node binary and its two flags.

pub mod cart;
pub mod node;
pub mod policy;
pub mod replicas;
pub mod session;

pub use cart::{Add, CartState, Merge, Stamp, merge, merge_lww};
pub use node::COPIED_TO;
pub use policy::{DataClass, Policy};
pub use replicas::{COPY_TIMEOUT, Replicas};
pub use session::{Login, Session, SessionView};
