//! The retry schedule, on a virtual clock: no node, no network, no wall clock.
//!
//! A [`Scripted`] transport answers each attempt as its script says and writes down when
//! (in virtual time) it was made, to which node and with which timeout; a [`VirtualClock`]'s
//! sleep returns at once after moving time on. So a schedule of many seconds runs in
//! microseconds and comes out the same on a busy laptop as on an idle one, exactly.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use harness::block_on;
use node_kit::sync::Mutex;
use retries::{
    Backoff, Clock, GiveUp, Operation, Payment, PaymentError, Receipt, RetryBudget, Sender,
    Transport, TransportKind,
};

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// The jitter seeds; a failure names its seed.
const SEEDS: [u64; 3] = [7, 42, 2024];

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn without_jitter_the_waits_double_up_to_the_cap_round_the_preflist() {
    let backoff = Backoff {
        base: ms(100),
        cap: ms(800),
        jitter: false,
    };
    block_on(async {
        // Healthy: one attempt, at the first node, and its receipt.
        let (sender, script) = scripted(backoff, |_, _| Answer::Receipt);
        let receipt = sender
            .send_at_least_once(Operation::Authorize, &payment(1), ms(5000))
            .await
            .expect("a healthy service's receipt");
        assert_eq!(receipt.node, "n1");
        assert_eq!(script.attempts().len(), 1, "a receipt needs no retry");

        // Every attempt reset at once: waits of 100, 200, 400, 800, 800... ms, each attempt at
        // the next node, until the next retry would start past the 5 s deadline.
        let (sender, script) = scripted(backoff, |_, _| Answer::Reset);
        let outcome = sender
            .send_at_least_once(Operation::Authorize, &payment(2), ms(5000))
            .await;
        let starts: Vec<u64> = script.attempts().iter().map(|a| a.at_ms()).collect();
        assert_eq!(
            starts,
            [0, 100, 300, 700, 1500, 2300, 3100, 3900, 4700],
            "attempts start at these times (ms): retry k waits min(cap, base * 2^(k-1))"
        );
        let nodes: Vec<String> = script.attempts().iter().map(|a| a.node.clone()).collect();
        let expected: Vec<&str> = NODES.iter().cycle().take(9).copied().collect();
        assert_eq!(nodes, expected, "attempt k goes to preflist[k % 3]");
        match outcome {
            Err(PaymentError::GaveUp {
                attempts: 9,
                why: GiveUp::Deadline,
                last,
            }) => assert_eq!(last.kind, TransportKind::Connection),
            other => panic!(
                "after 9 resets, with the next retry due at 5.5 s, past the 5 s deadline, expected GaveUp {{ attempts: 9, why: Deadline }}; got {other:?}"
            ),
        }

        // Every attempt times out: each waits the contract's 1 s, or what is left of the
        // deadline if that is less.
        let (sender, script) = scripted(backoff, |_, _| Answer::Timeout);
        let outcome = sender
            .send_at_least_once(Operation::Authorize, &payment(3), ms(3000))
            .await;
        let seen: Vec<(u64, u64)> = script
            .attempts()
            .iter()
            .map(|a| (a.at_ms(), a.timeout.as_millis() as u64))
            .collect();
        assert_eq!(
            seen,
            [(0, 1000), (1100, 1000), (2300, 700)],
            "(start, timeout) of each attempt, in ms: the timeout is min(contract, time left)"
        );
        assert!(
            matches!(
                outcome,
                Err(PaymentError::GaveUp {
                    attempts: 3,
                    why: GiveUp::Deadline,
                    ..
                })
            ),
            "expected GaveUp after 3 attempts; got {outcome:?}"
        );
    });
}

#[test]
fn full_jitter_draws_every_wait_between_zero_and_its_ceiling() {
    let backoff = Backoff {
        base: ms(100),
        cap: ms(800),
        jitter: true,
    };
    block_on(async {
        let (sender, script) = scripted(backoff, |_, _| Answer::Receipt);
        let healthy = sender
            .send_at_least_once(Operation::Authorize, &payment(0), ms(5000))
            .await;
        assert!(healthy.is_ok(), "a healthy send: {healthy:?}");
        assert_eq!(script.attempts().len(), 1);

        for seed in SEEDS {
            let (sender, script) = scripted(backoff, |_, _| Answer::Reset);
            let sender = sender.seed(seed);
            for i in 0..200 {
                let _ = sender
                    .send_at_least_once(Operation::Authorize, &payment(i), ms(5000))
                    .await;
            }
            let mut fractions = Vec::new();
            for waits in script.waits_per_request() {
                for (k, wait) in waits.iter().enumerate() {
                    let ceiling = ms(100 * (1 << k)).min(ms(800));
                    assert!(
                        *wait <= ceiling,
                        "seed {seed}: retry {} waited {wait:?}, above its ceiling {ceiling:?}",
                        k + 1
                    );
                    fractions.push(wait.as_secs_f64() / ceiling.as_secs_f64());
                }
            }
            assert!(
                fractions.len() > 1000,
                "seed {seed}: only {} retries in 200 sends that always fail",
                fractions.len()
            );
            let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
            let at_ceiling = fractions.iter().filter(|f| **f > 0.999).count();
            assert!(
                (0.4..=0.6).contains(&mean),
                "seed {seed}: waits average {mean:.2} of their ceiling; full jitter draws uniformly from 0 to the ceiling, so about 0.5"
            );
            assert!(
                at_ceiling * 20 < fractions.len(),
                "seed {seed}: {at_ceiling} of {} waits are their ceiling: is the jitter drawn?",
                fractions.len()
            );

            // The same seed replays the same schedule.
            let (again, replay) = scripted(backoff, |_, _| Answer::Reset);
            let again = again.seed(seed);
            let _ = again
                .send_at_least_once(Operation::Authorize, &payment(0), ms(5000))
                .await;
            assert_eq!(
                replay.waits_per_request()[0],
                script.waits_per_request()[0],
                "seed {seed}: the same seed must draw the same waits (use the sender's rng)"
            );
        }
    });
}

#[test]
fn an_answer_ends_the_send_and_only_transport_errors_are_retried() {
    let backoff = Backoff {
        base: ms(10),
        cap: ms(100),
        jitter: true,
    };
    block_on(async {
        // At most once, healthy, then each failure: always one attempt, at the first node.
        for (answer, expect) in [
            (Answer::Receipt, "a receipt"),
            (Answer::Declined, "the business error"),
            (Answer::Reset, "the transport error"),
            (Answer::Timeout, "the timeout"),
        ] {
            let (sender, script) = scripted(backoff, move |_, _| answer);
            let outcome = sender
                .send_at_most_once(Operation::Charge, &payment(1))
                .await;
            let attempts = script.attempts();
            assert_eq!(
                attempts.len(),
                1,
                "at most once on {answer:?} made {} attempts",
                attempts.len()
            );
            assert_eq!(
                attempts[0].node, "n1",
                "at most once goes to the first node"
            );
            assert_eq!(
                attempts[0].timeout,
                Operation::Charge.contract().timeout,
                "an attempt waits the contract's timeout"
            );
            let ok = match (answer, &outcome) {
                (Answer::Receipt, Ok(_)) => true,
                (Answer::Declined, Err(PaymentError::Business { code, .. })) => {
                    code == "card_declined"
                }
                (Answer::Reset, Err(PaymentError::Transport(t))) => {
                    t.kind == TransportKind::Connection
                }
                (Answer::Timeout, Err(PaymentError::Transport(t))) => {
                    t.kind == TransportKind::Timeout
                }
                _ => false,
            };
            assert!(
                ok,
                "at most once must return {expect} as it is; got {outcome:?}"
            );
        }

        // At least once: a business error is an answer, never retried.
        let (sender, script) = scripted(backoff, |_, _| Answer::Declined);
        let outcome = sender
            .send_at_least_once(Operation::Authorize, &payment(2), ms(5000))
            .await;
        assert!(
            matches!(&outcome, Err(PaymentError::Business { code, .. }) if code == "card_declined"),
            "a declined card is the answer; got {outcome:?}"
        );
        assert_eq!(script.attempts().len(), 1, "a business error was retried");

        // Two transport errors, then a receipt from the third node.
        let (sender, script) = scripted(backoff, |attempt, _| {
            if attempt < 2 {
                Answer::Reset
            } else {
                Answer::Receipt
            }
        });
        let outcome = sender
            .send_at_least_once(Operation::Authorize, &payment(3), ms(5000))
            .await;
        assert_eq!(
            outcome.map(|r| r.node).as_deref(),
            Ok("n3"),
            "after two resets the third attempt, at n3, answers"
        );
        assert_eq!(script.attempts().len(), 3, "no attempt after the receipt");

        // `send` follows the interface: a charge is sent at most once, an authorization at
        // least once.
        let (sender, script) = scripted(backoff, |attempt, _| {
            if attempt == 0 {
                Answer::Reset
            } else {
                Answer::Receipt
            }
        });
        let charge = sender.send(Operation::Charge, &payment(4), ms(5000)).await;
        assert!(
            matches!(charge, Err(PaymentError::Transport(_))),
            "a charge is at most once: its reset is the outcome; got {charge:?}"
        );
        let authorize = sender
            .send(Operation::Authorize, &payment(5), ms(5000))
            .await;
        assert!(
            authorize.is_ok(),
            "an authorization is at least once: retried after its reset; got {authorize:?}"
        );
        assert_eq!(script.attempts().len(), 3);
    });
}

#[test]
fn a_retry_budget_lets_retries_add_at_most_its_share() {
    // The bucket on its own: a burst of 2, then 10 requests earn one more retry.
    let budget = RetryBudget::new(10, 2);
    assert!(budget.try_withdraw(), "a new budget holds its burst");
    assert!(budget.try_withdraw(), "a new budget holds its burst of 2");
    assert!(!budget.try_withdraw(), "the burst is spent");
    for _ in 0..9 {
        budget.deposit();
    }
    assert!(
        !budget.try_withdraw(),
        "9 requests at 10% earn 0.9 of a retry"
    );
    budget.deposit();
    assert!(budget.try_withdraw(), "10 requests at 10% earn one retry");
    let stats = budget.stats();
    assert_eq!((stats.requests, stats.retries, stats.refused), (10, 3, 2));

    // Through a sender: the first attempt of every request fails, the retry would work.
    const SENDS: u64 = 200;
    let flaky = |attempt: usize, _: &str| {
        if attempt == 0 {
            Answer::Reset
        } else {
            Answer::Receipt
        }
    };
    let backoff = Backoff {
        base: ms(10),
        cap: ms(100),
        jitter: true,
    };
    block_on(async {
        let budget = Arc::new(RetryBudget::new(10, 5));
        let (sender, script) = scripted(backoff, flaky);
        let sender = sender.budget(budget.clone());
        let (mut receipts, mut refused) = (0, 0);
        for i in 0..SENDS {
            match sender
                .send_at_least_once(Operation::Authorize, &payment(i), ms(5000))
                .await
            {
                Ok(_) => receipts += 1,
                Err(PaymentError::GaveUp {
                    why: GiveUp::Budget,
                    attempts: 1,
                    ..
                }) => refused += 1,
                Err(other) => {
                    panic!("send {i}: expected a receipt or GaveUp(Budget); got {other:?}")
                }
            }
        }
        let stats = budget.stats();
        assert_eq!(
            stats.requests, SENDS,
            "every send deposits once in the budget"
        );
        let most = 5 + SENDS * 10 / 100;
        assert!(
            (most - 5..=most).contains(&stats.retries),
            "{} retries in {SENDS} sends; a 10% budget with a burst of 5 allows {most} (and should grant nearly that many)",
            stats.retries
        );
        assert_eq!(
            receipts, stats.retries,
            "every granted retry got its receipt"
        );
        assert_eq!(
            refused,
            SENDS - stats.retries,
            "every refused retry gives up"
        );
        let attempts = script.attempts().len() as u64;
        assert_eq!(attempts, SENDS + stats.retries);

        // The control: no budget, and every request is sent twice: double the load.
        let (unbudgeted, script) = scripted(backoff, flaky);
        for i in 0..SENDS {
            let outcome = unbudgeted
                .send_at_least_once(Operation::Authorize, &payment(i), ms(5000))
                .await;
            assert!(outcome.is_ok(), "send {i} without a budget: {outcome:?}");
        }
        assert_eq!(script.attempts().len() as u64, 2 * SENDS);
    });
}

/// A sender to n1, n2, n3 through a scripted transport on a virtual clock.
fn scripted(
    backoff: Backoff,
    script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static,
) -> (Sender<Arc<Scripted>, VirtualClock>, Arc<Scripted>) {
    let clock = VirtualClock::default();
    let transport = Arc::new(Scripted {
        clock: clock.clone(),
        script: Box::new(script),
        attempts: Mutex::default(),
    });
    let preflist = NODES.iter().map(|n| n.to_string()).collect();
    let sender = Sender::new(transport.clone(), clock, preflist).backoff(backoff);
    (sender, transport)
}

fn payment(i: u64) -> Payment {
    Payment {
        request_id: format!("r{i}"),
        order: format!("o{i}"),
        amount_cents: 1250,
        card: "4242424242424242".into(),
    }
}

/// How a scripted attempt ends.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Receipt,
    Declined,
    /// Connection reset at once.
    Reset,
    /// No answer: the attempt takes its whole timeout.
    Timeout,
}

/// One attempt the sender made.
#[derive(Debug, Clone)]
struct Attempt {
    request_id: String,
    at: Duration,
    node: String,
    timeout: Duration,
}

impl Attempt {
    fn at_ms(&self) -> u64 {
        self.at.as_millis() as u64
    }
}

type Script = Box<dyn Fn(usize, &str) -> Answer + Send + Sync>;

/// A transport that answers as its script says: `script(attempt of this request, node)`.
struct Scripted {
    clock: VirtualClock,
    script: Script,
    attempts: Mutex<Vec<Attempt>>,
}

impl Scripted {
    fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().clone()
    }

    /// For each request, in order, the waits between its attempts (from the end of one to
    /// the start of the next).
    fn waits_per_request(&self) -> Vec<Vec<Duration>> {
        let mut order = Vec::new();
        let mut per: HashMap<String, Vec<Attempt>> = HashMap::new();
        for a in self.attempts() {
            if !per.contains_key(&a.request_id) {
                order.push(a.request_id.clone());
            }
            per.entry(a.request_id.clone()).or_default().push(a);
        }
        order
            .iter()
            .map(|id| per[id].windows(2).map(|w| w[1].at - w[0].at).collect())
            .collect()
    }
}

impl Transport for Scripted {
    fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> impl Future<Output = Result<Receipt, PaymentError>> + Send {
        let at = self.clock.now();
        let nth = {
            let mut attempts = self.attempts.lock();
            let nth = attempts
                .iter()
                .filter(|a| a.request_id == payment.request_id)
                .count();
            attempts.push(Attempt {
                request_id: payment.request_id.clone(),
                at,
                node: node.to_string(),
                timeout,
            });
            nth
        };
        let transport = |kind| {
            PaymentError::Transport(retries::TransportError {
                node: node.to_string(),
                kind,
                detail: "scripted".into(),
            })
        };
        let outcome = match (self.script)(nth, node) {
            Answer::Receipt => Ok(Receipt {
                request_id: payment.request_id.clone(),
                operation: op,
                order: payment.order.clone(),
                amount_cents: payment.amount_cents,
                node: node.to_string(),
            }),
            Answer::Declined => Err(PaymentError::Business {
                status: 402,
                code: "card_declined".into(),
                message: "scripted".into(),
            }),
            Answer::Reset => Err(transport(TransportKind::Connection)),
            Answer::Timeout => {
                self.clock.advance(timeout);
                Err(transport(TransportKind::Timeout))
            }
        };
        std::future::ready(outcome)
    }
}

/// Virtual time: `sleep` moves it on and returns at once.
#[derive(Debug, Clone, Default)]
struct VirtualClock(Arc<Mutex<Duration>>);

impl VirtualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        *self.0.lock()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.advance(duration);
        std::future::ready(())
    }
}
