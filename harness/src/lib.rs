//! The harness: real clusters on loopback, broken on purpose, measured honestly.
//!
//! The map:
//! - [`cluster`]: start N node processes of any binary that keeps the node contract
//!   (`harness/kit`), wired through fault proxies; kill, pause, resume, restart, stop them;
//!   partition and heal; diagnostics when a test fails; no orphans ever.
//! - [`proxy`]: one fault-injecting TCP proxy per link: cut, blackhole, latency with jitter,
//!   bandwidth, loss, lost responses, reset.
//! - `reaper` (private): kills every node on Ctrl-C; the last line of defence against orphans.
//! - [`load`]: the open-loop load generator (and a closed loop, to show the difference).
//! - [`history`]: every operation as invoke, then ok / fail / unknown.
//! - [`check`]: checkers over a history: lost acknowledged writes, duplicates, stale reads,
//!   availability and latency per window.
//! - [`report`]: a run's directory: verdict.json, history.jsonl, report.html with plots.
//! - [`scenario`]: a cluster, a workload, a fault schedule and checks, as a TOML file.
//! - [`compose`]: the same fault vocabulary on a docker-compose cluster.
//!
//! A test reads like the scenario it describes:
//!
//! ```no_run
//! # fn main() -> Result<(), harness::ClusterError> {
//! use harness::Cluster;
//! let cluster = Cluster::builder("target/debug/test-node").nodes(3).start()?;
//! cluster.partition(&[&["n1", "n2"], &["n3"]])?;
//! cluster.heal();
//! cluster.kill("n2")?;
//! cluster.restart("n2")?;
//! # Ok(()) }
//! ```

pub mod cluster;
mod reaper;
pub use cluster::{Cluster, ClusterBuilder, ClusterError};

pub mod proxy;
pub use proxy::{Proxy, ProxyStats};

pub mod check;
pub mod compose;
pub mod history;
pub mod load;
pub mod props;
pub mod report;
pub mod scenario;
