//! The supervisor in a real node process, behind the harness: a crash-looping child while its
//! sibling serves, the naive control without a supervisor, escalation seen as the node's exit,
//! and the routes' bad input.
//!
//! The node's children are the logic node's services, `sessions`, `carts`, `orders` and
//! `mailer`; `GET /children` shows each one's generation, `POST /call/{child}` asks one (its
//! reply says which generation answered and how many calls that instance served), and
//! `/internal/crash/{child}` and `/internal/crash-loop/{child}` break them.

use std::time::{Duration, Instant};

use harness::{Cluster, block_on};
use serde_json::{Value, json};
use supervision::{Reply, SupervisorView};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// One node of this crate's binary, with the node flags `flags`.
fn start(flags: &[&str]) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(1)
        .args(flags.iter().copied())
        .start()
        .expect("the node starts")
}

async fn view(cluster: &Cluster) -> SupervisorView {
    let got = cluster.http("n1").get_json("/children").await;
    cluster.expect_answer(got, "GET /children").await
}

fn generation(view: &SupervisorView, child: &str) -> u64 {
    view.children
        .iter()
        .find(|c| c.name == child)
        .map(|c| c.generation)
        .unwrap_or_else(|| panic!("no child {child} in {view:?}"))
}

/// Every child's generation, in start order.
fn generations(view: &SupervisorView) -> Vec<u64> {
    view.children.iter().map(|c| c.generation).collect()
}

/// Crashes `child` once and waits until its supervisor has restarted it.
async fn crash_once(cluster: &Cluster, child: &str) {
    let n1 = cluster.http("n1");
    let before = view(cluster).await.restarts;
    let sent = n1.post(&format!("/internal/crash/{child}")).send().await;
    let status = cluster
        .expect_answer(sent, "the crash request")
        .await
        .status();
    assert_eq!(status, 202, "POST /internal/crash/{child}");
    let what = format!("{child}'s supervisor to restart it");
    cluster
        .eventually(&what, Duration::from_secs(5), async || {
            let now: SupervisorView = n1.get_json("/children").await?;
            if now.restarts > before {
                Ok(())
            } else {
                Err(format!("the children are {:?}", now.children))
            }
        })
        .await;
}

async fn crash_loop(cluster: &Cluster, child: &str, every: Option<u64>) {
    let n1 = cluster.http("n1");
    let path = format!("/internal/crash-loop/{child}");
    let sent = match every {
        Some(every_ms) => {
            n1.request(reqwest::Method::PUT, &path)
                .json(&json!({ "every_ms": every_ms }))
                .send()
                .await
        }
        None => n1.request(reqwest::Method::DELETE, &path).send().await,
    };
    let status = cluster
        .expect_answer(sent, "the crash-loop request")
        .await
        .status();
    assert_eq!(status, 200, "{path}");
}

/// `POST /call/{child}`: its reply, or what went wrong.
async fn call(cluster: &Cluster, child: &str) -> Result<Reply, String> {
    let answer = cluster
        .http("n1")
        .post(&format!("/call/{child}"))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = answer.status();
    let body = answer.text().await.map_err(|e| format!("broke off: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
}

/// Waits up to `limit` for the node to exit by itself; returns the harness's account of it.
fn exit_seen(cluster: &Cluster, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Err(exited) = cluster.check_alive() {
            return Some(exited.to_string());
        }
        std::thread::sleep(ms(10));
    }
    None
}

#[test]
fn a_sibling_keeps_serving_every_request_while_one_child_crash_loops() {
    let cluster = start(&["--strategy", "one_for_one", "--intensity", "1000"]);
    block_on(async {
        // Healthy: one crash of the mailer restarts the mailer alone.
        crash_once(&cluster, "mailer").await;
        assert_eq!(generations(&view(&cluster).await), [1, 1, 1, 2]);

        // The mailer reads a poison message 30 ms after every start, while carts serves.
        crash_loop(&cluster, "mailer", Some(30)).await;
        let mut failed = Vec::new();
        let mut replies = Vec::new();
        for _ in 0..100 {
            match call(&cluster, "carts").await {
                Ok(reply) => replies.push(reply),
                Err(e) => failed.push(e),
            }
            tokio::time::sleep(ms(20)).await;
        }
        crash_loop(&cluster, "mailer", None).await;
        let after = view(&cluster).await;
        eprintln!(
            "carts: {} of 100 calls answered by generation 1; the mailer reached generation {}",
            replies.len(),
            generation(&after, "mailer")
        );
        assert!(
            failed.is_empty(),
            "carts must answer every call while the mailer crash-loops; {} of 100 failed, \
             the first: {}",
            failed.len(),
            failed[0]
        );
        let calls: Vec<u64> = replies.iter().map(|r| r.calls).collect();
        assert!(
            replies.iter().all(|r| r.generation == 1) && calls == (1..=100).collect::<Vec<_>>(),
            "one instance of carts, never restarted, answered all 100 calls and kept its count: \
             {replies:?}"
        );
        assert!(
            generation(&after, "mailer") >= 12,
            "the mailer crash-looped for 2 s, 30 ms after each start: at least 10 restarts \
             (the reference: about 75): {after:?}"
        );
        assert_eq!(
            [
                generation(&after, "sessions"),
                generation(&after, "carts"),
                generation(&after, "orders")
            ],
            [1, 1, 1],
            "one_for_one restarts only the mailer: {after:?}"
        );
    });
    drop(cluster);

    // The naive control: the same services as plain tasks, no supervisor. The mailer's first
    // crash is nobody's to handle, and takes carts down with the node.
    let control = start(&["--unsupervised"]);
    block_on(async {
        let healthy = call(&control, "carts").await;
        assert!(healthy.is_ok(), "the control serves at first: {healthy:?}");
        let sent = control
            .http("n1")
            .post("/internal/crash/mailer")
            .send()
            .await;
        let _ = sent;
    });
    let exited = exit_seen(&control, Duration::from_secs(5))
        .expect("without a supervisor, the mailer's panic must end the node");
    assert!(
        exited.contains("exit code 101") && exited.contains("crash requested"),
        "the harness sees the node exit with the panic's status and its line: {exited}"
    );
    block_on(async {
        let after = call(&control, "carts").await;
        assert!(after.is_err(), "carts went down with the node: {after:?}");
    });
}

#[test]
fn a_supervisor_that_gives_up_ends_the_node_and_the_harness_sees_it() {
    let cluster = start(&["--intensity", "3", "--period-ms", "1000"]);
    block_on(async {
        crash_once(&cluster, "mailer").await;

        // Spread out: a crash at least 400 ms after each start, so never four restarts
        // within one second. The supervisor keeps restarting, and the node stays up.
        crash_loop(&cluster, "mailer", Some(400)).await;
        let spread = Instant::now();
        while spread.elapsed() < ms(2200) {
            if let Err(exited) = cluster.check_alive() {
                panic!("crashes 400 ms apart never make 4 within 1 s, but {exited}");
            }
            tokio::time::sleep(ms(50)).await;
        }
        let after = view(&cluster).await;
        eprintln!(
            "crashes 400 ms apart for 2.2 s: the mailer reached generation {}, no escalation",
            generation(&after, "mailer")
        );
        assert!(
            generation(&after, "mailer") >= 5,
            "2.2 s of crashes 400 ms apart restart the mailer at least 3 times (the \
             reference: 5): {after:?}"
        );
        assert!(after.escalated.is_none(), "{after:?}");
        assert_eq!(call(&cluster, "carts").await.map(|r| r.generation), Ok(1));

        // Dense: 20 ms after each start. The fourth restart within a second is refused.
        crash_loop(&cluster, "mailer", Some(20)).await;
    });
    let dense = Instant::now();
    let exited = exit_seen(&cluster, Duration::from_secs(5))
        .expect("four crashes within a second must make the supervisor give up, and the node exit");
    eprintln!(
        "crashes 20 ms apart: the node exited {} ms later",
        dense.elapsed().as_millis()
    );
    assert!(
        exited.contains("exit code 70"),
        "an escalation ends the node with status 70 (node_kit::crash::ESCALATION_EXIT): {exited}"
    );
    assert!(
        exited.contains("escalation: supervisor n1 gave up: 4 restarts within 1000 ms, more than its intensity of 3")
            && exited.contains("the last: mailer panicked"),
        "the node's last line says why it exits: {exited}"
    );
}

#[test]
fn the_node_refuses_bad_input_with_a_json_4xx() {
    let cluster = start(&[]);
    let n1 = cluster.http("n1");
    block_on(async {
        crash_once(&cluster, "carts").await;
        assert_eq!(generation(&view(&cluster).await, "carts"), 2);

        let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
            (
                "a call to no child",
                n1.post("/call/payments"),
                404,
                "not_found",
            ),
            (
                "a GET of a call",
                n1.get("/call/carts"),
                405,
                "method_not_allowed",
            ),
            (
                "a crash of no child",
                n1.post("/internal/crash/payments"),
                404,
                "not_found",
            ),
            (
                "a crash without the cookie",
                reqwest::Client::new().post(n1.url("/internal/crash/carts")),
                403,
                "bad_cookie",
            ),
            (
                "a crash loop of zero ms",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/mailer")
                    .json(&json!({ "every_ms": 0 })),
                400,
                "bad_request",
            ),
            (
                "a crash loop of more than a minute",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/mailer")
                    .json(&json!({ "every_ms": 60_001 })),
                400,
                "bad_request",
            ),
            (
                "a crash loop that is not a number",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/mailer")
                    .json(&json!({ "every_ms": "soon" })),
                422,
                "invalid_body",
            ),
            (
                "a crash loop with an unknown field",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/mailer")
                    .json(&json!({ "every_ms": 100, "forever": true })),
                422,
                "invalid_body",
            ),
            (
                "malformed JSON",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/mailer")
                    .header("content-type", "application/json")
                    .body("{\"every_ms\":"),
                400,
                "malformed_json",
            ),
            (
                "a crash loop of no child",
                n1.request(reqwest::Method::PUT, "/internal/crash-loop/payments")
                    .json(&json!({ "every_ms": 100 })),
                404,
                "not_found",
            ),
        ];
        for (what, request, status, code) in cases {
            let answer = request.send().await;
            let answer = cluster.expect_answer(answer, what).await;
            let got = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or_default();
            assert_eq!(
                (got, body["error"].as_str()),
                (status, Some(code)),
                "{what}: {body}"
            );
        }
        let after = view(&cluster).await;
        assert_eq!(
            (generations(&after), after.restarts),
            (vec![1, 2, 1, 1], 1),
            "bad input crashes nothing"
        );
    });
}
