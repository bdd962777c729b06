//! Split brain on a real cluster: partitions made by the harness's proxies, cart writes
//! through every node, and who took each write (the `x-served-by` of every acknowledged add),
//! recorded in a history that the harness's checker `OneSidePerKey` reads.
//!
//! T, the detector's tick time, is 400 ms (a silent peer is down 300-500 ms after it went
//! quiet) and stable-after is 1 s, so a side decides about 1.3-1.5 s after the cut.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::check::{Checker, FinalReads, OneSidePerKey};
use harness::history::{Action, History};
use harness::{Cluster, block_on};
use node_kit::cart::{AddItem, CartClient, CartError};
use split_brain::{Decision, ResolverView, SERVED_BY};

const T: Duration = Duration::from_millis(400);
const STABLE_AFTER: Duration = Duration::from_millis(1000);

/// The latest a side may take to decide after a cut: detection (at most 1.25 T), then
/// stable-after, plus a wide margin for a busy 2-core machine.
fn decided_by() -> Duration {
    T * 5 / 4 + STABLE_AFTER + Duration::from_millis(1000)
}

fn cluster(nodes: usize, resolver: &str) -> Cluster {
    Cluster::builder(harness::node_bin!())
        .nodes(nodes)
        .args([
            "--tick-time-ms".to_string(),
            T.as_millis().to_string(),
            "--stable-after-ms".to_string(),
            STABLE_AFTER.as_millis().to_string(),
            "--resolver".to_string(),
            resolver.to_string(),
        ])
        .start()
        .expect("the cluster starts")
}

/// Waits until every node is up with everyone in its view, and sees everyone now. (A node
/// whose detector has not reached its peers within stable-after of its start decides it is a
/// minority, rightly; it is up again once it has seen everyone for stable-after.)
async fn until_whole(cluster: &Cluster) {
    let everyone: BTreeSet<String> = cluster.ids().into_iter().collect();
    for id in cluster.ids() {
        let node = cluster.http(&id);
        cluster
            .eventually(
                &format!("{id} to be up with the whole cluster in its view"),
                Duration::from_secs(10),
                async || {
                    let view: ResolverView = node.get_json("/resolver").await?;
                    if view.decision == Decision::Up
                        && view.view == everyone
                        && view.seen == everyone
                    {
                        Ok(())
                    } else {
                        Err(format!("{id} says {view:?}"))
                    }
                },
            )
            .await;
    }
}

/// A cart client for node `id` that follows the cluster's redirects to the leader.
fn carts(cluster: &Cluster, id: &str) -> CartClient {
    let everyone: Vec<(String, String)> = cluster
        .ids()
        .into_iter()
        .map(|n| (n.clone(), cluster.addr(&n).to_string()))
        .collect();
    cluster
        .carts(id)
        .timeout(Duration::from_millis(400))
        .follow_redirects(everyone)
}

/// What became of one add.
#[derive(Debug, Clone)]
struct Write {
    /// When it was sent and when its answer came, from the cut.
    at: Duration,
    answered: Duration,
    via: String,
    /// `Ok(leader that took it)` or the error.
    outcome: Result<String, CartError>,
}

/// One add to `cart` through every node at once, each in `history` too: sent to `via`,
/// served by the leader that took it.
async fn round(
    clients: &[(String, CartClient)],
    cart: &str,
    history: &History,
    n: usize,
) -> Vec<Write> {
    let t0 = history.start();
    let at = t0.elapsed();
    let sends = clients.iter().map(|(via, client)| async move {
        let add = AddItem {
            request_id: format!("{via}-{n}"),
            item: format!("item-{n}"),
        };
        let invocation = history.invoke(
            via.clone(),
            Action::Add {
                key: cart.to_string(),
                item: add.request_id.clone(),
            },
        );
        let outcome = client.add(cart, &add).await.map(|answer| {
            answer
                .header(SERVED_BY)
                .unwrap_or("nobody said")
                .to_string()
        });
        match &outcome {
            Ok(leader) => invocation.served_by(leader.clone()).ok(),
            Err(e) if e.may_have_applied() => invocation.unknown(e.kind()),
            Err(e) => invocation.fail(e.kind()),
        }
        Write {
            at,
            answered: t0.elapsed(),
            via: via.clone(),
            outcome,
        }
    });
    futures_util::future::join_all(sends).await
}

/// Writes to `carts` in turn through every node every 50 ms for `lasting`, from `t0`.
async fn write_for(
    cluster: &Cluster,
    carts_: &[&str],
    t0: Instant,
    lasting: Duration,
) -> Vec<Write> {
    write_into(cluster, carts_, &History::starting_at(t0), lasting).await
}

/// The same, each add also in `history`, from its start.
async fn write_into(
    cluster: &Cluster,
    carts_: &[&str],
    history: &History,
    lasting: Duration,
) -> Vec<Write> {
    let t0 = history.start();
    let clients: Vec<(String, CartClient)> = cluster
        .ids()
        .into_iter()
        .map(|id| (id.clone(), carts(cluster, &id)))
        .collect();
    let mut writes = Vec::new();
    let mut n = 0;
    while t0.elapsed() < lasting {
        writes.extend(round(&clients, carts_[n % carts_.len()], history, n).await);
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writes
}

/// When node `via` first answered a write the way `pred` says, from the cut.
fn first<'a>(writes: &'a [Write], via: &str, pred: impl Fn(&Write) -> bool) -> Option<&'a Write> {
    writes.iter().find(|w| w.via == via && pred(w))
}

fn refused_as_minority(w: &Write) -> bool {
    matches!(&w.outcome, Err(CartError::Refused { status: 503, code, .. }) if code == "minority")
}

#[test]
fn the_minority_stops_writing_after_stable_after_and_the_majority_elects_a_leader() {
    let cluster = cluster(5, "keep-majority");
    block_on(async {
        until_whole(&cluster).await;
        let healthy = carts(&cluster, "n4")
            .add(
                "cart-0",
                &AddItem {
                    request_id: "healthy".into(),
                    item: "socks".into(),
                },
            )
            .await
            .expect("a healthy cluster takes a write through any node");
        assert_eq!(
            healthy.header(SERVED_BY),
            Some("n1"),
            "n1, the lowest id, leads the whole cluster"
        );

        cluster
            .partition(&[&["n1", "n2"], &["n3", "n4", "n5"]])
            .unwrap();
        let t0 = Instant::now();
        let writes = write_for(
            &cluster,
            &["cart-0"],
            t0,
            decided_by() + Duration::from_millis(800),
        )
        .await;

        let stopped = first(&writes, "n1", refused_as_minority).unwrap_or_else(|| {
            panic!(
                "n1 and n2 are 2 of 5 after the cut, yet n1 never refused a write: {:?}",
                last(&writes, "n1")
            )
        });
        // Not before stable-after (the answer cannot come sooner), and sent by decided_by.
        assert!(
            stopped.answered >= STABLE_AFTER && stopped.at <= decided_by(),
            "n1 stopped {:?} after the cut; expected after detection (0.3-0.5 s) plus stable-after ({STABLE_AFTER:?}), by {:?}",
            stopped.at,
            decided_by()
        );
        let elected =
            first(&writes, "n4", |w| w.outcome.as_deref() == Ok("n3")).unwrap_or_else(|| {
                panic!(
                    "n3, n4 and n5 are 3 of 5, yet no write through n4 was taken by n3: {:?}",
                    last(&writes, "n4")
                )
            });
        assert!(
            elected.answered >= STABLE_AFTER && elected.at <= decided_by(),
            "the majority elected n3 {:?} after the cut; expected between {STABLE_AFTER:?} and {:?}",
            elected.at,
            decided_by()
        );
        eprintln!(
            "after the cut: n1 stopped at {:?}, n3 took over at {:?} (T {T:?}, stable-after {STABLE_AFTER:?})",
            stopped.at, elected.at
        );
        // Once both sides have decided, the majority takes every write and the minority none.
        let settled = stopped.at.max(elected.at) + Duration::from_millis(200);
        for w in writes.iter().filter(|w| w.at >= settled) {
            match w.via.as_str() {
                "n1" | "n2" => assert!(
                    refused_as_minority(w),
                    "the minority took a write after it decided: {w:?}"
                ),
                _ => assert_eq!(
                    w.outcome.as_deref(),
                    Ok("n3"),
                    "the majority must take every write: {w:?}"
                ),
            }
        }
    });
}

fn last<'a>(writes: &'a [Write], via: &str) -> Option<&'a Write> {
    writes.iter().rev().find(|w| w.via == via)
}

/// A 2|3 cut lasting `lasting` under writes to four carts through every node, as a history
/// whose time zero is the cut.
fn partitioned_writes(resolver: &str, lasting: Duration) -> History {
    let cluster = cluster(5, resolver);
    let mut history = History::new();
    block_on(async {
        until_whole(&cluster).await;
        cluster
            .partition(&[&["n1", "n2"], &["n3", "n4", "n5"]])
            .unwrap();
        history = History::starting_at(Instant::now());
        let carts = ["cart-1", "cart-2", "cart-3", "cart-4"];
        write_into(&cluster, &carts, &history, lasting).await;
        cluster.heal();
    });
    history
}

/// The sides of the 2|3 cut, from the time both have decided to the heal.
fn both_sides(lasting: Duration) -> OneSidePerKey {
    let side = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect();
    OneSidePerKey {
        groups: vec![side(&["n1", "n2"]), side(&["n3", "n4", "n5"])],
        window: decided_by()..lasting,
    }
}

#[test]
fn once_the_sides_have_decided_no_cart_is_written_on_both() {
    let lasting = decided_by() + Duration::from_millis(1000);
    let check = both_sides(lasting);
    let result = check.check(
        &partitioned_writes("keep-majority", lasting),
        &FinalReads::new(),
    );
    let offenders: Vec<String> = result.offenders.iter().map(|o| o.line()).collect();
    assert!(
        result.passed,
        "{}: {}\n  {}",
        result.name,
        result.detail,
        offenders.join("\n  ")
    );

    // The control: auto-downing. Each side elects its own leader and both take writes.
    let naive = check.check(
        &partitioned_writes("auto-down", lasting),
        &FinalReads::new(),
    );
    eprintln!(
        "keep-majority: {}; auto-down: {}",
        result.detail, naive.detail
    );
    assert!(
        naive.figure >= 1.0,
        "with auto-down, both sides should have elected a leader and written the same carts: {}",
        naive.detail
    );
}

#[test]
fn a_2_2_split_leaves_exactly_the_side_with_the_lowest_id_up() {
    let cluster = cluster(4, "keep-majority");
    block_on(async {
        until_whole(&cluster).await;
        cluster.partition(&[&["n1", "n2"], &["n3", "n4"]]).unwrap();
        let t0 = Instant::now();
        let writes = write_for(
            &cluster,
            &["cart-9"],
            t0,
            decided_by() + Duration::from_millis(600),
        )
        .await;
        let settled = decided_by();
        let after: Vec<&Write> = writes.iter().filter(|w| w.at >= settled).collect();
        assert!(!after.is_empty());
        for w in after {
            match w.via.as_str() {
                "n1" | "n2" => assert_eq!(
                    w.outcome.as_deref(),
                    Ok("n1"),
                    "n1's side (the lowest id) stays up: {w:?}"
                ),
                _ => assert!(
                    refused_as_minority(w),
                    "n3's side, without the lowest id, must stop: {w:?}"
                ),
            }
        }
    });
}
