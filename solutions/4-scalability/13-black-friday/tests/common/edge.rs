//! The edge's side of the wire, shared by the cluster tests and the demo
//! (`examples/black_friday.rs` includes this file): the bounds the nodes run with, one
//! checkout as the load generator counts it, and what a node says about itself.

use std::time::Duration;

use harness::load::Outcome;

/// The service behind each edge: c workers of s each, so c / s = 100 checkouts a second.
pub const WORKERS: usize = 4;
pub const SERVICE_TIME: Duration = Duration::from_millis(40);
pub const CAPACITY: f64 = WORKERS as f64 / 0.040;

/// The regulator's bounds: 6 waiting drain in 60 ms; none waits over 100 ms.
pub const MAX_QUEUE: usize = 6;
pub const MAX_WAIT: Duration = Duration::from_millis(100);

/// The shop's promise: a checkout answered within 150 ms. An admitted one takes the queue's
/// 60 ms plus its service, 100 ms, by design: the rest is margin for a busy machine.
pub const SLO: Duration = Duration::from_millis(150);

/// The edge node's own flags for these bounds.
pub fn node_args() -> Vec<String> {
    [
        "--workers".to_string(),
        WORKERS.to_string(),
        "--service-time-ms".into(),
        SERVICE_TIME.as_millis().to_string(),
        "--max-queue".into(),
        MAX_QUEUE.to_string(),
        "--max-wait-ms".into(),
        MAX_WAIT.as_millis().to_string(),
    ]
    .into()
}

/// How the outcome of a checkout is counted.
pub const REJECTED: &str = "rejected";
pub const EXPIRED: &str = "expired";

/// A client straight to `node` (not through its proxy: these tests break nothing, and the
/// proxy's work would be the test process's). It gives up after 2 s: a checkout that waits
/// for ever (a queue nobody serves) fails the test, it does not hang it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .no_proxy()
        .build()
        .expect("an HTTP client")
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

/// The value of the unlabelled metric `name` in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The resident memory of the process `pid`, in bytes (Linux: `/proc/<pid>/status`).
pub fn rss_of(pid: u32) -> Option<u64> {
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
