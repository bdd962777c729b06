//! `cargo lab demo split-brain`: five nodes elect one leader for the carts; the network splits
//! them 2|3; who takes the writes now?
//!
//! The story is in the nodes' own standings (this exercise's `GET /resolver`) and in who took
//! each write (`x-served-by`), which no scenario checker reads, so this demo is code. It runs
//! the same 2|3 partition twice under writes to four carts through every node:
//!
//! 1. with keep-majority and stable-after (your resolver, or the reference one): the minority
//!    (n1, n2) stops, the majority elects n3, and every cart is written on one side only;
//! 2. with auto-downing (each side acts on what it sees at once and never stops): n1 keeps
//!    leading its side, n3 leads the other, and the same carts are written on both.
//!
//! Each phase prints a line every half second (each node's decision and leader, and who took
//! the writes of that half second), and the demo ends with a table and `--out`'s summary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use harness::Cluster;
use harness::demo::{Demo, verdict};
use node_kit::cart::{AddItem, CartClient};
use split_brain_solution::{Decision, ResolverView, SERVED_BY};

const T_MS: u64 = 400;
const STABLE_AFTER_MS: u64 = 1500;
const CUT_FOR: Duration = Duration::from_secs(5);
const CARTS: [&str; 4] = ["cart-1", "cart-2", "cart-3", "cart-4"];

fn main() -> ExitCode {
    let args = Demo::parse();
    println!("== demo: split-brain ({}) ==\n", args.whose);
    println!(
        "  Five logic nodes elect one leader, the lowest id they can see, and write every cart there."
    );
    println!(
        "  Failure detection: exercise 02's ticks, T = {T_MS} ms. Then the network splits n1, n2 | n3, n4, n5.\n"
    );
    let mut summary = String::new();
    let mut split = BTreeMap::new();
    for (resolver, story) in [
        (
            "keep-majority",
            "keep-majority, stable-after 1.5 s: the side with 3 of 5 carries on, the other stops",
        ),
        (
            "auto-down",
            "auto-down (the naive control): each side calls the other dead and carries on",
        ),
    ] {
        println!("-- {story}");
        let both = match phase(&args, resolver) {
            Ok(both) => both,
            Err(e) => {
                eprintln!("split-brain demo: {e}");
                return ExitCode::FAILURE;
            }
        };
        let _ = writeln!(summary, "{resolver}: carts written on both sides: {both:?}");
        split.insert(resolver, both);
        println!();
    }
    println!("  resolver        carts written on both sides of the partition");
    for (resolver, both) in &split {
        println!(
            "  {resolver:<15} {}",
            if both.is_empty() {
                "none".to_string()
            } else {
                format!("{} ({})", both.len(), both.join(", "))
            }
        );
    }
    println!(
        "\n  A partition looks exactly like a crash. Keep-majority lets exactly one side act on it;\n  \
         auto-downing lets both, and the shop now has two carts called cart-1."
    );
    let _ = std::fs::create_dir_all(&args.out);
    let path = args.out.join("summary.txt");
    if std::fs::write(&path, summary).is_ok() {
        println!("\n  summary: {}", path.display());
    }
    let kept = split.get("keep-majority").is_some_and(Vec::is_empty);
    let naive_split = split.get("auto-down").is_some_and(|b| !b.is_empty());
    verdict(kept && naive_split)
}

/// One run: a 5-node cluster with `resolver`, a 2|3 cut under writes, the carts written on
/// both sides once the sides had time to decide.
fn phase(args: &Demo, resolver: &str) -> Result<Vec<String>, String> {
    let cluster = Cluster::builder(&args.node)
        .nodes(5)
        .args([
            "--tick-time-ms".to_string(),
            T_MS.to_string(),
            "--stable-after-ms".to_string(),
            STABLE_AFTER_MS.to_string(),
            "--resolver".to_string(),
            resolver.to_string(),
        ])
        .start()
        .map_err(|e| format!("the cluster did not start: {e}"))?;
    let runtime = Demo::runtime()?;
    runtime.block_on(async {
        let everyone: Vec<(String, String)> = cluster
            .ids()
            .into_iter()
            .map(|n| (n.clone(), cluster.addr(&n).to_string()))
            .collect();
        let clients: Vec<(String, CartClient)> = cluster
            .ids()
            .into_iter()
            .map(|id| {
                let client = cluster
                    .carts(&id)
                    .timeout(Duration::from_millis(400))
                    .follow_redirects(everyone.clone());
                (id, client)
            })
            .collect();
        until_whole(&cluster).await?;
        print_standings(&cluster, "before").await;
        cluster
            .partition(&[&["n1", "n2"], &["n3", "n4", "n5"]])
            .map_err(|e| e.to_string())?;
        println!("  0.0 s  the network splits: n1, n2 | n3, n4, n5");
        let t0 = Instant::now();
        let decided = Duration::from_millis(T_MS * 5 / 4 + STABLE_AFTER_MS + 500);
        let mut written: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut n = 0usize;
        let mut next_line = Duration::from_millis(500);
        let mut took: BTreeMap<String, usize> = BTreeMap::new();
        while t0.elapsed() < CUT_FOR {
            let cart = CARTS[n % CARTS.len()];
            let sent = t0.elapsed();
            let sends = clients.iter().map(|(via, client)| {
                let add = AddItem {
                    request_id: format!("{via}-{n}"),
                    item: format!("item-{n}"),
                };
                async move {
                    client
                        .add(cart, &add)
                        .await
                        .ok()
                        .and_then(|a| a.header(SERVED_BY).map(str::to_string))
                }
            });
            for leader in futures_util::future::join_all(sends)
                .await
                .into_iter()
                .flatten()
            {
                *took.entry(leader.clone()).or_default() += 1;
                if sent >= decided {
                    written.entry(cart.to_string()).or_default().insert(leader);
                }
            }
            n += 1;
            if t0.elapsed() >= next_line {
                let line: Vec<String> = took.iter().map(|(l, k)| format!("{l} took {k}")).collect();
                let views = standings(&cluster).await;
                println!(
                    "  {:>3.1} s  {:<44} writes: {}",
                    next_line.as_secs_f64(),
                    views,
                    if line.is_empty() {
                        "none taken".into()
                    } else {
                        line.join(", ")
                    }
                );
                took.clear();
                next_line += Duration::from_millis(500);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cluster.heal();
        Ok(written
            .into_iter()
            .filter(|(_, l)| l.len() > 1)
            .map(|(cart, l)| {
                format!(
                    "{cart} by {}",
                    l.into_iter().collect::<Vec<_>>().join(" and ")
                )
            })
            .collect())
    })
}

/// Waits (10 s at most) until every node is up, with everyone in its view and in sight.
async fn until_whole(cluster: &Cluster) -> Result<(), String> {
    let everyone: BTreeSet<String> = cluster.ids().into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut whole = true;
        for id in cluster.ids() {
            let view = cluster
                .http(&id)
                .get_json::<ResolverView>("/resolver")
                .await;
            whole &= view.is_ok_and(|v| {
                v.decision == Decision::Up && v.view == everyone && v.seen == everyone
            });
        }
        if whole {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the five nodes did not all see each other within 10 s: {}",
                standings(cluster).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each node's decision and leader, as one short line: `n1 up(n1) n3 down ...`.
async fn standings(cluster: &Cluster) -> String {
    let mut line = Vec::new();
    for id in cluster.ids() {
        let shown = match cluster
            .http(&id)
            .timeout(Duration::from_millis(300))
            .get_json::<ResolverView>("/resolver")
            .await
        {
            Ok(v) if v.decision == Decision::Up => {
                format!("{id}:up({})", v.leader.unwrap_or_default())
            }
            Ok(_) => format!("{id}:DOWN"),
            Err(_) => format!("{id}:?"),
        };
        line.push(shown);
    }
    line.join(" ")
}

async fn print_standings(cluster: &Cluster, when: &str) {
    println!("  {when:>5}  {}", standings(cluster).await);
}
