//! Charges sent at least once through the harness's fault proxy, whose `drop_response` lets a
//! charge through and resets the client before its reply arrives: the card was charged, and
//! the front-end does not know, so it sends the charge again. The ledger counts how many times
//! it charged each request id (`GET /internal/ledger`): two is a double charge.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{CARD, DECLINED_CARD, SEED, charge_many, charge_one, doubles_of, ledger};
use exactly_once::{ACKED_THROUGH, CARD_DECLINED, Receipt};
use harness::block_on;
use serde_json::{Value, json};

/// The share of replies the link loses.
const LOST_REPLIES: f64 = 0.25;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn thousands_of_charges_over_a_link_that_loses_replies_are_charged_once() {
    const N: usize = 2000;
    let cluster = common::start(&[]);
    block_on(async {
        let client = Arc::new(common::client(&cluster, "shop-1"));

        // Healthy: every charge gets its receipt and is charged exactly once.
        charge_one(&cluster, &client).await;
        let charged = charge_many(&client, 50, ms(1)).await;
        let missing = common::without_receipt(&charged);
        assert!(
            missing.is_empty(),
            "healthy charges without a receipt: {missing:?}"
        );
        let books = ledger(&cluster).await;
        assert_eq!(books.total(), 51, "51 healthy charges, each charged once");
        assert_eq!(books.repeats, 0, "nothing was repeated on a healthy link");

        // A quarter of the replies lost after the charge: every lost reply is a charge sent
        // again, and the table must answer each repeat with the original receipt.
        cluster.client_link("n1").drop_response(LOST_REPLIES);
        let charged = charge_many(&client, N, Duration::from_micros(500)).await;
        cluster.client_link("n1").clear();
        let missing = common::without_receipt(&charged);
        assert!(
            missing.is_empty(),
            "seed {SEED}: {} of {N} charges got no receipt within their deadline (first: {:?})",
            missing.len(),
            missing.first()
        );
        for c in &charged {
            let receipt = c.outcome.as_ref().expect("checked above");
            assert_eq!(
                receipt.request_id, c.request_id,
                "a repeat must get its own original receipt"
            );
        }
        let books = ledger(&cluster).await;
        let doubles = books.doubles();
        let lost = cluster.client_link("n1").stats().dropped_responses;
        println!(
            "with the dedup table: {N} charges, {lost} replies lost, {} repeats answered from the table, {} double charges",
            books.repeats,
            doubles.len()
        );
        assert!(
            doubles.is_empty(),
            "seed {SEED}: {} charges were charged twice or more with the dedup table on, e.g. {:?}",
            doubles.len(),
            doubles.iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(
            books.total(),
            51 + N as u64,
            "every charge charged exactly once"
        );
        assert!(
            books.repeats as usize >= N / 10,
            "seed {SEED}: only {} repeats reached the table with {LOST_REPLIES} of the replies lost: the run did not test the table",
            books.repeats
        );
    });
    drop(cluster);

    // The control: the same run against a ledger without the table (a runtime and a time
    // limit of its own: on a busy machine each half may take many seconds).
    let cluster = common::start(&["--no-dedup"]);
    block_on(async {
        let client = Arc::new(common::client(&cluster, "shop-1"));
        cluster.client_link("n1").drop_response(LOST_REPLIES);
        let charged = charge_many(&client, N, Duration::from_micros(500)).await;
        cluster.client_link("n1").clear();
        let missing = common::without_receipt(&charged);
        assert!(missing.is_empty(), "the control lost charges: {missing:?}");
        let books = ledger(&cluster).await;
        let doubles = doubles_of(&books, "shop-1");
        println!(
            "without it (--no-dedup): {N} charges, {doubles} double charges, {} charges in all",
            books.total()
        );
        assert!(
            doubles * 10 >= N,
            "seed {SEED}: the control without a table charged only {doubles} of {N} twice, with {LOST_REPLIES} of the replies lost"
        );
    });
}

#[test]
fn a_copy_that_arrives_while_the_first_is_charged_is_not_charged_again() {
    const COPIES: usize = 20;
    // The card processor takes a second: copies sent together all arrive before the first
    // is charged.
    let cluster = common::start(&["--processor-ms", "1000"]);
    block_on(async {
        let client = common::client(&cluster, "shop-1");
        let first = charge_one(&cluster, &client).await;
        let n1 = cluster.http("n1");
        let send = |request_id: &str, card: &str, acked: u64| {
            n1.post("/payments/charge")
                .header(ACKED_THROUGH, acked.to_string())
                .json(&json!({"request_id": request_id, "order": "o-1", "amount_cents": 500, "card": card}))
                .send()
        };

        // A repeat after the answer: the original receipt, and no second charge.
        let again = send(&first.request_id, CARD, 0).await;
        let again = cluster
            .expect_answer(again, "repeating the first charge")
            .await;
        assert_eq!(again.status().as_u16(), 200, "a repeat is answered 200");
        let receipt: Receipt = again.json().await.expect("a receipt");
        assert_eq!(
            Ok(&receipt),
            first.outcome.as_ref(),
            "a repeat gets the original receipt (its order and amount, not the repeat's)"
        );
        assert_eq!(ledger(&cluster).await.charges[&first.request_id], 1);

        // A declined card, twice: the same no, never a charge.
        for _ in 0..2 {
            let declined = send("shop-1-2", DECLINED_CARD, 1).await;
            let declined = cluster.expect_answer(declined, "a declined card").await;
            assert_eq!(declined.status().as_u16(), 402);
            let error: Value = declined.json().await.unwrap_or_default();
            assert_eq!(error["error"], CARD_DECLINED);
        }

        // COPIES copies of one request at once, while the processor takes its time.
        let copies: Vec<_> = (0..COPIES).map(|_| send("shop-1-3", CARD, 2)).collect();
        let answers = futures_join(copies).await;
        let mut charged = 0;
        let mut in_progress = 0;
        for answer in answers {
            let answer = cluster.expect_answer(answer, "a copy of shop-1-3").await;
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or_default();
            match status {
                200 => charged += 1,
                503 if body["error"] == "in_progress" => in_progress += 1,
                _ => panic!("a copy of shop-1-3 was answered {status} {body}"),
            }
        }
        let books = ledger(&cluster).await;
        println!("{COPIES} copies at once: {charged} answered 200, {in_progress} 503 in_progress");
        assert_eq!(
            books.charges.get("shop-1-3"),
            Some(&1),
            "{COPIES} copies of shop-1-3 arrived together while the first was at the processor: charged {:?} times, must be once",
            books.charges.get("shop-1-3")
        );
        assert!(
            in_progress >= 1,
            "no copy arrived while the first was charged: the test did not test that"
        );
        let after = send("shop-1-3", CARD, 2).await;
        let after = cluster
            .expect_answer(after, "a copy after the charge")
            .await;
        assert_eq!(
            after.status().as_u16(),
            200,
            "once charged, a copy gets the receipt"
        );

        // A copy at or below the watermark: the client has its answer, so it is a stray.
        let stray = send("shop-1-1", CARD, 3).await;
        let stray = cluster.expect_answer(stray, "a stray copy").await;
        assert_eq!(
            stray.status().as_u16(),
            409,
            "a request at or below the watermark is refused"
        );
        let books = ledger(&cluster).await;
        assert_eq!(
            books.total(),
            2,
            "shop-1-1 and shop-1-3, each once: {books:?}"
        );
        assert_eq!(books.tables["shop-1"].acked, 3);
    });
}

/// Runs the requests together and returns their answers in order.
async fn futures_join<F, T>(requests: Vec<F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = requests.into_iter().map(tokio::spawn).collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("a request task"));
    }
    answers
}

#[test]
fn the_ledger_refuses_bad_input_with_a_json_4xx() {
    let cluster = common::start(&[]);
    block_on(async {
        let client = common::client(&cluster, "shop-1");
        charge_one(&cluster, &client).await;
        let n1 = cluster.http("n1");
        let body = |over: Value| {
            let mut body = json!({"request_id": "shop-2-1", "order": "o-1", "amount_cents": 100, "card": CARD});
            for (k, v) in over.as_object().unwrap() {
                body[k] = v.clone();
            }
            body.to_string()
        };
        // (what, path, body, x-acked-through, status, error code)
        type Case<'a> = (&'a str, &'a str, String, Option<&'a str>, u16, &'a str);
        let cases: Vec<Case> = vec![
            (
                "another operation",
                "/payments/refund",
                body(json!({})),
                None,
                404,
                "unknown_operation",
            ),
            (
                "malformed JSON",
                "/payments/charge",
                "{\"request_id\":".into(),
                None,
                400,
                "malformed_json",
            ),
            (
                "an unknown field",
                "/payments/charge",
                body(json!({"tip": 5})),
                None,
                422,
                "invalid_body",
            ),
            (
                "a request id without a number",
                "/payments/charge",
                body(json!({"request_id": "shop"})),
                None,
                400,
                "bad_request",
            ),
            (
                "a request number 0",
                "/payments/charge",
                body(json!({"request_id": "shop-0"})),
                None,
                400,
                "bad_request",
            ),
            (
                "a request number spelt 007",
                "/payments/charge",
                body(json!({"request_id": "shop-007"})),
                None,
                400,
                "bad_request",
            ),
            (
                "a watermark that is not a number",
                "/payments/charge",
                body(json!({})),
                Some("soon"),
                400,
                "bad_request",
            ),
            (
                "a zero amount",
                "/payments/charge",
                body(json!({"amount_cents": 0})),
                None,
                400,
                "bad_request",
            ),
            (
                "a card that is not digits",
                "/payments/charge",
                body(json!({"card": "not-a-card"})),
                None,
                400,
                "bad_request",
            ),
        ];
        for (what, path, body, watermark, status, code) in cases {
            let mut request = n1
                .post(path)
                .header("content-type", "application/json")
                .body(body);
            if let Some(watermark) = watermark {
                request = request.header(ACKED_THROUGH, watermark);
            }
            let response = cluster.expect_answer(request.send().await, what).await;
            let got = response.status().as_u16();
            let error: Value = response.json().await.unwrap_or_default();
            assert_eq!(
                (got, error["error"].as_str()),
                (status, Some(code)),
                "{what}: {error}"
            );
        }
        let url = n1.url("/internal/ledger");
        let response = reqwest::Client::new().get(url).send().await;
        let response = cluster
            .expect_answer(response, "the ledger without the cookie")
            .await;
        assert_eq!(response.status().as_u16(), 403, "the ledger is internal");

        let again = client.charge("after", 100, CARD).await;
        assert!(
            again.outcome.is_ok(),
            "a charge after the bad input: {:?}",
            again.outcome
        );
        let books = ledger(&cluster).await;
        assert_eq!(
            books.charges.keys().collect::<Vec<_>>(),
            ["shop-1-1", "shop-1-2"],
            "only the two good charges reached the books"
        );
    });
}
