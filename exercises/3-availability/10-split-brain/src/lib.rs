//! Exercise 10, split brain: a partition looks exactly like a crash.
//!
//! The shop's logic nodes elect one leader that holds the carts (a cluster singleton). When
//! the network splits, each side sees the other go silent, exactly as if it had crashed. If
//! both sides carry on, both elect a leader and both take writes for the same carts. This
//! crate holds the rule that lets exactly one side carry on, decided by each node alone:
//!
//! - [`resolver`]: yours to write: [`resolver::keep_majority`] (Akka's keep-majority, the
//!   lowest id breaking a tie), [`resolver::Resolver::observe`] (act on a view only once it
//!   has been stable for stable-after) and [`resolver::route`] (serve, redirect to the
//!   leader, or refuse).
//! - [`node`]: given. Exercise 02's failure detector feeds the resolver every 20 ms; carts are
//!   written at the leader of the node's standing; `GET /resolver` shows the standing;
//!   `--resolver auto-down` is the naive control.
//! - `main.rs`: the node binary.

pub mod node;
pub mod resolver;

pub use node::{Flags, Node, ResolverView, SERVED_BY, Strategy};
pub use resolver::{Decision, Resolver, Route, Standing, keep_majority, route};
