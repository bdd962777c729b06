//! `cargo lab scenario list` and `cargo lab scenario run <name or file>`.
//!
//! Scenario files live in `harness/core/scenarios/` and in `scenarios/` of each solution crate.
//! `run` builds the node binary the scenario names (the solution's, or the attendee's with
//! `--impl exercise`), plays the scenario, prints the table and the report's path, and exits
//! 0 when every check passed, 1 when one failed, 2 when the run itself broke (or the file is
//! wrong), and 3 when it was inconclusive: the checks passed but a fault touched no operation.
//!
//! `--repeat N` plays it N times with seeds S, S+1, ...: one line per run, then a summary
//! (see [`Summary`]) of every check's passes and figures and, for each fault that takes a
//! node away (kill, pause), the write unavailability window beside the detection time; it
//! exits with the worst run's code and names every seed that did not pass.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use harness::scenario::{self, NodeRef, RunOptions, Scenario};
use serde::Deserialize;

use crate::catalog::find_root;
use crate::runner::cargo;

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    #[command(subcommand)]
    pub command: ScenarioCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// List the scenarios and what each one does.
    List,
    /// Play a scenario: a cluster under load, the faults at their times, the checks, a report.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario's name (see `cargo lab scenario list`) or the path of a .toml file.
    pub scenario: String,
    /// Whose node to run: the reference solution's or the attendee's exercise.
    #[arg(long = "impl", value_enum, default_value_t = Impl::Solution)]
    pub implementation: Impl,
    /// Replaces the file's seed (every random choice of the run comes from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Runs it N times, with seeds S, S+1, ...: a line per run, then a summary of the figures.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Where the report goes (default: target/lab-reports/<scenario>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the nodes run: local processes behind the harness's proxies, or the containers
    /// of docker-compose.yml (build the image first: scripts/build-image.sh).
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
    /// Node flags after the file's own, for every node (`-- --r 1 --w 1`): the same
    /// scenario against a node configured differently (on containers too).
    #[arg(last = true)]
    pub node_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Local,
    Compose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Impl {
    Solution,
    Exercise,
}

pub fn run(args: ScenarioArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return fail(&e),
    };
    match args.command {
        ScenarioCommand::List => list(&root),
        ScenarioCommand::Run(run) => play(&root, run),
    }
}

fn fail(message: &str) -> ExitCode {
    crate::refuse(message)
}

/// What the workspace's crates declare in `[package.metadata.lab]`: their scenario files and
/// their demos. Only the default members are read (the harness, the kit, the lab and the
/// reference solutions): a skeleton's copy of its solution's metadata would list everything
/// twice.
///
/// ```toml
/// [package.metadata.lab]
/// scenarios = ["scenarios/owner-lost.toml"]          # cargo lab scenario run owner-lost
/// demos = [
///     { scenario = "scenarios/owner-lost.toml", flagship = true },   # its `intro` narrates
///     { name = "detection", node = "failure-detection",
///       about = "how long until a paused node is declared down" },   # a code demo
/// ]
/// [[example]]                  # a code demo is the example named after its crate
/// name = "failure-detection-solution"
/// path = "examples/detection.rs"
/// ```
#[derive(Debug, Clone, Default)]
pub(crate) struct Declared {
    pub scenarios: Vec<PathBuf>,
    pub demos: Vec<DemoEntry>,
}

/// One declared demo.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DemoEntry {
    /// A scenario file with an `intro`.
    Scenario { path: PathBuf, flagship: bool },
    /// The example of `package` named after it, which plays the demo itself given the node
    /// binary of `node` (an exercise's name, like a scenario's `exercise = "..."`). The
    /// exercise's copy of the example is named after the exercise's crate.
    Code {
        name: String,
        package: String,
        node: String,
        about: String,
        flagship: bool,
    },
}

#[derive(Deserialize)]
struct Manifest {
    package: Option<ManifestPackage>,
    workspace: Option<ManifestWorkspace>,
}

#[derive(Deserialize)]
struct ManifestWorkspace {
    #[serde(rename = "default-members", default)]
    default_members: Vec<String>,
}

#[derive(Deserialize)]
struct ManifestPackage {
    name: String,
    metadata: Option<ManifestMetadata>,
}

#[derive(Deserialize)]
struct ManifestMetadata {
    lab: Option<LabMetadata>,
}

#[derive(Deserialize)]
struct LabMetadata {
    #[serde(default)]
    scenarios: Vec<String>,
    #[serde(default)]
    demos: Vec<DemoMetadata>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoMetadata {
    scenario: Option<String>,
    name: Option<String>,
    node: Option<String>,
    about: Option<String>,
    #[serde(default)]
    flagship: bool,
}

/// Reads every default member's declarations; a bad one is an error naming its manifest.
pub(crate) fn declared(root: &Path) -> Result<Declared, String> {
    let read = |path: &Path| -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))
    };
    let workspace = read(&root.join("Cargo.toml"))?
        .workspace
        .ok_or("the root Cargo.toml has no [workspace]")?;
    let mut declared = Declared::default();
    for member in &workspace.default_members {
        let dir = root.join(member);
        let manifest = dir.join("Cargo.toml");
        let Some(package) = read(&manifest)?.package else {
            continue;
        };
        let Some(lab) = package.metadata.and_then(|m| m.lab) else {
            continue;
        };
        let bad = |why: &str| format!("{}: [package.metadata.lab] {why}", manifest.display());
        for file in &lab.scenarios {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(bad(&format!(
                    "scenarios names {file}, which does not exist"
                )));
            }
            declared.scenarios.push(path);
        }
        for demo in lab.demos {
            let entry = match demo {
                DemoMetadata {
                    scenario: Some(file),
                    name: None,
                    node: None,
                    about: None,
                    flagship,
                } => {
                    let path = dir.join(&file);
                    if !path.is_file() {
                        return Err(bad(&format!("a demo names {file}, which does not exist")));
                    }
                    DemoEntry::Scenario { path, flagship }
                }
                DemoMetadata {
                    scenario: None,
                    name: Some(name),
                    node: Some(node),
                    about: Some(about),
                    flagship,
                } => DemoEntry::Code {
                    name,
                    package: package.name.clone(),
                    node,
                    about,
                    flagship,
                },
                _ => {
                    return Err(bad(
                        "a demo is { scenario = \"file.toml\" } or { name, node, about }",
                    ));
                }
            };
            declared.demos.push(entry);
        }
    }
    declared
        .scenarios
        .sort_by_key(|p| p.file_stem().map(|s| s.to_owned()));
    Ok(declared)
}

/// Every declared scenario file, by name.
pub(crate) fn discover(root: &Path) -> Vec<PathBuf> {
    declared(root).map(|d| d.scenarios).unwrap_or_default()
}

fn list(root: &Path) -> ExitCode {
    let declared = match declared(root) {
        Ok(declared) => declared,
        Err(e) => return fail(&e),
    };
    for path in declared.scenarios {
        let shown = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        match Scenario::load(&path) {
            Ok(s) => println!("{:<24} {}\n{:<24} ({shown})", s.name, s.description, ""),
            Err(e) => println!("{:<24} INVALID: {e}", file_stem(&path)),
        }
    }
    println!("\nrun one: cargo lab scenario run <name> [--seed S] [--repeat N]");
    ExitCode::SUCCESS
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The scenario a name or a path means.
pub(crate) fn find(root: &Path, arg: &str) -> Result<PathBuf, String> {
    let as_path = Path::new(arg);
    if arg.ends_with(".toml") || as_path.is_file() {
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(format!("no scenario file {arg}"))
        };
    }
    let all = discover(root);
    all.iter()
        .find(|p| file_stem(p) == arg)
        .cloned()
        .ok_or_else(|| {
            let names: Vec<String> = all.iter().map(|p| file_stem(p)).collect();
            format!("no scenario named {arg:?}; there are: {}", names.join(", "))
        })
}

/// Builds the node binary and returns its path.
pub(crate) fn build_node(
    root: &Path,
    node: &NodeRef,
    implementation: Impl,
) -> Result<PathBuf, String> {
    let (package, bin) = match node {
        NodeRef::Binary(bin) => ("harness".to_string(), bin.clone()),
        NodeRef::Exercise(name) => {
            let package = match implementation {
                Impl::Solution => crate::catalog::solution_package_of(name),
                Impl::Exercise => name.clone(),
            };
            (package.clone(), package)
        }
    };
    eprintln!("building {bin} ...");
    let status = cargo(root)
        .args(["build", "--quiet", "--package", &package, "--bin", &bin])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the node binary {bin} (package {package}) did not build"
        ));
    }
    // `cargo lab` runs target/<profile>/lab: the nodes are built next to it.
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .ok_or("cannot tell where the lab binary lives")?;
    Ok(dir.join(bin))
}

fn play(root: &Path, args: RunArgs) -> ExitCode {
    let path = match find(root, &args.scenario) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    let first_seed = args.seed.unwrap_or(scenario.seed);
    if args.target == Target::Compose {
        return on_containers(root, &scenario, &args, first_seed);
    }
    let bin = match build_node(root, &scenario.cluster.node, args.implementation) {
        Ok(bin) => bin,
        Err(e) => return fail(&e),
    };
    if args.repeat > 1 {
        return repeat(&scenario, &args, &bin, first_seed, root);
    }
    let seed = first_seed;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(root, &scenario.name, seed));
    println!(
        "scenario {} (seed {seed}): {}\n  {} node(s), {} s of load at {}/s, {} fault(s)",
        scenario.name,
        scenario.description,
        scenario.cluster.nodes,
        scenario.duration.as_secs_f64(),
        scenario.workload.rate,
        scenario.faults.len()
    );
    match scenario::run(&scenario, &options(&args, &bin, seed, out, &scenario)) {
        Ok(outcome) => {
            println!("{}", outcome.table);
            if !outcome.passed {
                println!(
                    "{} with seed {seed}; replay: cargo lab scenario run {} --seed {seed}",
                    word(&outcome),
                    args.scenario
                );
            }
            exit_code(&outcome)
        }
        Err(e) => fail(&format!("the run broke (seed {seed}): {e}")),
    }
}

fn options(args: &RunArgs, bin: &Path, seed: u64, out: PathBuf, scenario: &Scenario) -> RunOptions {
    RunOptions {
        bin: bin.to_path_buf(),
        seed: Some(seed),
        out,
        extra_args: args.node_args.clone(),
        observer: progress_bar(scenario.duration),
    }
}

/// PASS, FAILED or INCONCLUSIVE.
fn word(outcome: &scenario::RunOutcome) -> &'static str {
    if outcome.passed {
        "PASS"
    } else if outcome.inconclusive.is_some() && all_checks_passed(outcome) {
        "INCONCLUSIVE"
    } else {
        "FAILED"
    }
}

/// `--repeat N`: every run, a line each, then the summary; the worst run's exit code.
fn repeat(scenario: &Scenario, args: &RunArgs, bin: &Path, first: u64, root: &Path) -> ExitCode {
    println!(
        "scenario {} x {} (seeds {first} to {}): {}\n  {} node(s), {} s of load at {}/s, {} fault(s)",
        scenario.name,
        args.repeat,
        first + u64::from(args.repeat) - 1,
        scenario.description,
        scenario.cluster.nodes,
        scenario.duration.as_secs_f64(),
        scenario.workload.rate,
        scenario.faults.len()
    );
    let mut summary = Summary::default();
    let mut worst = 0u8;
    for round in 0..args.repeat {
        let seed = first + u64::from(round);
        let out = match &args.out {
            Some(dir) => dir.join(format!("seed-{seed}")),
            None => default_out(root, &scenario.name, seed),
        };
        let (line, code) = match scenario::run(scenario, &options(args, bin, seed, out, scenario)) {
            Ok(outcome) => {
                let figures = figures(&outcome);
                let line = summary.add(seed, &outcome, &figures);
                if !outcome.passed {
                    // A failure explains itself: its table, offenders and log lines.
                    println!("{}", outcome.table);
                }
                (line, code_of(&outcome))
            }
            Err(e) => {
                summary.broken.push(seed);
                (format!("BROKE  the run itself: {e}"), 2)
            }
        };
        println!(
            "  run {:>3}/{}  seed {seed:<6} {line}",
            round + 1,
            args.repeat
        );
        worst = worst.max(code);
    }
    print!("{}", summary.render(&scenario.name, &args.scenario));
    ExitCode::from(worst)
}

fn code_of(outcome: &scenario::RunOutcome) -> u8 {
    match (outcome.passed, all_checks_passed(outcome)) {
        (true, _) => 0,
        (false, false) => 1,
        (false, true) => 3,
    }
}

/// The figures a run shows beyond its checks: for every fault that takes a node away (a
/// kill, a pause), how long writes were unavailable after it and when a peer's log said the
/// node was down. (name, value in ms, or `None` when it never happened.)
///
/// Both count from when the node stopped answering: the fault's start, or the last add the
/// node acknowledged after it if that is later. Locally a signal lands at once and the two
/// are the same; on containers `docker kill` lands tens to hundreds of milliseconds after the
/// harness asks, and the node serves meanwhile (see [`silenced`]).
fn figures(outcome: &scenario::RunOutcome) -> Vec<(String, Option<f64>)> {
    let history = read_history(outcome);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut figures = Vec::new();
    for span in &outcome.faults {
        let takes_away = span.label.starts_with("kill ") || span.label.starts_with("pause ");
        let [node] = span.nodes.as_slice() else {
            continue;
        };
        if !takes_away {
            continue;
        }
        let from = history
            .as_ref()
            .map_or(span.start, |h| silenced(h, node, span));
        if let Some(history) = &history {
            let gap = harness::check::write_gap(history, from).map(ms);
            figures.push((format!("writes unavailable after {}", span.label), gap));
        }
        let logs: Vec<String> = log_ids(&outcome.dir);
        let seen =
            harness::report::explain::seen_down(&outcome.dir, outcome.started, node, &logs, from)
                .map(ms);
        figures.push((format!("{node} seen down after {}", span.label), seen));
    }
    figures
}

fn read_history(outcome: &scenario::RunOutcome) -> Option<harness::history::History> {
    let file = std::fs::File::open(outcome.dir.join("history.jsonl")).ok()?;
    harness::history::History::read_jsonl(std::io::BufReader::new(file)).ok()
}

/// When the fault of `span` took `node` away as clients saw it: the last add `node` served
/// and acknowledged during the span, if that is after its start; else the start.
fn silenced(
    history: &harness::history::History,
    node: &str,
    span: &harness::report::Span,
) -> Duration {
    history
        .operations()
        .iter()
        .filter(|op| matches!(op.action, harness::history::Action::Add { .. }))
        .filter(|op| op.server() == node)
        .filter_map(harness::history::Operation::acked_at)
        .filter(|at| (span.start..span.end).contains(at))
        .max()
        .unwrap_or(span.start)
}

/// The ids of the node logs in a run's directory (`n1.log` ...).
fn log_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".log").map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// What `--repeat` gathers: per check, its passes and figures; per extra figure, its values;
/// and the seeds that did not pass.
#[derive(Default)]
pub(crate) struct Summary {
    runs: usize,
    /// Check name, unit, passes, figures: in the order the checks first appeared.
    checks: Vec<(String, String, usize, Vec<f64>)>,
    /// Figure name, values in ms (`None`: it never happened in that run).
    figures: Vec<(String, Vec<Option<f64>>)>,
    failed: Vec<u64>,
    inconclusive: Vec<u64>,
    broken: Vec<u64>,
}

impl Summary {
    /// Adds one run; returns its line.
    fn add(
        &mut self,
        seed: u64,
        outcome: &scenario::RunOutcome,
        figures: &[(String, Option<f64>)],
    ) -> String {
        self.runs += 1;
        let mut parts = Vec::new();
        for check in &outcome.checks {
            let at = match self.checks.iter().position(|(n, ..)| *n == check.name) {
                Some(at) => at,
                None => {
                    self.checks
                        .push((check.name.clone(), check.unit.clone(), 0, Vec::new()));
                    self.checks.len() - 1
                }
            };
            let entry = &mut self.checks[at];
            entry.2 += usize::from(check.passed);
            if !check.figure.is_nan() {
                entry.3.push(check.figure);
            }
            let mark = if check.passed { "" } else { " FAIL" };
            parts.push(format!(
                "{} {}{mark}",
                check.name,
                with_unit(check.figure, &check.unit)
            ));
        }
        for (name, value) in figures {
            match self.figures.iter_mut().find(|(n, _)| n == name) {
                Some((_, values)) => values.push(*value),
                None => self.figures.push((name.clone(), vec![*value])),
            }
            let shown = value.map_or("never".to_string(), |v| format!("{v:.0} ms"));
            parts.push(format!("{name} {shown}"));
        }
        let word = word(outcome);
        match word {
            "PASS" => {}
            "INCONCLUSIVE" => self.inconclusive.push(seed),
            _ => self.failed.push(seed),
        }
        format!("{word:<12} {}", parts.join(" · "))
    }

    /// The summary: counts, then a row per check and per figure (min, median, max), then
    /// every seed that did not pass with its replay command.
    pub(crate) fn render(&self, name: &str, arg: &str) -> String {
        let mut out = String::new();
        let passed = self.runs - self.failed.len() - self.inconclusive.len();
        out += &format!(
            "\nsummary of {name}: {} runs, {passed} passed, {} failed, {} inconclusive, {} broke\n",
            self.runs + self.broken.len(),
            self.failed.len(),
            self.inconclusive.len(),
            self.broken.len()
        );
        let width = self
            .checks
            .iter()
            .map(|c| c.0.chars().count())
            .chain(self.figures.iter().map(|f| f.0.chars().count()))
            .max()
            .unwrap_or(0);
        out += &format!(
            "  {:width$}  {:>7}  {:>9}  {:>9}  {:>9}\n",
            "", "passed", "min", "median", "max"
        );
        for (check, unit, passes, values) in &self.checks {
            let [min, median, max] = spread(values).map(|v| with_unit(v, unit));
            out += &format!(
                "  {check:width$}  {:>7}  {min:>9}  {median:>9}  {max:>9}\n",
                format!("{passes}/{}", self.runs)
            );
        }
        for (figure, values) in &self.figures {
            let seen: Vec<f64> = values.iter().flatten().copied().collect();
            let [min, median, max] = spread(&seen).map(|v| with_unit(v.round(), "ms"));
            let never = values.len() - seen.len();
            let note = if never > 0 {
                format!("  (never in {never} runs)")
            } else {
                String::new()
            };
            out += &format!(
                "  {figure:width$}  {:>7}  {min:>9}  {median:>9}  {max:>9}{note}\n",
                "-"
            );
        }
        for (what, seeds) in [
            ("FAILED", &self.failed),
            ("INCONCLUSIVE", &self.inconclusive),
            ("BROKE", &self.broken),
        ] {
            for seed in seeds {
                out += &format!(
                    "{what} with seed {seed}; replay: cargo lab scenario run {arg} --seed {seed}\n"
                );
            }
        }
        out
    }
}

/// Min, median (the lower middle) and max; NaN for no values.
fn spread(values: &[f64]) -> [f64; 3] {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.as_slice() {
        [] => [f64::NAN; 3],
        all => [all[0], all[(all.len() - 1) / 2], all[all.len() - 1]],
    }
}

/// A figure as the table prints it, with its unit.
fn with_unit(v: f64, unit: &str) -> String {
    let n = if v.is_nan() {
        "n/a".to_string()
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    };
    if unit.is_empty() || v.is_nan() {
        n
    } else {
        format!("{n} {unit}")
    }
}

/// Exit codes of a run: 0 pass, 1 a check failed, 3 inconclusive (the checks passed but a
/// fault touched no operation, so the run proves nothing). 2 is a usage error or a broken run.
pub(crate) fn exit_code(outcome: &scenario::RunOutcome) -> ExitCode {
    match (outcome.passed, all_checks_passed(outcome)) {
        (true, _) => ExitCode::SUCCESS,
        (false, false) => ExitCode::from(1),
        (false, true) => ExitCode::from(3),
    }
}

fn all_checks_passed(outcome: &scenario::RunOutcome) -> bool {
    outcome.checks.iter().all(|c| c.passed)
}

pub(crate) fn default_out(root: &Path, name: &str, seed: u64) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    root.join("target/lab-reports")
        .join(format!("{name}-{secs}-seed{seed}"))
}

/// The lab's one progress bar, when stderr is a terminal.
fn progress_bar(total: Duration) -> Option<Arc<dyn scenario::Observer>> {
    crate::bar::Bar::for_run(total).map(|bar| Arc::new(bar) as Arc<dyn scenario::Observer>)
}

/// Plays the scenario on the compose cluster: the same file, checks and report; only the way
/// faults are applied differs (see harness::compose). It prints the figures `--repeat` would
/// summarise (the write unavailability window, when a peer saw the node down), since on
/// containers a scenario runs once.
fn on_containers(root: &Path, scenario: &Scenario, args: &RunArgs, seed: u64) -> ExitCode {
    if args.implementation == Impl::Exercise || args.repeat > 1 {
        return fail(
            "on containers a scenario runs the image's reference nodes once: drop --impl exercise and --repeat",
        );
    }
    println!(
        "scenario {} (seed {seed}) on containers: {}",
        scenario.name, scenario.description
    );
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(root, &scenario.name, seed));
    let run = Containers {
        seed,
        extra_args: args.node_args.clone(),
        out,
        observer: progress_bar(scenario.duration),
    };
    match run.play(root, scenario) {
        Ok(outcome) => {
            println!("{}", outcome.table);
            print_figures(&outcome);
            if !outcome.passed {
                println!(
                    "{} with seed {seed}; replay: cargo lab scenario run {} --target compose --seed {seed}",
                    word(&outcome),
                    args.scenario
                );
            }
            exit_code(&outcome)
        }
        Err(e) => fail(&e),
    }
}

/// One scenario run on the containers of docker-compose.yml (a project of its own, on free
/// ports, taken down after), for `scenario run --target compose` and `demo --target compose`.
pub(crate) struct Containers {
    pub seed: u64,
    /// Node flags after the file's `[cluster] args`.
    pub extra_args: Vec<String>,
    pub out: PathBuf,
    pub observer: Option<Arc<dyn scenario::Observer>>,
}

impl Containers {
    /// Why containers cannot play `scenario` (a fault only the proxies make, another cluster
    /// size), said before anything starts.
    pub(crate) fn refusal(root: &Path, scenario: &Scenario, seed: u64) -> Result<(), String> {
        let ids = compose_services(&root.join("docker-compose.yml"))?;
        scenario::refuse_on_containers(scenario, &ids, seed)
    }

    /// Refuses what containers cannot do (before anything starts), brings the cluster up
    /// with the scenario's node and flags, plays it, takes everything down.
    pub(crate) fn play(
        &self,
        root: &Path,
        scenario: &Scenario,
    ) -> Result<scenario::RunOutcome, String> {
        use harness::compose::ComposeCluster;
        let file = root.join("docker-compose.yml");
        let ids = compose_services(&file)?;
        scenario::refuse_on_containers(scenario, &ids, self.seed)?;
        let bin = image_binary(&scenario.cluster.node);
        let flags: Vec<String> = scenario
            .cluster
            .args
            .iter()
            .chain(&self.extra_args)
            .cloned()
            .collect();
        let shown = if flags.is_empty() {
            String::new()
        } else {
            format!(" {}", flags.join(" "))
        };
        println!("  bringing up {} containers of {bin}{shown} ...", ids.len());
        let mut builder = ComposeCluster::builder(&file)
            .project("lab-scenario")
            .node(&bin)
            .node_args(flags);
        for (i, port) in free_ports(ids.len()).into_iter().enumerate() {
            builder = builder.env(format!("LAB_N{}_PORT", i + 1), port.to_string());
        }
        let cluster = builder
            .start()
            .map_err(|e| format!("the containers did not come up: {e}"))?;
        let options = RunOptions {
            bin: bin.into(),
            seed: Some(self.seed),
            out: self.out.clone(),
            extra_args: Vec::new(),
            observer: self.observer.clone(),
        };
        let result = scenario::run_on(&cluster, scenario, self.seed, &options);
        drop(cluster); // down: containers, network and volumes
        result.map_err(|e| format!("the run broke (seed {}): {e}", self.seed))
    }
}

/// The image's binary for a scenario's node: the image holds the reference solutions'.
fn image_binary(node: &NodeRef) -> String {
    match node {
        NodeRef::Binary(bin) => bin.clone(),
        NodeRef::Exercise(name) => crate::catalog::solution_package_of(name),
    }
}

/// A figure line per kill or pause (see [`figures`]) that happened (a workload without adds
/// has no write window, a node without a detector logs no verdict), and for each the lag
/// between the fault and the node's last acknowledged add when there was one: the figures
/// count from it.
pub(crate) fn print_figures(outcome: &scenario::RunOutcome) {
    for (name, value) in figures(outcome) {
        if let Some(ms) = value {
            println!("  {name}: {ms:.0} ms");
        }
    }
    let Some(history) = read_history(outcome) else {
        return;
    };
    for span in &outcome.faults {
        let [node] = span.nodes.as_slice() else {
            continue;
        };
        let lag = silenced(&history, node, span) - span.start;
        if !lag.is_zero() && (span.label.starts_with("kill ") || span.label.starts_with("pause ")) {
            println!(
                "  (both counted from {node}'s last acknowledged add, {:.0} ms after the harness \
                 asked for `{}`: the fault landed no earlier)",
                lag.as_secs_f64() * 1000.0,
                span.label
            );
        }
    }
}

/// The node services of a compose file (`n1:` ... at two spaces under `services:`).
fn compose_services(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':').map(str::to_string))
        .filter(|name| name.starts_with('n') && name[1..].parse::<u32>().is_ok())
        .collect();
    if ids.is_empty() {
        return Err(format!(
            "{} defines no node services (n1, n2, ...)",
            file.display()
        ));
    }
    Ok(ids)
}

/// Ports free on 127.0.0.1 now, for the containers' published ports (so a running
/// instructor's cluster on 4001-4003 is never in the way).
fn free_ports(n: usize) -> Vec<u16> {
    (0..n)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect::<Vec<_>>()
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect()
}
