//! What the cluster tests and the demo share: the edge's service, its target, a stream of
//! checkouts on schedule (the harness's open-loop generator), and what a node says about its
//! limit and its alarm while it runs. The client side of a checkout is the harness's
//! ([`harness::checkout`]), as exercise 13's: the same wire, the same 503.

#![allow(dead_code)] // each test file uses its own part of it

use std::time::{Duration, Instant};

use adaptive_limits_solution::Figures;
use harness::Cluster;
use harness::load::{Load, LoadReport, Schedule};

#[allow(unused_imports)] // each user reads its own part
pub use harness::checkout::{REJECTED, checkout, client, metric, metrics, url as checkout_url};

/// The service behind each edge: c workers of s each, so c / s = 200 checkouts a second;
/// halved, s is 40 ms and c / s is 100.
pub const WORKERS: usize = 4;
pub const SERVICE_TIME: Duration = Duration::from_millis(20);
pub const HALVED: Duration = Duration::from_millis(40);

/// The latency the limit aims at.
pub const TARGET: Duration = Duration::from_millis(100);

/// The best limit for a service time `s`: the most in service that still answers within
/// the target. By Little's law, L in service wait L s / c each, so L = T c / s: 20 at full
/// capacity, 10 halved.
pub fn optimum(s: Duration) -> f64 {
    TARGET.as_secs_f64() * WORKERS as f64 / s.as_secs_f64()
}

/// The edge node's own flags.
pub fn node_args() -> Vec<String> {
    [
        "--workers".to_string(),
        WORKERS.to_string(),
        "--service-time-ms".into(),
        SERVICE_TIME.as_millis().to_string(),
        "--target-ms".into(),
        TARGET.as_millis().to_string(),
    ]
    .into()
}

/// Fixes `node`'s limit at `limit`: the control.
pub async fn fix_limit(cluster: &Cluster, node: &str, limit: usize) {
    let answer = cluster
        .http(node)
        .request(reqwest::Method::PUT, "/internal/limit")
        .json(&serde_json::json!({ "fixed": limit }))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    cluster
        .expect_answer(answer, &format!("fixing {node}'s limit at {limit}"))
        .await;
}

/// Gives `node`'s service the service time `s` (capacity c / s).
pub async fn set_service_time(cluster: &Cluster, node: &str, s: Duration) {
    let answer = cluster
        .http(node)
        .request(reqwest::Method::PUT, "/internal/capacity")
        .json(&serde_json::json!({ "service_time_ms": s.as_millis() as u64 }))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    cluster
        .expect_answer(answer, &format!("setting {node}'s service time to {s:?}"))
        .await;
}

/// Open loop: checkouts to `node` at `rate` a second for `run` from `start`, each given up
/// after 2 s.
pub async fn load(
    cluster: &Cluster,
    node: &str,
    rate: f64,
    run: Duration,
    start: Instant,
) -> LoadReport {
    let load = Load::new(Schedule::Constant { rate }, run)
        .timeout(Duration::from_secs(2))
        .starting_at(start);
    harness::checkout::send(cluster, node, load)
        .await
        .unwrap_or_else(|e| panic!("the load on {node} could not run: {e}"))
}

/// `node`'s limiter and alarm now.
pub async fn figures(cluster: &Cluster, node: &str) -> Figures {
    cluster
        .http(node)
        .get_json("/internal/limit")
        .await
        .unwrap_or_else(|e| panic!("reading {node}'s limit: {e}"))
}

/// One look at a node's limiter, `at` from the start of the run.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub figures: Figures,
}

/// Reads `node`'s figures every 50 ms from `start` until `until`.
pub async fn watch(cluster: &Cluster, node: &str, start: Instant, until: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < until {
        let figures = figures(cluster, node).await;
        samples.push(Sample {
            at: start.elapsed(),
            figures,
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

/// The mean limit of the samples taken between `from` and `to`.
pub fn mean_limit(samples: &[Sample], from: Duration, to: Duration) -> f64 {
    let limits: Vec<f64> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .map(|s| s.figures.limit)
        .collect();
    limits.iter().sum::<f64>() / limits.len().max(1) as f64
}

/// The `q` quantile of the latencies of the checkouts served in seconds `from..to` of a run.
pub fn served_quantile(report: &LoadReport, from: usize, to: usize, q: f64) -> Duration {
    let mut all = harness::load::new_histogram();
    for w in report.windows.iter().skip(from).take(to - from) {
        let _ = all.add(&w.ok_latency);
    }
    Duration::from_micros(all.value_at_quantile(q))
}

/// A one-line account of the limit over a run, for failure messages.
pub fn limits_over(samples: &[Sample]) -> String {
    samples
        .iter()
        .step_by(4)
        .map(|s| {
            format!(
                "{:.1}s:{:.0}{}",
                s.at.as_secs_f64(),
                s.figures.limit,
                if s.figures.alarm.active { "!" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many times a cluster test runs its load before it believes a stalled machine.
pub const ATTEMPTS: usize = 3;

/// Why a run measured the machine rather than the node, if it did: the load generator fell
/// over 100 ms behind its schedule (its late sends then arrive as a burst), or the watcher
/// went over 400 ms without a look.
pub fn stalled(reports: &[&LoadReport], samples: &[Sample]) -> Option<String> {
    let lag = reports.iter().map(|r| r.max_lag).max().unwrap_or_default();
    let gap = samples
        .windows(2)
        .map(|w| w[1].at.saturating_sub(w[0].at))
        .max()
        .unwrap_or_default();
    (lag > Duration::from_millis(100) || gap > Duration::from_millis(400)).then(|| {
        format!(
            "the test process stalled (the generator fell {} ms behind, the watcher went {} ms \
             without a look): a busy machine, not the node",
            lag.as_millis(),
            gap.as_millis()
        )
    })
}
