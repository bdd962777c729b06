//! What a remote call must do when the callee is hung, dead, or answers out of order.
//!
//! Each test starts one callee node (this crate's binary) through the harness, links a
//! [`Client`] to it through the harness's proxy, and first shows that a healthy call returns
//! its own reply, so a client that always answers Timeout or NodeDown cannot pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Cluster, block_on};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use remote_calls::{CallError, Client, Request};
use serde_json::{Value, json};

/// The timeout of the timing test: long enough to dwarf scheduling noise.
const TIMEOUT: Duration = Duration::from_millis(500);

#[test]
fn a_call_to_a_paused_node_times_out() {
    let cluster = callee();
    block_on(async {
        let client = connect(&cluster).await;
        assert_healthy(&client).await;

        cluster.pause("n1").expect("pause n1");
        let started = Instant::now();
        let outcome = client
            .call(Request::new(json!("are you there?")), TIMEOUT)
            .await;
        let took = started.elapsed();
        assert_eq!(
            outcome,
            Err(CallError::Timeout),
            "a call to a paused (hung) node must time out"
        );
        assert!(
            took >= TIMEOUT && took <= Duration::from_millis(800),
            "the call timed out after {took:?}; a 500 ms timeout must fire between 500 and 800 ms"
        );
        assert_eq!(
            client.in_flight(),
            0,
            "a call that timed out is still in the pending table: remove it when time runs out"
        );

        // Resumed, the node answers the call that timed out. That late reply must be dropped:
        // the next call gets its own reply, not the late one.
        cluster.resume("n1").expect("resume n1");
        let next = client.call(Request::new(json!("next")), TIMEOUT).await;
        assert_eq!(
            next,
            Ok(json!("next")),
            "after a timeout, the next call must get its own reply (a late reply reached it?)"
        );
    });
}

#[test]
fn a_killed_node_fails_every_call_in_flight_at_once() {
    let cluster = callee();
    block_on(async {
        let client = connect(&cluster).await;
        assert_healthy(&client).await;

        // 100 calls the node would take a minute to answer, each with a 10 s timeout.
        let timeout = Duration::from_secs(10);
        let calls: Vec<_> = (0..100)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let request = Request::new(json!(i)).taking(Duration::from_secs(60));
                    let outcome = client.call(request, timeout).await;
                    (outcome, Instant::now())
                })
            })
            .collect();
        cluster
            .eventually(
                "all 100 calls to be in flight",
                Duration::from_secs(5),
                async || match client.in_flight() {
                    100 => Ok(()),
                    n => Err(format!("{n} are")),
                },
            )
            .await;

        let killed = Instant::now();
        cluster.kill("n1").expect("kill n1");
        for call in calls {
            let (outcome, returned) = call.await.expect("the calling task completes");
            assert_eq!(
                outcome,
                Err(CallError::NodeDown),
                "a call in flight to a killed node must fail with NodeDown"
            );
            let after = returned - killed;
            assert!(
                after < Duration::from_secs(2),
                "a call returned NodeDown {after:?} after the kill; it must fail as soon as the link drops, not wait out its {timeout:?} timeout"
            );
        }
        assert_eq!(
            client.in_flight(),
            0,
            "calls that failed are still in the pending table"
        );

        let started = Instant::now();
        let later = client.call(Request::new(json!("anyone?")), timeout).await;
        assert_eq!(
            later,
            Err(CallError::NodeDown),
            "a call after the link dropped must fail with NodeDown"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a call to a node known dead must fail at once"
        );
    });
}

#[test]
fn replies_out_of_order_reach_the_caller_that_asked() {
    // 100 callers make 10 calls each per seed. The node takes a random 0..=200 ms to answer
    // each, twice the 100 ms timeout, so about half the replies come late and every reply
    // overtakes or is overtaken by others.
    const SEEDS: [u64; 3] = [7, 42, 2024];
    const CALLERS: u64 = 100;
    const CALLS_EACH: u64 = 10;
    let timeout = Duration::from_millis(100);
    let cluster = callee();
    block_on(async {
        let client = connect(&cluster).await;
        assert_healthy(&client).await;
        for seed in SEEDS {
            let callers: Vec<_> = (0..CALLERS)
                .map(|caller| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let mut rng = StdRng::seed_from_u64(seed * 1_000 + caller);
                        let mut tally = Tally::default();
                        for call in 0..CALLS_EACH {
                            let body = json!({ "seed": seed, "caller": caller, "call": call });
                            let work = Duration::from_millis(rng.random_range(0..=200));
                            let outcome = client
                                .call(Request::new(body.clone()).taking(work), timeout)
                                .await;
                            tally.add(body, outcome);
                        }
                        tally
                    })
                })
                .collect();
            let mut tally = Tally::default();
            for caller in callers {
                tally.merge(caller.await.expect("the calling task completes"));
            }
            let calls = CALLERS * CALLS_EACH;
            assert!(
                tally.wrong.is_empty(),
                "seed {seed}: {} of {calls} calls got another call's reply, e.g. asked {} and got {}",
                tally.wrong.len(),
                tally.wrong[0].0,
                tally.wrong[0].1
            );
            assert_eq!(tally.node_down, 0, "seed {seed}: NodeDown from a live node");
            assert!(
                tally.ok >= calls / 5 && tally.timeouts >= calls / 5,
                "seed {seed}: {} replies and {} timeouts out of {calls}; expected plenty of both",
                tally.ok,
                tally.timeouts
            );
        }
        // Every late reply has come back by now, and found nobody.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            client.in_flight(),
            0,
            "the pending table keeps calls that have returned"
        );
    });
}

/// One node running this crate's binary: the callee.
fn callee() -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(1)
        .start()
        .expect("the callee node starts")
}

/// A client linked to the callee through the harness's proxy.
async fn connect(cluster: &Cluster) -> Arc<Client> {
    let addr = cluster.addr("n1").to_string();
    let client = Client::connect(&addr, cluster.cookie())
        .await
        .expect("the client links to n1");
    Arc::new(client)
}

/// The healthy path every test starts with: a call to a live node returns its own reply.
async fn assert_healthy(client: &Client) {
    let reply = client.call(Request::new(json!("ping")), TIMEOUT).await;
    assert_eq!(
        reply,
        Ok(json!("ping")),
        "a call to a healthy node must return the node's reply"
    );
    assert_eq!(
        client.in_flight(),
        0,
        "a call that returned is still in the pending table"
    );
}

/// What one caller's calls returned.
#[derive(Default)]
struct Tally {
    ok: u64,
    timeouts: u64,
    node_down: u64,
    /// (asked, got) for every reply that belonged to another call.
    wrong: Vec<(Value, Value)>,
}

impl Tally {
    fn add(&mut self, asked: Value, outcome: Result<Value, CallError>) {
        match outcome {
            Ok(got) if got == asked => self.ok += 1,
            Ok(got) => self.wrong.push((asked, got)),
            Err(CallError::Timeout) => self.timeouts += 1,
            Err(CallError::NodeDown) => self.node_down += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.timeouts += other.timeouts;
        self.node_down += other.node_down;
        self.wrong.extend(other.wrong);
    }
}
