//! Exercise 12, how much can it take? Capacity planning with numbers that do not lie: send
//! load on a schedule and time each request from when it was meant to go, raise the load in
//! steps until the node stops keeping up, and check the in-flight work against Little's law.
//!
//! Before Black Friday (exercise 13) the shop must know what one node can take. Its node here
//! is the kit's pool of known capacity ([`node_kit::capacity`]: c workers, a fixed service
//! time s, so c / s requests a second on any machine), so every measurement can be held to
//! that one number.
//!
//! The map:
//! - [`open_loop`]: yours to write: [`open_loop()`], the core of an open-loop generator
//!   (each request sent at its intended time, whatever the earlier ones are doing, and timed
//!   from that time). Given: [`Latencies`], the HDR histogram it fills.
//! - [`planning`]: yours to write: [`knee`] (the last step of a ramp the node kept up with)
//!   and [`expected_in_flight`] (Little's law, L = λW). Given: [`KEEP_UP`], and the ramp's
//!   [`Step`]s, read by the harness ([`harness::ramp`]).
//! - [`node`]: given. The node's routes (the kit's pool, `POST /work`), one request to it,
//!   and a reading of the work it holds (`GET /internal/capacity`: waiting plus busy).
//! - `main.rs`: the node binary.
//!
//! Everything else is the harness's load generator ([`harness::load`]: the same open loop,
//! full size, and the closed loop most tools use, for the comparison).

pub mod node;
pub mod open_loop;
pub mod planning;

pub use harness::ramp::{Ramp, Step};
pub use node::{InFlight, WorkDone};
pub use open_loop::{Latencies, open_loop};
pub use planning::{KEEP_UP, expected_in_flight, knee};
