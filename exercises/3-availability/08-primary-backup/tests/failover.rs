//! On a real 3-node cluster: clients may ask any node (a backup sends them to the primary),
//! an acknowledged write is on W nodes, a killed primary is replaced by the lowest live
//! backup in a new epoch without losing an acknowledged write, and the old primary, back,
//! has its old epoch refused everywhere.
//!
//! The load is the harness's own scenario workload (open loop, every add in a history, the
//! no-lost-acks checker over the final reads), on this cluster: the primary-backup node needs
//! no workload or checker of its own, because the kit's cart client follows redirects.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::check::CheckResult;
use harness::history::{Action, Completion, History};
use harness::scenario::{self, RunOptions, Scenario};
use harness::{Cluster, block_on};
use node_kit::cart::{AddItem, CartClient, CartError, REDIRECT_HEADER};
use primary_backup::{Role, STALE_EPOCH, Status, View};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The nodes, as the harness names them; n1 is the first primary (the lowest id).
const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// T of the detector. A killed primary is seen at once (its connections close), a hung one
/// after about T. Two seconds, so a node starved of CPU on a busy machine is not taken for
/// a dead one.
const T: Duration = Duration::from_millis(2000);

/// A killed node's closed connection reaches its peers' detectors well within one tick
/// interval (exercise 02 measures it in milliseconds): the detection time of a kill.
const KILL_DETECTION: Duration = Duration::from_millis(250);

/// What a failover may add to the detection time before writes are acknowledged again: the
/// new primary's one round to the live nodes, and the next client request through it. (The
/// reference takes tens of milliseconds on a quiet machine; a machine shared by a dozen
/// builds stretches it to a second.)
const FAILOVER_BOUND: Duration = Duration::from_millis(1500);

/// In the failover runs, every byte between the first primary and its backups is this late,
/// so a write the primary holds reaches the backups this much later: the window in which a
/// primary that acknowledges on its own copy (W = 1) holds writes nobody else has.
const LAG: Duration = Duration::from_millis(700);

/// The seed of the failover runs: it places the kill and drives the workload.
const SEED: u64 = 42;

#[test]
fn clients_may_ask_any_node_and_an_acknowledged_write_is_on_w_nodes() {
    let cluster = start(2);
    block_on(async {
        // Every node starts in epoch 1 with n1, the lowest id, as primary.
        for id in NODES {
            let status = status(&cluster, id).await;
            assert_eq!(status.view, view(1, "n1"), "{id} starts in the first view");
            let role = if id == "n1" {
                Role::Primary
            } else {
                Role::Backup
            };
            assert_eq!(status.role, role, "{id}'s role in epoch 1");
        }
        // The first write, through the primary.
        let added = shop(&cluster, "n1").add("42", &add("first")).await;
        let added = cluster.expect_answer(added, "the first add, at n1").await;
        assert_eq!(added.cart.items, ["first"]);

        // A backup does not take the write: it names the primary.
        let refused = cluster.carts("n2").add("42", &add("not-here")).await;
        let Err(CartError::Refused {
            status: 421,
            code,
            message,
            ..
        }) = &refused
        else {
            panic!("a backup must answer a write with 421 naming the primary, got {refused:?}");
        };
        assert_eq!(code, "misdirected");
        assert!(
            message.contains("n1"),
            "the refusal names the primary: {message}"
        );
        let raw = cluster
            .http("n3")
            .get("/carts/42")
            .send()
            .await
            .expect("n3 answers");
        assert_eq!(raw.status(), 421, "reads go to the primary too");
        assert_eq!(
            raw.headers()
                .get(REDIRECT_HEADER)
                .and_then(|v| v.to_str().ok()),
            Some("n1"),
            "the redirect names the primary by id in {REDIRECT_HEADER}"
        );

        // Through any node, following the redirect: acknowledged, and on W = 2 nodes by
        // the time it is.
        for via in NODES {
            let item = format!("via-{via}");
            let added = shop(&cluster, via).add("42", &add(&item)).await;
            let added = cluster
                .expect_answer(added, &format!("the add through {via}"))
                .await;
            assert!(added.cart.items.contains(&item), "{added:?}");
            let holders = holders(&cluster, "42", &item).await;
            assert!(
                holders.len() >= 2,
                "{item} was acknowledged with W = 2 but only {holders:?} hold it"
            );
        }
        let expected = ["first", "via-n1", "via-n2", "via-n3"];
        let read = shop(&cluster, "n3").get("42").await;
        let read = cluster.expect_answer(read, "the read through n3").await;
        assert_eq!(read.cart.items, expected);
        cluster
            .eventually(
                "every node to hold every write",
                Duration::from_secs(3),
                async || {
                    for id in NODES {
                        let copy = own_copy(&cluster, id, "42").await;
                        if copy.len() != expected.len() {
                            return Err(format!("{id} holds {copy:?}"));
                        }
                    }
                    Ok(())
                },
            )
            .await;

        // No write is acknowledged before W copies exist: with both backups dead, the
        // primary holds the write alone and says so.
        cluster.kill("n2").expect("kill a backup");
        cluster.kill("n3").expect("kill the other backup");
        let alone = shop(&cluster, "n1").add("42", &add("alone")).await;
        match &alone {
            Err(CartError::Refused {
                status: 503,
                message,
                ..
            }) => {
                assert!(message.contains("copies"), "{message}")
            }
            other => panic!(
                "with both backups dead, a W = 2 write must not be acknowledged (503), got {other:?}"
            ),
        }
        assert!(
            !own_copy(&cluster, "n1", "42")
                .await
                .contains(&"alone".to_string()),
            "a write that was not acknowledged must not be in the primary's copy"
        );
    });
}

#[test]
fn a_killed_primary_is_replaced_without_losing_an_acknowledged_write() {
    let kill_at = kill_instant(SEED);
    let run = fail_over(2, kill_at);
    println!(
        "W = 2: {} adds acknowledged, {} lost; writes unavailable for {:?} after the kill at {kill_at:?} (seed {SEED})",
        run.acked, run.lost, run.gap
    );
    assert!(
        run.acked >= 50,
        "too few adds acknowledged to judge: {}",
        run.acked
    );
    assert_eq!(
        run.lost, 0,
        "W = 2 must lose no acknowledged write when the primary is killed: {} (report: {})",
        run.detail, run.report
    );
    assert_eq!(
        run.views,
        [
            ("n1".to_string(), view(2, "n2"), Role::Backup),
            ("n2".to_string(), view(2, "n2"), Role::Primary),
            ("n3".to_string(), view(2, "n2"), Role::Backup),
        ],
        "after the kill n2, the lowest live id, is primary of epoch 2, and n1 is back as its backup"
    );
    assert!(
        run.gap <= KILL_DETECTION + FAILOVER_BOUND,
        "writes were unavailable for {:?} after the kill: more than the detection time ({KILL_DETECTION:?}) plus {FAILOVER_BOUND:?} (report: {})",
        run.gap,
        run.report
    );
    assert!(
        run.acked_just_before,
        "writes must be acknowledged right up to the kill, or the gap measures nothing (report: {})",
        run.report
    );

    // The negative control: the same run, acknowledged on the primary's copy alone.
    let naive = fail_over(1, kill_at);
    println!(
        "W = 1: {} adds acknowledged, {} lost (seed {SEED})",
        naive.acked, naive.lost
    );
    assert!(
        naive.lost >= 5,
        "the control (W = 1) must lose acknowledged writes: those in the last {LAG:?} before the kill were on the primary only; it lost {} (report: {})",
        naive.lost,
        naive.report
    );
}

#[test]
fn a_hung_primary_is_replaced_after_about_t_and_accepts_nothing_when_it_wakes() {
    let cluster = start(2);
    block_on(async {
        let first = shop(&cluster, "n1").add("9", &add("first")).await;
        cluster.expect_answer(first, "the first add, at n1").await;

        // Steady writes through n3 (a backup: redirected to the primary), one every 20 ms,
        // each given 250 ms, every outcome noted with its times.
        let probes = Arc::new(Mutex::new(Vec::<Probe>::new()));
        let writer = {
            let (client, probes) = (shop(&cluster, "n3").timeout(PROBE_TIMEOUT), probes.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let sent = Instant::now();
                    let ok = client.add("9", &add(&format!("p{i}"))).await.is_ok();
                    probes.lock().unwrap().push(Probe {
                        sent,
                        done: Instant::now(),
                        ok,
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let mut rng = StdRng::seed_from_u64(SEED);
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..700))).await;
        // From the moment every thread of n1 has stopped: a write sent before may still have
        // been served by it.
        cluster.pause("n1").expect("pause the primary");
        let hung = Instant::now();
        let back = cluster
            .eventually("a write acknowledged after the pause", 3 * T, async || {
                let probes = probes.lock().unwrap();
                probes
                    .iter()
                    .find(|p| p.ok && p.sent > hung)
                    .map(|p| p.done)
                    .ok_or_else(|| {
                        format!("{} writes tried since, none acknowledged", probes.len())
                    })
            })
            .await;
        writer.abort();
        let gap = back - hung;
        let (low, high) = (
            T * 3 / 4 - Duration::from_millis(100),
            T * 5 / 4 + FAILOVER_BOUND,
        );
        println!(
            "a hung primary: writes unavailable for {gap:?} (detection takes 0.75 T to 1.25 T, T = {T:?}; seed {SEED})"
        );
        assert!(
            low <= gap && gap <= high,
            "writes were unavailable for {gap:?} after the primary hung; expected the detector's \
             0.75 T to 1.25 T (T = {T:?}) plus at most {FAILOVER_BOUND:?}: between {low:?} and {high:?}"
        );
        let promoted = status(&cluster, "n2").await;
        assert_eq!(
            (promoted.view, promoted.role),
            (view(2, "n2"), Role::Primary)
        );

        // It wakes believing it is still the primary of epoch 1. Whatever it tries in that
        // epoch is refused, so it acknowledges nothing, and learns who replaced it.
        cluster.resume("n1").expect("resume the old primary");
        let woken = cluster.carts("n1").add("9", &add("to-the-woken")).await;
        match &woken {
            Err(CartError::Refused {
                status: 421,
                message,
                ..
            }) => {
                assert!(
                    message.contains("n2"),
                    "the woken primary names n2: {message}"
                )
            }
            Err(CartError::Refused { status: 503, .. }) => {}
            other => panic!("the woken old primary must not acknowledge a write: {other:?}"),
        }
        cluster
            .eventually(
                "n1 to be a backup of epoch 2",
                Duration::from_secs(2),
                async || {
                    let status = status(&cluster, "n1").await;
                    match (&status.view, status.role) {
                        (v, Role::Backup) if *v == view(2, "n2") => Ok(()),
                        _ => Err(format!("n1 is {status:?}")),
                    }
                },
            )
            .await;
        for id in NODES {
            assert!(
                !own_copy(&cluster, id, "9")
                    .await
                    .contains(&"to-the-woken".to_string()),
                "{id} holds the write the woken primary was sent"
            );
        }
    });
}

/// How long a probe write waits for its answer: a request sent to the hung primary gives up
/// after this, and the next one goes to whoever is primary by then.
const PROBE_TIMEOUT: Duration = Duration::from_millis(250);

/// One probe write: when it was sent, when it ended, and whether it was acknowledged.
struct Probe {
    sent: Instant,
    done: Instant,
    ok: bool,
}

#[test]
fn the_restarted_old_primary_accepts_nothing_with_its_stale_epoch() {
    let cluster = start(2);
    block_on(async {
        let before = shop(&cluster, "n1").add("7", &add("before")).await;
        cluster
            .expect_answer(before, "the add before the kill")
            .await;

        cluster.kill("n1").expect("kill the primary");
        let promoted = cluster
            .eventually(
                "n2 to be primary of epoch 2",
                Duration::from_secs(3),
                async || {
                    let status = status(&cluster, "n2").await;
                    match status.role {
                        Role::Primary => Ok(status.view),
                        _ => Err(format!("n2 is {status:?}")),
                    }
                },
            )
            .await;
        assert_eq!(promoted, view(2, "n2"), "one promotion, one epoch on");
        cluster.restart("n1").expect("restart the old primary");

        // Back, n1 is a backup of epoch 2, with every cart copied from the new primary.
        let back = status(&cluster, "n1").await;
        assert_eq!((back.view, back.role), (view(2, "n2"), Role::Backup));
        assert_eq!(own_copy(&cluster, "n1", "7").await, ["before"]);
        let refused = cluster.carts("n1").add("7", &add("to-n1")).await;
        assert!(
            matches!(&refused, Err(CartError::Refused { status: 421, message, .. }) if message.contains("n2")),
            "the old primary must send writes to n2 now, got {refused:?}"
        );

        // What the old primary sent in epoch 1 is refused everywhere, by itself too.
        for id in NODES {
            let answer = replicate(&cluster, id, &view(1, "n1"), "stale").await;
            assert_eq!(
                answer.status, 409,
                "{id} must refuse a write of epoch 1: {}",
                answer.body
            );
            assert_eq!(answer.body["error"], STALE_EPOCH, "{id}: {}", answer.body);
            assert_eq!(
                answer.body["view"]["epoch"], 2,
                "{id} names its epoch: {}",
                answer.body
            );
            assert!(
                !own_copy(&cluster, id, "7")
                    .await
                    .contains(&"stale".to_string()),
                "{id} stored a write of the stale epoch"
            );
        }
        // The current epoch is accepted (so the refusal above was about the epoch). Sent to
        // n3 alone, it is a copy only n3 holds, and n3 dies next.
        let current = replicate(&cluster, "n3", &view(2, "n2"), "current").await;
        assert_eq!(current.status, 200, "{}", current.body);

        // A backup's death is no reason to promote: n2 stays primary, and with n1 back
        // writes still find their W = 2 copies.
        cluster.kill("n3").expect("kill a backup");
        tokio::time::sleep(Duration::from_millis(300)).await;
        for id in ["n1", "n2"] {
            let status = status(&cluster, id).await;
            assert_eq!(
                status.view,
                view(2, "n2"),
                "{id} after the backup n3 died: {status:?}"
            );
        }
        let after = shop(&cluster, "n1").add("7", &add("after")).await;
        let after = cluster
            .expect_answer(after, "an add with n3 dead (n2 and n1 hold it)")
            .await;
        assert_eq!(after.cart.items, ["before", "after"]);
    });
}

#[test]
fn the_internal_routes_refuse_bad_input_with_a_json_4xx() {
    let cluster = start(2);
    block_on(async {
        let current = status(&cluster, "n2").await.view;
        let ok = replicate(&cluster, "n2", &current, "fine").await;
        assert_eq!(
            ok.status, 200,
            "a well-formed write of the current epoch: {}",
            ok.body
        );
        let n2 = cluster.http("n2");
        let cases: [(&str, &str, String, bool); 6] = [
            ("malformed JSON", "/internal/replicate", "{".into(), true),
            (
                "an unknown field",
                "/internal/replicate",
                r#"{"view":{"epoch":1,"primary":"n1"},"cart":"1","add":{"request_id":"r","item":"i"},"x":1}"#.into(),
                true,
            ),
            (
                "a bad cart id",
                "/internal/replicate",
                r#"{"view":{"epoch":1,"primary":"n1"},"cart":"a b","add":{"request_id":"r","item":"i"}}"#.into(),
                true,
            ),
            (
                "a negative epoch",
                "/internal/promote",
                r#"{"view":{"epoch":-1,"primary":"n1"}}"#.into(),
                true,
            ),
            (
                "no cookie",
                "/internal/replicate",
                r#"{"view":{"epoch":1,"primary":"n1"},"cart":"1","add":{"request_id":"r","item":"i"}}"#.into(),
                false,
            ),
            (
                "a bad item in a pushed cart",
                "/internal/sync",
                r#"{"view":{"epoch":1,"primary":"n1"},"carts":{"1":[{"request_id":"r","item":""}]}}"#.into(),
                true,
            ),
        ];
        let no_cookie = reqwest::Client::new();
        for (what, path, body, with_cookie) in cases {
            let request = if with_cookie {
                n2.post(path)
            } else {
                no_cookie.post(n2.url(path))
            };
            let response = request
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("n2 answers");
            let status = response.status();
            let json: serde_json::Value = response.json().await.unwrap_or_default();
            assert!(
                status.is_client_error() && json["error"].is_string(),
                "{what}: expected a JSON 4xx, got {status} {json}"
            );
        }
        assert_eq!(
            own_copy(&cluster, "n2", "1").await,
            Vec::<String>::new(),
            "no refused write was stored"
        );
        assert_eq!(own_copy(&cluster, "n2", "7").await, ["fine"]);
    });
}

/// What one failover run measured.
struct Failover {
    acked: usize,
    lost: usize,
    detail: String,
    /// From the kill to the first add acknowledged after it.
    gap: Duration,
    /// An add was acknowledged within `LAG` plus 300 ms before the kill.
    acked_just_before: bool,
    /// Every node's view and role after the run (n1 restarted).
    views: Vec<(String, View, Role)>,
    report: String,
}

/// Kills the primary at `kill_at` under the scenario workload's steady writes (100 adds a
/// second to any node, the redirects followed), with every copy from n1 to its backups
/// `LAG` late; then the scenario restarts n1, reads every cart and checks for lost adds.
fn fail_over(w: usize, kill_at: Duration) -> Failover {
    let cluster = start(w);
    block_on(async {
        let first = shop(&cluster, "n1").add("c0", &add("warm-up")).await;
        cluster.expect_answer(first, "the first add, at n1").await;
    });
    for backup in ["n2", "n3"] {
        cluster.link("n1", backup).latency(LAG, Duration::ZERO);
    }
    let text = format!(
        r#"
name = "failover-w{w}"
description = "the primary killed under steady writes, W = {w}"
duration = "4s"
recover = "300ms"
[cluster]
exercise = "primary-backup"
nodes = 3
[workload]
rate = 100
carts = 10
read_share = 0.0
timeout = "5s"
[[faults]]
at = "{}ms"
fault = "kill"
target = "n1"
[[checks]]
check = "no-lost-acks"
"#,
        kill_at.as_millis()
    );
    let scenario =
        Scenario::parse(Path::new("failover-test.toml"), &text).expect("a valid scenario");
    // Kept after the run (the cluster's own directory goes with a passing cluster).
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("failover-w{w}-seed{SEED}"));
    let options = RunOptions {
        bin: harness::node_bin!().into(),
        seed: Some(SEED),
        out: out.clone(),
        extra_args: Vec::new(),
        observer: None,
    };
    let outcome = scenario::run_on(&cluster, &scenario, SEED, &options).expect("the scenario runs");
    let lost: &CheckResult = outcome
        .checks
        .iter()
        .find(|c| c.name.contains("lost"))
        .expect("the no-lost-acks check ran");
    let history = History::read_jsonl(std::io::BufReader::new(
        std::fs::File::open(out.join("history.jsonl")).expect("the run's history"),
    ))
    .expect("a readable history");
    let acks: Vec<Duration> = history
        .operations()
        .iter()
        .filter(|op| matches!(op.action, Action::Add { .. }))
        .filter_map(|op| op.end.as_ref())
        .filter(|end| matches!(end.outcome, Completion::Ok(_)))
        .map(|end| end.at)
        .collect();
    let killed = outcome
        .faults
        .iter()
        .find(|f| f.label.contains("kill"))
        .map_or(kill_at, |f| f.start);
    let after = acks.iter().filter(|at| **at > killed).min().copied();
    let gap = after.map_or(Duration::MAX, |at| at - killed);
    let acked_just_before = acks
        .iter()
        .any(|at| *at <= killed && killed - *at <= LAG + Duration::from_millis(300));
    let views = block_on_views(&cluster);
    Failover {
        acked: acks.len(),
        lost: lost.figure as usize,
        detail: lost.detail.clone(),
        gap,
        acked_just_before,
        views,
        report: out.display().to_string(),
    }
}

fn block_on_views(cluster: &Cluster) -> Vec<(String, View, Role)> {
    let mut views = Vec::new();
    block_on(async {
        for id in NODES {
            let status = status(cluster, id).await;
            views.push((id.to_string(), status.view, status.role));
        }
    });
    views
}

/// The seeded instant of the kill: between 1.5 s and 2.5 s into the 4 s of load.
fn kill_instant(seed: u64) -> Duration {
    let mut rng = StdRng::seed_from_u64(seed);
    Duration::from_millis(rng.random_range(1500..2500))
}

/// Three nodes of this crate's binary, W copies, the detector's T.
fn start(w: usize) -> Cluster {
    let started = Instant::now();
    let cluster = Cluster::builder(harness::node_bin!())
        .nodes(NODES.len())
        .seed(SEED)
        .args([
            "--w".to_string(),
            w.to_string(),
            "--tick-time-ms".to_string(),
            T.as_millis().to_string(),
        ])
        .start()
        .expect("the cluster starts");
    assert_eq!(cluster.ids(), NODES);
    // Every detector has seen every peer up: only then is a silence news.
    block_on(async {
        cluster
            .eventually(
                "every node's detector to see its peers up",
                Duration::from_secs(5),
                async || {
                    for id in NODES {
                        let view: serde_json::Value = cluster.http(id).get_json("/cluster").await?;
                        let peers = view["peers"].as_object().cloned().unwrap_or_default();
                        if peers.len() != 2 || peers.values().any(|p| p["state"] != "up") {
                            return Err(format!("{id} sees {}", view["peers"]));
                        }
                    }
                    Ok(())
                },
            )
            .await;
    });
    println!("the cluster (W = {w}) started in {:?}", started.elapsed());
    cluster
}

fn view(epoch: u64, primary: &str) -> View {
    View {
        epoch,
        primary: primary.to_string(),
    }
}

fn add(item: &str) -> AddItem {
    AddItem {
        request_id: item.to_string(),
        item: item.to_string(),
    }
}

/// A client of the shop that asks `via` and follows redirects to the primary.
fn shop(cluster: &Cluster, via: &str) -> CartClient {
    cluster
        .carts(via)
        .follow_redirects(NODES.map(|id| (id, cluster.addr(id))))
}

async fn status(cluster: &Cluster, id: &str) -> Status {
    let answer = cluster.http(id).get_json::<Status>("/view").await;
    cluster.expect_answer(answer, &format!("{id}'s view")).await
}

/// What node `id` itself holds of `cart`, whatever its role.
async fn own_copy(cluster: &Cluster, id: &str, cart: &str) -> Vec<String> {
    let answer = cluster.http(id).internal_carts().get(cart).await;
    let what = format!("{id}'s own copy of cart {cart}");
    cluster.expect_answer(answer, &what).await.cart.items
}

/// The nodes whose own copy of `cart` holds `item`.
async fn holders(cluster: &Cluster, cart: &str, item: &str) -> Vec<&'static str> {
    let mut holders = Vec::new();
    for id in NODES {
        if own_copy(cluster, id, cart).await.iter().any(|i| i == item) {
            holders.push(id);
        }
    }
    holders
}

struct Answered {
    status: u16,
    body: serde_json::Value,
}

/// Sends node `id` a replicated add of `item` to cart 7 as the primary of `from` would.
async fn replicate(cluster: &Cluster, id: &str, from: &View, item: &str) -> Answered {
    let body = serde_json::json!({ "view": from, "cart": "7", "add": add(item) });
    let response = cluster
        .http(id)
        .post("/internal/replicate")
        .json(&body)
        .send()
        .await;
    let response = cluster
        .expect_answer(response, &format!("the replicated add at {id}"))
        .await;
    Answered {
        status: response.status().as_u16(),
        body: response.json().await.unwrap_or_default(),
    }
}
