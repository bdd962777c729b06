//! Exercise 14, adaptive limits and alarms: a node does not know its capacity, and it
//! changes. An AIMD limit finds it by measuring, and follows it down and back up; an alarm
//! with two watermarks tells the operator once that the node is shedding, and once that it
//! stopped.
//!
//! The shop's edge of exercise 13 again, with the service's capacity now a moving target:
//! mid-afternoon a dependency slows down and every checkout takes twice as long. A limit
//! tuned for the morning lets twice too much into the service, and every answer is late; the
//! adaptive one halves itself within a second, and the alarm says so.
//!
//! The map:
//! - [`limit`]: yours to write: [`Aimd::next_limit`] (additive increase while in time,
//!   multiplicative decrease over the target). Given: the [`Limiter`] that counts what is in
//!   service, refuses over the limit, and ends a window every 100 ms.
//! - [`alarm`]: yours to write: [`Watermarks::decide`] (set above high, clear below low,
//!   nothing between). Given: the [`Alarm`], its state, counters and lines on `/metrics`.
//! - [`node`]: given. The edge node: `POST /checkout` through the limiter to the kit's
//!   service of known capacity ([`node_kit::capacity`]), and a switch for the fixed-limit
//!   control.
//! - `main.rs`: the node binary.

pub mod alarm;
pub mod limit;
pub mod node;

pub use alarm::{Alarm, AlarmFigures, Transition, Watermarks};
pub use limit::{Aimd, Figures, Limiter, Ticket, WINDOW, Window};
pub use node::{Flags, OVERLOAD, Receipt};
