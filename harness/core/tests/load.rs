//! The load generator against real HTTP targets on loopback.
//!
//! - A stalled server shows in the open loop's tail and hides from a closed loop: the reason
//!   the generator is open loop.
//! - A generator that cannot keep its schedule says so (late sends) instead of sending less.
//! - The rate it sends is the rate it was asked for.
//!
//! Each target is an in-process axum server on 127.0.0.1:0 with a fixed service time. The
//! machines this runs on are 2-core and noisy, so every bound is wide and compares figures of
//! the same run, never a tight absolute number. The rate and capacity figures of the docs come
//! from `cargo run --release -p harness --example load_measure`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use harness::check::{self, Availability, Checker, FinalReads, LatencyPercentiles};
use harness::history::{Action, History};
use harness::load::http::MAX_CONNECTIONS;
use harness::load::{HttpTarget, Load, LoadReport, Mode, Operation, Outcome, Schedule, Shot};
use harness::report::{self, Run, Span};
use hyper::Method;
use hyper::header::HeaderMap;

#[path = "support/target.rs"]
mod target;
use target::Target;

fn p99_ms(report: &LoadReport) -> f64 {
    report.summary().p99_ms
}

/// Every request answered, none lost to the generator: the healthy path under every test.
fn assert_all_answered(name: &str, report: &LoadReport) {
    let s = report.summary();
    assert!(
        s.ok == s.sent && s.sent > 0 && s.errors.is_empty(),
        "{name}: expected every request answered ok, got {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_open_loop_tail_and_hides_from_a_closed_loop() {
    let (rate, run, service) = (200.0, Duration::from_secs(10), Duration::from_millis(2));
    let start = Instant::now() + Duration::from_millis(100);
    let stall = Some((
        start + Duration::from_secs(4),
        start + Duration::from_secs(5),
    ));
    // Two servers with the same stall at the same time, so both loops run at once.
    let open_target = Target::start(service, stall).await;
    let closed_target = Target::start(service, stall).await;

    // The open loop also records every request into a history, as a scenario does.
    let history = History::starting_at(start);
    let (recorder, get) = (history.clone(), Arc::new(open_target.get()));
    let recorded = move |shot: Shot| {
        let (history, get) = (recorder.clone(), get.clone());
        async move {
            let invocation = history.invoke(
                "target",
                Action::Request {
                    name: "GET /".into(),
                },
            );
            let outcome = get.call(shot).await;
            outcome.record(invocation);
            outcome
        }
    };
    let load = Load::new(Schedule::Constant { rate }, run).starting_at(start);
    let open = load.clone().run(recorded);
    let closed = load
        .mode(Mode::Closed { workers: 1 })
        .run(closed_target.get());
    let (open, closed) = tokio::join!(open, closed);
    let (open, closed) = (open.unwrap(), closed.unwrap());
    eprintln!("open:   {:?}", open.summary());
    eprintln!("closed: {:?}", closed.summary());

    assert_all_answered("open loop", &open);
    assert_all_answered("closed loop", &closed);
    // The open loop sends on through the stall. (A machine that stalls the generator at the
    // very end drops the last few, counted: beside stress-ng and builds it dropped 15.)
    assert_eq!(open.sent + open.dropped, 2000, "{:?}", open.summary());
    assert!(
        open.dropped <= 40,
        "the open loop sends every scheduled request, stall or not: {:?}",
        open.summary()
    );
    assert!(
        p99_ms(&open) >= 500.0,
        "the open loop must show the 1 s stall in its p99 (every request scheduled during the \
         stall waited for its end), got {:?}",
        open.summary()
    );
    assert!(
        p99_ms(&closed) * 5.0 < p99_ms(&open),
        "one closed-loop worker waits out the stall on a single request, so its p99 should \
         look healthy next to the open loop's (that is the trap this test shows), got \
         closed {:?}, open {:?}",
        closed.summary(),
        open.summary()
    );
    // The stall is in the windows where it happened: (almost) no replies in second 4 (all
    // wait for its end; a busy machine answers a few sent just before it late, beside
    // stress-ng over ten), then the backlog in second 5.
    let window = |s: usize| &open.windows[s];
    assert!(
        window(4).ok * 4 < window(3).ok,
        "second 4 (the stall) {:?}, second 3 {:?}",
        window(4),
        window(3)
    );
    assert!(window(5).ok > 200, "{:?}", window(5));
    assert!(window(5).latency.max() >= 900_000, "{:?}", window(5));

    // The history tells the same story to the checkers, and the report draws it. The bound
    // sits between a busy machine's hiccups (a second's p99 of 340 ms beside stress-ng) and
    // the stall's second, whose p99 is about its whole 1 s.
    let p99 = |exclude: Vec<std::ops::Range<Duration>>| LatencyPercentiles {
        window: Duration::from_secs(1),
        p: 99.0,
        max: Duration::from_millis(800),
        exclude,
    };
    let stall_window = Duration::from_secs(4)..Duration::from_secs(5);
    let checks: Vec<Box<dyn Checker>> = vec![
        Box::new(Availability {
            window: Duration::from_secs(1),
            min: 0.99,
            exclude: vec![],
        }),
        Box::new(p99(vec![stall_window.clone()])),
        Box::new(p99(vec![])),
    ];
    let results = check::run_all(&checks, &history, &FinalReads::new());
    assert_eq!(history.operations().len() as u64, open.sent);
    assert!(results[0].passed && results[1].passed, "{results:#?}");
    assert!(
        !results[2].passed && results[2].figure >= 500.0,
        "the checker must find the stall: {results:#?}"
    );
    assert!(
        results[2].detail.starts_with("worst window 4.0-5.0 s"),
        "{results:#?}"
    );

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-stall-report");
    let faults = [Span::from((
        "server stalls",
        stall_window.start,
        stall_window.end,
    ))];
    let table = report::write(
        &dir,
        &Run {
            title: "a 1 s stall at 200 requests per second, open loop",
            seed: None,
            load: &open,
            history: &history,
            checks: &results,
            faults: &faults,
            inconclusive: None,
        },
    )
    .unwrap();
    eprintln!("{table}");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(
        page.matches("data-start=\"4\" data-end=\"5\"").count(),
        3,
        "one per chart"
    );
}

/// The share of a run's sends that went out late.
fn late_share(report: &LoadReport) -> f64 {
    report.late_sends as f64 / report.sent.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_that_cannot_keep_its_schedule_reports_late_sends() {
    // Healthy: a cheap operation at a modest rate. How many of its sends are late depends on
    // how busy the machine is (a CPU hog alongside makes a quarter of them late), so it is
    // the baseline the starved run is measured against, never a number of its own.
    let healthy = Load::new(Schedule::Constant { rate: 500.0 }, Duration::from_secs(1))
        .run(|_: Shot| async { Outcome::Ok })
        .await
        .unwrap();
    eprintln!("healthy: {:?}", healthy.summary());
    assert_all_answered("healthy", &healthy);

    // Starved, right after on the same machine: each request blocks a runtime thread for
    // 1 ms (a CPU-bound client), so the two threads manage at most 2000 a second, and 5000
    // are asked for. A busier machine only makes it more starved.
    let load = Load::new(Schedule::Constant { rate: 5000.0 }, Duration::from_secs(1));
    let scheduled = load.scheduled();
    let starved = load
        .run(|_: Shot| async {
            std::thread::sleep(Duration::from_millis(1));
            Outcome::Ok
        })
        .await
        .unwrap();
    let s = starved.summary();
    eprintln!("starved: {s:?}");
    assert_eq!(
        s.sent + s.dropped,
        scheduled,
        "every scheduled request is either sent or counted as dropped"
    );
    assert!(
        late_share(&starved) > 0.5,
        "most sends of a run at more than twice its capacity are late, got {s:?}"
    );
    // The same generator on the same machine: what makes sends late is the starved client,
    // so its share of late sends and its worst lag are far above the healthy run's.
    assert!(
        late_share(&starved) > 2.0 * late_share(&healthy),
        "the starved run must be late far more often than the healthy one: {:.0}% against          {:.0}%\nhealthy: {:?}\nstarved: {s:?}",
        100.0 * late_share(&starved),
        100.0 * late_share(&healthy),
        healthy.summary()
    );
    assert!(
        starved.max_lag > 4 * healthy.max_lag,
        "the starved run's backlog must lag far more than the healthy run's worst wake-up: \
         {:?} against {:?}",
        starved.max_lag,
        healthy.max_lag
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_achieved_rate_is_the_target_rate() {
    let target = Target::start(Duration::ZERO, None).await;
    // Rates a starved machine still answers in full: at 3000/s a CPU hog and two builds
    // beside it left the in-process target timing out (3000/s is the HTTP target's test,
    // with a bound such a machine keeps).
    for rate in [100.0, 1000.0] {
        let before = target.received.load(Ordering::Relaxed);
        let report = Load::new(Schedule::Constant { rate }, Duration::from_secs(2))
            .run(target.get())
            .await
            .unwrap();
        let s = report.summary();
        eprintln!("rate {rate}: {s:?}");
        assert_all_answered(&format!("rate {rate}"), &report);
        let received = target.received.load(Ordering::Relaxed) - before;
        assert_eq!(received, s.sent, "the server saw what the generator sent");
        let ratio = s.achieved_rate / rate;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "asked for {rate}/s, achieved {:.1}/s: {s:?}",
            s.achieved_rate
        );
        // No bound on late sends here: how many are late is the machine's business (a CPU hog
        // alongside makes many late), and the late-send test measures it against a baseline.
    }
}

/// `lab load`'s client, [`HttpTarget`]: in open loop its own senders, one per connection.
fn http_target(target: &Target) -> HttpTarget {
    let url = format!("http://{}/", target.addr);
    HttpTarget::new(Method::GET, &url, HeaderMap::new(), "").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_target_sends_at_the_target_rate_and_the_server_sees_each_request() {
    let target = Target::start(Duration::ZERO, None).await;
    for rate in [1000.0, 3000.0] {
        let before = target.received.load(Ordering::Relaxed);
        let load = Load::new(Schedule::Constant { rate }, Duration::from_secs(2));
        let scheduled = load.scheduled();
        let report = load.run(http_target(&target)).await.unwrap();
        let s = report.summary();
        eprintln!("http target, rate {rate}: {s:?}");
        assert_all_answered(&format!("rate {rate}"), &report);
        assert_eq!(s.sent + s.dropped, scheduled, "{s:?}");
        let received = target.received.load(Ordering::Relaxed) - before;
        assert_eq!(received, s.sent, "the server saw what the generator sent");
        // At load 11 a run at 3000/s here kept 0.8 of it (what it could not send in time is
        // dropped and counted); one sender doing the work of all would keep under 0.2.
        let ratio = s.achieved_rate / rate;
        assert!(
            ratio >= 0.5,
            "asked for {rate}/s, achieved {:.1}/s: {s:?}",
            s.achieved_rate
        );
    }
}

/// With a sender per connection, a stall holds every connection: the shots due meanwhile
/// wait for a free one, late, and their latency still counts from when they were due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_http_targets_open_loop_tail() {
    let start = Instant::now() + Duration::from_millis(100);
    let stall = (
        start + Duration::from_secs(1),
        start + Duration::from_secs(2),
    );
    let target = Target::start(Duration::from_millis(1), Some(stall)).await;
    let report = Load::new(Schedule::Constant { rate: 200.0 }, Duration::from_secs(3))
        .starting_at(start)
        .run(http_target(&target))
        .await
        .unwrap();
    let s = report.summary();
    eprintln!("http target across a stall: {s:?}");
    assert_all_answered("http target", &report);
    assert_eq!((s.sent, s.dropped), (600, 0), "{s:?}");
    // A quarter of the shots were due in the stall: the p90 waited for most of it.
    assert!(s.p90_ms >= 300.0, "the stall must show in the tail: {s:?}");
    // More were due in the stall than there are connections: those went out late.
    let held = 200 - MAX_CONNECTIONS as u64;
    assert!(
        s.late_sends >= held / 2,
        "the shots with no free connection are late sends: {s:?}"
    );
    // The stalled requests waited in both latencies; the held ones only from when they were
    // due (sent when a connection came free, they were answered at once).
    let slow = |h: &hdrhistogram::Histogram<u64>| h.count_between(300_000, u64::MAX);
    assert!(
        slow(&report.corrected) >= slow(&report.uncorrected) + held / 2,
        "the wait for a connection is in the corrected latency, not the uncorrected: {} \
         against {} over 300 ms: {s:?}",
        slow(&report.corrected),
        slow(&report.uncorrected)
    );
}
