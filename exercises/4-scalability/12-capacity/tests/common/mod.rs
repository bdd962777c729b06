//! What the cluster tests share: the node of known capacity, and requests to it.

#![allow(dead_code)] // each test file uses its own part of it

use std::time::Duration;

use capacity::node::{self, WorkDone};
use harness::Cluster;
use harness::load::Outcome;

/// The node: c = 4 workers of s = 20 ms each, so c / s = 200 requests a second.
pub const WORKERS: usize = 4;
pub const SERVICE_TIME: Duration = Duration::from_millis(20);
pub const CAPACITY: f64 = WORKERS as f64 / 0.020;

/// The shop's promise for one request, held to each step of a ramp: a p99 within 150 ms.
/// A step's p99 is nearly its slowest request, so the promise leaves room for a busy
/// machine's hiccup below capacity; past capacity the queue outgrows it within a step.
pub const SLO: Duration = Duration::from_millis(150);

/// A client gives up after this.
pub const GIVE_UP: Duration = Duration::from_secs(3);

/// A cluster of `n` capacity nodes (this crate's binary).
pub fn start(n: usize) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(n)
        .args([
            "--workers",
            &WORKERS.to_string(),
            "--service-time-ms",
            &SERVICE_TIME.as_millis().to_string(),
        ])
        .start()
        .expect("the capacity nodes start")
}

/// `POST /work` on `node`, straight to it (these tests break nothing through a proxy, and a
/// proxy's work would be the test process's).
pub fn work_url(cluster: &Cluster, node: &str) -> String {
    let addr = cluster
        .direct_addr(node)
        .unwrap_or_else(|| cluster.addr(node));
    format!("http://{addr}/work")
}

/// One request, as the harness's generator counts it.
pub async fn work(client: &reqwest::Client, url: &str) -> Outcome {
    outcome(node::work(client, url).await)
}

pub fn outcome(done: Result<WorkDone, String>) -> Outcome {
    match done {
        Ok(_) => Outcome::Ok,
        Err(e) if e == "timeout" => Outcome::unknown("timeout"),
        Err(e) => Outcome::fail(e),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
