//! What the cluster tests share: the shop (n1 the front-end, n2 the payment service, n3 the
//! catalog), its two pages sent on a schedule, and what the front-end says about its guards.

#![allow(dead_code)] // each test file uses its own part of it

use std::time::{Duration, Instant};

use circuit_breakers::{Guards, GuardsReport};
use harness::Cluster;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The front-end's call timeout: a hung call costs this much.
pub const TIMEOUT: Duration = Duration::from_millis(300);
/// Workers per dependency (the naive front-end shares twice as many).
pub const WORKERS: usize = 4;
/// The fuse: 3 melts tolerated within 1 s, one probe every 500 ms while blown.
pub const TOLERATE: u32 = 3;
pub const WINDOW: Duration = Duration::from_millis(1000);
pub const RESET: Duration = Duration::from_millis(500);

pub const FRONT_END: &str = "n1";
pub const PAYMENT: &str = "n2";

pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The shop on three nodes of this crate's binary.
pub fn start() -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(3)
        .args([
            "--payment-node".to_string(),
            "n2".into(),
            "--catalog-node".into(),
            "n3".into(),
            "--call-timeout-ms".into(),
            TIMEOUT.as_millis().to_string(),
            "--workers".into(),
            WORKERS.to_string(),
            "--fuse-tolerate".into(),
            TOLERATE.to_string(),
            "--fuse-window-ms".into(),
            WINDOW.as_millis().to_string(),
            "--fuse-reset-ms".into(),
            RESET.as_millis().to_string(),
        ])
        .start()
        .expect("the shop's nodes start")
}

/// Connections the front-end opened to the payment service: one per call that was sent.
pub fn connections_to_payment(cluster: &Cluster) -> u64 {
    cluster.link(FRONT_END, PAYMENT).stats().accepted
}

/// The front-end's two pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `POST /checkout`: the payment service.
    Checkout,
    /// `GET /products/{item}`: the catalog.
    Product,
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub struct Shot {
    /// When it was sent, from the stream's origin.
    pub at: Duration,
    pub took: Duration,
    /// The HTTP status, or 0 for no answer at all.
    pub status: u16,
    /// The JSON error's code (`fuse_blown`, ...), or `ok`.
    pub code: String,
}

impl Shot {
    /// When its answer came, from the stream's origin.
    pub fn done(&self) -> Duration {
        self.at + self.took
    }

    pub fn is_ok(&self) -> bool {
        self.status == 200
    }
}

/// The test's client of the front-end, through its client proxy (kept alive: the faults are
/// between the front-end and its dependencies, never here).
#[derive(Clone)]
pub struct Shop {
    http: reqwest::Client,
    url: String,
}

impl Shop {
    pub fn new(cluster: &Cluster) -> Shop {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("a plain HTTP client builds");
        Shop {
            http,
            url: format!("http://{}", cluster.addr(FRONT_END)),
        }
    }

    /// Sends request `i` of `batch` to `page`.
    pub async fn send(&self, page: Page, batch: &str, i: usize) -> reqwest::Result<(u16, Value)> {
        let request = match page {
            Page::Checkout => self
                .http
                .post(format!("{}/checkout", self.url))
                .json(&payment(batch, i)),
            Page::Product => self
                .http
                .get(format!("{}/products/{batch}-{}", self.url, i % 50)),
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or_default();
        Ok((status, body))
    }

    /// One healthy request on its own, before any stream: the test's first step, so that a
    /// function not written yet fails the test once, with its own message.
    pub async fn first(&self, cluster: &Cluster, page: Page) {
        let answer = self.send(page, "first", 0).await;
        let (status, body) = cluster
            .expect_answer(answer, &format!("a healthy {page:?}"))
            .await;
        assert_eq!(status, 200, "a healthy {page:?} answered {status}: {body}");
    }

    /// Sends `count` requests of `batch` to `page`, one every `every` from `origin` (open
    /// loop: on schedule, whether or not earlier ones are answered), and waits for them all.
    pub async fn stream(
        &self,
        page: Page,
        batch: &str,
        count: usize,
        every: Duration,
        origin: Instant,
    ) -> Vec<Shot> {
        let mut schedule = tokio::time::interval(every);
        schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sends = JoinSet::new();
        for i in 0..count {
            schedule.tick().await;
            let shop = self.clone();
            let batch = batch.to_string();
            sends.spawn(async move {
                let sent = Instant::now();
                let answer = shop.send(page, &batch, i).await;
                let took = sent.elapsed();
                let (status, code) = match answer {
                    Ok((200, _)) => (200, "ok".to_string()),
                    Ok((status, body)) => (status, body["error"].as_str().unwrap_or("?").into()),
                    Err(_) => (0, "no_answer".into()),
                };
                Shot {
                    at: sent - origin,
                    took,
                    status,
                    code,
                }
            });
        }
        let mut shots = Vec::with_capacity(count);
        while let Some(shot) = sends.join_next().await {
            shots.push(shot.expect("a request task"));
        }
        shots.sort_by_key(|s| s.at);
        shots
    }
}

/// Payment `i` of `batch`, for a checkout.
pub fn payment(batch: &str, i: usize) -> Value {
    json!({
        "request_id": format!("{batch}-{i}"),
        "order": format!("{batch}-{i}"),
        "amount_cents": 1999,
        "card": "4242424242424242",
    })
}

/// What the front-end says about its guards.
pub async fn guards(cluster: &Cluster) -> GuardsReport {
    let answer = cluster
        .http(FRONT_END)
        .get_json::<GuardsReport>("/internal/guards")
        .await;
    cluster.expect_answer(answer, "reading the guards").await
}

/// Switches the front-end's guards (with fresh fuses and workers).
pub async fn set_guards(cluster: &Cluster, guards: Guards) {
    let answer = cluster
        .http(FRONT_END)
        .request(reqwest::Method::PUT, "/internal/guards")
        .json(&guards)
        .send()
        .await;
    let response = cluster.expect_answer(answer, "switching the guards").await;
    assert_eq!(response.status().as_u16(), 200, "PUT /internal/guards");
}

/// The `q`-quantile (0.99 for p99) of the shots' latencies; zero for none.
pub fn quantile(shots: &[&Shot], q: f64) -> Duration {
    let mut took: Vec<Duration> = shots.iter().map(|s| s.took).collect();
    took.sort();
    if took.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((took.len() as f64 * q).ceil() as usize).clamp(1, took.len());
    took[rank - 1]
}

/// How many shots ended with each code, for a failure message.
pub fn codes(shots: &[Shot]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for shot in shots {
        *counts.entry(&shot.code).or_default() += 1;
    }
    format!("{counts:?}")
}
