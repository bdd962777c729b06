//! The regulator's three decisions, one at a time, without a node: what `admit` decides at
//! each count, which waiters `next_in_line` expires and which it serves, and what a refusal
//! says. Then the regulator as a whole, in one process, under a burst.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::http::StatusCode;
use black_friday::{
    Admission, Limits, OVERLOADED, Overload, QUEUE_TIMEOUT, Regulator, Turn, Waiter, next_in_line,
    refuse,
};

const LIMITS: Limits = Limits {
    limit: 4,
    max_queue: 8,
    max_wait: Duration::from_millis(100),
    retry_after: Duration::from_secs(1),
};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn admit_serves_while_a_slot_is_free_queues_while_there_is_room_and_then_rejects() {
    use Admission::*;
    // (in service, queued) -> the decision, around each bound.
    let cases = [
        ((0, 0), Serve),
        ((3, 0), Serve),
        ((4, 0), Queue),
        ((4, 7), Queue),
        ((4, 8), Reject),
        ((4, 9), Reject),
        ((5, 0), Queue),
        ((9, 100), Reject),
    ];
    for ((in_service, queued), want) in cases {
        assert_eq!(
            LIMITS.admit(in_service, queued),
            want,
            "with {in_service} of {} slots in service and {queued} of {} queued",
            LIMITS.limit,
            LIMITS.max_queue
        );
    }
    let no_queue = Limits {
        max_queue: 0,
        ..LIMITS
    };
    assert_eq!(no_queue.admit(3, 0), Serve);
    assert_eq!(
        no_queue.admit(4, 0),
        Reject,
        "without a queue, a full house rejects"
    );
}

#[test]
fn next_in_line_expires_the_waiters_that_waited_too_long_and_serves_the_first_in_time() {
    let t0 = Instant::now();
    let now = t0 + ms(500);
    // Joined at 350, 399, 400 (exactly max_wait before now: still in time), 450.
    let mut turns = Vec::new();
    let mut queue = VecDeque::new();
    for joined in [350, 399, 400, 450] {
        let (waiter, turn) = Waiter::new(t0 + ms(joined));
        queue.push_back(waiter);
        turns.push(turn);
    }
    let next = next_in_line(&mut queue, now, LIMITS.max_wait).expect("one waited exactly 100 ms");
    assert_eq!(
        next.queued_at,
        t0 + ms(400),
        "the first waiter still in time is served next (waiting exactly max_wait is in time)"
    );
    assert_eq!(queue.len(), 1, "the one behind it keeps its place");
    assert_eq!(queue[0].queued_at, t0 + ms(450));
    for (turn, waited) in turns.iter_mut().zip([150, 101]) {
        assert_eq!(
            turn.try_recv(),
            Ok(Turn::Expired { waited: ms(waited) }),
            "a waiter that waited {waited} ms is told it expired"
        );
    }
    assert!(
        turns[2].try_recv().is_err(),
        "the one to serve is not told anything yet: the regulator gives it the slot"
    );

    // A queue of only expired waiters, or none, gives nobody.
    let (old, mut old_turn) = Waiter::new(t0);
    let mut queue = VecDeque::from([old]);
    assert!(next_in_line(&mut queue, now, LIMITS.max_wait).is_none());
    assert!(queue.is_empty());
    assert!(matches!(old_turn.try_recv(), Ok(Turn::Expired { .. })));
    assert!(next_in_line(&mut VecDeque::new(), now, LIMITS.max_wait).is_none());

    // Nobody expires in a queue that is young enough.
    let mut queue = VecDeque::new();
    let mut young = Vec::new();
    for joined in [420, 430] {
        let (waiter, turn) = Waiter::new(t0 + ms(joined));
        queue.push_back(waiter);
        young.push(turn);
    }
    let next = next_in_line(&mut queue, now, LIMITS.max_wait).unwrap();
    assert_eq!(next.queued_at, t0 + ms(420), "first come, first served");
    assert_eq!(queue.len(), 1);
    assert!(young[1].try_recv().is_err(), "nobody else is told anything");
}

#[tokio::test]
async fn a_refusal_is_a_503_with_retry_after_in_whole_seconds_and_a_json_reason() {
    let body = |response: axum::response::Response| async move {
        let bytes = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).expect("a JSON body")
    };
    for (retry_after, header) in [
        (ms(1000), "1"),
        (ms(1500), "2"),
        (ms(2000), "2"),
        (ms(1), "1"),
        (Duration::ZERO, "1"),
        (ms(30_000), "30"),
    ] {
        let response = refuse(Overload::Full { max_queue: 8 }, retry_after);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap()),
            Some(header),
            "Retry-After for {retry_after:?}: whole seconds, rounded up, at least 1"
        );
        let json = body(response).await;
        assert_eq!(json["error"], OVERLOADED, "{json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }
    let expired = refuse(
        Overload::Expired {
            waited: ms(130),
            max_wait: ms(100),
        },
        ms(1000),
    );
    assert_eq!(expired.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(expired.headers().contains_key("retry-after"));
    let json = body(expired).await;
    assert_eq!(json["error"], QUEUE_TIMEOUT, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_burst_the_regulator_serves_its_limit_queues_its_bound_and_refuses_the_rest() {
    let regulator = Regulator::new(LIMITS, None);
    // 4 served, 8 queued, 8 refused; the passes are held until the burst is in.
    let mut passes = Vec::new();
    for _ in 0..4 {
        let pass = tokio::time::timeout(ms(1000), regulator.enter())
            .await
            .expect("a request to a free slot must be served at once, not queued");
        passes.push(pass.expect("a free slot serves at once"));
    }
    let mut queued = Vec::new();
    for _ in 0..8 {
        let regulator = regulator.clone();
        queued.push(tokio::spawn(
            async move { regulator.enter().await.map(drop) },
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while regulator.figures(true).queued < 8 && Instant::now() < deadline {
        tokio::time::sleep(ms(1)).await;
    }
    for _ in 0..8 {
        let t = Instant::now();
        let refused = regulator.enter().await.err();
        assert_eq!(refused, Some(Overload::Full { max_queue: 8 }));
        assert!(t.elapsed() < ms(20), "a refusal does not wait");
    }
    let figures = regulator.figures(true);
    assert_eq!(
        (
            figures.in_service,
            figures.queued,
            figures.peak_queue,
            figures.rejected
        ),
        (4, 8, 8, 8)
    );
    // Each freed slot goes to the head of the queue, until the queue is empty.
    drop(passes);
    for waiter in queued {
        let turn = tokio::time::timeout(ms(2000), waiter)
            .await
            .expect("a freed slot must go to the next in line: a queued request waited 2 s");
        assert_eq!(turn.unwrap(), Ok(()), "a queued request in time is served");
    }
    let figures = regulator.figures(true);
    assert_eq!(
        (figures.in_service, figures.queued, figures.admitted),
        (0, 0, 12)
    );

    // A request that waits past max_wait is refused when a slot frees, not served late.
    let pass = regulator.enter().await.unwrap();
    let mut held = vec![pass];
    for _ in 1..4 {
        held.push(regulator.enter().await.unwrap());
    }
    let late = {
        let regulator = regulator.clone();
        tokio::spawn(async move { regulator.enter().await.map(drop) })
    };
    tokio::time::sleep(LIMITS.max_wait + ms(50)).await;
    drop(held);
    let refused = tokio::time::timeout(ms(2000), late)
        .await
        .expect("a request that waited too long must be answered when a slot frees")
        .unwrap();
    assert!(
        matches!(refused, Err(Overload::Expired { waited, .. }) if waited > LIMITS.max_wait),
        "a request that waited 150 ms for a slot is refused: {refused:?}"
    );
    let figures = regulator.figures(true);
    assert_eq!(
        (figures.in_service, figures.queued, figures.expired),
        (0, 0, 1)
    );
}

#[tokio::test]
async fn a_request_dropped_as_its_turn_comes_hands_its_slot_on() {
    let one = Limits { limit: 1, ..LIMITS };
    let regulator = Regulator::new(one, None);
    let pass = regulator.enter().await.unwrap();
    // A second request joins the queue (one poll: it is waiting)...
    let mut waiting = Box::pin(regulator.enter());
    let first_poll =
        std::future::poll_fn(|cx| std::task::Poll::Ready(waiting.as_mut().poll(cx))).await;
    assert!(
        first_poll.is_pending(),
        "with the slot taken, the second request waits"
    );
    assert_eq!(regulator.figures(true).queued, 1);
    // ...the slot is handed to it, and its client hangs up before it ever runs.
    drop(pass);
    drop(waiting);
    let figures = regulator.figures(true);
    assert_eq!(
        (figures.in_service, figures.queued),
        (0, 0),
        "the slot given to a request that is gone must come back"
    );
    let again = tokio::time::timeout(ms(1000), regulator.enter()).await;
    assert!(
        matches!(again, Ok(Ok(_))),
        "the next request is served at once"
    );
}
