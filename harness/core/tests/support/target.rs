//! An HTTP target for load tests: a fixed service time and an optional stall.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use harness::load::HttpCall;

/// A server that takes `service` per request, and stops answering during `stall` (requests
/// that arrive in it, or are in progress, wait for its end): a GC pause, a hung disk.
pub struct Target {
    pub addr: SocketAddr,
    /// Requests that reached the server.
    pub received: Arc<AtomicU64>,
}

impl Target {
    pub async fn start(service: Duration, stall: Option<(Instant, Instant)>) -> Target {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let app = Router::new().route(
            "/",
            get(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                async move {
                    tokio::time::sleep(service).await;
                    if let Some((from, until)) = stall {
                        let now = Instant::now();
                        if now >= from && now < until {
                            tokio::time::sleep_until(until.into()).await;
                        }
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Target { addr, received }
    }

    pub fn get(&self) -> HttpCall {
        let url = format!("http://{}/", self.addr).parse().unwrap();
        HttpCall::new(
            reqwest::Client::new(),
            reqwest::Request::new(reqwest::Method::GET, url),
        )
    }
}
