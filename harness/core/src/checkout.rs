//! The shop's checkout seen from outside, for section 4's edges (exercise 13's regulator,
//! 14's adaptive limit): one checkout as the load generator counts it, checkouts sent on a
//! schedule to one edge, and the per-second table a demo prints while they come back.
//!
//! The wire is the kit's ([`node_kit::capacity::checkout`]): `POST /checkout {"cart"}`,
//! 200 with a receipt, or 503 with `Retry-After` and the error `overloaded` (refused at once)
//! or `queue_timeout` (waited too long in a queue). Every edge speaks it, so one client
//! serves every test and demo of the section.
//!
//! ```no_run
//! # async fn demo(cluster: &harness::Cluster) -> Result<(), String> {
//! use std::time::{Duration, Instant};
//!
//! use harness::checkout::{self, Seconds};
//! use harness::history::History;
//! use harness::load::{Load, Schedule};
//!
//! // Both the load and its history start in 200 ms: time to set up the printer.
//! let history = History::starting_at(Instant::now() + Duration::from_millis(200));
//! let live = Seconds::shared(Duration::from_millis(150));
//! let load = Load::new(Schedule::Constant { rate: 100.0 }, Duration::from_secs(5));
//! let report = checkout::drive(cluster, "n1", load, &history, &live, None).await?;
//! println!("second 0: {} of n1's checkouts in time", live.lock().second("n1", 0).in_time);
//! # let _ = report; Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use node_kit::sync::Mutex;

use crate::Cluster;
use crate::history::{Action, History};
use crate::load::{Load, LoadReport, Outcome, Shot, new_histogram, record_us};

/// How a checkout refused at once (503 `overloaded`) is counted.
pub const REJECTED: &str = "rejected";
/// How a checkout that waited too long in an edge's queue (503 `queue_timeout`) is counted.
pub const EXPIRED: &str = "expired";

/// A client straight to a node (not through its proxy: these runs break nothing, and the
/// proxy's work would be the test process's). It gives up after 2 s: a checkout that waits
/// for ever (a queue nobody serves) fails the run, it does not hang it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// `node`'s `POST /checkout`, straight to the node when it has a proxy in front.
pub fn url(cluster: &Cluster, node: &str) -> String {
    let addr = cluster
        .direct_addr(node)
        .unwrap_or_else(|| cluster.addr(node));
    format!("http://{addr}/checkout")
}

/// One checkout: `Ok`, [`REJECTED`] or [`EXPIRED`] (a 503 of either kind with a
/// `Retry-After`), or what else it got (`http_<status>`, `503_without_retry_after`,
/// `timeout`, `reset`).
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

/// Checkouts to `node` on `load`'s schedule (carts `<node>-<n>`), each only counted by the
/// load: what a cluster test measures.
pub async fn send(cluster: &Cluster, node: &str, load: Load) -> Result<LoadReport, String> {
    let (client, url, node) = (client(), url(cluster, node), node.to_string());
    load.run(move |shot: Shot| {
        let (client, url) = (client.clone(), url.clone());
        let cart = format!("{node}-{}", shot.index);
        async move { checkout(&client, &url, &cart).await }
    })
    .await
    .map_err(|e| e.to_string())
}

/// [`send`] for a demo: the load starts at `history`'s start, and each checkout is also an
/// operation in `history` and a count in `live`, by the second its answer came back in.
/// With `give_up`, a checkout gives up itself after that long (counted `timeout`, so that
/// its history records it; the load's own timeout is then only a backstop).
pub async fn drive(
    cluster: &Cluster,
    node: &str,
    load: Load,
    history: &History,
    live: &Arc<Mutex<Seconds>>,
    give_up: Option<Duration>,
) -> Result<LoadReport, String> {
    let (client, url, node) = (client(), url(cluster, node), node.to_string());
    let (history, live, start) = (history.clone(), live.clone(), history.start());
    load.starting_at(start)
        .run(move |shot: Shot| {
            let (client, url, live, history, node) = (
                client.clone(),
                url.clone(),
                live.clone(),
                history.clone(),
                node.clone(),
            );
            async move {
                let invocation = history.invoke(
                    node.as_str(),
                    Action::Request {
                        name: "POST /checkout".into(),
                    },
                );
                let cart = format!("{node}-{}", shot.index);
                let outcome = match give_up {
                    Some(after) => tokio::time::timeout(after, checkout(&client, &url, &cart))
                        .await
                        .unwrap_or_else(|_| Outcome::unknown("timeout")),
                    None => checkout(&client, &url, &cart).await,
                };
                let now = start.elapsed();
                live.lock()
                    .record(&node, now, now.saturating_sub(shot.intended), &outcome);
                outcome.record(invocation);
                outcome
            }
        })
        .await
        .map_err(|e| e.to_string())
}

/// One second of one edge, as a demo's terminal shows it live.
#[derive(Clone)]
pub struct Second {
    /// Answered (200), of any latency.
    pub ok: u64,
    /// Answered within the promise ([`Seconds::shared`]'s `slo`): the goodput.
    pub in_time: u64,
    /// Refused, at once or after a wait in the edge's queue.
    pub refused: u64,
    /// Given up by the client (`timeout`).
    pub gave_up: u64,
    /// Anything else (a reset, a bad answer).
    pub other: u64,
    /// The answered checkouts' latencies, in microseconds from their intended send.
    pub ok_latency: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            ok: 0,
            in_time: 0,
            refused: 0,
            gave_up: 0,
            other: 0,
            ok_latency: new_histogram(),
        }
    }
}

impl Second {
    /// The `q` quantile of the answered checkouts' latencies, as the table prints it
    /// (`42 ms`), or `-` when none was answered.
    pub fn quantile(&self, q: f64) -> String {
        if self.ok_latency.is_empty() {
            "-".to_string()
        } else {
            format!(
                "{:.0} ms",
                self.ok_latency.value_at_quantile(q) as f64 / 1000.0
            )
        }
    }
}

/// Each edge's seconds, by the second their answers came back in: what a demo prints a
/// line of each second, while the load's own per-window record is still being written.
pub struct Seconds {
    edges: BTreeMap<String, Vec<Second>>,
    slo: Duration,
}

impl Seconds {
    /// An empty table for edges whose promise is an answer within `slo`, to share between
    /// the loads that fill it and the printer that reads it.
    pub fn shared(slo: Duration) -> Arc<Mutex<Seconds>> {
        Arc::new(Mutex::new(Seconds {
            edges: BTreeMap::new(),
            slo,
        }))
    }

    /// Counts one checkout of `node` that ended `at` (since the start) after `latency`.
    pub fn record(&mut self, node: &str, at: Duration, latency: Duration, outcome: &Outcome) {
        let i = at.as_secs() as usize;
        let seconds = self.edges.entry(node.to_string()).or_default();
        if seconds.len() <= i {
            seconds.resize(i + 1, Second::default());
        }
        let s = &mut seconds[i];
        match outcome {
            Outcome::Ok => {
                s.ok += 1;
                s.in_time += u64::from(latency <= self.slo);
                record_us(&mut s.ok_latency, latency.as_micros() as u64);
            }
            Outcome::Fail(kind) if kind == REJECTED || kind == EXPIRED => s.refused += 1,
            Outcome::Unknown(kind) if kind == "timeout" => s.gave_up += 1,
            _ => s.other += 1,
        }
    }

    /// `node`'s second `second` (empty if nothing came back in it).
    pub fn second(&self, node: &str, second: u64) -> Second {
        self.edges
            .get(node)
            .and_then(|seconds| seconds.get(second as usize))
            .cloned()
            .unwrap_or_default()
    }
}

/// `node`'s `/metrics` text, for a test: a node that cannot answer fails it, with its log.
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

/// The value of the unlabelled metric `name` in a `/metrics` text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_counts_each_outcome_once_and_goodput_against_the_promise() {
        let live = Seconds::shared(Duration::from_millis(150));
        let mut live = live.lock();
        let at = Duration::from_millis(1200);
        live.record("n1", at, Duration::from_millis(40), &Outcome::Ok);
        live.record("n1", at, Duration::from_millis(400), &Outcome::Ok);
        live.record("n1", at, Duration::ZERO, &Outcome::fail(REJECTED));
        live.record("n1", at, Duration::ZERO, &Outcome::fail(EXPIRED));
        live.record("n1", at, Duration::ZERO, &Outcome::unknown("timeout"));
        live.record("n1", at, Duration::ZERO, &Outcome::unknown("reset"));
        let s = live.second("n1", 1);
        assert_eq!(
            (s.ok, s.in_time, s.refused, s.gave_up, s.other),
            (2, 1, 2, 1, 1)
        );
        assert_eq!(s.quantile(0.0), "40 ms");
        assert_eq!(live.second("n1", 0).quantile(0.5), "-");
        assert_eq!(live.second("n2", 1).ok, 0);
    }

    #[test]
    fn a_metric_is_read_by_its_whole_name() {
        let text = "capacity_queue_depth_peak 9\ncapacity_queue_depth 3\n";
        assert_eq!(metric(text, "capacity_queue_depth"), Some(3.0));
        assert_eq!(metric(text, "capacity_queue_depth_peak"), Some(9.0));
        assert_eq!(metric(text, "capacity_busy_workers"), None);
    }
}
