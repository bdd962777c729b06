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
//! One seed drives every random choice (which node "one" is, which carts the workload
//! touches, the proxies' loss and jitter), so a run replays with `--seed`.
//!
//! ```toml
//! name = "kill-restart"
//! description = "A node killed under load and restarted: no acknowledged add may be lost."
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
//!
//! [[faults]]
//! at = "4s"
//! fault = "kill"            # kill pause resume restart stop isolate partition heal
//! target = "one"            #   latency blackhole clear; targets: n2, one, minority,
//!                           #   majority, all
//! [[faults]]
//! at = "6s"
//! fault = "restart"
//! target = "one"            # "one" is the same node for the whole run
//!
//! [[checks]]
//! check = "no-lost-acks"    # also: duplicates, stale-reads, availability, latency
//! [[checks]]
//! check = "availability"
//! min = 0.99
//! outside_faults = true     # leave out what a fault could hit: sent during it, or within
//!                           # one request timeout before it
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;
use toml::Spanned;

use crate::check::{
    self, Availability, CheckResult, Checker, Duplicates, FinalReads, LatencyPercentiles,
    NoLostAcks, StaleReads,
};
use crate::cluster::Cluster;
use crate::history::{Action, History};
use crate::load::{self, Load, Outcome, Schedule, Shot};
use crate::report::{self, Fault};

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// A demo's opening narration (empty for a plain scenario).
    pub intro: String,
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
    /// An exercise's node, by the exercise's package name: the solution's binary
    /// (`<name>-solution`) unless the attendee's is asked for.
    Exercise(String),
}

/// Cart traffic, open loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub rate: f64,
    /// `Some(path)`: a plain `GET path` on a seeded node per operation, for nodes that do not
    /// serve carts (the cart checks then have nothing to check). `None`: cart traffic.
    pub get: Option<String>,
    pub carts: usize,
    pub read_share: f64,
    pub timeout: Duration,
}

/// A fault at its time.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub at: Duration,
    pub action: FaultAction,
    /// A demo's narration when it fires.
    pub say: Option<String>,
    /// Line in the file, for messages.
    pub line: usize,
}

/// Who a fault hits. Random targets are drawn once per run from its seed and keep their
/// meaning for the whole run, so `kill one` then `restart one` is the same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(String),
    One,
    Minority,
    Majority,
    All,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Kill(Target),
    Pause(Target),
    Resume(Target),
    Restart(Target),
    Stop(Target),
    /// Cuts the target nodes off from the rest (both ways); clients still reach everyone.
    Isolate(Target),
    /// Splits the cluster: the target nodes on one side, the others on the other.
    Partition(Target),
    /// Ends cuts, partitions and blackholes.
    Heal,
    /// Latency on every link into the target nodes (from peers and from clients).
    Latency {
        target: Target,
        latency: Duration,
        jitter: Duration,
    },
    /// Every link into the target nodes swallows bytes.
    Blackhole(Target),
    /// Every network fault off.
    Clear,
}

impl FaultAction {
    pub const NAMES: [&str; 11] = [
        "kill",
        "pause",
        "resume",
        "restart",
        "stop",
        "isolate",
        "partition",
        "heal",
        "latency",
        "blackhole",
        "clear",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Kill(_) => "kill",
            FaultAction::Pause(_) => "pause",
            FaultAction::Resume(_) => "resume",
            FaultAction::Restart(_) => "restart",
            FaultAction::Stop(_) => "stop",
            FaultAction::Isolate(_) => "isolate",
            FaultAction::Partition(_) => "partition",
            FaultAction::Heal => "heal",
            FaultAction::Latency { .. } => "latency",
            FaultAction::Blackhole(_) => "blackhole",
            FaultAction::Clear => "clear",
        }
    }

    pub fn target(&self) -> Option<&Target> {
        match self {
            FaultAction::Kill(t)
            | FaultAction::Pause(t)
            | FaultAction::Resume(t)
            | FaultAction::Restart(t)
            | FaultAction::Stop(t)
            | FaultAction::Isolate(t)
            | FaultAction::Partition(t)
            | FaultAction::Blackhole(t)
            | FaultAction::Latency { target: t, .. } => Some(t),
            FaultAction::Heal | FaultAction::Clear => None,
        }
    }
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
    /// The run itself broke (a node would not start, the report could not be written).
    Run(String),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Invalid { file, line, reason } => {
                write!(f, "{}:{line}: {reason}", file.display())
            }
            ScenarioError::Run(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ScenarioError {}

// ---------------------------------------------------------------------------------------
// The file format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    /// What a demo says before it starts: what is about to happen and why.
    #[serde(default)]
    intro: String,
    duration: Spanned<String>,
    recover: Option<Spanned<String>>,
    #[serde(default = "default_seed")]
    seed: u64,
    cluster: FileCluster,
    workload: FileWorkload,
    #[serde(default)]
    faults: Vec<FileFault>,
    #[serde(default)]
    checks: Vec<FileCheck>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    nodes: Spanned<usize>,
    binary: Option<String>,
    exercise: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkload {
    rate: Spanned<f64>,
    /// A plain `GET` of this path on every node instead of cart traffic.
    get: Option<Spanned<String>>,
    #[serde(default = "default_carts")]
    carts: usize,
    read_share: Option<Spanned<f64>>,
    timeout: Option<Spanned<String>>,
}

fn default_carts() -> usize {
    20
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFault {
    at: Spanned<String>,
    fault: Spanned<String>,
    target: Option<Spanned<String>>,
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    /// What a demo says when the fault fires.
    say: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheck {
    check: Spanned<String>,
    max: Option<Spanned<toml::Value>>,
    min: Option<Spanned<f64>>,
    p: Option<Spanned<f64>>,
    window: Option<Spanned<String>>,
    #[serde(default)]
    outside_faults: bool,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Invalid {
            file: path.to_path_buf(),
            line: 0,
            reason: format!("cannot read it: {e}"),
        })?;
        Scenario::parse(path, &text)
    }

    /// Validates scenario text; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let at = |span: Range<usize>, reason: String| ScenarioError::Invalid {
            file: path.to_path_buf(),
            line: line_of(text, span.start),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            ScenarioError::Invalid {
                file: path.to_path_buf(),
                line,
                reason: e.message().to_string(),
            }
        })?;
        let duration = duration_field(&file.duration).map_err(|r| at(file.duration.span(), r))?;
        if duration.is_zero() {
            return Err(at(
                file.duration.span(),
                "duration must be more than 0".into(),
            ));
        }
        let recover = match &file.recover {
            Some(r) => duration_field(r).map_err(|why| at(r.span(), why))?,
            None => Duration::from_secs(2),
        };

        let nodes = *file.cluster.nodes.get_ref();
        if nodes == 0 || nodes > 9 {
            return Err(at(
                file.cluster.nodes.span(),
                format!("nodes = {nodes}: a scenario runs 1 to 9 nodes"),
            ));
        }
        let node = match (file.cluster.binary, file.cluster.exercise) {
            (Some(bin), None) => NodeRef::Binary(bin),
            (None, Some(exercise)) => NodeRef::Exercise(exercise),
            _ => {
                return Err(at(
                    file.cluster.nodes.span(),
                    "[cluster] needs exactly one of binary = \"...\" or exercise = \"...\"".into(),
                ));
            }
        };
        let ids: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();

        let rate = *file.workload.rate.get_ref();
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err(at(
                file.workload.rate.span(),
                format!("rate = {rate}: use operations per second, more than 0 and at most 100000"),
            ));
        }
        let read_share = file
            .workload
            .read_share
            .as_ref()
            .map_or(0.0, |r| *r.get_ref());
        if let Some(r) = &file.workload.read_share
            && !(0.0..=1.0).contains(r.get_ref())
        {
            return Err(at(
                r.span(),
                format!("read_share = {read_share}: a share between 0 and 1"),
            ));
        }
        let timeout = match &file.workload.timeout {
            Some(t) => duration_field(t).map_err(|why| at(t.span(), why))?,
            None => Duration::from_secs(1),
        };
        let get = match &file.workload.get {
            Some(path) if !path.get_ref().starts_with('/') => {
                return Err(at(
                    path.span(),
                    format!("get = {:?}: a path such as \"/health\"", path.get_ref()),
                ));
            }
            other => other.as_ref().map(|p| p.get_ref().clone()),
        };
        let workload = Workload {
            rate,
            get,
            carts: file.workload.carts.max(1),
            read_share,
            timeout,
        };

        let mut faults = Vec::new();
        for f in &file.faults {
            let when = duration_field(&f.at).map_err(|why| at(f.at.span(), why))?;
            if when >= duration {
                return Err(at(
                    f.at.span(),
                    format!(
                        "at = {:?} is past the end of the load phase (duration {:?})",
                        f.at.get_ref(),
                        file.duration.get_ref()
                    ),
                ));
            }
            let target = || -> Result<Target, ScenarioError> {
                let Some(t) = &f.target else {
                    return Err(at(
                        f.fault.span(),
                        format!("{} needs a target", f.fault.get_ref()),
                    ));
                };
                parse_target(t.get_ref(), &ids).map_err(|why| at(t.span(), why))
            };
            let action = match f.fault.get_ref().as_str() {
                "kill" => FaultAction::Kill(target()?),
                "pause" => FaultAction::Pause(target()?),
                "resume" => FaultAction::Resume(target()?),
                "restart" => FaultAction::Restart(target()?),
                "stop" => FaultAction::Stop(target()?),
                "isolate" => FaultAction::Isolate(target()?),
                "partition" => FaultAction::Partition(target()?),
                "blackhole" => FaultAction::Blackhole(target()?),
                "heal" => FaultAction::Heal,
                "clear" => FaultAction::Clear,
                "latency" => {
                    let Some(l) = &f.latency else {
                        return Err(at(
                            f.fault.span(),
                            "latency needs latency = \"100ms\"".into(),
                        ));
                    };
                    let latency = duration_field(l).map_err(|why| at(l.span(), why))?;
                    let jitter = match &f.jitter {
                        Some(j) => duration_field(j).map_err(|why| at(j.span(), why))?,
                        None => Duration::ZERO,
                    };
                    FaultAction::Latency {
                        target: target()?,
                        latency,
                        jitter,
                    }
                }
                other => {
                    return Err(at(
                        f.fault.span(),
                        format!(
                            "unknown fault {other:?}; known faults: {}",
                            FaultAction::NAMES.join(", ")
                        ),
                    ));
                }
            };
            faults.push(Scheduled {
                at: when,
                action,
                say: f.say.clone(),
                line: line_of(text, f.at.span().start),
            });
        }
        faults.sort_by_key(|f| f.at);

        let mut checks = Vec::new();
        for c in &file.checks {
            let window = match &c.window {
                Some(w) => duration_field(w).map_err(|why| at(w.span(), why))?,
                None => Duration::from_secs(1),
            };
            let need = |what: &str| {
                at(
                    c.check.span(),
                    format!("{} needs {what}", c.check.get_ref()),
                )
            };
            let count = |v: &Spanned<toml::Value>| -> Result<u64, ScenarioError> {
                match v.get_ref().as_integer() {
                    Some(n) if n >= 0 => Ok(n as u64),
                    _ => Err(at(
                        v.span(),
                        format!("max = {}: a count, 0 or more", v.get_ref()),
                    )),
                }
            };
            let spec = match c.check.get_ref().as_str() {
                "no-lost-acks" => CheckSpec::NoLostAcks,
                "duplicates" => CheckSpec::Duplicates {
                    max: c.max.as_ref().map(count).transpose()?.unwrap_or(0),
                },
                "stale-reads" => CheckSpec::StaleReads {
                    max: c.max.as_ref().map(count).transpose()?.unwrap_or(0),
                },
                "availability" => {
                    let min = c.min.as_ref().ok_or_else(|| need("min = 0.99"))?;
                    if !(0.0..=1.0).contains(min.get_ref()) {
                        return Err(at(
                            min.span(),
                            format!("min = {}: a share between 0 and 1", min.get_ref()),
                        ));
                    }
                    CheckSpec::Availability {
                        min: *min.get_ref(),
                        window,
                        outside_faults: c.outside_faults,
                    }
                }
                "latency" => {
                    let p = c.p.as_ref().ok_or_else(|| need("p = 99"))?;
                    if !(*p.get_ref() > 0.0 && *p.get_ref() <= 100.0) {
                        return Err(at(
                            p.span(),
                            format!("p = {}: a percentile above 0, at most 100", p.get_ref()),
                        ));
                    }
                    let max = c.max.as_ref().ok_or_else(|| need("max = \"250ms\""))?;
                    let max_time = match max.get_ref().as_str() {
                        Some(s) => crate::duration::parse(s).map_err(|why| at(max.span(), why))?,
                        None => {
                            return Err(at(max.span(), "max: a time such as \"250ms\"".into()));
                        }
                    };
                    CheckSpec::Latency {
                        p: *p.get_ref(),
                        max: max_time,
                        window,
                        outside_faults: c.outside_faults,
                    }
                }
                other => {
                    return Err(at(
                        c.check.span(),
                        format!(
                            "unknown check {other:?}; known checks: no-lost-acks, duplicates, \
                             stale-reads, availability, latency"
                        ),
                    ));
                }
            };
            checks.push(spec);
        }

        Ok(Scenario {
            name: file.name,
            description: file.description,
            intro: file.intro,
            path: path.to_path_buf(),
            seed: file.seed,
            duration,
            recover,
            cluster: ClusterSpec {
                nodes,
                node,
                args: file.cluster.args,
            },
            workload,
            faults,
            checks,
        })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn duration_field(field: &Spanned<String>) -> Result<Duration, String> {
    crate::duration::parse(field.get_ref())
}

fn parse_target(text: &str, ids: &[String]) -> Result<Target, String> {
    match text {
        "one" => Ok(Target::One),
        "minority" => Ok(Target::Minority),
        "majority" => Ok(Target::Majority),
        "all" => Ok(Target::All),
        id if ids.iter().any(|known| known == id) => Ok(Target::Node(id.to_string())),
        other => Err(format!(
            "no node {other:?} in this cluster; targets are {}, one, minority, majority, all",
            ids.join(", ")
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Running.

/// Where the faults go: a local [`Cluster`], or (later) containers. Only the way a fault is
/// applied differs; the workload, the checks and the report are the same.
pub trait Deployment: Send + Sync {
    fn ids(&self) -> Vec<String>;
    /// Where clients reach node `id`.
    fn addr(&self, id: &str) -> SocketAddr;
    /// Applies one fault to concrete nodes.
    fn apply(&self, action: &FaultAction, nodes: &[String]) -> Result<(), String>;
    /// Heals every network fault and brings every node back up.
    fn recover(&self) -> Result<(), String>;
    /// Copies the node logs into `dir`.
    fn collect_logs(&self, dir: &Path);
    /// `up`, `paused` or `down`.
    fn state(&self, id: &str) -> &'static str;
}

impl Deployment for Cluster {
    fn ids(&self) -> Vec<String> {
        Cluster::ids(self)
    }

    fn addr(&self, id: &str) -> SocketAddr {
        Cluster::addr(self, id)
    }

    fn apply(&self, action: &FaultAction, nodes: &[String]) -> Result<(), String> {
        let each = |f: &dyn Fn(&str) -> Result<(), crate::ClusterError>| {
            nodes
                .iter()
                .try_for_each(|id| f(id).map_err(|e| e.to_string()))
        };
        let into = |id: &str| {
            let links: Vec<&crate::Proxy> = self
                .ids()
                .into_iter()
                .filter(|from| from != id)
                .map(|from| self.link(&from, id))
                .chain([self.client_link(id)])
                .collect();
            links
        };
        match action {
            FaultAction::Kill(_) => each(&|id| self.kill(id)),
            FaultAction::Pause(_) => each(&|id| self.pause(id)),
            FaultAction::Resume(_) => each(&|id| self.resume(id)),
            FaultAction::Restart(_) => each(&|id| self.restart(id)),
            FaultAction::Stop(_) => each(&|id| self.stop(id).map(|_| ())),
            FaultAction::Isolate(_) => each(&|id| self.isolate(id)),
            FaultAction::Partition(_) => {
                let rest: Vec<String> = self
                    .ids()
                    .into_iter()
                    .filter(|id| !nodes.contains(id))
                    .collect();
                let side: Vec<&str> = nodes.iter().map(String::as_str).collect();
                let other: Vec<&str> = rest.iter().map(String::as_str).collect();
                if other.is_empty() {
                    return Err("a partition needs nodes on both sides".into());
                }
                self.partition(&[&side, &other]).map_err(|e| e.to_string())
            }
            FaultAction::Heal => {
                self.heal();
                Ok(())
            }
            FaultAction::Latency {
                latency, jitter, ..
            } => {
                nodes
                    .iter()
                    .flat_map(|id| into(id))
                    .for_each(|p| p.latency(*latency, *jitter));
                Ok(())
            }
            FaultAction::Blackhole(_) => {
                nodes
                    .iter()
                    .flat_map(|id| into(id))
                    .for_each(|p| p.blackhole());
                Ok(())
            }
            FaultAction::Clear => {
                self.clear_faults();
                Ok(())
            }
        }
    }

    fn recover(&self) -> Result<(), String> {
        self.clear_faults();
        for id in self.ids() {
            if !self.is_running(&id) {
                self.restart(&id).map_err(|e| e.to_string())?;
            } else {
                let _ = self.resume(&id);
            }
        }
        Ok(())
    }

    fn state(&self, id: &str) -> &'static str {
        Cluster::state(self, id)
    }

    fn collect_logs(&self, dir: &Path) {
        for id in self.ids() {
            let _ = std::fs::copy(self.log_path(&id), dir.join(format!("{id}.log")));
        }
    }
}

/// What a run shows while it goes: a progress bar, or a demo's live figures and narration.
/// Every method has a default that does nothing.
pub trait Observer: Send + Sync {
    /// About once a second during the load phase.
    fn second(&self, _live: &Live) {}
    /// A fault fired at `at`: its label (`kill n2`) and the scenario's narration for it.
    fn fault(&self, _at: Duration, _label: &str, _say: Option<&str>) {}
    /// The run moved on: `healing and recovering`, `final reads`, `checks`.
    fn phase(&self, _what: &str) {}
}

/// The figures of the last second, for live display.
#[derive(Debug, Clone)]
pub struct Live {
    pub elapsed: Duration,
    pub total: Duration,
    /// Operations sent so far.
    pub sent: u64,
    /// In the last second: operations that ended ok, and that ended otherwise.
    pub ok: u64,
    pub errors: u64,
    /// The last second's p99 latency, if anything ended in it.
    pub p99: Option<Duration>,
    /// Each node and its state (`up`, `paused`, `down`).
    pub nodes: Vec<(String, &'static str)>,
}

impl Deployment for crate::compose::ComposeCluster {
    fn ids(&self) -> Vec<String> {
        crate::compose::ComposeCluster::ids(self)
    }

    fn addr(&self, id: &str) -> SocketAddr {
        crate::compose::ComposeCluster::addr(self, id)
    }

    fn apply(&self, action: &FaultAction, nodes: &[String]) -> Result<(), String> {
        for fault in container_faults(action, nodes, &self.ids()) {
            crate::compose::ComposeCluster::apply(self, &fault).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn recover(&self) -> Result<(), String> {
        self.heal().map_err(|e| e.to_string())?;
        for id in self.ids() {
            let done = match Deployment::state(self, &id) {
                "down" => self.restart(&id),
                "paused" => self.resume(&id),
                _ => Ok(()),
            };
            done.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn collect_logs(&self, dir: &Path) {
        for log in self.save_logs() {
            if let Some(name) = log.file_name() {
                let _ = std::fs::copy(&log, dir.join(name));
            }
        }
    }

    fn state(&self, id: &str) -> &'static str {
        crate::compose::ComposeCluster::state(self, id)
    }
}

/// A scenario's fault on concrete nodes, in the container vocabulary.
fn container_faults(
    action: &FaultAction,
    nodes: &[String],
    ids: &[String],
) -> Vec<crate::compose::Fault> {
    use crate::compose::{Fault, LinkFault};
    let each = |f: fn(String) -> Fault| nodes.iter().cloned().map(f).collect();
    let into_each = |kind: LinkFault| {
        nodes
            .iter()
            .map(|id| Fault::Link {
                from: "client".into(),
                to: id.clone(),
                fault: kind,
            })
            .collect()
    };
    match action {
        FaultAction::Kill(_) => each(Fault::Kill),
        FaultAction::Pause(_) => each(Fault::Pause),
        FaultAction::Resume(_) => each(Fault::Resume),
        FaultAction::Restart(_) => each(Fault::Restart),
        FaultAction::Stop(_) => each(Fault::Stop),
        FaultAction::Isolate(_) => each(Fault::Isolate),
        FaultAction::Partition(_) => {
            let rest = ids
                .iter()
                .filter(|id| !nodes.contains(id))
                .cloned()
                .collect();
            vec![Fault::Partition(vec![nodes.to_vec(), rest])]
        }
        FaultAction::Heal | FaultAction::Clear => vec![Fault::Heal],
        FaultAction::Latency { .. } => into_each(LinkFault::Latency),
        FaultAction::Blackhole(_) => into_each(LinkFault::Blackhole),
    }
}

/// Refuses, before anything starts, a scenario that containers cannot play: a cluster size
/// other than `ids.len()`, or a fault only the proxies can make.
pub fn refuse_on_containers(scenario: &Scenario, ids: &[String], seed: u64) -> Result<(), String> {
    if scenario.cluster.nodes != ids.len() {
        return Err(format!(
            "{} asks for {} node(s); the compose cluster has {} ({}); run it with --target local",
            scenario.path.display(),
            scenario.cluster.nodes,
            ids.len(),
            ids.join(", ")
        ));
    }
    let resolved = resolve_targets(ids, seed);
    let faults: Vec<crate::compose::Fault> = scenario
        .faults
        .iter()
        .flat_map(|f| container_faults(&f.action, &resolved.nodes(f.action.target(), ids), ids))
        .collect();
    crate::compose::refuse(&faults, ids).map_err(|e| e.to_string())
}

/// How to run a scenario.
#[derive(Clone)]
pub struct RunOptions {
    /// The node binary.
    pub bin: PathBuf,
    /// Replaces the file's seed.
    pub seed: Option<u64>,
    /// Where the report goes (created).
    pub out: PathBuf,
    /// Extra node flags after the file's own (a test uses this to break a node on purpose).
    pub extra_args: Vec<String>,
    /// Who watches the run (a progress bar, a demo).
    pub observer: Option<Arc<dyn Observer>>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub passed: bool,
    pub seed: u64,
    pub checks: Vec<CheckResult>,
    /// The terminal table.
    pub table: String,
    /// The report directory.
    pub dir: PathBuf,
    pub load: load::Summary,
    pub faults: Vec<Fault>,
}

/// Plays `scenario` on a local cluster and writes its report.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunOutcome, ScenarioError> {
    let broke = |what: &str, e: &dyn fmt::Display| ScenarioError::Run(format!("{what}: {e}"));
    let seed = options.seed.unwrap_or(scenario.seed);
    let cluster = Cluster::builder(&options.bin)
        .nodes(scenario.cluster.nodes)
        .args(
            scenario
                .cluster
                .args
                .iter()
                .chain(&options.extra_args)
                .cloned(),
        )
        .seed(seed)
        .start()
        .map_err(|e| broke("the cluster did not start", &e))?;
    run_on(&cluster, scenario, seed, options)
}

/// Plays `scenario` on any deployment.
pub fn run_on(
    deployment: &dyn Deployment,
    scenario: &Scenario,
    seed: u64,
    options: &RunOptions,
) -> Result<RunOutcome, ScenarioError> {
    let broke = |what: &str, e: &dyn fmt::Display| ScenarioError::Run(format!("{what}: {e}"));
    std::fs::create_dir_all(&options.out).map_err(|e| broke("cannot create the report dir", &e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| broke("cannot start a runtime", &e))?;
    let ids = deployment.ids();
    let resolved = resolve_targets(&ids, seed);
    let addrs: Vec<(String, SocketAddr)> = ids
        .iter()
        .map(|id| (id.clone(), deployment.addr(id)))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(scenario.workload.timeout)
        .no_proxy()
        .build()
        .map_err(|e| broke("cannot build an HTTP client", &e))?;

    let start = Instant::now();
    let history = History::starting_at(start);
    let workload = Traffic {
        http: http.clone(),
        addrs: addrs.clone(),
        history: history.clone(),
        get: scenario.workload.get.clone(),
        carts: scenario.workload.carts,
        read_share: scenario.workload.read_share,
        seed,
    };
    let load = Load::new(
        Schedule::Constant {
            rate: scenario.workload.rate,
        },
        scenario.duration,
    )
    .timeout(scenario.workload.timeout + Duration::from_millis(500))
    .starting_at(start);
    let progress = load.progress();

    // The fault schedule runs on its own thread: faults block (a restart waits for the ready
    // line) and must never delay the load's dispatcher.
    let (load_report, fault_log) = std::thread::scope(|s| {
        let schedule = s.spawn(|| {
            let mut log = Vec::new();
            for fault in &scenario.faults {
                if let Some(wait) = (start + fault.at).checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let nodes = resolved.nodes(fault.action.target(), &ids);
                let at = start.elapsed();
                if let Some(observer) = &options.observer {
                    observer.fault(at, &label(&fault.action, &nodes), fault.say.as_deref());
                }
                if let Err(e) = deployment.apply(&fault.action, &nodes) {
                    eprintln!(
                        "fault {} at line {} failed: {e}",
                        fault.action.name(),
                        fault.line
                    );
                }
                // A fault that ends another (restart, resume, heal) ends it once it is done:
                // a restarted node serves only after its ready line.
                let at = if ends_a_fault(&fault.action) {
                    start.elapsed()
                } else {
                    at
                };
                log.push((at, fault.action.clone(), nodes));
            }
            log
        });
        if let Some(observer) = options.observer.clone() {
            let (progress, history) = (progress.clone(), history.clone());
            let total = scenario.duration;
            s.spawn(move || {
                let mut last = Duration::ZERO;
                while start.elapsed() < total {
                    std::thread::sleep(Duration::from_secs(1));
                    let now = start.elapsed().min(total);
                    observer.second(&live(deployment, &history, &progress, last..now, total));
                    last = now;
                }
            });
        }
        let report = runtime.block_on(load.run(workload));
        (report, schedule.join().unwrap_or_default())
    });
    let load_report = load_report.map_err(|e| broke("the load could not run", &e))?;
    let load_end = start.elapsed();

    // Heal, recover, settle, then read every cart.
    let phase = |what: &str| {
        if let Some(observer) = &options.observer {
            observer.phase(what);
        }
    };
    phase("healing every fault, restarting every node");
    deployment
        .recover()
        .map_err(|e| broke("could not bring the cluster back", &e))?;
    std::thread::sleep(scenario.recover);
    phase("reading every cart, then checking");
    let finals = match scenario.workload.get {
        Some(_) => FinalReads::new(),
        None => runtime.block_on(final_reads(&http, &addrs, scenario.workload.carts)),
    };

    let faults = fault_intervals(&fault_log, load_end);
    let checks = build_checks(scenario, &faults);
    let results = check::run_all(&checks, &history, &finals);
    deployment.collect_logs(&options.out);
    let title = format!("{}: {}", scenario.name, scenario.description);
    let run = report::Run {
        title: &title,
        seed: Some(seed),
        load: &load_report,
        history: &history,
        checks: &results,
        faults: &faults,
    };
    let table =
        report::write(&options.out, &run).map_err(|e| broke("cannot write the report", &e))?;
    let passed = results.iter().all(|r| r.passed);
    Ok(RunOutcome {
        passed,
        seed,
        checks: results,
        table,
        dir: options.out.clone(),
        load: load_report.summary(),
        faults,
    })
}

/// Random targets, drawn once per run from its seed.
struct Resolved {
    one: String,
    /// The smaller side of a seeded split (at least one node); the majority is the rest.
    minority: Vec<String>,
}

fn resolve_targets(ids: &[String], seed: u64) -> Resolved {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5ce0_a210);
    let one = ids[rng.random_range(0..ids.len())].clone();
    let mut shuffled = ids.to_vec();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.random_range(0..=i));
    }
    let minority_size = ((ids.len() - 1) / 2).max(1).min(ids.len());
    let mut minority: Vec<String> = shuffled.into_iter().take(minority_size).collect();
    minority.sort();
    Resolved { one, minority }
}

impl Resolved {
    fn nodes(&self, target: Option<&Target>, ids: &[String]) -> Vec<String> {
        match target {
            None => Vec::new(),
            Some(Target::Node(id)) => vec![id.clone()],
            Some(Target::One) => vec![self.one.clone()],
            Some(Target::Minority) => self.minority.clone(),
            Some(Target::Majority) => ids
                .iter()
                .filter(|id| !self.minority.contains(id))
                .cloned()
                .collect(),
            Some(Target::All) => ids.to_vec(),
        }
    }
}

/// The traffic: each operation adds a unique item to a seeded cart or reads one (or GETs the
/// workload's path), on a seeded node. The item is the request id (`w<index>`), so a lost or
/// duplicated add is visible in the final read.
struct Traffic {
    http: reqwest::Client,
    addrs: Vec<(String, SocketAddr)>,
    history: History,
    /// A plain GET instead of cart traffic.
    get: Option<String>,
    carts: usize,
    read_share: f64,
    seed: u64,
}

impl load::Operation for Traffic {
    async fn call(&self, shot: Shot) -> Outcome {
        let mut rng =
            StdRng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ shot.index);
        let (node, addr) = &self.addrs[rng.random_range(0..self.addrs.len())];
        if let Some(path) = &self.get {
            let invocation = self.history.invoke(
                node.clone(),
                Action::Request {
                    name: format!("GET {path}"),
                },
            );
            let outcome =
                load::http_outcome(self.http.get(format!("http://{addr}{path}")).send().await)
                    .await;
            outcome.record(invocation);
            return outcome;
        }
        let cart = format!("c{}", rng.random_range(0..self.carts));
        if rng.random_bool(self.read_share) {
            let invocation = self
                .history
                .invoke(node.clone(), Action::Read { key: cart.clone() });
            let sent = self
                .http
                .get(format!("http://{addr}/carts/{cart}"))
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    match response.json::<node_kit::cart::Cart>().await {
                        Ok(read) => {
                            invocation.read(read.items);
                            Outcome::Ok
                        }
                        Err(_) => {
                            invocation.fail("bad_body");
                            Outcome::fail("bad_body")
                        }
                    }
                }
                other => {
                    let outcome = load::http_outcome(other).await;
                    outcome.record(invocation);
                    outcome
                }
            }
        } else {
            let item = format!("w{}", shot.index);
            let add = node_kit::cart::AddItem {
                request_id: item.clone(),
                item: item.clone(),
            };
            let invocation = self.history.invoke(
                node.clone(),
                Action::Add {
                    key: cart.clone(),
                    item,
                },
            );
            let sent = self
                .http
                .post(format!("http://{addr}/carts/{cart}/items"))
                .json(&add)
                .send()
                .await;
            let outcome = load::http_outcome(sent).await;
            outcome.record(invocation);
            outcome
        }
    }
}

/// Reads every cart once, trying each node in turn until one answers (3 rounds).
async fn final_reads(
    http: &reqwest::Client,
    addrs: &[(String, SocketAddr)],
    carts: usize,
) -> FinalReads {
    let mut finals = BTreeMap::new();
    for c in 0..carts {
        let cart = format!("c{c}");
        'tries: for _ in 0..3 {
            for (_, addr) in addrs {
                let read = http.get(format!("http://{addr}/carts/{cart}")).send().await;
                if let Ok(response) = read
                    && response.status().is_success()
                    && let Ok(read) = response.json::<node_kit::cart::Cart>().await
                {
                    finals.insert(cart.clone(), read.items);
                    break 'tries;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    finals
}

/// Turns the fault log into intervals for the report: a kill lasts until that node's restart,
/// a pause until its resume, a network fault until heal or clear; anything still open ends
/// with the load phase.
fn fault_intervals(log: &[(Duration, FaultAction, Vec<String>)], end: Duration) -> Vec<Fault> {
    let mut open: Vec<(String, Duration, &FaultAction, &[String])> = Vec::new();
    let mut done = Vec::new();
    for (at, action, nodes) in log {
        let closes =
            |(_, _, opened, opened_nodes): &(String, Duration, &FaultAction, &[String])| {
                let same_nodes = opened_nodes.iter().all(|n| nodes.contains(n));
                match (opened, action) {
                    (FaultAction::Kill(_) | FaultAction::Stop(_), FaultAction::Restart(_)) => {
                        same_nodes
                    }
                    (FaultAction::Pause(_), FaultAction::Resume(_) | FaultAction::Restart(_)) => {
                        same_nodes
                    }
                    (
                        FaultAction::Isolate(_)
                        | FaultAction::Partition(_)
                        | FaultAction::Blackhole(_),
                        FaultAction::Heal | FaultAction::Clear,
                    ) => true,
                    (FaultAction::Latency { .. }, FaultAction::Clear) => true,
                    _ => false,
                }
            };
        let (closed, still): (Vec<_>, Vec<_>) = open.drain(..).partition(|o| closes(o));
        open = still;
        done.extend(closed.into_iter().map(|(label, start, ..)| Fault {
            label,
            start,
            end: *at,
        }));
        if !ends_a_fault(action) {
            open.push((label(action, nodes), *at, action, nodes));
        }
    }
    done.extend(
        open.into_iter()
            .map(|(label, start, ..)| Fault { label, start, end }),
    );
    done.sort_by_key(|f| f.start);
    done
}

/// The scenario's checks as checkers. `outside_faults` leaves out every operation that could
/// overlap a fault: those sent while it lasts, and those sent up to one request timeout before
/// it began (still in flight when it struck).
fn build_checks(scenario: &Scenario, faults: &[Fault]) -> Vec<Box<dyn Checker>> {
    let reach = scenario.workload.timeout;
    let excluded = |outside: bool| -> Vec<Range<Duration>> {
        if outside {
            faults
                .iter()
                .map(|f| f.start.saturating_sub(reach)..f.end)
                .collect()
        } else {
            Vec::new()
        }
    };
    scenario
        .checks
        .iter()
        .map(|spec| -> Box<dyn Checker> {
            match spec {
                CheckSpec::NoLostAcks => Box::new(NoLostAcks),
                CheckSpec::Duplicates { max } => Box::new(Duplicates { max: *max }),
                CheckSpec::StaleReads { max } => Box::new(StaleReads { max: *max }),
                CheckSpec::Availability {
                    min,
                    window,
                    outside_faults,
                } => Box::new(Availability {
                    window: *window,
                    min: *min,
                    exclude: excluded(*outside_faults),
                }),
                CheckSpec::Latency {
                    p,
                    max,
                    window,
                    outside_faults,
                } => Box::new(LatencyPercentiles {
                    window: *window,
                    p: *p,
                    max: *max,
                    exclude: excluded(*outside_faults),
                }),
            }
        })
        .collect()
}

/// `kill n2`, `partition n1,n2`, `heal`.
fn label(action: &FaultAction, nodes: &[String]) -> String {
    if nodes.is_empty() {
        action.name().to_string()
    } else {
        format!("{} {}", action.name(), nodes.join(","))
    }
}

fn live(
    deployment: &dyn Deployment,
    history: &History,
    progress: &load::Progress,
    window: Range<Duration>,
    total: Duration,
) -> Live {
    let mut waits = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for op in history.operations() {
        let Some(end) = &op.end else { continue };
        if !window.contains(&end.at) {
            continue;
        }
        if op.is_ok() {
            ok += 1;
        } else {
            errors += 1;
        }
        waits.extend(op.latency());
    }
    waits.sort();
    let p99 = (!waits.is_empty()).then(|| waits[(waits.len() * 99 / 100).min(waits.len() - 1)]);
    Live {
        elapsed: window.end,
        total,
        sent: progress.sent(),
        ok,
        errors,
        p99,
        nodes: deployment
            .ids()
            .into_iter()
            .map(|id| {
                let s = deployment.state(&id);
                (id, s)
            })
            .collect(),
    }
}

fn ends_a_fault(action: &FaultAction) -> bool {
    matches!(
        action,
        FaultAction::Restart(_) | FaultAction::Resume(_) | FaultAction::Heal | FaultAction::Clear
    )
}
