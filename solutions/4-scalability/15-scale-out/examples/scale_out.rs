//! `cargo lab demo scale-out`: the shop adds capacity under load. Nodes of exercise 15 join
//! the ring one by one, 1 -> 2 -> 3, while customers send four times what one node can
//! serve; each second prints what the shop served, and each join how many carts it moved.
//!
//! Every node serves a request at its owner with the kit's service of known capacity (4
//! workers of 80 ms: 50 a second, on any machine) and refuses at once, with 503, a request
//! that would wait behind 8 others. So one node serves 50 a second of the 200 offered, two
//! serve 100, three 150: horizontal scaling, measured against a number known in advance. The
//! load goes to every member so far (a load balancer in front), each request to a seeded node
//! and cart.
//!
//! The report directory: `report.html`, `verdict.json` and `history.jsonl` (the harness's
//! report, with the joins marked), `timeline.txt` (what the terminal showed), `figures.json`
//! and the node logs. The lab runs it with the node binary it built (solution or exercise):
//! `--node <binary> --out <dir> [--seed S] [--whose ...]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Traffic, final_reads, node_args, ring_view, served_per_second, settled};
use harness::Cluster;
use harness::check::{Checker, NoLostAcks, largest_at_most, smallest_at_least};
use harness::demo::{Demo, broke, verdict};
use harness::history::Completion;
use harness::load::{Load, Schedule, Shot};
use harness::report::{self, Span};
use serde_json::json;

/// One node's capacity: 4 workers of 80 ms.
const CAPACITY: f64 = 50.0;
/// The offered load: four times one node's capacity.
const RATE: f64 = 4.0 * CAPACITY;
/// How long the ring stays at each size.
const PHASE: Duration = Duration::from_secs(5);
const NODES: usize = 3;
/// The figure the demo promises: three nodes serve at least this many times what one does.
const TARGET: f64 = 2.8;

const INTRO: &str = "\
The shop's carts live on a ring of logic nodes (exercise 03), one owner per cart. Every node
serves a request with 4 workers of 80 ms each: 50 a second, whatever this laptop's CPU, and
refuses at once what it cannot serve soon. Customers send 200 a second, four times one node.
Every 5 s one more node joins the ring (your moves, hand_over and waits_for at work): it asks
for the ring, tells every member, and each member hands it the carts it now owns. Watch
'served' climb from 50 to 100 to 150 a second, and how few carts each join moves.";

fn main() -> ExitCode {
    let args = Demo::start("scale-out", INTRO);
    // The seed draws which node and cart each request goes to.
    let seed = args.seed_or(15);
    println!("  running {} (seed {seed})\n", args.whose);
    match run(&args, seed) {
        Ok(passed) => verdict(passed),
        Err(e) => broke(&e),
    }
}

/// One join, as the demo saw it.
struct Joined {
    node: String,
    at: Duration,
    /// Carts the old members handed to it.
    moved: usize,
    /// Carts stored on the ring when it joined.
    carts: usize,
}

fn run(args: &Demo, seed: u64) -> Result<bool, String> {
    let cluster = Cluster::builder(&args.node)
        .nodes(1)
        .standby(NODES - 1)
        .args(node_args(1, 4, 80, 8))
        .seed(seed)
        .start()
        .map_err(|e| format!("the first node did not start: {e}"))?;
    let runtime = Demo::runtime()?;
    let ids = cluster.ids();
    let live = Arc::new(AtomicUsize::new(1));
    let mut traffic = Traffic::to(&cluster, &ids, Duration::from_secs(5), seed);
    traffic.carts = 1000;
    traffic.read_share = 0.2;
    traffic.live = Some(live.clone());

    let total = PHASE * NODES as u32;
    let load = Load::new(Schedule::Constant { rate: RATE }, total).timeout(Duration::from_secs(10));
    let progress = load.progress();
    let start = Instant::now();
    let mut timeline: Vec<String> = Vec::new();
    let say = |timeline: &mut Vec<String>, line: String| {
        println!("{line}");
        timeline.push(line);
    };
    say(
        &mut timeline,
        format!(
            "  {:>4}  {:>7}  {:>9}  {:>8}  {:>9}",
            "t", "members", "served/s", "refused", "capacity"
        ),
    );

    let (report, joins, lines) = std::thread::scope(|s| {
        // The joins, on their own thread: a join waits for the node's ready line.
        let joiner = s.spawn(|| {
            let mut joins = Vec::new();
            for k in 2..=NODES {
                std::thread::sleep(
                    (start + PHASE * (k as u32 - 1)).saturating_duration_since(Instant::now()),
                );
                let node = format!("n{k}");
                let at = start.elapsed();
                let before: usize = runtime.block_on(stored(&cluster));
                cluster
                    .join(&node)
                    .map_err(|e| format!("{node} did not join: {e}"))?;
                live.store(k, Ordering::Relaxed);
                runtime.block_on(settled(&cluster, k, Duration::from_secs(10)));
                let moved = runtime.block_on(handed_to(&cluster, &node));
                joins.push(Joined {
                    node,
                    at,
                    moved,
                    carts: before,
                });
            }
            Ok::<_, String>(joins)
        });
        // Each second: what was served and refused, live.
        let ticker = s.spawn(|| {
            let mut lines = Vec::new();
            let (mut done, mut errors) = (0, 0);
            for second in 1..=total.as_secs() {
                std::thread::sleep(
                    (start + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
                );
                let (d, e) = (progress.completed(), progress.errors());
                let members = live.load(Ordering::Relaxed);
                let line = format!(
                    "  {:>3}s  {members:>7}  {:>9}  {:>8}  {:>9.0}",
                    second,
                    (d - done) - (e - errors),
                    e - errors,
                    CAPACITY * members as f64
                );
                println!("{line}");
                lines.push(line);
                (done, errors) = (d, e);
            }
            lines
        });
        let t = traffic.clone();
        let report = runtime.block_on(load.run(move |shot: Shot| {
            let t = t.clone();
            async move { t.one(shot.index).await }
        }));
        (report, joiner.join(), ticker.join().unwrap_or_default())
    });
    timeline.extend(lines);
    let report = report.map_err(|e| format!("the load could not run: {e}"))?;
    let joins = joins.map_err(|_| "the joining thread panicked".to_string())??;

    // Served a second at each size: the requests sent in the steady seconds of each phase
    // (its first second is the join and the queues settling).
    let per_size: Vec<f64> = (0..NODES)
        .map(|k| {
            let from = PHASE * k as u32 + Duration::from_secs(1);
            let to = PHASE * (k as u32 + 1);
            served_per_second(&traffic.history, from, to)
        })
        .collect();
    let ratio = per_size[NODES - 1] / per_size[0];

    println!("\n  reading every cart back through n1, then checking ...");
    let finals = runtime.block_on(final_reads(&cluster, "n1", traffic.carts));
    let ops = traffic.history.operations();
    let failed = ops
        .iter()
        .filter(|op| {
            !op.is_ok()
                && !matches!(&op.end, Some(e)
                    if matches!(&e.outcome, Completion::Fail(why) if why == "overloaded"))
        })
        .count();
    let checks = vec![
        smallest_at_least(
            format!("throughput 1 -> {NODES} nodes"),
            &[ratio],
            TARGET,
            "x",
        ),
        largest_at_most(
            "requests neither served nor refused as overloaded",
            &[failed as f64],
            0.0,
            "requests",
        ),
        NoLostAcks.check(&traffic.history, &finals),
    ];

    say(&mut timeline, String::new());
    say(
        &mut timeline,
        format!(
            "  {:>7}  {:>9}  {:>9}  {}",
            "members", "served/s", "capacity", "the join"
        ),
    );
    for (k, served) in per_size.iter().enumerate() {
        let joined = match k.checked_sub(1).and_then(|i| joins.get(i)) {
            Some(j) => format!(
                "{} joined at {:.1} s: {} of {} carts moved ({:.0}%; 1/{} is {:.0}%)",
                j.node,
                j.at.as_secs_f64(),
                j.moved,
                j.carts,
                100.0 * j.moved as f64 / j.carts.max(1) as f64,
                k + 1,
                100.0 / (k + 1) as f64
            ),
            None => "the ring's first node".into(),
        };
        say(
            &mut timeline,
            format!(
                "  {:>7}  {served:>9.0}  {:>9.0}  {joined}",
                k + 1,
                CAPACITY * (k + 1) as f64
            ),
        );
    }
    say(
        &mut timeline,
        format!(
            "\n  1 -> {NODES} nodes: {:.0}/s -> {:.0}/s, {ratio:.2}x (the target: {TARGET}x); \
             {failed} requests failed otherwise than overloaded",
            per_size[0],
            per_size[NODES - 1]
        ),
    );

    let spans: Vec<Span> = joins
        .iter()
        .map(|j| Span {
            label: format!("join {}", j.node),
            start: j.at,
            end: j.at,
            nodes: Vec::new(),
        })
        .collect();
    if report.max_lag > Duration::from_millis(200) && !checks.iter().all(|c| c.passed) {
        say(
            &mut timeline,
            format!(
                "  the load generator fell {:.1} s behind its schedule: this machine was too busy \
                 to send on time, and a stalled second of sending is one the ring could not \
                 serve; run it again on a quieter machine",
                report.max_lag.as_secs_f64()
            ),
        );
    }
    let title = format!("scale-out: 1 -> {NODES} nodes at {RATE:.0} requests a second");
    let run = report::Run {
        title: &title,
        seed: Some(seed),
        load: &report,
        history: &traffic.history,
        checks: &checks,
        faults: &spans,
        inconclusive: None,
    };
    let table = report::write(&args.out, &run).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("cannot write the report: {e}");
    std::fs::write(args.out.join("timeline.txt"), timeline.join("\n") + "\n").map_err(io)?;
    let figures = json!({
        "seed": seed,
        "capacity_per_node": CAPACITY,
        "offered": RATE,
        "served_per_second": per_size,
        "ratio_1_to_3": ratio,
        "joins": joins.iter().map(|j| json!({
            "node": j.node, "at_s": j.at.as_secs_f64(), "moved": j.moved, "carts": j.carts,
        })).collect::<Vec<_>>(),
        "failed_otherwise": failed,
    });
    let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
    std::fs::write(args.out.join("figures.json"), text + "\n").map_err(io)?;
    args.report_dir(&cluster)?;
    println!("\n{table}");
    Ok(checks.iter().all(|c| c.passed))
}

/// Carts stored on the ring now (each owner's count of what it holds).
async fn stored(cluster: &Cluster) -> usize {
    let mut n = 0;
    for id in cluster.members() {
        n += ring_view(cluster, &id).await.map(|v| v.owned).unwrap_or(0);
    }
    n
}

/// Carts the members handed to `node`.
async fn handed_to(cluster: &Cluster, node: &str) -> usize {
    let mut n = 0;
    for id in cluster.members() {
        if let Ok(view) = ring_view(cluster, &id).await {
            n += view.handed.get(node).copied().unwrap_or(0);
        }
    }
    n
}
