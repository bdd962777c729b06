//! `GET /metrics` in the Prometheus text format, and the middleware that feeds it.
//!
//! Built in: requests per method, route and status, the requests answered with a 5xx, a
//! latency histogram per method and route, and the number of requests in flight (the node's
//! queue depth). Nodes add their own counters and gauges with [`Metrics::add`] and
//! [`Metrics::set`]. The registry and the text encoding are the `prometheus-client` crate's
//! (Prometheus text format 0.0.4); this module only decides what is measured. The crate
//! replaced a hand-written registry at a measured price: 7 small crates (no heavy ones) and
//! about 6 s of CPU in a cold build of the kit, off its critical path (axum and clap).
//!
//! Every label value comes from a bounded set, so a client cannot grow the registry without
//! limit: routes are the router's templates (`/carts/{id}`, not the raw path; `unmatched` for
//! a path no route serves), and methods other than HTTP's standard ones count as `other`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The node's metric registry; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    requests: Family<RequestLabels, Counter>,
    errors: Counter,
    latency: Latency,
    in_flight: Gauge<i64, AtomicI64>,
    /// Locked because a node's own metrics are registered the first time they are used.
    own: Mutex<Own>,
}

struct Own {
    /// Every metric, built in and the node's own: what `render` encodes.
    registry: Registry,
    /// The node's own metrics by the name they are shown under, so each is registered once.
    by_name: BTreeMap<String, Custom>,
}

#[derive(Clone)]
enum Custom {
    Counter(Counter<f64, AtomicU64>),
    Gauge(Gauge<f64, AtomicU64>),
}

impl Default for Metrics {
    fn default() -> Metrics {
        let requests = Family::default();
        let errors = Counter::default();
        let latency = Latency::new_with_constructor(|| Histogram::new(BUCKETS));
        let in_flight = Gauge::default();
        // The registry adds the final full stop to each help text.
        let mut registry = Registry::default();
        registry.register(
            "node_requests",
            "HTTP requests served, by route and status",
            requests.clone(),
        );
        registry.register(
            "node_errors",
            "HTTP requests answered with a 5xx",
            errors.clone(),
        );
        registry.register(
            "node_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register(
            "node_in_flight_requests",
            "Requests being served now (queue depth)",
            in_flight.clone(),
        );
        Metrics(Arc::new(Inner {
            requests,
            errors,
            latency,
            in_flight,
            own: Mutex::new(Own {
                registry,
                by_name: BTreeMap::new(),
            }),
        }))
    }
}

impl Metrics {
    /// Adds `by` to the counter `name` (created at 0), e.g. `carts_added_total`. A counter's
    /// name ends in `_total` in the text whether or not `name` does.
    pub fn add(&self, name: &str, by: f64) {
        if let Some(Custom::Counter(counter)) = self.own(name, Custom::Counter(Counter::default()))
        {
            counter.inc_by(by);
        }
    }

    /// Sets the gauge `name`, e.g. `dedup_table_entries`.
    pub fn set(&self, name: &str, value: f64) {
        if let Some(Custom::Gauge(gauge)) = self.own(name, Custom::Gauge(Gauge::default())) {
            gauge.set(value);
        }
    }

    /// The node's own metric `name`, registered on first use as `wanted` (a new one). A name
    /// keeps the kind it was first used as: using it as the other kind is a bug in the node,
    /// logged, and the value is dropped.
    fn own(&self, name: &str, wanted: Custom) -> Option<Custom> {
        // The name to register and the one the text shows: the registry adds `_total` to a
        // counter's name itself.
        let (base, shown) = match wanted {
            Custom::Counter(_) => {
                let base = name.strip_suffix("_total").unwrap_or(name);
                (base, format!("{base}_total"))
            }
            Custom::Gauge(_) => (name, name.to_string()),
        };
        let mut own = self.0.own.lock();
        let Own { registry, by_name } = &mut *own;
        let found = by_name.entry(shown).or_insert_with(|| {
            match &wanted {
                Custom::Counter(c) => {
                    registry.register(base, "A counter of the node's own", c.clone())
                }
                Custom::Gauge(g) => registry.register(base, "A gauge of the node's own", g.clone()),
            }
            wanted.clone()
        });
        if std::mem::discriminant(found) == std::mem::discriminant(&wanted) {
            Some(found.clone())
        } else {
            tracing::warn!(
                metric = name,
                "a counter and a gauge cannot share a name; value dropped"
            );
            None
        }
    }

    /// Requests currently being served.
    pub fn in_flight(&self) -> i64 {
        self.0.in_flight.get()
    }

    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let route = route.to_string();
        self.0
            .requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        if status >= 500 {
            self.0.errors.inc();
        }
        self.0
            .latency
            .get_or_create(&RouteLabels { method, route })
            .observe(seconds);
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.0.own.lock().registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The method as a label: HTTP's standard methods by name, anything else as `other`, so a
/// client sending made-up methods cannot add series without bound.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

/// A request refused before it reached [`track`] (its body too large or too slow), kept by
/// its method and route template so the refusal is counted like any other answer.
pub(crate) struct Refused {
    method: Method,
    route: String,
}

impl Refused {
    pub(crate) fn of(req: &Request) -> Refused {
        Refused {
            method: req.method().clone(),
            route: route_of(req),
        }
    }

    pub(crate) fn count(&self, metrics: &Metrics, status: u16, took: std::time::Duration) {
        metrics.record(&self.method, &self.route, status, took.as_secs_f64());
    }
}

fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string())
}

/// Middleware: counts and times every request by its route template (`/carts/{id}`, not the
/// raw path, so metrics stay bounded).
pub(crate) async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let method = req.method().clone();
    let started = Instant::now();
    metrics.0.in_flight.inc();
    let response = next.run(req).await;
    metrics.0.in_flight.dec();
    let status = response.status().as_u16();
    metrics.record(&method, &route, status, started.elapsed().as_secs_f64());
    response
}

pub(crate) async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [("content-type", prometheus_text::CONTENT_TYPE)],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_buckets_and_custom_metrics() {
        let m = Metrics::default();
        m.record(&Method::GET, "/carts/{id}", 200, 0.003);
        m.record(&Method::GET, "/carts/{id}", 503, 0.2);
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

    #[test]
    fn made_up_methods_share_one_label() {
        let m = Metrics::default();
        for i in 0..50 {
            let method = Method::from_bytes(format!("M{i}").as_bytes()).unwrap();
            m.record(&method, "/health", 405, 0.001);
        }
        let text = m.render();
        assert!(
            text.contains(
                "node_requests_total{method=\"other\",route=\"/health\",status=\"405\"} 50"
            ),
            "{text}"
        );
        assert!(!text.contains("M7"), "{text}");
    }

    #[test]
    fn a_counter_is_rendered_once_however_often_it_is_added_to() {
        let m = Metrics::default();
        m.add("carts_added_total", 1.0);
        m.add("carts_added", 1.5);
        m.set("carts_added_total", 9.0); // the wrong kind: ignored
        m.set("carts_added", 4.0); // a gauge of another name
        let text = m.render();
        assert_eq!(
            text.matches("# TYPE carts_added_total counter").count(),
            1,
            "{text}"
        );
        assert!(text.contains("carts_added_total 2.5"), "{text}");
        assert!(
            text.contains("# TYPE carts_added gauge\ncarts_added 4.0"),
            "{text}"
        );
    }
}
