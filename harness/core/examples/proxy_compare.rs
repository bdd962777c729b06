//! The harness proxy against a bare proxy and against no proxy, in one run: `wrk -t2 -c32` on
//! `GET /health` of the test node, direct, through a bare tokio `copy_bidirectional` proxy and
//! through a healthy [`harness::Proxy`] link, alternating (mirrored within each round), in
//! rounds. Prints each round's figures and the two ratios the harness is held to: its
//! throughput over the bare proxy's (at least 1.0) and the latency it adds to the p50 over what
//! the bare proxy adds (at most 1.2).
//!
//! ```sh
//! cargo build --release -p harness --bin test-node --example proxy_compare
//! target/release/examples/proxy_compare [rounds] [seconds] [turn]
//! ```
//! `scripts/compare-proxy.sh` does both. Needs Debian's `wrk` on the PATH.
//!
//! Each round gives every target `seconds` of wrk (defaults: 3 rounds of 10 s) in turns of
//! `turn` seconds (default 1; as many whole turns as fit), in passes that alternate their order
//! (direct, bare, proxy, then proxy, bare, direct). Short turns are the point: much of the
//! noise is per wrk run (where its threads, the node's and the proxies' land on the two cores,
//! which holds for a whole run), so ten runs of a second average it away where two of five
//! seconds do not. Measured on a 2-core machine, six rounds of 10 s each, same code (issue 13):
//! turns of 5 s gave round ratios of 0.914-1.147x, turns of 1 s 0.984-1.029x.
//!
//! The bare proxy runs on a runtime of its own with as many worker threads as the harness's
//! proxies have threads (two), so the two proxies get the same share of the machine. Beside
//! the ratios, each round shows the CPU time each proxy's threads spent per request (from
//! `/proc/self/task/*/schedstat`): on a saturated machine that is what throughput trades on.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use harness::Cluster;
use tokio::net::{TcpListener, TcpStream};

/// One wrk measurement.
#[derive(Clone, Copy)]
struct Figures {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// CPU time the proxy's threads spent per request (none for direct).
    cpu_us: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let turn: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let turn = turn.clamp(1, seconds.max(1));
    let passes = (seconds / turn).max(1); // turns per target per round
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not on the PATH: install it with `sudo apt-get install -y wrk`");
        std::process::exit(2);
    }
    let bin = std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples")
        .join("test-node");
    let cluster = Cluster::builder(&bin)
        .nodes(1)
        .log_filter("warn")
        .start()
        .expect(
            "the test node starts (build it: cargo build --release -p harness --bin test-node)",
        );
    let direct = cluster.direct_addr("n1").expect("running");
    let proxied = cluster.addr("n1");
    let bare = bare_proxy(direct);

    // The threads whose CPU time each target costs: none, the bare proxy's, the harness's.
    let threads = ["", "bare-proxy", "lab-proxy"];
    wrk(direct, 1, threads[0]); // warm up the node, the allocator and both proxies' threads
    wrk(bare, 1, threads[1]);
    wrk(proxied, 1, threads[2]);

    println!(
        "wrk -t2 -c32 GET /health, {rounds} rounds of {seconds} s per target ({passes} turns of {turn} s each, alternating); load average before: {}",
        load_average()
    );
    println!(
        "{:<6} {:>9} {:>9} {:>9} | {:>8} {:>8} {:>8} | {:>9} {:>11} | {:>8} {:>8} {:>9} | load",
        "round",
        "direct/s",
        "bare/s",
        "proxy/s",
        "p50 dir",
        "p50 bare",
        "p50 prx",
        "thr ratio",
        "added p50",
        "cpu bare",
        "cpu prx",
        "cpu ratio"
    );
    // Each round's (throughput ratio, added p50 ratio).
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // Each target `passes` times, in passes of mirrored order (direct, bare, proxy, then
        // proxy, bare, direct): a machine that slows or speeds up during a round hurts all
        // three alike, and the round's figure is each target's mean of its turns.
        let mut turns = [Vec::new(), Vec::new(), Vec::new()];
        for pass in 0..passes {
            let order = if pass % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
            for target in order {
                turns[target].push(wrk([direct, bare, proxied][target], turn, threads[target]));
            }
        }
        let [d, b, p] = turns.map(|t| mean(&t));
        let throughput = p.rps / b.rps;
        // What each proxy adds to the direct p50; a bare proxy that adds nothing measurable
        // counts as adding 1 µs, so the ratio stays finite.
        let added = (p.p50_us - d.p50_us).max(0.0) / (b.p50_us - d.p50_us).max(1.0);
        ratios.push((throughput, added));
        println!(
            "{round:<6} {:>9.0} {:>9.0} {:>9.0} | {:>6.0}µs {:>6.0}µs {:>6.0}µs | {:>8.3}x {:>10.3}x | {:>6.1}µs {:>6.1}µs {:>8.3}x | {}",
            d.rps,
            b.rps,
            p.rps,
            d.p50_us,
            b.p50_us,
            p.p50_us,
            throughput,
            added,
            b.cpu_us,
            p.cpu_us,
            p.cpu_us / b.cpu_us,
            load_average()
        );
        println!(
            "{:<6} p99: direct {:.0}µs, bare {:.0}µs, proxy {:.0}µs",
            "", d.p99_us, b.p99_us, p.p99_us
        );
    }
    let n = ratios.len().max(1) as f64;
    let worst = ratios
        .iter()
        .fold((f64::INFINITY, 0.0f64), |w, r| (w.0.min(r.0), w.1.max(r.1)));
    println!(
        "mean of the rounds: throughput {:.3}x the bare proxy's, added p50 {:.3}x",
        ratios.iter().map(|r| r.0).sum::<f64>() / n,
        ratios.iter().map(|r| r.1).sum::<f64>() / n
    );
    let held = worst.0 >= 1.0 && worst.1 <= 1.2;
    println!(
        "worst round: throughput {:.3}x the bare proxy's (goal ≥ 1.0), added p50 {:.3}x (goal ≤ 1.2): {}",
        worst.0,
        worst.1,
        if held { "held" } else { "NOT held" }
    );
}

fn mean(turns: &[Figures]) -> Figures {
    let n = turns.len() as f64;
    Figures {
        rps: turns.iter().map(|f| f.rps).sum::<f64>() / n,
        p50_us: turns.iter().map(|f| f.p50_us).sum::<f64>() / n,
        p99_us: turns.iter().map(|f| f.p99_us).sum::<f64>() / n,
        cpu_us: turns.iter().map(|f| f.cpu_us).sum::<f64>() / n,
    }
}

/// A bare proxy: accept, connect, `copy_bidirectional`. Nothing else.
fn bare_proxy(upstream: SocketAddr) -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bare-proxy")
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        })
    });
    addr
}

/// wrk against `addr` for `seconds`; `threads` names the proxy threads whose CPU time the
/// requests cost (by name prefix; empty for none).
fn wrk(addr: SocketAddr, seconds: u64, threads: &str) -> Figures {
    let cpu_before = cpu_of(threads);
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"])
        .arg(format!("http://{addr}/health"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let figures = Figures {
        rps,
        p50_us: field("50%").map_or(f64::NAN, |v| micros(&v)),
        p99_us: field("99%").map_or(f64::NAN, |v| micros(&v)),
        cpu_us: (cpu_of(threads) - cpu_before) / 1e3 / (rps * seconds as f64).max(1.0),
    };
    if figures.rps == 0.0 {
        eprintln!("wrk said:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    }
    std::thread::sleep(Duration::from_millis(200)); // let closed connections drain
    figures
}

/// wrk's `312.00us`, `1.20ms`, `2.00s` in microseconds.
fn micros(v: &str) -> f64 {
    let (number, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * scale)
}

/// Nanoseconds on a CPU, so far, of this process's threads whose names start with `prefix`
/// (`/proc/self/task/*/schedstat`); 0 for an empty prefix.
fn cpu_of(prefix: &str) -> f64 {
    if prefix.is_empty() {
        return 0.0;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ns = 0.0;
    for task in tasks.flatten() {
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with(prefix));
        if named
            && let Ok(stat) = std::fs::read_to_string(path.join("schedstat"))
            && let Some(on_cpu) = stat.split_whitespace().next()
        {
            ns += on_cpu.parse::<f64>().unwrap_or(0.0);
        }
    }
    ns
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
