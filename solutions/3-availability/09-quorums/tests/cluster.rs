//! Quorums on a real cluster: four or three data nodes, nodes paused (SIGSTOP: down for the
//! detector within 1.25 T, their memory kept) and slow links, through the harness's proxies.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use consistent_hashing_solution::{Ring, VNODES};
use failure_detection_solution::{ClusterView, Verdict};
use harness::scenario::{RunOptions, RunOutcome, Scenario, run};
use harness::{Cluster, block_on};
use node_kit::cart::{AddItem, CartError};
use quorums_solution::StoreView;

/// T of the detector, and how long one copy's write may take: generous, so a busy 2-core
/// machine neither suspects a healthy node nor times out a healthy copy.
const T_MS: &str = "1000";
const COPY_TIMEOUT_MS: &str = "3000";

fn cluster(nodes: usize, strict: bool) -> Cluster {
    let mut args = vec!["--tick-time-ms", T_MS, "--copy-timeout-ms", COPY_TIMEOUT_MS];
    if strict {
        args.push("--strict");
    }
    Cluster::builder(harness::node_bin!())
        .nodes(nodes)
        .args(args)
        .start()
        .expect("the cluster starts")
}

/// The carts (of cart-0..cart-199) whose three primaries include every node in `with`.
fn carts_on(cluster: &Cluster, with: &[&str], how_many: usize) -> Vec<(String, Vec<String>)> {
    let ring = Ring::new(cluster.ids(), VNODES);
    (0..200)
        .map(|i| format!("cart-{i}"))
        .map(|cart| {
            let primaries: Vec<String> = ring
                .preflist(&cart, 3, |_| true)
                .into_iter()
                .map(|e| e.node)
                .collect();
            (cart, primaries)
        })
        .filter(|(_, primaries)| with.iter().all(|w| primaries.iter().any(|p| p == w)))
        .take(how_many)
        .collect()
}

async fn store(cluster: &Cluster, id: &str) -> Result<StoreView, String> {
    cluster.http(id).get_json("/internal/store").await
}

/// Waits until every node sees every other up.
async fn until_whole(cluster: &Cluster) {
    for id in cluster.ids() {
        let node = cluster.http(&id);
        cluster
            .eventually(
                &format!("{id} to see every peer up"),
                Duration::from_secs(5),
                async || {
                    let view: ClusterView = node.get_json("/cluster").await?;
                    if view.peers.values().all(|p| p.state == Verdict::Up) {
                        Ok(())
                    } else {
                        Err(format!("{id} sees {:?}", view.peers))
                    }
                },
            )
            .await;
    }
}

/// Waits until every node not in `down` sees every node in `down` as down.
async fn until_seen_down(cluster: &Cluster, down: &[&str]) {
    for id in cluster
        .ids()
        .into_iter()
        .filter(|id| !down.contains(&id.as_str()))
    {
        let node = cluster.http(&id);
        cluster
            .eventually(
                &format!("{id} to see {down:?} down"),
                Duration::from_secs(5),
                async || {
                    let view: ClusterView = node.get_json("/cluster").await?;
                    let all_down = down
                        .iter()
                        .all(|d| view.peers.get(*d).is_some_and(|p| p.state == Verdict::Down));
                    if all_down {
                        Ok(())
                    } else {
                        Err(format!("{id} sees {:?}", view.peers))
                    }
                },
            )
            .await;
    }
}

fn add(n: usize) -> AddItem {
    AddItem {
        request_id: format!("add-{n}"),
        item: format!("item-{n}"),
    }
}

#[test]
fn with_a_primary_down_every_write_succeeds_and_its_copies_come_home_when_it_returns() {
    let cluster = cluster(4, false);
    let carts = carts_on(&cluster, &["n2"], 8);
    block_on(async {
        until_whole(&cluster).await;
        // Healthy: an add through n1 ends up on all three primaries of its cart.
        let (first, primaries) = &carts[0];
        cluster
            .carts("n1")
            .add(first, &add(0))
            .await
            .expect("a healthy cluster takes a write");
        for p in primaries {
            cluster
                .eventually(
                    &format!("{p} to hold its copy of {first}"),
                    Duration::from_secs(2),
                    async || {
                        let view = store(&cluster, p).await?;
                        if view.carts.get(first).is_some_and(|c| c.contains(&add(0))) {
                            Ok(())
                        } else {
                            Err(format!("{view:?}"))
                        }
                    },
                )
                .await;
        }

        cluster.pause("n2").unwrap();
        until_seen_down(&cluster, &["n2"]).await;
        let mut written: Vec<(String, AddItem)> = vec![(first.clone(), add(0))];
        for n in 1..=40 {
            let via = ["n1", "n3", "n4"][n % 3];
            let (cart, _) = &carts[n % carts.len()];
            cluster.carts(via).add(cart, &add(n)).await.unwrap_or_else(|e| {
                panic!("with N=3, W=2 and one primary (n2) down, every write must succeed; add {n} to {cart} via {via}: {e}")
            });
            written.push((cart.clone(), add(n)));
        }
        let mut hints = 0;
        for id in ["n1", "n3", "n4"] {
            hints += store(&cluster, id)
                .await
                .unwrap()
                .hints
                .get("n2")
                .map_or(0, |h| h.values().map(Vec::len).sum());
        }
        assert!(
            hints >= 40,
            "n2's stand-ins keep a hint for each of the 40 writes it missed, found {hints}"
        );

        cluster.resume("n2").unwrap();
        cluster
            .eventually(
                "every primary to hold every write, and no hint left anywhere",
                Duration::from_secs(5),
                async || {
                    for id in cluster.ids() {
                        let view = store(&cluster, &id).await?;
                        if !view.hints.is_empty() {
                            return Err(format!(
                                "{id} still keeps hints for {:?}",
                                view.hints.keys().collect::<Vec<_>>()
                            ));
                        }
                        for (cart, a) in &written {
                            let primaries = &carts.iter().find(|(c, _)| c == cart).unwrap().1;
                            if primaries.contains(&id)
                                && !view.carts.get(cart).is_some_and(|c| c.contains(a))
                            {
                                return Err(format!(
                                    "{id}, a primary of {cart}, lacks {}",
                                    a.request_id
                                ));
                            }
                        }
                    }
                    Ok(())
                },
            )
            .await;
    });
}

/// 20 adds through n1 and n4 to carts whose primaries include n2 and n3, both paused.
fn writes_with_two_primaries_down(strict: bool) -> Vec<Result<(), CartError>> {
    let cluster = cluster(4, strict);
    let carts = carts_on(&cluster, &["n2", "n3"], 5);
    let mut outcomes = Vec::new();
    block_on(async {
        until_whole(&cluster).await;
        cluster.pause("n2").unwrap();
        cluster.pause("n3").unwrap();
        until_seen_down(&cluster, &["n2", "n3"]).await;
        for n in 0..20 {
            let via = ["n1", "n4"][n % 2];
            let (cart, _) = &carts[n % carts.len()];
            outcomes.push(cluster.carts(via).add(cart, &add(n)).await.map(drop));
        }
    });
    outcomes
}

#[test]
fn with_two_primaries_down_a_sloppy_quorum_takes_every_write_and_a_strict_one_none() {
    let sloppy = writes_with_two_primaries_down(false);
    let failed: Vec<_> = sloppy.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "a sloppy quorum writes W=2 copies on the one primary up and a fallback: {} of 20 failed, first {:?}",
        failed.len(),
        failed.first()
    );

    // The control: a strict quorum has one primary up, and W = 2.
    let strict = writes_with_two_primaries_down(true);
    let refused = strict
        .iter()
        .filter(|o| matches!(o, Err(CartError::Refused { status: 503, code, .. }) if code == "no_quorum"))
        .count();
    assert_eq!(
        refused, 20,
        "a strict quorum must refuse every write it cannot put on 2 primaries: {strict:?}"
    );
}

fn stale_reads_run(name: &str, node_args: &[&str]) -> RunOutcome {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/stale-reads.toml");
    let scenario = Scenario::load(&path).expect("the shipped scenario is valid");
    let out = std::env::temp_dir().join(format!("quorums-{}-{name}", std::process::id()));
    let options = RunOptions {
        bin: harness::node_bin!().into(),
        seed: None,
        out,
        extra_args: node_args.iter().map(|s| s.to_string()).collect(),
        observer: None,
    };
    run(&scenario, &options).unwrap_or_else(|e| panic!("the stale-reads run broke: {e}"))
}

fn check<'a>(outcome: &'a RunOutcome, name: &str) -> &'a harness::check::CheckResult {
    outcome
        .checks
        .iter()
        .find(|c| c.name.contains(name))
        .unwrap_or_else(|| panic!("no {name} check: {:?}", outcome.checks))
}

#[test]
fn r_plus_w_over_n_reads_nothing_stale_and_r1_w1_does() {
    let quorum = stale_reads_run("r2w2", &["--r", "2", "--w", "2"]);
    let stale = check(&quorum, "stale");
    let reads = BTreeSet::from(["stale reads"]);
    assert!(reads.contains(stale.name.as_str()), "{}", stale.name);
    assert!(
        stale.figure == 0.0 && check(&quorum, "lost").passed,
        "R = W = 2 of N = 3 must read no stale cart and lose no add (seed {}):\n{}",
        quorum.seed,
        quorum.table
    );
    println!("R = W = 2: {}\n{}", stale.detail, quorum.table);

    // The control: R = W = 1 over the same slow copies.
    let single = stale_reads_run("r1w1", &["--r", "1", "--w", "1"]);
    let stale_single = check(&single, "stale");
    println!("R = W = 1: {}", stale_single.detail);
    assert!(
        stale_single.figure >= 5.0,
        "R = W = 1 should read stale carts from n3's late copies: {} (seed {}):\n{}",
        stale_single.detail,
        single.seed,
        single.table
    );
}
