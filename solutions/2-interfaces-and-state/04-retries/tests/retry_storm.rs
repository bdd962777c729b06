//! What retries do to the service they retry against, measured where it hurts: the arrivals
//! at the payment node, per 100 ms.
//!
//! - After an outage that fails every waiting request at the same instant, clients that back
//!   off without jitter come back at the same instant too; with full jitter they spread out.
//! - While the service fails for everyone, a retry budget keeps the extra load to its share;
//!   without one, every client multiplies its load by its number of attempts.
//!
//! Both compare the attendee's sender with its naive control in the same run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Mode, SEED, arrivals, received, send_batch, send_one};
use harness::check;
use harness::{Cluster, block_on};
use retries_solution::{Arrival, Backoff, GiveUp, Operation, PaymentError, RetryBudget, Sender};

/// The window arrivals are counted in.
const WINDOW: Duration = Duration::from_millis(100);

// The storm: 100 authorizations a second per group (10 per 100 ms) for 4 s. From 1.0 s to
// 1.8 s the node hangs (its link a blackhole, every request held), then its connections are
// reset at once: every held request fails at the same instant. Authorization's 1 s timeout
// outlasts the hang, so none times out on its own before that.
const EVERY: Duration = Duration::from_millis(10);
const SENDS: usize = 400;
const OUTAGE_AT: Duration = Duration::from_millis(1000);
const HANG: Duration = Duration::from_millis(800);
const DEADLINE: Duration = Duration::from_secs(6);

/// A silence at a node longer than this (the steady stream sends every 10 ms) is the machine
/// stalling, not the test's clients.
const STALL: Duration = Duration::from_millis(250);

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn after_an_outage_jittered_retries_keep_the_peak_near_the_steady_rate() {
    let cluster = common::start(2);
    block_on(async {
        // A first retry waits up to 2 s: spread over twenty windows with jitter, in one
        // without.
        let backoff = |jitter| Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(4),
            jitter,
        };
        let jittered = Arc::new(
            common::sender(&cluster, &["n1"])
                .backoff(backoff(true))
                .seed(SEED),
        );
        let unjittered = Arc::new(common::sender(&cluster, &["n2"]).backoff(backoff(false)));
        let alo = Mode::AtLeastOnce { deadline: DEADLINE };

        // Healthy: one arrival per request, on both.
        for (sender, node) in [(&jittered, "n1"), (&unjittered, "n2")] {
            send_one(sender, Operation::Authorize, alo).await;
            let sent = send_batch(sender, Operation::Authorize, alo, "ok", 20, ms(5)).await;
            assert!(
                sent.iter().all(|s| s.outcome.is_ok()),
                "a healthy authorization failed at {node}"
            );
            let got = received(&cluster, &[node], "ok").await;
            assert!(
                got.len() == 20 && got.values().all(|&n| n == 1),
                "{node} received {got:?}"
            );
        }

        // A machine that stalls (another build takes both cores) for a few hundred ms
        // delays the node's work and then serves it in a burst: that run measured the
        // machine, not the clients, so it is run again (up to three runs).
        let mut run = 1;
        let (jittered, unjittered) = loop {
            let batch = format!("storm{run}");
            let (jittered, unjittered) = storm(&cluster, &jittered, &unjittered, &batch).await;
            println!(
                "run {run}: arrivals per 100 ms: steady {} / {}, peak with jitter {}, without {}; longest stall {:?} / {:?}",
                jittered.steady,
                unjittered.steady,
                jittered.peak,
                unjittered.peak,
                jittered.stall,
                unjittered.stall
            );
            let stalled = jittered.stall.max(unjittered.stall) > STALL;
            if !stalled || run == 3 {
                break (jittered, unjittered);
            }
            run += 1;
        };
        let steady = jittered.steady.max(unjittered.steady);
        assert!(
            steady >= 5,
            "the steady rate is {steady} per 100 ms; the test sends 10"
        );
        assert!(
            2 * jittered.peak <= 7 * steady,
            "seed {SEED}: with full jitter the node saw a peak of {} arrivals per 100 ms after the outage, over 3.5x the steady {steady}: are the waits drawn from [0, ceiling]?",
            jittered.peak
        );
        // The control: the same clients without jitter come back together.
        assert!(
            unjittered.peak >= 4 * steady && 2 * unjittered.peak >= 3 * jittered.peak,
            "without jitter the peak was {} per 100 ms (steady {steady}, jittered {}): the clients that failed together should have retried together",
            unjittered.peak,
            jittered.peak
        );
    });
}

#[test]
fn a_retry_budget_keeps_a_failing_services_extra_load_small() {
    const N: usize = 100;
    const DEADLINE: Duration = Duration::from_secs(1);
    let cluster = common::start(1);
    block_on(async {
        let backoff = Backoff {
            base: ms(20),
            cap: ms(100),
            jitter: true,
        };
        let budget = Arc::new(RetryBudget::new(10, 5));
        let budgeted = Arc::new(
            common::sender(&cluster, &["n1"])
                .backoff(backoff)
                .seed(SEED)
                .budget(budget.clone()),
        );
        let alo = Mode::AtLeastOnce { deadline: DEADLINE };

        // Healthy: the budget costs nothing.
        send_one(&budgeted, Operation::Authorize, alo).await;
        let sent = send_batch(&budgeted, Operation::Authorize, alo, "ok", 50, ms(2)).await;
        assert!(
            sent.iter().all(|s| s.outcome.is_ok()),
            "a healthy authorization failed"
        );
        assert_eq!(received(&cluster, &["n1"], "ok").await.len(), 50);
        assert_eq!(
            budget.stats().retries,
            0,
            "nothing failed, nothing to retry"
        );

        // The service fails everything: the work may be done, every reply is lost.
        cluster.client_link("n1").drop_response(1.0);
        let sent = send_batch(&budgeted, Operation::Authorize, alo, "budget", N, ms(2)).await;
        cluster.client_link("n1").clear(); // to read the arrivals through it
        for s in &sent {
            assert!(
                matches!(
                    s.outcome,
                    Err(PaymentError::GaveUp {
                        why: GiveUp::Budget | GiveUp::Deadline,
                        ..
                    })
                ),
                "{}: every reply is lost, so the send must give up; got {:?}",
                s.request_id,
                s.outcome
            );
        }
        let with: usize = received(&cluster, &["n1"], "budget").await.values().sum();
        let most = N + N / 10 + 5;
        println!("a failing service, {N} requests: {with} arrivals with a 10% budget");
        assert!(
            (N..=most).contains(&with),
            "seed {SEED}: with a 10% budget and a burst of 5 the failing node may see at most {most} arrivals for {N} requests; it saw {with}"
        );

        // The control: no budget, and every client retries until its deadline.
        let unbudgeted = Arc::new(
            common::sender(&cluster, &["n1"])
                .backoff(backoff)
                .seed(SEED),
        );
        cluster.client_link("n1").drop_response(1.0);
        send_batch(&unbudgeted, Operation::Authorize, alo, "free", N, ms(2)).await;
        cluster.client_link("n1").clear();
        let without: usize = received(&cluster, &["n1"], "free").await.values().sum();
        println!(
            "without a budget: {without} arrivals ({:.1}x)",
            without as f64 / N as f64
        );
        assert!(
            without >= 3 * N,
            "without a budget, {N} clients retrying for {DEADLINE:?} should multiply the load; the node saw {without} arrivals"
        );
    });
}

/// One storm: both groups send `SENDS` authorizations of `batch` while their nodes hang
/// from 1 s for `HANG`; every send must be delivered. The arrival rates at n1 (jittered) and
/// n2 (unjittered).
async fn storm(
    cluster: &Cluster,
    jittered: &Arc<Sender>,
    unjittered: &Arc<Sender>,
    batch: &str,
) -> (Rate, Rate) {
    let alo = Mode::AtLeastOnce { deadline: DEADLINE };
    let outage = async {
        tokio::time::sleep(OUTAGE_AT).await;
        for node in ["n1", "n2"] {
            cluster.client_link(node).blackhole();
        }
        tokio::time::sleep(HANG).await;
        for node in ["n1", "n2"] {
            cluster.client_link(node).heal();
            cluster.client_link(node).reset();
        }
    };
    let (with, without, ()) = tokio::join!(
        send_batch(jittered, Operation::Authorize, alo, batch, SENDS, EVERY),
        send_batch(unjittered, Operation::Authorize, alo, batch, SENDS, EVERY),
        outage,
    );
    for s in with.iter().chain(&without) {
        assert!(
            s.outcome.is_ok(),
            "{} was not delivered by its deadline: {:?}",
            s.request_id,
            s.outcome
        );
    }
    (
        Rate::of(arrivals(cluster, "n1").await, batch),
        Rate::of(arrivals(cluster, "n2").await, batch),
    )
}

/// Arrivals per [`WINDOW`] at one node, during one storm batch.
struct Rate {
    /// The median window of the first 800 ms: before the outage.
    steady: usize,
    /// The most arrivals in any window ([`check::peak_rate`]: sliding, so a burst split by a
    /// boundary still counts whole).
    peak: usize,
    /// The longest time without an arrival, the hang aside: the steady stream arrives every
    /// 10 ms, so a long silence means the node or the test process was not running.
    stall: Duration,
}

impl Rate {
    fn of(log: Vec<Arrival>, batch: &str) -> Rate {
        let prefix = format!("{batch}-");
        let times: Vec<Duration> = log
            .iter()
            .filter(|a| a.request_id.starts_with(&prefix))
            .map(|a| Duration::from_micros(a.t_us))
            .collect();
        let mut before = check::per_window(&times, times[0], WINDOW, 8);
        before.sort();
        let peak = check::peak_rate(&times, WINDOW);
        // The hang is the silence that spans the middle of the outage; it may last HANG.
        let hang_middle = times[0] + OUTAGE_AT + HANG / 2;
        let stall = times
            .windows(2)
            .map(|w| {
                let gap = w[1] - w[0];
                if (w[0]..=w[1]).contains(&hang_middle) {
                    gap.saturating_sub(HANG)
                } else {
                    gap
                }
            })
            .max()
            .unwrap_or_default();
        Rate {
            steady: before[before.len() / 2],
            peak,
            stall,
        }
    }
}
