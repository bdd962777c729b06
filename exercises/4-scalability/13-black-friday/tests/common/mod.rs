//! What the cluster tests share: the edge nodes, a stream of checkouts on schedule (the
//! harness's open-loop generator), and what the nodes say about themselves while it runs.

#![allow(dead_code)] // each test file uses its own part of it

use std::time::{Duration, Instant};

use harness::Cluster;
use harness::load::{Load, LoadReport, OK, Outcome, Schedule, Shot};
use hdrhistogram::Histogram;

/// The service behind each edge: c workers of s each, so c / s = 100 checkouts a second.
pub const WORKERS: usize = 4;
pub const SERVICE_TIME: Duration = Duration::from_millis(40);
pub const CAPACITY: f64 = WORKERS as f64 / 0.040;

/// The regulator's bounds: 8 waiting drain in 80 ms; none waits over 100 ms.
pub const MAX_QUEUE: usize = 8;
pub const MAX_WAIT: Duration = Duration::from_millis(100);

/// The shop's promise: a checkout answered within 150 ms. An admitted one takes at most
/// the longest wait plus its service, 140 ms, by design.
pub const SLO: Duration = Duration::from_millis(150);

/// How the outcome of a checkout is counted.
pub const REJECTED: &str = "rejected";
pub const EXPIRED: &str = "expired";

/// A cluster of `n` edge nodes (this crate's binary) with the bounds above, all regulated.
pub fn start(n: usize) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(n)
        .args([
            "--workers",
            &WORKERS.to_string(),
            "--service-time-ms",
            &SERVICE_TIME.as_millis().to_string(),
            "--max-queue",
            &MAX_QUEUE.to_string(),
            "--max-wait-ms",
            &MAX_WAIT.as_millis().to_string(),
        ])
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

/// A client straight to `node` (not through its proxy: these tests break nothing, and the
/// proxy's work would be the test process's).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

pub fn checkout_url(cluster: &Cluster, node: &str) -> String {
    let addr = cluster
        .direct_addr(node)
        .unwrap_or_else(|| cluster.addr(node));
    format!("http://{addr}/checkout")
}

/// One checkout: `Ok`, `rejected` or `expired` (a 503 of either kind with a `Retry-After`),
/// or what else it got (`http_<status>`, `503_without_retry_after`, `timeout`, `reset`).
pub async fn checkout(client: &reqwest::Client, url: &str, cart: &str) -> Outcome {
    let sent = client
        .post(url)
        .json(&serde_json::json!({ "cart": cart }))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return Outcome::unknown("timeout"),
        Err(e) if e.is_connect() => return Outcome::fail("connect"),
        Err(_) => return Outcome::unknown("reset"),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s >= 1);
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return Outcome::fail(format!("http_{status}_without_json"));
    };
    match (status, retry_after, body["error"].as_str()) {
        (200, _, _) => Outcome::Ok,
        (503, None, _) => Outcome::fail("503_without_retry_after"),
        (503, Some(_), Some("overloaded")) => Outcome::fail(REJECTED),
        (503, Some(_), Some("queue_timeout")) => Outcome::fail(EXPIRED),
        (status, _, _) => Outcome::fail(format!("http_{status}")),
    }
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
    let client = client();
    let url = checkout_url(cluster, node);
    let node_id = node.to_string();
    Load::new(Schedule::Constant { rate }, run)
        .timeout(timeout)
        .run(move |shot: Shot| {
            let (client, url) = (client.clone(), url.clone());
            let cart = format!("{node_id}-{}", shot.index);
            async move { checkout(&client, &url, &cart).await }
        })
        .await
        .unwrap_or_else(|e| panic!("the load on {node} could not run: {e}"))
}

/// The latencies of the checkouts that ended `kind` ([`OK`], [`REJECTED`], ...).
pub fn latencies<'a>(report: &'a LoadReport, kind: &str) -> Option<&'a Histogram<u64>> {
    report.latency_of(kind)
}

/// p99 of `kind`'s latencies, or zero if none ended so.
pub fn p99(report: &LoadReport, kind: &str) -> Duration {
    latencies(report, kind).map_or(Duration::ZERO, |h| {
        Duration::from_micros(h.value_at_quantile(0.99))
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

/// The value of the unlabelled metric `name` in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `node`'s `/metrics`.
pub async fn metrics(cluster: &Cluster, node: &str) -> String {
    let answer = cluster
        .http(node)
        .get("/metrics")
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let response = cluster
        .expect_answer(answer, &format!("reading {node}'s metrics"))
        .await;
    response.text().await.unwrap_or_default()
}

/// The resident memory of `node`'s process, in bytes (Linux: `/proc/<pid>/status`).
pub fn rss(cluster: &Cluster, node: &str) -> Option<u64> {
    let pid = cluster.pid(node)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
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
