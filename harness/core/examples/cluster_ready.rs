//! How long a cluster takes to be ready: N nodes started, every ready line seen, proxies wired.
//!
//! ```sh
//! cargo build -p harness --bin test-node
//! cargo run -p harness --example cluster_ready -- 5 10
//! ```
//! Arguments: nodes (default 5), repetitions (default 10). Prints min, median and max.

use std::time::{Duration, Instant};

use harness::Cluster;

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let bin = std::env::current_exe()
        .expect("own path")
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples")
        .join("test-node");
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let started = Instant::now();
            let cluster = Cluster::builder(&bin)
                .nodes(nodes)
                .start()
                .expect("cluster starts");
            let ready = started.elapsed();
            drop(cluster);
            ready
        })
        .collect();
    times.sort();
    println!(
        "{nodes}-node cluster ready: min {:?}, median {:?}, max {:?} over {reps} starts",
        times[0],
        times[reps / 2],
        times[reps - 1]
    );
}
