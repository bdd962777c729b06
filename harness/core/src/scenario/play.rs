//! Playing a scenario, Jepsen style: start, drive the load while the fault schedule fires,
//! heal and recover, read every cart, check, explain, report.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use node_kit::sync::Mutex;
use tokio::sync::Notify;

use super::{CheckSpec, Observer, Scenario, ScenarioError, coverage, live, workload};
use crate::check::{
    self, Availability, CheckResult, Checker, Duplicates, FinalReads, LatencyPercentiles,
    NoLostAcks, StaleReads,
};
use crate::cluster::Cluster;
use crate::deployment::Deployment;
use crate::fault::{self, Fault, Hit, Picks};
use crate::history::History;
use crate::load::{self, Load, Schedule};
use crate::report::{self, Span};
use crate::slo;

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
    /// Every check passed and the run was conclusive.
    pub passed: bool,
    pub seed: u64,
    pub checks: Vec<CheckResult>,
    /// The terminal table.
    pub table: String,
    /// The report directory.
    pub dir: PathBuf,
    pub load: load::Summary,
    pub faults: Vec<Span>,
    /// Why the run proves nothing although its checks passed (no fault touched an
    /// operation); `None` for a conclusive run. `passed` is false when this is set.
    pub inconclusive: Option<String>,
    /// The wall-clock time of the run's time zero: where the node logs in `dir` (stamped in
    /// wall-clock time) meet the history's and the faults' times.
    pub started: SystemTime,
}

/// Plays `scenario` on a local cluster and writes its report.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<RunOutcome, ScenarioError> {
    let broke = |what: &str, e: &dyn fmt::Display| ScenarioError::Run(format!("{what}: {e}"));
    let seed = options.seed.unwrap_or(scenario.seed);
    let mut builder = Cluster::builder(&options.bin);
    for id in joined_later(scenario) {
        builder = builder.hold_back(id);
    }
    let cluster = builder
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

/// The nodes whose first membership fault in the schedule is a `join` (named by id): a
/// local run holds them back until then.
fn joined_later(scenario: &Scenario) -> Vec<String> {
    let mut first: Vec<(String, bool)> = Vec::new();
    for scheduled in &scenario.faults {
        let joins = match scheduled.fault {
            Fault::Join => true,
            Fault::Leave => false,
            _ => continue,
        };
        if let crate::fault::Target::Node(id) = &scheduled.target
            && !first.iter().any(|(seen, _)| seen == id)
        {
            first.push((id.clone(), joins));
        }
    }
    first
        .into_iter()
        .filter_map(|(id, joins)| joins.then_some(id))
        .collect()
}

/// How often a run looks for a node that panicked, and so how soon it stops after one did.
const CRASH_WATCH: Duration = Duration::from_millis(20);

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
    if ids.len() != scenario.cluster.nodes {
        return Err(ScenarioError::Refused(format!(
            "{} asks for {} node(s); this cluster has {} ({})",
            scenario.path.display(),
            scenario.cluster.nodes,
            ids.len(),
            ids.join(", ")
        )));
    }
    let picks = Picks::draw(&ids, seed);
    let hits: Vec<Hit> = scenario
        .faults
        .iter()
        .map(|f| f.target.resolve(&f.fault, &picks))
        .collect();
    let refused: Vec<String> = scenario
        .faults
        .iter()
        .zip(&hits)
        .filter_map(|(f, hit)| {
            deployment
                .refusal(&f.fault, hit)
                .map(|why| format!("line {}: {why}", f.line))
        })
        .collect();
    if !refused.is_empty() {
        return Err(ScenarioError::Refused(format!(
            "cannot run {} here: {}",
            scenario.path.display(),
            refused.join("; ")
        )));
    }
    let http = reqwest::Client::builder()
        // Below the nodes' idle timeout, so a pooled connection is never reused as the node
        // closes it.
        .pool_idle_timeout(node_kit::peer::POOL_IDLE)
        .timeout(scenario.workload.timeout)
        .no_proxy()
        .build()
        .map_err(|e| broke("cannot build an HTTP client", &e))?;
    // Where a redirect may send a client: every node, not only those the workload sends to.
    let everyone: Vec<_> = ids
        .iter()
        .map(|id| (id.clone(), deployment.addr(id)))
        .collect();
    let nodes = || -> Vec<workload::Node> {
        scenario
            .workload
            .nodes
            .iter()
            .map(|id| workload::Node::new(&http, id, deployment.addr(id), &everyone))
            .collect()
    };

    let start = Instant::now();
    let wall_start = SystemTime::now();
    let history = History::starting_at(start);
    let workload = workload::Traffic {
        http: http.clone(),
        nodes: nodes(),
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

    // A node that panics is a bug, not a fault of the run's (an unfinished exercise's todo!()
    // ends its node at the first request): the run stops within CRASH_WATCH and says which
    // node and why, instead of playing on against a dead cluster.
    let crashed: Mutex<Option<String>> = Mutex::new(None);
    let crash_seen = Notify::new();
    let (aborted, load_done) = (AtomicBool::new(false), AtomicBool::new(false));
    let aborted = &aborted;
    // The fault schedule runs on its own thread: faults block (a restart waits for the ready
    // line) and must never delay the load's dispatcher.
    let (load_report, fault_log) = std::thread::scope(|s| {
        let schedule = s.spawn(|| {
            let mut log = Vec::new();
            for (scheduled, hit) in scenario.faults.iter().zip(&hits) {
                while let Some(wait) = (start + scheduled.at).checked_duration_since(Instant::now())
                {
                    if aborted.load(Ordering::Relaxed) {
                        return log;
                    }
                    std::thread::sleep(wait.min(CRASH_WATCH));
                }
                if aborted.load(Ordering::Relaxed) {
                    return log;
                }
                let at = start.elapsed();
                if let Some(observer) = &options.observer {
                    let label = fault::label(&scheduled.fault, hit);
                    observer.fault(at, &label, scheduled.say.as_deref());
                }
                if let Err(e) = deployment.apply(&scheduled.fault, hit) {
                    eprintln!(
                        "fault {} at line {} failed: {e}",
                        scheduled.fault.name(),
                        scheduled.line
                    );
                }
                // A fault that ends another (restart, resume, heal) ends it once it is done:
                // a restarted node serves only after its ready line.
                let at = if scheduled.fault.only_ends() {
                    start.elapsed()
                } else {
                    at
                };
                log.push((at, scheduled.fault.clone(), hit.clone()));
            }
            log
        });
        s.spawn(|| {
            while !load_done.load(Ordering::Relaxed) {
                if let Some(panic) = deployment.panicked() {
                    *crashed.lock() = Some(panic);
                    aborted.store(true, Ordering::Relaxed);
                    crash_seen.notify_one();
                    return;
                }
                std::thread::sleep(CRASH_WATCH);
            }
        });
        if let Some(observer) = options.observer.clone() {
            let (progress, history) = (progress.clone(), history.clone());
            let total = scenario.duration;
            s.spawn(move || {
                // Each row shows a node's worst state during its second (down, then paused,
                // then up), sampled every SAMPLE: a node killed and restarted inside one
                // second still shows down beside the errors its death caused.
                const SAMPLE: Duration = Duration::from_millis(100);
                let mut last = Duration::ZERO;
                let mut worst = live::States::now(deployment);
                while start.elapsed() < total && !aborted.load(Ordering::Relaxed) {
                    let due = last + Duration::from_secs(1);
                    while start.elapsed() < due.min(total) && !aborted.load(Ordering::Relaxed) {
                        std::thread::sleep(SAMPLE.min(due.saturating_sub(start.elapsed())));
                        worst.sample(deployment);
                    }
                    let now = start.elapsed().min(total);
                    observer.second(&live::live(&worst, &history, &progress, last..now, total));
                    worst = live::States::now(deployment);
                    last = now;
                }
            });
        }
        let report = runtime.block_on(async {
            tokio::select! {
                report = load.run(workload) => Some(report),
                () = crash_seen.notified() => None,
            }
        });
        load_done.store(true, Ordering::Relaxed);
        (report, schedule.join().unwrap_or_default())
    });
    if let Some(panic) = crashed.lock().take() {
        return Err(broke("a node crashed, so the run stopped", &panic));
    }
    let Some(load_report) = load_report else {
        return Err(broke(
            "the load stopped",
            &"no node crashed, yet the load was cut short",
        ));
    };
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
        None => runtime.block_on(workload::final_reads(&nodes(), scenario.workload.carts)),
    };

    let faults: Vec<Span> = spans(&fault_log, load_end)
        .into_iter()
        .map(|(span, _)| span)
        .collect();
    let checks = build_checks(scenario, &faults);
    let mut results = check::run_all(&checks, &history, &finals);
    // The `[slo]` thresholds, held to the load's own figures, are checks like the others.
    results.extend(scenario.slo.check(&slo::Figures::from(&load_report)));
    deployment.collect_logs(&options.out);
    report::explain::attach_logs(&mut results, &options.out, wall_start, &faults);
    let inconclusive = coverage::untouched(&faults, &history.operations());
    let mut title = format!("{}: {}", scenario.name, scenario.description);
    if let Some(gives_up) = &scenario.control {
        title = report::explain::as_control(&mut results, &title, gives_up);
    }
    let run = report::Run {
        title: &title,
        seed: Some(seed),
        load: &load_report,
        history: &history,
        checks: &results,
        faults: &faults,
        inconclusive: inconclusive.clone(),
    };
    let table =
        report::write(&options.out, &run).map_err(|e| broke("cannot write the report", &e))?;
    // A control passes when it loses what it gives up: a check of it fails.
    let passed = match scenario.control {
        Some(_) => results.iter().any(|r| !r.passed),
        None => inconclusive.is_none() && results.iter().all(|r| r.passed),
    };
    Ok(RunOutcome {
        passed,
        seed,
        checks: results,
        table,
        dir: options.out.clone(),
        load: load_report.summary(),
        faults,
        inconclusive,
        started: wall_start,
    })
}

/// Turns a fault log into spans for the report and the checks: a kill lasts until that
/// node's restart, a pause until its resume, a network fault until what undoes it (see
/// [`Fault::undoes`]); a one-shot fault (reset) is an instant; what only ends others opens
/// nothing; anything still open ends at `end` (and is marked `true`: still open). A scenario
/// run and the dashboard's live plots both read their faults through this.
pub fn spans(log: &[(Duration, Fault, Hit)], end: Duration) -> Vec<(Span, bool)> {
    let mut open: Vec<(Duration, &Fault, &Hit)> = Vec::new();
    let mut done = Vec::new();
    let span = |start: Duration, fault: &Fault, hit: &Hit, end: Duration| Span {
        label: fault::label(fault, hit),
        start,
        end,
        nodes: hit.nodes(),
    };
    for (at, fault, hit) in log {
        let (closed, still): (Vec<_>, Vec<_>) = open
            .drain(..)
            .partition(|(_, opened, opened_hit)| fault.undoes(opened, opened_hit, hit));
        open = still;
        done.extend(
            closed
                .into_iter()
                .map(|(start, opened, opened_hit)| (span(start, opened, opened_hit, *at), false)),
        );
        if fault.is_instant() {
            done.push((span(*at, fault, hit, *at), false));
        } else if !fault.only_ends() {
            open.push((*at, fault, hit));
        }
    }
    done.extend(
        open.into_iter()
            .map(|(start, fault, hit)| (span(start, fault, hit, end.max(start)), true)),
    );
    done.sort_by_key(|(f, _)| f.start);
    done
}

/// Refuses, before anything starts, a scenario that containers cannot play: a cluster size
/// other than `ids.len()`, or a fault only the proxies can make. Every reason, in one line.
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
    let picks = Picks::draw(ids, seed);
    let reasons: Vec<String> = scenario
        .faults
        .iter()
        .filter_map(|f| {
            let hit = f.target.resolve(&f.fault, &picks);
            fault::containers::plan(&f.fault, &hit, ids).err()
        })
        .collect();
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(format!("cannot run on containers: {}", reasons.join("; ")))
    }
}

/// The scenario's checks as checkers. `outside_faults` leaves out every operation that could
/// overlap a fault: those sent while it lasts, and those sent up to one request timeout before
/// it began (still in flight when it struck).
fn build_checks(scenario: &Scenario, faults: &[Span]) -> Vec<Box<dyn Checker>> {
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
