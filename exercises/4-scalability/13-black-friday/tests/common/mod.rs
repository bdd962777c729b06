//! What the cluster tests share: the edge nodes, a stream of checkouts on schedule (the
//! harness's open-loop generator), and what the nodes say about themselves while it runs.

#![allow(dead_code)] // each test file uses its own part of it

use std::time::{Duration, Instant};

use harness::Cluster;
use harness::load::{Load, LoadReport, OK, Schedule};
use hdrhistogram::Histogram;

mod edge;
pub use edge::*;
pub use harness::checkout::{metrics, url as checkout_url};

/// A cluster of `n` edge nodes (this crate's binary) with [`node_args`], all regulated.
pub fn start(n: usize) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(n)
        .args(node_args())
        .start()
        .expect("the edge nodes start")
}

/// Turns `node`'s regulator off: the control.
pub async fn unregulate(cluster: &Cluster, node: &str) {
    let answer = cluster
        .http(node)
        .request(reqwest::Method::PUT, "/internal/regulator")
        .json(&serde_json::json!({ "regulated": false }))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    cluster
        .expect_answer(answer, &format!("switching {node}'s regulator off"))
        .await;
}

/// Open loop: checkouts to `node` at `rate` a second for `run`, each given up after
/// `timeout`.
pub async fn overload(
    cluster: &Cluster,
    node: &str,
    rate: f64,
    run: Duration,
    timeout: Duration,
) -> LoadReport {
    let load = Load::new(Schedule::Constant { rate }, run).timeout(timeout);
    harness::checkout::send(cluster, node, load)
        .await
        .unwrap_or_else(|e| panic!("the load on {node} could not run: {e}"))
}

/// The latencies of the checkouts that ended `kind` ([`OK`], [`REJECTED`], ...).
pub fn latencies<'a>(report: &'a LoadReport, kind: &str) -> Option<&'a Histogram<u64>> {
    report.latency_of(kind)
}

/// p99 of `kind`'s latencies, or zero if none ended so.
pub fn p99(report: &LoadReport, kind: &str) -> Duration {
    quantile(report, kind, 0.99)
}

/// The `q` quantile of `kind`'s latencies, or zero if none ended so.
pub fn quantile(report: &LoadReport, kind: &str, q: f64) -> Duration {
    latencies(report, kind).map_or(Duration::ZERO, |h| {
        Duration::from_micros(h.value_at_quantile(q))
    })
}

/// Goodput: checkouts served within the SLO, per second of the run.
pub fn goodput(report: &LoadReport) -> f64 {
    let in_time = latencies(report, OK).map_or(0, |h| h.count_between(0, SLO.as_micros() as u64));
    in_time as f64 / report.duration.as_secs_f64()
}

/// A one-line account of a run.
pub fn describe(report: &LoadReport) -> String {
    let s = report.summary();
    format!(
        "{} sent, {} ok (goodput {:.0}/s of capacity {CAPACITY:.0}), admitted p99 {:?}, \
         rejected p99 {:?}, outcomes {:?}, late sends {}",
        s.sent,
        s.ok,
        goodput(report),
        p99(report, OK),
        p99(report, REJECTED),
        s.errors,
        s.late_sends,
    )
}

/// The resident memory of `node`'s process, in bytes (Linux only).
pub fn rss(cluster: &Cluster, node: &str) -> Option<u64> {
    rss_of(cluster.pid(node)?)
}

/// The most a node showed while a run went: a gauge of its `/metrics`, and its memory.
#[derive(Debug, Default, Clone, Copy)]
pub struct Peaks {
    pub gauge: f64,
    pub rss: u64,
}

/// Samples `gauge` on `node`'s `/metrics` and its memory every 50 ms until `until`.
pub async fn watch(cluster: &Cluster, node: &str, gauge: &str, until: Instant) -> Peaks {
    let mut peaks = Peaks::default();
    while Instant::now() < until {
        let text = metrics(cluster, node).await;
        peaks.gauge = peaks.gauge.max(metric(&text, gauge).unwrap_or(0.0));
        peaks.rss = peaks.rss.max(rss(cluster, node).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    peaks
}
