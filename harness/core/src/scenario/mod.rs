//! Scenarios: a cluster, a workload, a fault schedule and the checks, described as data.
//!
//! A scenario is a TOML file under version control (`harness/core/scenarios/`, or `scenarios/` in a
//! solution crate). [`Scenario::load`] reads and validates it before anything starts: an
//! unknown fault, a node that does not exist, a time past the end or a bad threshold is an
//! error naming the file, the line and the reason. [`run`] then plays it, Jepsen style:
//!
//! 1. start the cluster;
//! 2. drive the workload (open loop, every operation in a [`History`]) while the fault
//!    schedule fires at its times;
//! 3. heal everything, restart and resume every node, and give the cluster `recover` to settle;
//! 4. read every cart once (the final reads), run the checks, write the report.
//!
//! The module's files, one idea each: `file` (the format and its validation), `play` (the
//! run itself), `workload` (the cart traffic and the final reads), `live` (what a run shows
//! while it goes) and `coverage` (did the faults touch anything?).
//!
//! A run whose faults touched no operation proves nothing: its verdict is *inconclusive*,
//! never a pass (see `coverage`).
//!
//! One seed drives every random choice (which node "one" is, which carts the workload
//! touches, the proxies' loss and jitter), so a run replays with `--seed`.
//!
//! ```toml
//! name = "kill-restart"
//! description = "A node killed under load and restarted: no acknowledged add may be lost."
//! # control = "acknowledges before writing"   # a negative control: its checks must fail
//! # controls = ["kill-restart-naive.toml"]      # controls a demo runs right after this one
//! duration = "10s"          # the load phase; faults must fall inside it
//! recover = "2s"            # after healing, before the final reads
//! seed = 7
//!
//! [cluster]
//! binary = "test-node"      # a harness binary, or: exercise = "cart-ownership"
//! nodes = 1
//! args = []                 # node-specific flags, after `--`
//!
//! [workload]                # the kit's cart API
//! rate = 100                # operations per second, open loop
//!                           # get = "/health": plain GETs instead, for nodes without carts
//! carts = 20
//! read_share = 0.1          # the rest are adds
//! timeout = "1s"
//! nodes = ["n1"]            # whom clients send to (default: every node)
//!
//! [[faults]]
//! at = "4s"
//! fault = "kill"            # every fault of harness::fault: kill pause resume restart stop
//! target = "one"            #   isolate partition cut heal latency blackhole bandwidth loss
//!                           #   drop_response reset clear; targets: n2, one, minority,
//!                           #   majority, all
//! [[faults]]
//! at = "6s"
//! fault = "restart"
//! target = "one"            # "one" is the same node for the whole run
//!
//! [[faults]]                # one link, one way: what n1 opens to n2 stalls
//! at = "7s"
//! fault = "cut"
//! from = "n1"
//! to = "n2"
//!
//! [[faults]]                # explicit groups (or target = "minority": it against the rest)
//! at = "7s"
//! fault = "partition"
//! groups = [["n1"], ["n2"]]
//!
//! [[faults]]                # replies lost after the work is done (p: a probability)
//! at = "8s"
//! fault = "drop_response"
//! p = 0.3
//! target = "n1"             # every link into n1; or from = "client", to = "n1"
//!
//! [[checks]]
//! check = "no-lost-acks"    # also: duplicates, stale-reads, availability, latency
//! [[checks]]
//! check = "availability"
//! min = 0.99
//! outside_faults = true     # leave out what a fault could hit: sent during it, or within
//!                           # one request timeout before it
//!
//! [slo]                     # thresholds on the load's figures, k6-style (harness::slo):
//! capacity = 200            #   per second, what "capacity" means below
//! thresholds = [            # a broken one fails the run like a failed check
//!     "p99 < 250ms",        # p50 p90 p99 p99.9 (any pNN) max: every request, from its
//!     "p50 <= 40ms",        #   intended send time; a time
//!     "error_rate < 1%",    # sent requests not ok (failed or unknown), of all sent
//!     "availability > 99%", # sent requests ok, of all sent; 99% or 0.99
//!     "goodput > 0.95 capacity", # ok answers per second of the load phase; or "> 180/s";
//! ]                         #   goodput(150ms): only the answers within 150 ms
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::fault::{Fault, Target};

mod coverage;
mod file;
mod live;
mod play;
pub mod workload;

pub use live::{Live, Observer};
pub use play::{RunOptions, RunOutcome, refuse_on_containers, run, run_on, spans};

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// A demo's opening narration (empty for a plain scenario).
    pub intro: String,
    /// `Some(what it gives up)` for a negative control: the naive version run to show what
    /// the real one prevents (`W = 1: each add acknowledged on the primary's copy alone`).
    /// Its checks are expected to fail: the run passes when one does, and its verdict lists
    /// it as the control and its failures as losses on purpose
    /// ([`crate::report::explain::as_control`]).
    pub control: Option<String>,
    /// The negative controls a demo of this scenario runs right after it (files beside this
    /// one, each with `control` set): the same story without the idea, losing what it loses.
    pub controls: Vec<PathBuf>,
    pub path: PathBuf,
    pub seed: u64,
    /// The load phase. Every fault happens inside it.
    pub duration: Duration,
    /// Time given to the healed cluster before the final reads.
    pub recover: Duration,
    pub cluster: ClusterSpec,
    pub workload: Workload,
    pub faults: Vec<Scheduled>,
    pub checks: Vec<CheckSpec>,
    /// Thresholds on the run's figures (`[slo]`), checked beside `checks`.
    pub slo: crate::slo::Slo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub nodes: usize,
    pub node: NodeRef,
    pub args: Vec<String>,
}

/// Which node binary a scenario runs.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeRef {
    /// A binary of the harness package (`test-node`).
    Binary(String),
    /// An exercise's node, by the exercise's package name: the solution's binary unless the
    /// attendee's is asked for.
    Exercise(String),
}

/// Cart traffic, open loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub rate: f64,
    /// `Some(path)`: a plain `GET path` on a seeded node per operation, for nodes that do not
    /// serve carts (the cart checks then have nothing to check). `None`: cart traffic.
    pub get: Option<String>,
    /// The nodes clients send to, and read the final carts from (every node by default).
    pub nodes: Vec<String>,
    pub carts: usize,
    pub read_share: f64,
    pub timeout: Duration,
}

/// A fault at its time, on its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub at: Duration,
    pub fault: Fault,
    pub target: Target,
    /// A demo's narration when it fires.
    pub say: Option<String>,
    /// Line in the file, for messages.
    pub line: usize,
}

/// A check and its threshold, as the file gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckSpec {
    NoLostAcks,
    Duplicates {
        max: u64,
    },
    StaleReads {
        max: u64,
    },
    Availability {
        min: f64,
        window: Duration,
        outside_faults: bool,
    },
    Latency {
        p: f64,
        max: Duration,
        window: Duration,
        outside_faults: bool,
    },
}

/// A scenario file that cannot be used, or a run that broke.
#[derive(Debug)]
pub enum ScenarioError {
    /// The file is wrong: where and why.
    Invalid {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// The deployment cannot play some of the faults: every reason, before anything started.
    Refused(String),
    /// The run itself broke (a node would not start, the report could not be written).
    Run(String),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Invalid { file, line, reason } => {
                write!(f, "{}:{line}: {reason}", file.display())
            }
            ScenarioError::Refused(why) | ScenarioError::Run(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ScenarioError {}
