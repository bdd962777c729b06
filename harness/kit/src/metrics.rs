//! `GET /metrics` in the Prometheus text format, and the middleware that feeds it.
//!
//! Built in: requests and errors per route and status, a latency histogram per route, and the
//! number of requests in flight (the node's queue depth). Nodes add their own counters and
//! gauges with [`Metrics::add`] and [`Metrics::set`]. A handful of mutex-guarded maps is plenty
//! for a teaching node; a production service would use a lock-free registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::sync::Arc;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct RouteStats {
    /// Requests by status code.
    by_status: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket of [`BUCKETS`]; the +Inf bucket is the total.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// The node's metric registry; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

#[derive(Default)]
struct Inner {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
    in_flight: AtomicI64,
    custom: Mutex<BTreeMap<String, (Kind, f64)>>,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Metrics {
    /// Adds `by` to the counter `name` (created at 0), e.g. `carts_added_total`.
    pub fn add(&self, name: &str, by: f64) {
        let mut custom = self.0.custom.lock().unwrap_or_else(|e| e.into_inner());
        custom
            .entry(name.to_string())
            .or_insert((Kind::Counter, 0.0))
            .1 += by;
    }

    /// Sets the gauge `name`, e.g. `dedup_table_entries`.
    pub fn set(&self, name: &str, value: f64) {
        let mut custom = self.0.custom.lock().unwrap_or_else(|e| e.into_inner());
        custom.insert(name.to_string(), (Kind::Gauge, value));
    }

    /// Requests currently being served.
    pub fn in_flight(&self) -> i64 {
        self.0.in_flight.load(Ordering::Relaxed)
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut routes = self.0.routes.lock().unwrap_or_else(|e| e.into_inner());
        let stats = routes
            .entry((method.to_string(), route.to_string()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_seconds += seconds;
        for (bucket, bound) in stats.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let routes = self.0.routes.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP node_requests_total HTTP requests served, by route and status.\n");
        out.push_str("# TYPE node_requests_total counter\n");
        for ((method, route), stats) in routes.iter() {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "node_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP node_errors_total HTTP requests answered with a 5xx.\n");
        out.push_str("# TYPE node_errors_total counter\n");
        let errors: u64 = routes
            .values()
            .flat_map(|s| s.by_status.iter())
            .filter(|(status, _)| **status >= 500)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(out, "node_errors_total {errors}");
        out.push_str("# HELP node_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE node_request_duration_seconds histogram\n");
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (n, bound) in stats.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "node_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "node_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "node_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "node_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        drop(routes);
        out.push_str("# HELP node_in_flight_requests Requests being served now (queue depth).\n");
        out.push_str("# TYPE node_in_flight_requests gauge\n");
        let _ = writeln!(out, "node_in_flight_requests {}", self.in_flight());
        let custom = self.0.custom.lock().unwrap_or_else(|e| e.into_inner());
        for (name, (kind, value)) in custom.iter() {
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

/// Middleware: counts and times every request by its route template (`/carts/{id}`, not the
/// raw path, so metrics stay bounded).
pub(crate) async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    metrics.0.in_flight.fetch_add(1, Ordering::Relaxed);
    let response = next.run(req).await;
    metrics.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    let status = response.status().as_u16();
    metrics.record(&method, &route, status, started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_buckets_and_custom_metrics() {
        let m = Metrics::default();
        m.record("GET", "/carts/{id}", 200, 0.003);
        m.record("GET", "/carts/{id}", 503, 0.2);
        m.add("carts_added_total", 2.0);
        m.set("queue_len", 7.0);
        let text = m.render();
        for line in [
            "node_requests_total{method=\"GET\",route=\"/carts/{id}\",status=\"200\"} 1",
            "node_errors_total 1",
            "node_request_duration_seconds_bucket{method=\"GET\",route=\"/carts/{id}\",le=\"0.005\"} 1",
            "node_request_duration_seconds_bucket{method=\"GET\",route=\"/carts/{id}\",le=\"0.25\"} 2",
            "node_request_duration_seconds_count{method=\"GET\",route=\"/carts/{id}\"} 2",
            "carts_added_total 2",
            "queue_len 7",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
