//! HTTP throughput and latency of `GET /health`, direct versus through a healthy proxy link,
//! in the same run, measured by Debian's `wrk` (32 keep-alive connections, 2 threads).
//!
//! ```sh
//! cargo build --release -p harness --bin test-node
//! cargo run --release -p harness --example proxy_wrk -- 10
//! ```
//! Argument: seconds per measurement (default 10). Needs `wrk` on the PATH.

use std::process::Command;

use harness::Cluster;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
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
        .expect("node starts");
    let direct = cluster.direct_addr("n1").expect("running");
    let proxied = cluster.addr("n1");
    for (label, addr) in [
        ("direct", direct),
        ("proxy", proxied),
        ("direct", direct),
        ("proxy", proxied),
    ] {
        let out = Command::new("wrk")
            .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"])
            .arg(format!("http://{addr}/health"))
            .output()
            .expect("wrk runs (apt-get install wrk)");
        let text = String::from_utf8_lossy(&out.stdout);
        let pick = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .map(|l| l.trim().to_string())
                .unwrap_or_default()
        };
        println!(
            "{label:>6}: {} | p50 {} | p99 {}",
            pick("Requests/sec"),
            pick("50%"),
            pick("99%")
        );
    }
}
