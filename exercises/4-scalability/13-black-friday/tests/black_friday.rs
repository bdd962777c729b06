//! Black Friday at the edge: three times what the service can do, at two edge nodes at
//! once, one regulated and one not (the control), measured the same way in the same run.
//!
//! The service behind each edge has 4 workers of 40 ms: 100 checkouts a second, on any
//! machine. The regulator lets 4 in, queues 6 (60 ms of work) for at most 100 ms, and
//! refuses the rest at once. The shop promises an answer within 150 ms.

mod common;

use std::time::{Duration, Instant};

use common::{
    CAPACITY, EXPIRED, MAX_QUEUE, REJECTED, SERVICE_TIME, SLO, checkout, checkout_url, client,
    describe, goodput, overload, p99, quantile, unregulate, watch,
};
use harness::block_on;
use harness::load::OK;

/// The overload: three times capacity for three seconds.
const RATE: f64 = 3.0 * CAPACITY;
const RUN: Duration = Duration::from_secs(3);

/// A client gives up after this: the control's requests wait longer.
const GIVE_UP: Duration = Duration::from_millis(1500);

/// A load generator that sent a checkout this late measured a stalled machine.
const STALL: Duration = Duration::from_millis(50);

/// How much the regulated node's memory may grow under the overload.
const MEMORY_GROWTH: u64 = 16 << 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn at_three_times_capacity_the_regulated_edge_keeps_its_promise_and_the_unregulated_one_collapses()
{
    let cluster = common::start(2);
    block_on(async {
        // Healthy: one checkout, then half of capacity for a second: every one served,
        // none refused, all well within the promise.
        let first = checkout(&client(), &checkout_url(&cluster, "n1"), "first").await;
        assert_eq!(
            first,
            harness::load::Outcome::Ok,
            "a checkout at an idle edge must be served at once: does admit() serve while a slot \
             is free?"
        );
        // A run in which the generator itself fell behind measured the machine (beside
        // stress-ng: 36 of 50 sends late, then a burst the queue could not hold): run again,
        // at most three runs.
        let mut run = 1;
        let calm = loop {
            let calm = overload(
                &cluster,
                "n1",
                CAPACITY / 2.0,
                Duration::from_secs(1),
                GIVE_UP,
            )
            .await;
            println!("half of capacity, run {run}: {}", describe(&calm));
            if calm.max_lag <= STALL || run == 3 {
                break calm;
            }
            run += 1;
        };
        // All served, at about the service time. (A stall of the machine of a few hundred
        // ms can bunch the schedule into a burst the queue cannot hold: a few refusals.)
        assert!(
            calm.ok as f64 >= 0.95 * calm.sent as f64 && calm.unknown.is_empty(),
            "at half of capacity every checkout is served: {}",
            describe(&calm)
        );
        assert!(
            quantile(&calm, OK, 0.5) <= SERVICE_TIME * 2,
            "at half of capacity a checkout takes about the service time ({SERVICE_TIME:?}); \
             the median took {:?}",
            quantile(&calm, OK, 0.5)
        );

        // Black Friday: n1 regulated, n2 the control, both at once.
        unregulate(&cluster, "n2").await;
        // A machine that stalls (other builds take both cores) makes the load generator send
        // late and then in a burst: that run measured the machine, not the regulator, so it
        // is run again (at most three runs).
        let mut run = 1;
        let Day {
            regulated,
            unregulated,
            peaks: (peaks1, peaks2),
            before,
        } = loop {
            let day = black_friday(&cluster).await;
            let lag = day.regulated.max_lag.max(day.unregulated.max_lag);
            println!("run {run}: the generator's longest lag {lag:?}");
            println!("regulated:   {}", describe(&day.regulated));
            println!("unregulated: {}", describe(&day.unregulated));
            if lag <= STALL || run == 3 {
                break day;
            }
            run += 1;
        };
        // Said in every failure below when even the last run stalled.
        let lag = regulated.max_lag.max(unregulated.max_lag);
        let busy = if lag > STALL {
            format!(
                " (NB: the load generator fell up to {lag:?} behind its schedule in all three \
                 runs: this machine was too busy to measure anything; close what else runs and \
                 try again)"
            )
        } else {
            String::new()
        };
        let said = |report| format!("{}{busy}", describe(report));
        let text = common::metrics(&cluster, "n1").await;
        let peak_queue = common::metric(&text, "regulator_queue_depth_peak").unwrap_or(0.0);
        // What /metrics counts is what the regulator decided, exactly.
        let figures: black_friday::Figures = cluster
            .http("n1")
            .get_json("/internal/regulator")
            .await
            .expect("the regulator's figures");
        for (counter, figure) in [
            ("regulator_admitted_total", figures.admitted),
            ("regulator_rejected_total", figures.rejected),
            ("regulator_expired_total", figures.expired),
        ] {
            assert_eq!(
                common::metric(&text, counter),
                Some(figure as f64),
                "{counter} on /metrics against the regulator's own count ({figures:?})"
            );
        }
        println!(
            "queue: regulated peak {peak_queue} (sampled {}), unregulated up to {} waiting",
            peaks1.gauge, peaks2.gauge
        );
        let growth = |before: Option<u64>, peak: u64| before.map(|b| peak.saturating_sub(b));
        let (growth1, growth2) = (growth(before.0, peaks1.rss), growth(before.1, peaks2.rss));
        println!(
            "memory growth: regulated {:?} KiB, unregulated {:?} KiB",
            growth1.map(|g| g >> 10),
            growth2.map(|g| g >> 10)
        );

        // The regulated edge: refusals only of the two kinds, each with a Retry-After.
        let kinds: Vec<&String> = regulated
            .failed
            .keys()
            .chain(regulated.unknown.keys())
            .filter(|k| *k != REJECTED && *k != EXPIRED)
            .collect();
        assert!(
            kinds.is_empty(),
            "the regulated edge answers 200 or 503 with Retry-After (overloaded or queue_timeout), \
             nothing else: {}",
            said(&regulated)
        );
        assert!(
            regulated.failed.get(REJECTED).copied().unwrap_or(0) as f64
                >= 0.4 * regulated.sent as f64,
            "at three times capacity about two of three checkouts must be refused: {}",
            said(&regulated)
        );
        // Those it serves, it serves in time...
        let admitted = p99(&regulated, OK);
        assert!(
            admitted <= SLO * 3 / 2,
            "the admitted checkouts' p99 is {admitted:?}, over 1.5x the promised {SLO:?}: does \
             admit() queue more than max_queue, or next_in_line() serve requests that waited \
             too long? {}",
            said(&regulated)
        );
        // ...as many as the service can do...
        let good = goodput(&regulated);
        assert!(
            good >= 0.8 * CAPACITY,
            "the regulated edge served {good:.0} checkouts a second within {SLO:?}, under 80% \
             of its capacity ({CAPACITY:.0}/s): is it refusing while a worker is free? {}",
            said(&regulated)
        );
        // ...and it refuses the rest at once: in a few milliseconds, never as long as a
        // checkout that waited for a worker (40 ms of service at least) and then some.
        let (refused_p50, refused_p99) = (
            quantile(&regulated, REJECTED, 0.5),
            p99(&regulated, REJECTED),
        );
        assert!(
            refused_p50 <= Duration::from_millis(10) && refused_p99 <= Duration::from_millis(100),
            "the refusals' p50 is {refused_p50:?} and p99 {refused_p99:?}: a refusal must not \
             wait (10 ms and 100 ms at most){busy}"
        );
        // Its queue never held more than its bound, and its memory stayed put.
        assert!(
            peak_queue as usize <= MAX_QUEUE && peaks1.gauge as usize <= MAX_QUEUE,
            "the regulator's queue reached {peak_queue}, over its bound of {MAX_QUEUE}"
        );
        assert!(
            peak_queue as usize >= MAX_QUEUE / 2,
            "at three times capacity the queue should fill (peak {peak_queue} of {MAX_QUEUE})"
        );
        if let Some(growth) = growth1 {
            assert!(
                growth <= MEMORY_GROWTH,
                "the regulated node's memory grew {} MiB under the overload",
                growth >> 20
            );
        }

        // The control, measured the same way in the same run: no regulator, every checkout
        // waits for a worker. The line grows by 200 a second; soon every answer comes too
        // late, and most never come before the client gives up.
        let control = p99(&unregulated, OK).max(p99(&unregulated, "timeout"));
        assert!(
            control >= admitted * 5,
            "without the regulator the p99 should grow several times ({:.0} ms against {:.0} ms \
             regulated): {}",
            ms(control),
            ms(admitted),
            said(&unregulated)
        );
        let control_good = goodput(&unregulated);
        assert!(
            control_good <= 0.5 * good,
            "without the regulator the goodput should collapse: {control_good:.0}/s against \
             {good:.0}/s regulated"
        );
        assert!(
            peaks2.gauge >= 10.0 * MAX_QUEUE as f64,
            "without the regulator the line should grow without bound: at most {} waited",
            peaks2.gauge
        );
    });
}

#[test]
fn the_edge_refuses_bad_input_with_a_json_4xx() {
    let cluster = common::start(1);
    block_on(async {
        let n1 = cluster.http("n1");
        // Healthy first: a good checkout is served.
        let ok = checkout(&client(), &checkout_url(&cluster, "n1"), "cart-1").await;
        assert_eq!(ok, harness::load::Outcome::Ok, "a good checkout");
        let send = |request: reqwest::RequestBuilder| async move {
            let response = request.send().await.expect("the edge answers");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        };
        let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
            (
                "malformed JSON",
                n1.post("/checkout")
                    .header("content-type", "application/json")
                    .body("{\"cart\":"),
            ),
            (
                "an unknown field",
                n1.post("/checkout")
                    .json(&serde_json::json!({"cart": "c1", "priority": "vip"})),
            ),
            (
                "an invalid cart id",
                n1.post("/checkout")
                    .json(&serde_json::json!({"cart": "../x"})),
            ),
            ("no body", n1.post("/checkout")),
            (
                "a switch that is not a bool",
                n1.request(reqwest::Method::PUT, "/internal/regulator")
                    .json(&serde_json::json!({"regulated": "no"})),
            ),
            (
                "a service time of zero",
                n1.request(reqwest::Method::PUT, "/internal/capacity")
                    .json(&serde_json::json!({"service_time_ms": 0})),
            ),
        ];
        for (what, request) in cases {
            let (status, body) = send(request).await;
            assert!(
                (400..500).contains(&status) && body["error"].is_string(),
                "{what}: want a 4xx with a JSON error, got {status} {body}"
            );
        }
        // Internal routes need the cookie.
        let url = checkout_url(&cluster, "n1").replace("/checkout", "/internal/regulator");
        let (status, _) = send(client().get(url)).await;
        assert_eq!(
            status, 403,
            "the regulator's switch needs the cluster cookie"
        );
        let figures: black_friday::Figures = n1
            .get_json("/internal/regulator")
            .await
            .expect("the regulator's figures");
        assert!(figures.regulated && figures.admitted == 1, "{figures:?}");
    });
}

/// One overload: both edges at [`RATE`] for [`RUN`], what the generator measured at each,
/// and the peaks each node showed meanwhile.
struct Day {
    regulated: harness::load::LoadReport,
    unregulated: harness::load::LoadReport,
    peaks: (common::Peaks, common::Peaks),
    /// Each node's memory before the overload.
    before: (Option<u64>, Option<u64>),
}

async fn black_friday(cluster: &harness::Cluster) -> Day {
    let before = (common::rss(cluster, "n1"), common::rss(cluster, "n2"));
    let until = Instant::now() + RUN;
    let (regulated, unregulated, peaks1, peaks2) = tokio::join!(
        overload(cluster, "n1", RATE, RUN, GIVE_UP),
        overload(cluster, "n2", RATE, RUN, GIVE_UP),
        watch(cluster, "n1", "regulator_queue_depth_peak", until),
        watch(cluster, "n2", "capacity_queue_depth", until),
    );
    Day {
        regulated,
        unregulated,
        peaks: (peaks1, peaks2),
        before,
    }
}
