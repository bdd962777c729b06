//! The edge under load while its service's capacity halves (`PUT /internal/capacity`: the
//! service time doubles), with the harness's open-loop generator: the adaptive limit against
//! a limit fixed for the old capacity, and the overload alarm as the node shows it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use harness::{Cluster, block_on};

/// A cluster of `n` edge nodes (this crate's binary), all adaptive.
pub fn start(n: usize) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(n)
        .args(node_args())
        .start()
        .expect("the edge nodes start")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
fn when_capacity_halves_the_limit_halves_and_admitted_latency_recovers() {
    // n1 adaptive, n2 the control: its limit fixed at 20, the best for the old capacity.
    // Both get 300 checkouts a second (1.5x capacity, then 3x) for 6.5 s; at 3 s both
    // services slow from 20 to 40 ms a checkout.
    const RATE: f64 = 300.0;
    const RUN: Duration = Duration::from_millis(6500);
    const HALVE_AT: Duration = Duration::from_secs(3);
    let (old, new) = (optimum(SERVICE_TIME), optimum(HALVED));
    let mut attempt = 0;
    let (cluster, adaptive, control, samples, busy) = loop {
        attempt += 1;
        let cluster = start(2);
        let mut ran = None;
        block_on(async {
            fix_limit(&cluster, "n2", old as usize).await;
            let start = Instant::now() + Duration::from_millis(200);
            let halve = async {
                tokio::time::sleep_until((start + HALVE_AT).into()).await;
                tokio::join!(
                    set_service_time(&cluster, "n1", HALVED),
                    set_service_time(&cluster, "n2", HALVED)
                );
            };
            let (adaptive, control, samples, ()) = tokio::join!(
                load(&cluster, "n1", RATE, RUN, start),
                load(&cluster, "n2", RATE, RUN, start),
                watch(&cluster, "n1", start, start + RUN),
                halve,
            );
            ran = Some((adaptive, control, samples));
        });
        let (adaptive, control, samples) = ran.expect("the run ran");
        match stalled(&[&adaptive, &control], &samples) {
            Some(why) if attempt < ATTEMPTS => println!("run {attempt}: {why}; once more"),
            why => break (cluster, adaptive, control, samples, why.unwrap_or_default()),
        }
    };
    block_on(async {
        let over = format!("{} {busy}", limits_over(&samples));
        // Before: the limit found the old optimum, T c / s = 20, from the 8 it started at.
        let before = mean_limit(&samples, Duration::from_secs(2), HALVE_AT);
        // After: within 1.5 s it found the new one, 10, and stays there.
        let after = mean_limit(&samples, Duration::from_millis(4500), RUN);
        let latency = served_quantile(&adaptive, 5, 6, 0.5);
        let latency_p90 = served_quantile(&adaptive, 5, 6, 0.9);
        println!(
            "limit before {before:.1} (optimum {old}), after {after:.1} (optimum {new}); \
             admitted p50 {:.0} ms, p90 {:.0} ms in the last second; the fixed limit's p50 {:.0} \
             ms; the limit over time: {over}",
            ms(latency),
            ms(latency_p90),
            ms(served_quantile(&control, 5, 6, 0.5)),
        );
        assert!(
            (0.5 * old..=1.5 * old).contains(&before),
            "at full capacity the limit should settle near T c / s = {old} (within half of it \
             either way); it averaged {before:.1} over the second before the halving: {over}"
        );
        assert!(
            (0.5 * new..=1.5 * new).contains(&after),
            "1.5 s after capacity halved the limit should settle near T c / s = {new}; it \
             averaged {after:.1}: {over}"
        );
        let ratio = after / before;
        assert!(
            (0.3..=0.75).contains(&ratio),
            "the limit should about halve with capacity: {before:.1} before, {after:.1} after \
             ({ratio:.2}): {over}"
        );
        assert!(
            latency <= TARGET * 3 / 2,
            "the admitted checkouts' latency should recover to about the target ({:.0} ms): its \
             p50 over the run's last second was {:.0} ms",
            ms(TARGET),
            ms(latency)
        );
        // The control, in the same run: a limit right for the old capacity lets twice too
        // much into the halved service, and every admitted checkout waits twice the target.
        let fixed = served_quantile(&control, 5, 6, 0.5);
        assert!(
            fixed >= TARGET * 3 / 2 && fixed >= latency * 3 / 2,
            "a limit fixed at {old} should double the latency once capacity halves (L s / c = \
             200 ms): its p50 was {:.0} ms against the adaptive {:.0} ms",
            ms(fixed),
            ms(latency)
        );
        let n2 = figures(&cluster, "n2").await;
        assert!(!n2.adaptive && n2.limit == old, "{n2:?}");
    });
}

#[test]
fn the_overload_alarm_sets_once_when_capacity_halves_and_clears_once_when_it_recovers() {
    // 150 checkouts a second: 0.75 of capacity, 1.5x once it halves at 1.5 s; it comes back
    // at 4.5 s. The alarm: set over 20% refused (over half a second), cleared under 5%.
    const RATE: f64 = 150.0;
    const RUN: Duration = Duration::from_millis(6500);
    const HALVE_AT: Duration = Duration::from_millis(1500);
    const RESTORE_AT: Duration = Duration::from_millis(4500);
    // Expected about 0.3 s after each change (the share fills over half a second).
    const PROMPTLY: Duration = Duration::from_millis(1500);
    let mut attempt = 0;
    let (cluster, report, samples, during, busy) = loop {
        attempt += 1;
        let cluster = start(1);
        let mut ran = None;
        block_on(async {
            let start = Instant::now() + Duration::from_millis(200);
            let changes = async {
                tokio::time::sleep_until((start + HALVE_AT).into()).await;
                set_service_time(&cluster, "n1", HALVED).await;
                // Mid-overload, /metrics shows the alarm set.
                tokio::time::sleep_until((start + RESTORE_AT - Duration::from_millis(300)).into())
                    .await;
                let during = metrics(&cluster, "n1").await;
                tokio::time::sleep_until((start + RESTORE_AT).into()).await;
                set_service_time(&cluster, "n1", SERVICE_TIME).await;
                during
            };
            let (report, samples, during) = tokio::join!(
                load(&cluster, "n1", RATE, RUN, start),
                watch(&cluster, "n1", start, start + RUN),
                changes,
            );
            ran = Some((report, samples, during));
        });
        let (report, samples, during) = ran.expect("the run ran");
        match stalled(&[&report], &samples) {
            Some(why) if attempt < ATTEMPTS => println!("run {attempt}: {why}; once more"),
            why => break (cluster, report, samples, during, why.unwrap_or_default()),
        }
    };
    block_on(async {
        let over = format!("{} {busy}", limits_over(&samples));
        let first = |from: Duration, active: bool| {
            samples
                .iter()
                .find(|s| s.at >= from && s.figures.alarm.active == active)
                .map(|s| s.at)
        };
        let before = samples.iter().filter(|s| s.at < HALVE_AT);
        assert!(
            before
                .clone()
                .all(|s| !s.figures.alarm.active && s.figures.alarm.sets == 0),
            "below capacity nothing is refused and the alarm stays clear: {over}"
        );
        let set_at = first(HALVE_AT, true);
        let cleared_at = set_at.and_then(|t| first(t, false));
        println!(
            "alarm set at {set_at:?}, cleared at {cleared_at:?} (capacity halved at \
             {HALVE_AT:?}, back at {RESTORE_AT:?}); {} refused of {} sent; the limit over time \
             ('!' = set): {over}",
            report.summary().errors.values().sum::<u64>(),
            report.summary().sent,
        );
        let set_at = set_at.unwrap_or_else(|| {
            panic!(
                "capacity halved under 1.5x its load: the alarm should set, it never did: {over}"
            )
        });
        assert!(
            set_at - HALVE_AT <= PROMPTLY,
            "the alarm should set within {PROMPTLY:?} of the overload; it set {:?} after: {over}",
            set_at - HALVE_AT
        );
        let active_until_restore = samples
            .iter()
            .filter(|s| s.at >= set_at && s.at < RESTORE_AT)
            .all(|s| s.figures.alarm.active && s.figures.alarm.sets == 1);
        assert!(
            active_until_restore,
            "once set, the alarm stays set while the overload lasts (set once, not flapping): \
             {over}"
        );
        let cleared_at = cleared_at.unwrap_or_else(|| {
            panic!("capacity came back: the alarm should clear, it never did: {over}")
        });
        assert!(
            cleared_at >= RESTORE_AT && cleared_at - RESTORE_AT <= PROMPTLY,
            "the alarm should clear within {PROMPTLY:?} of capacity coming back at \
             {RESTORE_AT:?}; it cleared at {cleared_at:?}: {over}"
        );
        let last = figures(&cluster, "n1").await;
        assert_eq!(
            (last.alarm.sets, last.alarm.clears, last.alarm.active),
            (1, 1, false),
            "one overload, one set and one clear: {over}"
        );
        // What an operator sees: the alarm's state and its counters on /metrics.
        for line in ["alarm_overload_active 1", "alarm_overload_set_total 1"] {
            assert!(
                during
                    .lines()
                    .any(|l| l == line || l == format!("{line}.0")),
                "mid-overload /metrics should show `{line}`:\n{during}"
            );
        }
        let after = metrics(&cluster, "n1").await;
        for line in [
            "alarm_overload_active 0",
            "alarm_overload_set_total 1",
            "alarm_overload_cleared_total 1",
        ] {
            assert!(
                after.lines().any(|l| l == line || l == format!("{line}.0")),
                "after the overload /metrics should show `{line}`:\n{after}"
            );
        }
    });
}

#[test]
fn the_edge_refuses_bad_input_with_a_json_4xx() {
    let cluster = start(1);
    block_on(async {
        let n1 = cluster.http("n1");
        // A few windows with nothing served: the limit has no news and keeps its start, twice
        // the service's 4 workers.
        tokio::time::sleep(adaptive_limits::WINDOW * 3).await;
        let idle = figures(&cluster, "n1").await;
        assert_eq!(
            (idle.limit, idle.alarm.active),
            (2.0 * WORKERS as f64, false),
            "an idle edge keeps its limit and its alarm clear: {idle:?}"
        );
        let ok = checkout(&client(), &checkout_url(&cluster, "n1"), "cart-1").await;
        assert_eq!(ok, harness::load::Outcome::Ok, "a good checkout");
        let send = |request: reqwest::RequestBuilder| async move {
            let response = request.send().await.expect("the edge answers");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        };
        let put_limit = |body: serde_json::Value| {
            n1.request(reqwest::Method::PUT, "/internal/limit")
                .json(&body)
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
                "a fixed limit of zero",
                put_limit(serde_json::json!({"fixed": 0})),
            ),
            (
                "a fixed limit over the most",
                put_limit(serde_json::json!({"fixed": 100000})),
            ),
            (
                "a fixed limit that is not a number",
                put_limit(serde_json::json!({"fixed": "twenty"})),
            ),
            (
                "a limit switch with an unknown field",
                put_limit(serde_json::json!({"fixed": 5, "adaptive": true})),
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
        let url = checkout_url(&cluster, "n1").replace("/checkout", "/internal/limit");
        let (status, _) = send(client().get(url)).await;
        assert_eq!(status, 403, "the limit's figures need the cluster cookie");
        let f = figures(&cluster, "n1").await;
        assert!(
            f.adaptive && f.admitted == 1 && f.refused == 0 && !f.alarm.active,
            "nothing the bad requests said changed the limiter: {f:?}"
        );
        // Fixed, then adaptive again.
        let (status, body) = send(put_limit(serde_json::json!({"fixed": 7}))).await;
        assert_eq!(
            (status, body["adaptive"].as_bool(), body["limit"].as_f64()),
            (200, Some(false), Some(7.0))
        );
        let (status, body) = send(put_limit(serde_json::json!({"fixed": null}))).await;
        assert_eq!((status, body["adaptive"].as_bool()), (200, Some(true)));
    });
}
