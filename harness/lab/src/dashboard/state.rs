//! The running dashboard: the cluster, the history of the traffic, the actions taken, and
//! what the page is shown each time it asks (one JSON snapshot).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use harness::Cluster;
use harness::deployment::{Deployment, NodeState};
use harness::fault::{self, CLIENT, Entry, Fault, Hit, Picks, Takes, Target};
use harness::history::{Completion, History};
use harness::load::{LoadReport, Mode};
use harness::report;
use harness::scenario::NodeRef;
use serde_json::{Value, json};

use super::record::{self, Action, Recorded, What};
use super::traffic;
use crate::scenario::Impl;

/// What the command line chose, kept for the recording.
#[derive(Debug, Clone)]
pub struct Setup {
    pub node: NodeRef,
    pub node_args: Vec<String>,
    pub seed: u64,
    /// The starting rate, operations per second.
    pub rate: f64,
    /// Where every action is written as a scenario file, as it happens.
    pub record: Option<PathBuf>,
    pub implementation: Impl,
    /// Presenter mode (`cargo lab demo --dashboard`): large type, the narration as captions.
    pub presenter: bool,
}

/// A bad control request: the HTTP status it gets and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub error: String,
    /// The request's field at fault, if one is.
    pub field: Option<&'static str>,
}

impl Refusal {
    fn new(status: u16, error: impl Into<String>, field: Option<&'static str>) -> Refusal {
        Refusal {
            status,
            error: error.into(),
            field,
        }
    }
}

pub struct Dashboard {
    cluster: Cluster,
    setup: Setup,
    ids: Vec<String>,
    picks: Picks,
    start: Instant,
    history: History,
    rate: Mutex<f64>,
    actions: Mutex<Vec<Action>>,
    /// Each node's own `/metrics` samples, as last read.
    metrics: Mutex<BTreeMap<String, Vec<Metric>>>,
    /// The last snapshot and when it was taken.
    snapshot: Mutex<Option<(Instant, Value)>>,
    /// The narration shown now (presenter mode).
    caption: Mutex<Option<String>>,
    stopping: AtomicBool,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How old a snapshot may be when the page asks again.
const FRESH: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dashboard {
    pub fn new(cluster: Cluster, setup: Setup) -> Dashboard {
        let ids = cluster.ids();
        let start = Instant::now();
        Dashboard {
            picks: Picks::draw(&ids, setup.seed),
            ids,
            rate: Mutex::new(setup.rate),
            setup,
            cluster,
            start,
            history: History::starting_at(start),
            actions: Mutex::new(Vec::new()),
            metrics: Mutex::new(BTreeMap::new()),
            snapshot: Mutex::new(None),
            caption: Mutex::new(None),
            stopping: AtomicBool::new(false),
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    pub fn seed(&self) -> u64 {
        self.setup.seed
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn rate(&self) -> f64 {
        *lock(&self.rate)
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn actions(&self) -> Vec<Action> {
        lock(&self.actions).clone()
    }

    /// Starts the traffic and the `/metrics` poller on the current runtime.
    pub fn start_background(self: &std::sync::Arc<Self>) {
        tokio::spawn(traffic::drive(self.clone()));
        tokio::spawn(poll_metrics(self.clone()));
    }

    /// Asks the dashboard to stop (the page's button, Enter on the terminal).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Returns once [`Dashboard::stop`] was called.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Applies a fault as the page sends it (a scenario file's fields), recording it with its
    /// time. Blocks until it is done (a restart waits for the node's ready line).
    pub fn apply(&self, entry: Entry) -> Result<String, Refusal> {
        let (fault, target) = fault::parse(&entry, &self.ids).map_err(|e| {
            let unknown_node = e.reason.starts_with("no node");
            Refusal::new(
                if unknown_node { 404 } else { 400 },
                if unknown_node {
                    format!("unknown node: {}", e.reason)
                } else {
                    format!("bad fault: {}", e.reason)
                },
                Some(e.field),
            )
        })?;
        self.apply_parsed(entry, fault, &target)
    }

    /// Applies a fault of a scenario's schedule (presenter mode), recorded as the page's are.
    pub fn apply_scheduled(&self, fault: &Fault, target: &Target) -> Result<String, Refusal> {
        self.apply_parsed(record::entry_of(fault, target), fault.clone(), target)
    }

    fn apply_parsed(&self, entry: Entry, fault: Fault, target: &Target) -> Result<String, Refusal> {
        let hit = target.resolve(&fault, &self.picks);
        let label = fault::label(&fault, &hit);
        let at = self.elapsed();
        let outcome = Deployment::apply(&self.cluster, &fault, &hit);
        let done = self.elapsed();
        let error = outcome.as_ref().err().cloned();
        lock(&self.actions).push(Action {
            at,
            what: What::Fault {
                entry,
                fault,
                hit,
                done,
                error: error.clone(),
            },
        });
        self.write_recording();
        *lock(&self.snapshot) = None; // the next look shows it
        match error {
            None => Ok(label),
            Some(why) => Err(Refusal::new(409, format!("{label} failed: {why}"), None)),
        }
    }

    /// Shows `text` as the page's caption (presenter mode).
    pub fn caption(&self, text: &str) {
        *lock(&self.caption) = Some(text.to_string());
    }

    /// Sets the workload's rate, recorded like a fault.
    pub fn set_rate(&self, rate: f64) -> Result<(), Refusal> {
        if !(rate.is_finite() && (0.0..=10_000.0).contains(&rate)) {
            return Err(Refusal::new(
                400,
                format!("bad rate {rate}: operations per second, 0 to 10000"),
                Some("rate"),
            ));
        }
        *lock(&self.rate) = rate;
        lock(&self.actions).push(Action {
            at: self.elapsed(),
            what: What::Rate(rate),
        });
        self.write_recording();
        *lock(&self.snapshot) = None; // the next look shows it
        Ok(())
    }

    /// The actions so far as a scenario file.
    pub fn recording(&self) -> String {
        let run = Recorded {
            node: &self.setup.node,
            node_args: &self.setup.node_args,
            nodes: self.ids.len(),
            seed: self.setup.seed,
            rate: self.setup.rate,
            carts: traffic::CARTS,
            read_share: traffic::READ_SHARE,
            timeout: traffic::TIMEOUT,
            elapsed: self.elapsed(),
        };
        record::scenario_text(&run, &lock(&self.actions))
    }

    /// Writes the recording to the `--record` file (after every action, so that a Ctrl-C
    /// keeps it), if there is one.
    pub fn write_recording(&self) -> Option<Result<PathBuf, String>> {
        let path = self.setup.record.clone()?;
        Some(
            std::fs::write(&path, self.recording())
                .map(|()| path.clone())
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
        )
    }

    /// What the page shows, at most [`FRESH`] old: several tabs polling a long run share one
    /// pass over its history.
    pub fn snapshot(&self) -> Value {
        let mut cached = lock(&self.snapshot);
        if let Some((at, value)) = &*cached
            && at.elapsed() < FRESH
        {
            return value.clone();
        }
        let value = self.compute_snapshot();
        *cached = Some((Instant::now(), value.clone()));
        value
    }

    /// What the page shows: the topology, the last second's figures, the plots, the actions.
    fn compute_snapshot(&self) -> Value {
        let now = self.elapsed();
        let actions = self.actions();
        let open = record::open_faults(&actions);
        let metrics = lock(&self.metrics).clone();
        let nodes: Vec<Value> = self
            .ids
            .iter()
            .map(|id| {
                let state = match self.cluster.state(id) {
                    NodeState::Up if cut_off(id, &open) => "cut off",
                    other => other.as_str(),
                };
                json!({
                    "id": id,
                    "state": state,
                    "pid": self.cluster.pid(id),
                    "metrics": metrics.get(id).cloned().unwrap_or_default(),
                })
            })
            .collect();
        let links = links(&self.ids, &open);

        let operations = self.history.operations();
        let second = now.saturating_sub(Duration::from_secs(1))..now;
        let (mut ok, mut sent) = (0_u64, 0_u64);
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut waits: Vec<Duration> = Vec::new();
        for op in &operations {
            if second.contains(&op.invoked) {
                sent += 1;
            }
            let Some(end) = &op.end else { continue };
            if !second.contains(&end.at) {
                continue;
            }
            match &end.outcome {
                Completion::Ok(_) => ok += 1,
                Completion::Fail(kind) => {
                    *errors.entry(format!("failed: {kind}")).or_default() += 1
                }
                Completion::Unknown(kind) => {
                    *errors.entry(format!("unknown: {kind}")).or_default() += 1
                }
            }
            waits.extend(op.latency());
        }
        waits.sort();
        let ms = |q: f64| -> Option<f64> {
            (!waits.is_empty()).then(|| {
                let i = ((waits.len() as f64 * q).ceil() as usize).clamp(1, waits.len()) - 1;
                waits[i].as_secs_f64() * 1000.0
            })
        };
        let spans = record::spans(&actions, now);
        let faults: Vec<report::Span> = spans.iter().map(|(s, _)| s.clone()).collect();
        let mut load = self.load_report();
        // The second still going would plot as a dip: it is drawn once it is over.
        load.record
            .windows
            .retain(|w| w.start + harness::load::WINDOW <= now);
        let plots = report::plots(&load, &faults, now.as_secs_f64());
        let log: Vec<Value> = actions
            .iter()
            .map(|a| match &a.what {
                What::Fault {
                    fault, hit, error, ..
                } => json!({
                    "at": a.at.as_secs_f64(),
                    "label": fault::label(fault, hit),
                    "error": error,
                }),
                What::Rate(rate) => json!({
                    "at": a.at.as_secs_f64(),
                    "label": format!("rate {rate}/s"),
                    "error": null,
                }),
            })
            .collect();
        json!({
            "elapsed": now.as_secs_f64(),
            "rate": self.rate(),
            "node": match &self.setup.node {
                NodeRef::Binary(b) => b.clone(),
                NodeRef::Exercise(e) => format!("exercise {e} ({})", match self.setup.implementation {
                    Impl::Solution => "solution",
                    Impl::Exercise => "your code",
                }),
            },
            "nodes": nodes,
            "links": links,
            "second": {
                "sent": sent,
                "ok": ok,
                "errors": errors,
                "p50_ms": ms(0.5),
                "p99_ms": ms(0.99),
                "max_ms": ms(1.0),
            },
            "totals": {
                "sent": load.record.sent,
                "ok": load.record.ok,
                "failed": load.record.failed.values().sum::<u64>(),
                "unknown": load.record.unknown.values().sum::<u64>(),
            },
            "faults": spans.iter().map(|(s, open)| json!({
                "label": s.label,
                "start": s.start.as_secs_f64(),
                "end": if *open { None } else { Some(s.end.as_secs_f64()) },
            })).collect::<Vec<_>>(),
            "actions": log,
            "plots": plots,
            "recording": self.setup.record.as_ref().map(|p| p.display().to_string()),
            "stopping": self.is_stopping(),
            "presenter": self.setup.presenter,
            "caption": lock(&self.caption).clone(),
        })
    }

    /// The traffic so far, as the report's figures (an open loop).
    fn load_report(&self) -> LoadReport {
        let mut load = LoadReport::from_history(&self.history, 0);
        load.mode = Mode::Open;
        load.duration = self.elapsed();
        load.elapsed = self.elapsed();
        load
    }

    /// Writes the run's report directory (and the recording, if asked for): the end of a
    /// dashboard run, after the traffic stopped. Returns what to print.
    pub fn finish(&self, out: &Path) -> Result<String, String> {
        // Let what is in flight end (each request has TIMEOUT).
        std::thread::sleep(traffic::TIMEOUT + Duration::from_millis(200));
        let now = self.elapsed();
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let faults: Vec<report::Span> = record::spans(&self.actions(), now)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let load = self.load_report();
        self.cluster.collect_logs(out);
        let run = report::Run {
            title: "cargo lab dashboard: what was clicked, under load",
            seed: Some(self.setup.seed),
            load: &load,
            history: &self.history,
            checks: &[],
            faults: &faults,
            inconclusive: None,
        };
        report::write(out, &run).map_err(|e| format!("cannot write the report: {e}"))?;
        let mut said = format!("report: {}", out.join("report.html").display());
        if let Some(written) = self.write_recording() {
            let path = written?;
            said += &format!(
                "\nrecording: {0}\n  replay it: cargo lab scenario run {0}",
                path.display()
            );
        }
        Ok(said)
    }
}

/// A running node cut off from some peer by a fault still in force.
fn cut_off(id: &str, open: &[(Fault, Hit)]) -> bool {
    open.iter().any(|(fault, hit)| match (fault, hit) {
        (Fault::Isolate, Hit::Nodes(ids)) => ids.iter().any(|n| n == id),
        (Fault::Partition, Hit::Groups(groups)) => {
            groups.len() > 1 && groups.iter().flatten().any(|n| n == id)
        }
        (Fault::Blackhole, Hit::Nodes(ids)) => ids.iter().any(|n| n == id),
        _ => false,
    })
}

/// Every link (each ordered pair of nodes, and the clients' link into each node) with the
/// faults in force on it.
fn links(ids: &[String], open: &[(Fault, Hit)]) -> Vec<Value> {
    let mut on: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for to in ids {
        on.insert((CLIENT.to_string(), to.clone()), Vec::new());
        for from in ids.iter().filter(|f| *f != to) {
            on.insert((from.clone(), to.clone()), Vec::new());
        }
    }
    for (fault, hit) in open {
        let what = fault::label(fault, &Hit::Cluster);
        let mut mark = |from: &str, to: &str| {
            if let Some(list) = on.get_mut(&(from.to_string(), to.to_string())) {
                list.push(what.clone());
            }
        };
        match (fault.takes(), hit) {
            (_, Hit::Link { from, to }) => mark(from, to),
            (Takes::NodesOrLink, Hit::Nodes(targets)) => {
                for to in targets {
                    mark(CLIENT, to);
                    for from in ids.iter().filter(|f| *f != to) {
                        mark(from, to);
                    }
                }
            }
            (_, Hit::Nodes(targets)) if *fault == Fault::Isolate => {
                for a in targets {
                    for b in ids.iter().filter(|b| *b != a) {
                        mark(a, b);
                        mark(b, a);
                    }
                }
            }
            (_, Hit::Groups(groups)) => {
                for (i, g) in groups.iter().enumerate() {
                    for (j, h) in groups.iter().enumerate() {
                        if i != j {
                            for a in g {
                                for b in h {
                                    mark(a, b);
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    on.into_iter()
        .map(|((from, to), faults)| json!({"from": from, "to": to, "faults": faults}))
        .collect()
}

/// Reads every node's `/metrics` once a second, straight from the node (past its proxies,
/// so a node cut off still shows its own view); a node that does not answer shows nothing.
/// A counter (`_total`) also shows its rise per second since the last read.
async fn poll_metrics(dashboard: std::sync::Arc<Dashboard>) {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .no_proxy()
        .build()
    else {
        return;
    };
    let mut before: BTreeMap<String, (Instant, BTreeMap<String, f64>)> = BTreeMap::new();
    while !dashboard.is_stopping() {
        for id in dashboard.ids().to_vec() {
            let read = match dashboard.cluster.direct_addr(&id) {
                Some(addr) => match http.get(format!("http://{addr}/metrics")).send().await {
                    Ok(r) => r.text().await.map(|t| samples(&t)).unwrap_or_default(),
                    Err(_) => BTreeMap::new(),
                },
                None => BTreeMap::new(),
            };
            let now = Instant::now();
            let shown: Vec<Metric> = read
                .iter()
                .map(|(name, value)| {
                    let per_second = before.get(&id).and_then(|(then, old)| {
                        let old = old.get(name)?;
                        let secs = now.duration_since(*then).as_secs_f64();
                        (name.ends_with("_total") && secs > 0.0 && value >= old)
                            .then(|| (value - old) / secs)
                    });
                    (name.clone(), *value, per_second)
                })
                .collect();
            before.insert(id.clone(), (now, read));
            lock(&dashboard.metrics).insert(id, shown);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A figure of a node's `/metrics`: its name, value, and rise per second for a counter.
type Metric = (String, f64, Option<f64>);

/// A Prometheus text page as one figure per metric name (the labels' series summed: a
/// projector has no room for each route), leaving out what a glance cannot use: histogram
/// buckets, sums and counts (a duration's count is the requests counter again).
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut figures = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series).trim();
        let name = name.strip_prefix("node_").unwrap_or(name);
        if ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .any(|end| name.ends_with(end))
        {
            continue;
        }
        *figures.entry(name.to_string()).or_insert(0.0) += value;
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_keep_samples_and_leave_buckets() {
        let text = "# HELP queue_depth x\n# TYPE queue_depth gauge\nnode_queue_depth 3\n\
                    latency_bucket{le=\"0.1\"} 4\nlatency_count 4\n\
                    node_requests_total{route=\"/carts\"} 17\nnode_requests_total{route=\"/x\"} 3\n";
        let figures: Vec<(String, f64)> = samples(text).into_iter().collect();
        assert_eq!(
            figures,
            [
                ("queue_depth".to_string(), 3.0),
                ("requests_total".to_string(), 20.0)
            ]
        );
    }

    #[test]
    fn a_partition_marks_the_links_between_its_groups_both_ways() {
        let ids: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let open = vec![(
            Fault::Partition,
            Hit::Groups(vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]]),
        )];
        let links = links(&ids, &open);
        let faulted: Vec<(String, String)> = links
            .iter()
            .filter(|l| !l["faults"].as_array().unwrap().is_empty())
            .map(|l| {
                (
                    l["from"].as_str().unwrap().into(),
                    l["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(faulted.len(), 4, "{faulted:?}");
        assert!(faulted.contains(&("n2".into(), "n1".into())));
        assert!(!faulted.contains(&("n2".into(), "n3".into())));
        assert!(cut_off("n3", &open));
        assert_eq!(links.len(), 9, "6 peer links and 3 client links");
    }
}
