//! The harness: real clusters on loopback, broken on purpose, measured honestly.
//!
//! The map:
//! - [`cluster`]: start N node processes of any binary that keeps the node contract
//!   (`harness/kit`), wired through fault proxies; kill, pause, resume, restart, stop them;
//!   partition and heal; diagnostics when a test fails; no orphans ever.
//! - [`eventually`]: a test's words on a running cluster: `cluster.eventually(..)` waits and
//!   fails with a dead node's panic, `cluster.http(id)` and `cluster.carts(id)` reach a node.
//! - [`proxy`]: one fault-injecting TCP proxy per link: cut, blackhole, latency with jitter,
//!   bandwidth, loss, lost responses, reset.
//! - `reaper` (private): kills every node on Ctrl-C; the last line of defence against orphans.
//! - [`load`]: the open-loop load generator (and a closed loop, to show the difference); its
//!   own crate, `harness-load` (`harness/load`), built optimised even in the dev profile.
//! - [`history`]: every operation as invoke, then ok / fail / unknown.
//! - [`check`]: checkers over a history: lost acknowledged writes, duplicates, stale reads,
//!   availability and latency per window.
//! - [`fault`]: faults as values: what a fault does, whom it targets, how it is applied
//!   locally and on containers (or why not), what undoes it, how a report labels it.
//! - [`deployment`]: where a run's nodes live (local processes or containers) behind one
//!   trait, and [`deployment::NodeState`].
//! - [`report`]: a run's directory: verdict.json, history.jsonl, report.html with plots, and
//!   verdicts that name the offending operations beside their node's log lines.
//! - [`scenario`]: a cluster, a workload, a fault schedule and checks, as a TOML file; a run
//!   whose faults touched nothing is inconclusive.
//! - [`compose`]: the docker-compose cluster: the container verbs.
//! - [`checkout`]: section 4's checkout from outside: its client, loads, per-second table.
//! - [`demo`]: a code demo's flags from `cargo lab demo`, its intro, seed and report directory.
//! - [`props`]: the lab's proptest configuration and `for_all!`.
//! - [`watch`]: what each node thinks: every running node's answer to one `GET`, polled
//!   together, for demos that show the nodes' own views.
//! - [`duration`]: times as people write them (`250ms`, `4s`), one parser for every file and flag.
//! - [`slo`]: SLO thresholds, k6-style (`p99 < 250ms`, `error_rate < 1%`,
//!   `goodput > 0.95 capacity`), one parser for scenario files and `lab load`, each held to a
//!   run's figures as a check.
//!
//! - [`block_on`]: runs a test's async body on its own runtime, failed if it gets stuck.
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
pub mod checkout;
pub mod compose;
pub mod demo;
pub mod deployment;
pub mod duration;
pub mod eventually;
pub mod fault;
pub mod history;
pub use harness_load as load;
pub mod props;
pub mod ramp;
pub mod report;
pub mod scenario;
pub mod slo;
pub mod watch;

/// How long a test's body may run under [`block_on`] before it fails as stuck.
pub const TEST_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs a test's async body on a runtime of its own (two workers, like the machines the lab
/// runs on) and fails the test if it runs over [`TEST_LIMIT`]: a call that waits forever
/// becomes a failure that says so, not a test run that hangs.
pub fn block_on(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(TEST_LIMIT, test)
            .await
            .unwrap_or_else(|_| {
                panic!("the test ran over {TEST_LIMIT:?}: is something waiting forever?")
            });
    });
}
