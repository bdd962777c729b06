//! What a careless or hostile caller cannot make the callee hold: the given callee bounds the
//! calls one link keeps it working on and how loudly it logs frames it cannot read.
//!
//! Like every test here it first shows a healthy call through your [`Client`].

use std::time::Duration;

use harness::{Cluster, block_on};
use node_kit::Link;
use remote_calls::callee::{AT_WORK_METRIC, MAX_WORKING};
use remote_calls::{Client, Request};
use serde_json::json;

#[test]
fn a_flood_of_bad_frames_and_parked_calls_stays_bounded() {
    let cluster = Cluster::builder(harness::node_bin!())
        .nodes(1)
        .start()
        .expect("the callee node starts");
    let addr = cluster.addr("n1").to_string();
    block_on(async {
        let client = Client::connect(&addr, cluster.cookie())
            .await
            .expect("the client links to n1");
        let reply = client
            .call(Request::new(json!("ping")), Duration::from_secs(2))
            .await;
        assert_eq!(reply, Ok(json!("ping")), "a healthy call returns its reply");

        let (sender, mut receiver) = Link::dial(&addr, cluster.cookie()).await.unwrap().split();
        // 1000 frames that are not calls: dropped, and logged 10 times, not 1000.
        for i in 0..1000 {
            sender.send(format!("not a call {i}")).unwrap();
        }
        // Calls that ask for forever, then more than the callee works on at once.
        let forever = json!({"id": 0, "request": {"body": "x", "work_ms": u64::MAX}});
        sender.send(forever.to_string()).unwrap();
        for id in 1..MAX_WORKING as u64 {
            let call = json!({"id": id, "request": {"body": id, "work_ms": 60_000}});
            sender.send(call.to_string()).unwrap();
        }
        let quick = json!({"id": 9999, "request": {"body": "quick", "work_ms": 0}});
        sender.send(quick.to_string()).unwrap();
        let answered = tokio::time::timeout(Duration::from_secs(1), receiver.recv()).await;
        assert!(
            answered.is_err(),
            "a call beyond the {MAX_WORKING} at work is dropped, got {answered:?}"
        );
        // Another link is not held up by this one.
        let reply = client
            .call(Request::new(json!("still here")), Duration::from_secs(2))
            .await;
        assert_eq!(reply, Ok(json!("still here")));
    });
    cluster.check_alive().expect("the callee survives");
    let log = std::fs::read_to_string(cluster.log_path("n1")).unwrap();
    let warned = log.matches("dropping a frame that is not a call").count();
    assert!(
        (1..=11).contains(&warned),
        "1000 bad frames must be logged a few times, not {warned}"
    );
}

#[test]
fn a_caller_that_goes_away_leaves_no_call_at_work() {
    let cluster = Cluster::builder(harness::node_bin!())
        .nodes(1)
        .start()
        .expect("the callee node starts");
    let addr = cluster.addr("n1").to_string();
    let n1 = cluster.http("n1");
    block_on(async {
        let client = Client::connect(&addr, cluster.cookie())
            .await
            .expect("the client links to n1");
        let reply = client
            .call(Request::new(json!("ping")), Duration::from_secs(2))
            .await;
        assert_eq!(reply, Ok(json!("ping")), "a healthy call returns its reply");

        // 100 calls of a minute each, with a 100 KB body to hold, then the caller vanishes.
        let (sender, receiver) = Link::dial(&addr, cluster.cookie()).await.unwrap().split();
        let body = "x".repeat(100 * 1024);
        for id in 0..100 {
            let call = json!({"id": id, "request": {"body": body, "work_ms": 60_000}});
            sender.send(call.to_string()).unwrap();
        }
        let at_work = async || n1.metric(AT_WORK_METRIC).await;
        cluster
            .eventually(
                "n1 to work on the 100 calls",
                Duration::from_secs(5),
                async || match at_work().await? {
                    100.0 => Ok(()),
                    n => Err(format!("{n} calls at work")),
                },
            )
            .await;
        drop((sender, receiver));
        cluster
            .eventually(
                "n1 to stop the calls of a link that is gone",
                Duration::from_secs(3),
                async || match at_work().await? {
                    0.0 => Ok(()),
                    n => Err(format!(
                        "{n} calls still at work, nobody left to answer them"
                    )),
                },
            )
            .await;
    });
    cluster.check_alive().expect("the callee survives");
}
