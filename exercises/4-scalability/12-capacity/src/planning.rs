//! Capacity planning from a ramp: the second file you write.
//!
//! A ramp raises the offered rate in steps (the harness's [`harness::ramp`] runs it and reads
//! each [`Step`]: the rate offered, the replies that arrived while it lasted, the latencies
//! of its requests). Below capacity a node keeps up: its throughput follows the offered rate
//! and its latency stays near its service time. Past capacity its throughput stops climbing
//! and its queue grows, and so does every latency behind it. The knee is where that starts:
//! the most the node can take within its promise.
//!
//! Little's law (John Little, 1961) ties the three figures of any system that keeps up
//! together: the work in it, L, is its arrival rate, λ, times the time each piece spends in
//! it, W. It holds whatever the arrivals, the service or the queueing discipline, so it
//! tells a planner what cannot be measured from what can: how many requests a node holds
//! (threads, connections, memory) at a rate and a latency, or, read backwards, that a load
//! tool with 2 connections and 20 ms of latency can never offer more than 100 a second.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::time::Duration;

pub use harness::ramp::Step;

/// A step kept up if its throughput was at least this share of the rate it was offered.
pub const KEEP_UP: f64 = 0.9;

/// The knee of a ramp: the offered rate of the last step the node kept up with, before the
/// first step it fell behind at.
///
/// A step falls behind when its throughput is under [`KEEP_UP`] of its offered rate, or when
/// its p99 is over `slo`. `None` if the first step already fell behind (the ramp starts past
/// the knee) or if none did (the ramp never reached it).
pub fn knee(steps: &[Step], slo: Duration) -> Option<f64> {
    // A step falls behind when its throughput is under KEEP_UP of its offered rate or its
    // p99 is over the slo (equal to either bound still keeps up). None when the first step
    // fell behind, or when none did.
    todo!("Return the offered rate of the last step before the first that fell behind.")
}

/// Little's law: the requests in a system that `rate` requests a second arrive at, each
/// spending `mean_latency` in it (L = λW).
pub fn expected_in_flight(rate: f64, mean_latency: Duration) -> f64 {
    todo!("Little's law: L = lambda x W, with W in seconds.")
}
