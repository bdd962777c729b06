//! Little's law, L = λW: the work a node holds is its arrival rate times the time each
//! request spends in it. Measured at two rates, at the node (its own count of requests
//! waiting and served) and at the generator (requests sent and not yet answered).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capacity::{InFlight, expected_in_flight, node};
use common::{CAPACITY, GIVE_UP, outcome, work_url};
use harness::block_on;
use harness::load::{Load, Schedule};

/// How far the measured L may be from λW, either way.
const MARGIN: f64 = 0.2;

/// How long each rate runs, and the stretch in the middle of it where L is read.
const RUN: Duration = Duration::from_millis(1600);
const SETTLE: Duration = Duration::from_millis(300);
const READ: Duration = Duration::from_millis(1100);
const EVERY: Duration = Duration::from_millis(10);

#[test]
fn in_flight_work_is_the_arrival_rate_times_the_time_in_the_system() {
    // The law on paper first: 100 a second for 50 ms each is 5 in flight.
    let five = expected_in_flight(100.0, Duration::from_millis(50));
    assert!(
        (five - 5.0).abs() < 1e-9,
        "100 requests a second, each in the system for 50 ms: L = 5, not {five}"
    );
    assert_eq!(expected_in_flight(0.0, Duration::from_secs(1)), 0.0);

    let cluster = common::start(1);
    block_on(async {
        let node_http = cluster.http("n1");
        for share in [0.3, 0.8] {
            let rate = share * CAPACITY;
            let (client, url) = (node::client(), work_url(&cluster, "n1"));
            // The node's own account of each request: its wait for a worker and its service,
            // summed in microseconds (W at the node).
            let at_node_us = Arc::new(AtomicU64::new(0));
            let load = Load::new(Schedule::Constant { rate }, RUN).timeout(GIVE_UP);
            let progress = load.progress();
            let run = load.run({
                let at_node_us = at_node_us.clone();
                move |_| {
                    let (client, url, at_node_us) =
                        (client.clone(), url.clone(), at_node_us.clone());
                    async move {
                        let done = node::work(&client, &url).await;
                        if let Ok(d) = &done {
                            let us = (d.waited_ms + d.served_ms) * 1000.0;
                            at_node_us.fetch_add(us as u64, Ordering::Relaxed);
                        }
                        outcome(done)
                    }
                }
            });
            // Meanwhile, L read at both ends every 10 ms in the middle of the run.
            let read = async {
                tokio::time::sleep(SETTLE).await;
                let generator = async {
                    let mut ticks = tokio::time::interval(EVERY);
                    let (mut sum, mut n) = (0u64, 0u64);
                    let end = tokio::time::Instant::now() + READ;
                    while tokio::time::Instant::now() < end {
                        ticks.tick().await;
                        sum += progress.sent() - progress.completed();
                        n += 1;
                    }
                    sum as f64 / n as f64
                };
                tokio::join!(InFlight::mean(&node_http, EVERY, READ), generator)
            };
            let (report, (at_node, at_generator)) = tokio::join!(run, read);
            let report = report.expect("the load runs");
            let (at_node, readings) = at_node.expect("the node tells what it holds");
            assert_eq!(report.ok, report.sent, "every request served at {rate}/s");

            let lambda = report.achieved_rate();
            let w_node = Duration::from_micros(at_node_us.load(Ordering::Relaxed) / report.ok);
            let w_client = Duration::from_secs_f64(report.latency.mean() / 1e6);
            let (expect_node, expect_client) = (
                expected_in_flight(lambda, w_node),
                expected_in_flight(lambda, w_client),
            );
            println!(
                "{rate}/s: at the node L = {at_node:.2} ({readings} readings), λW = {lambda:.0} x \
                 {w_node:?} = {expect_node:.2}; at the generator L = {at_generator:.2}, \
                 λW = {lambda:.0} x {w_client:?} = {expect_client:.2}"
            );
            for (place, measured, expected) in [
                ("node", at_node, expect_node),
                ("generator", at_generator, expect_client),
            ] {
                assert!(
                    (measured - expected).abs() <= MARGIN * expected,
                    "at {rate}/s the {place} held {measured:.2} requests on average; Little's \
                     law predicts {expected:.2} (within {:.0}%)",
                    MARGIN * 100.0
                );
            }
        }
    });
}
