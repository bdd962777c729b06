//! Exercise 13, Black Friday: load regulation at the edge. A node that takes every request
//! serves none of them in time once the load passes its capacity; one that refuses the
//! excess at once serves the rest as if nothing happened.
//!
//! The shop's edge takes the checkouts of Black Friday's first minute, several times what
//! its service can do. The regulator in front decides, per request, in microseconds: serve
//! it, queue it (a short queue, a short wait), or refuse it with 503 and `Retry-After`.
//!
//! The map:
//! - [`regulator`]: yours to write: [`Limits::admit`] (serve, queue or reject),
//!   [`next_in_line`] (the queue's deadline, checked as a slot frees) and [`refuse`] (the
//!   503 with `Retry-After`). Given: the [`Regulator`] that keeps the queue and hands a freed
//!   slot on, and its figures.
//! - [`node`]: given. The edge node: `POST /checkout` through the regulator to the kit's
//!   service of known capacity ([`node_kit::capacity`]: c workers of s each, c / s a second
//!   on any machine), and a switch for the unregulated control.
//! - `main.rs`: the node binary.

pub mod node;
pub mod regulator;

pub use node::{Flags, Receipt};
pub use regulator::{
    Admission, Figures, Limits, OVERLOADED, Overload, Pass, QUEUE_TIMEOUT, Regulator, Turn, Waiter,
    next_in_line, refuse,
};
