//! Exercise 02, failure detection: you cannot tell a dead node from a slow one.
//!
//! The shop's front-end must stop sending carts to a logic node that has died, and must not
//! give up on one that is merely slow. All it can observe is silence. This crate holds two
//! ways to turn silence into a verdict, and a node that uses them on its peers:
//!
//! - [`tick`]: Erlang's `net_ticktime`. Tick every T/4; a peer silent for four tick
//!   intervals in a row is down, which happens between 0.75 T and 1.25 T after it went quiet.
//!   Yours to write: [`TickDetector::tick`].
//! - [`phi`]: Akka's phi accrual detector. Not up or down, but how surprising the silence is
//!   given the heartbeats seen so far, so the same threshold suits a quiet network and a
//!   congested one. Yours to write: [`PhiDetector::heartbeat`] and [`PhiDetector::phi`].
//! - [`monitor`]: given. A link to every peer, a tick every T/4, redial after a failure, the
//!   cluster view behind `GET /cluster`. A closed link means down at once: that is how a
//!   killed node is seen in milliseconds, while a hung one takes about T.
//! - `main.rs`: the node binary; T is the `--tick-time-ms` flag after `--`.
//!
//! Both detectors are pure (every method takes the time it is about, none reads a clock), so
//! the tests replay seeded traces of heartbeats without waiting, and a later exercise can use
//! them as they are.

pub mod monitor;
pub mod phi;
pub mod tick;

pub use monitor::{ClusterView, Monitor, PeerView, answer_ticks};
pub use phi::{PhiConfig, PhiDetector};
pub use tick::{SILENT_TICKS_FOR_DOWN, TickDetector, Verdict};
