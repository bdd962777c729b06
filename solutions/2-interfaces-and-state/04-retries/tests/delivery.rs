//! What each guarantee does over a lossy link, on real payment nodes behind the harness's
//! fault proxy: `loss(p)` swallows a new connection (the request never arrives; the client
//! waits out its timeout), `drop_response(p)` lets a request through and resets the client
//! before its reply arrives (the work was done, the reply lost).
//!
//! Every node logs each request that reaches it (`GET /internal/arrivals`), so a test counts
//! how many times each request id arrived: zero is lost, two is a duplicate.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Mode, SEED, payment, received, send_batch, send_one};
use harness::block_on;
use retries_solution::{Backoff, CARD_DECLINED, Operation, PaymentError, TransportKind};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The share of connections swallowed, and of replies lost, where a test sets one.
const LOSS: f64 = 0.2;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The share of `count` in `total`.
fn share(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

#[test]
fn at_most_once_loses_about_the_loss_rate_and_never_duplicates() {
    const N: usize = 400;
    let cluster = common::start(1);
    block_on(async {
        let sender = Arc::new(common::sender(&cluster, &["n1"]));

        // Healthy: every charge gets its receipt and arrives exactly once.
        send_one(&sender, Operation::Charge, Mode::AtMostOnce).await;
        let sent = send_batch(
            &sender,
            Operation::Charge,
            Mode::AtMostOnce,
            "ok",
            50,
            ms(2),
        )
        .await;
        for s in &sent {
            assert!(
                s.outcome.is_ok(),
                "healthy charge {}: {:?}",
                s.request_id,
                s.outcome
            );
        }
        let got = received(&cluster, &["n1"], "ok").await;
        assert_eq!(got.len(), 50, "every healthy charge must arrive");
        assert!(
            got.values().all(|&n| n == 1),
            "a healthy charge arrived twice: {got:?}"
        );

        // 20% of connections swallowed: those charges never arrive, and their senders wait
        // out the 1 s timeout without knowing.
        cluster.client_link("n1").loss(LOSS);
        let sent = send_batch(
            &sender,
            Operation::Charge,
            Mode::AtMostOnce,
            "loss",
            N,
            ms(1),
        )
        .await;
        cluster.client_link("n1").clear();
        let got = received(&cluster, &["n1"], "loss").await;
        let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "seed {SEED}: at most once sent these twice: {twice:?}"
        );
        let lost = N - got.len();
        for s in &sent {
            match &s.outcome {
                Ok(_) => assert!(
                    got.contains_key(&s.request_id),
                    "{} has a receipt but never arrived",
                    s.request_id
                ),
                Err(PaymentError::Transport(t)) => assert_eq!(
                    t.kind,
                    TransportKind::Timeout,
                    "{}: a swallowed request ends in its timeout: {t}",
                    s.request_id
                ),
                Err(other) => panic!(
                    "{}: at most once must return the attempt's own error; got {other}",
                    s.request_id
                ),
            }
        }
        let unknown = sent
            .iter()
            .filter(|s| s.outcome.as_ref().is_err_and(PaymentError::is_unknown))
            .count();
        assert_eq!(
            unknown, lost,
            "every lost charge, and only those, is an \"I don't know\""
        );
        println!("loss {LOSS}: {lost} of {N} charges lost, none twice");
        assert!(
            (0.1..=0.3).contains(&share(lost, N)),
            "seed {SEED}: {lost} of {N} charges lost through a link that swallows {LOSS} of its connections; at most once loses about that share"
        );

        // 20% of replies lost after the work: every charge arrived exactly once, and for
        // about a fifth of them the sender cannot tell.
        cluster.client_link("n1").drop_response(LOSS);
        let sent = send_batch(
            &sender,
            Operation::Charge,
            Mode::AtMostOnce,
            "drop",
            N,
            ms(1),
        )
        .await;
        cluster.client_link("n1").clear();
        let got = received(&cluster, &["n1"], "drop").await;
        assert_eq!(
            got.len(),
            N,
            "seed {SEED}: with replies lost (not requests), every charge must arrive"
        );
        assert!(
            got.values().all(|&n| n == 1),
            "seed {SEED}: at most once sent a charge twice"
        );
        let unknown = sent
            .iter()
            .filter(|s| s.outcome.as_ref().is_err_and(PaymentError::is_unknown))
            .count();
        println!(
            "drop_response {LOSS}: all {N} charges done once, {unknown} of them unknown to the sender"
        );
        assert!(
            (0.1..=0.3).contains(&share(unknown, N)),
            "seed {SEED}: {unknown} of {N} senders got no reply through a link that loses {LOSS} of its replies"
        );
    });
}

#[test]
fn at_least_once_delivers_everything_before_its_deadline_and_does_duplicate() {
    const N: usize = 300;
    const DEADLINE: Duration = Duration::from_secs(5);
    const NODES: [&str; 3] = ["n1", "n2", "n3"];
    let cluster = common::start(3);
    block_on(async {
        let backoff = Backoff {
            base: ms(50),
            cap: ms(500),
            jitter: true,
        };
        let sender = Arc::new(common::sender(&cluster, &NODES).backoff(backoff).seed(SEED));
        let alo = Mode::AtLeastOnce { deadline: DEADLINE };

        // Healthy: one attempt each, at the first node of the preference list.
        send_one(&sender, Operation::Authorize, alo).await;
        let sent = send_batch(&sender, Operation::Authorize, alo, "ok", 50, ms(2)).await;
        for s in &sent {
            let receipt = s
                .outcome
                .as_ref()
                .unwrap_or_else(|e| panic!("healthy {}: {e}", s.request_id));
            assert_eq!(
                receipt.node, "n1",
                "a healthy send is answered by the first node"
            );
        }
        let got = received(&cluster, &NODES, "ok").await;
        assert_eq!(got.len(), 50, "every healthy authorization must arrive");
        assert!(
            got.values().all(|&n| n == 1),
            "a healthy send was retried: {got:?}"
        );

        // A declined card is an answer: sent once, never retried.
        let mut declined = payment("declined", 0);
        declined.card = "4000000000000002".into();
        let outcome = sender
            .send_at_least_once(Operation::Authorize, &declined, DEADLINE)
            .await;
        assert!(
            matches!(&outcome, Err(PaymentError::Business { code, .. }) if code == CARD_DECLINED),
            "a declined card must come back as the business error {CARD_DECLINED}; got {outcome:?}"
        );
        assert!(
            Operation::Authorize
                .contract()
                .business_errors
                .contains(&CARD_DECLINED),
            "the interface declares card_declined for authorize"
        );
        let got = received(&cluster, &NODES, "declined").await;
        assert_eq!(
            got.values().sum::<usize>(),
            1,
            "a business error was retried: {got:?}"
        );

        // Every link swallows 10% of its connections and loses 20% of its replies (and is
        // cleared to read what arrived, through the same links).
        let lossy = |on: bool| {
            for node in NODES {
                let link = cluster.client_link(node);
                if on {
                    link.loss(LOSS / 2.0);
                    link.drop_response(LOSS);
                } else {
                    link.clear();
                }
            }
        };
        lossy(true);
        let sent = send_batch(&sender, Operation::Authorize, alo, "lossy", N, ms(2)).await;
        lossy(false);
        for s in &sent {
            assert!(
                s.outcome.is_ok(),
                "seed {SEED}: {} was not delivered within its {DEADLINE:?} deadline: {}",
                s.request_id,
                s.outcome.as_ref().unwrap_err()
            );
            assert!(
                s.took < DEADLINE + ms(500),
                "{} took {:?}, past its deadline",
                s.request_id,
                s.took
            );
        }
        let got = received(&cluster, &NODES, "lossy").await;
        assert_eq!(
            got.len(),
            N,
            "every request with a receipt arrived somewhere"
        );
        let twice = got.values().filter(|&&n| n > 1).count();
        let extra: usize = got.values().map(|n| n - 1).sum();
        println!(
            "at least once: all {N} delivered; {twice} arrived more than once ({extra} extra arrivals)"
        );
        assert!(
            twice * 20 >= N,
            "seed {SEED}: only {twice} of {N} requests arrived twice, with a fifth of the replies lost after the work: a retry after a lost reply repeats the work"
        );

        // The control: at most once over the same links delivers only some.
        lossy(true);
        let sent = send_batch(
            &sender,
            Operation::Authorize,
            Mode::AtMostOnce,
            "amo",
            N,
            ms(2),
        )
        .await;
        lossy(false);
        let ok = sent.iter().filter(|s| s.outcome.is_ok()).count();
        println!("at most once, same links: {ok} of {N} receipts");
        assert!(
            share(ok, N) < 0.9,
            "seed {SEED}: at most once got {ok} of {N} receipts through links that lose about 28% of requests or replies"
        );
    });
}

#[test]
fn the_payment_service_refuses_bad_input_with_a_json_4xx() {
    let cluster = common::start(1);
    block_on(async {
        let sender = common::sender(&cluster, &["n1"]);
        let charge = payment("good", 0);
        let receipt = sender.send_at_most_once(Operation::Charge, &charge).await;
        assert!(receipt.is_ok(), "a healthy charge: {receipt:?}");

        let n1 = cluster.http("n1");
        let body = |over: Value| {
            let mut body = json!({"request_id": "bad-1", "order": "bad-1", "amount_cents": 100, "card": "4242424242424242"});
            for (k, v) in over.as_object().unwrap() {
                body[k] = v.clone();
            }
            body.to_string()
        };
        let cases: Vec<(&str, String, String, u16, &str)> = vec![
            (
                "an unknown operation",
                "/payments/steal".into(),
                body(json!({})),
                404,
                "unknown_operation",
            ),
            (
                "malformed JSON",
                "/payments/charge".into(),
                "{\"request_id\":".into(),
                400,
                "malformed_json",
            ),
            (
                "an unknown field",
                "/payments/charge".into(),
                body(json!({"tip": 5})),
                422,
                "invalid_body",
            ),
            (
                "an invalid request id",
                "/payments/charge".into(),
                body(json!({"request_id": "a b"})),
                400,
                "bad_request",
            ),
            (
                "a zero amount",
                "/payments/charge".into(),
                body(json!({"amount_cents": 0})),
                400,
                "bad_request",
            ),
            (
                "a card that is not digits",
                "/payments/charge".into(),
                body(json!({"card": "not-a-card"})),
                400,
                "bad_request",
            ),
            (
                "a refund of more than was charged",
                "/payments/refund".into(),
                body(json!({"order": "good-0", "amount_cents": 5000})),
                402,
                "refund_exceeds_charges",
            ),
        ];
        for (what, path, body, status, code) in cases {
            let response = n1
                .post(&path)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let response = cluster.expect_answer(response, what).await;
            let got = response.status().as_u16();
            let error: Value = response.json().await.unwrap_or_default();
            assert_eq!(
                (got, error["error"].as_str()),
                (status, Some(code)),
                "{what}: {error}"
            );
        }

        // An oversize body is refused on its declared length, before it is sent: raw HTTP,
        // so the client does not try to push 300 KiB into a connection the node has closed.
        let mut raw = tokio::net::TcpStream::connect(cluster.addr("n1"))
            .await
            .expect("connect to n1");
        let head = format!(
            "POST /payments/charge HTTP/1.1\r\nhost: n1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            300 * 1024
        );
        raw.write_all(head.as_bytes()).await.expect("send the head");
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            let mut chunk = [0; 4096];
            while !String::from_utf8_lossy(&reply).contains("body_too_large") {
                match raw.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reply.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let _ = read.await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.starts_with("HTTP/1.1 413") && reply.contains(r#""error":"body_too_large""#),
            "an oversize body: {reply}"
        );

        // The arrival log is internal: no cookie, no answer.
        let url = n1.url("/internal/arrivals");
        let response = reqwest::Client::new().get(url).send().await;
        let response = cluster
            .expect_answer(response, "arrivals without the cookie")
            .await;
        assert_eq!(response.status().as_u16(), 403);

        // The node still serves; only the two requests it accepted (the charge and the
        // refused refund) are in its log.
        let again = sender
            .send_at_most_once(Operation::Charge, &payment("good", 1))
            .await;
        assert!(again.is_ok(), "a charge after the bad input: {again:?}");
        let log = common::arrivals(&cluster, "n1").await;
        let ids: Vec<&str> = log.iter().map(|a| a.request_id.as_str()).collect();
        assert_eq!(ids, ["good-0", "bad-1", "good-1"], "what reached the books");
    });
}
