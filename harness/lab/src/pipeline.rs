//! Maintainer commands: `generate` the exercises from the solutions, and `verify` every pair.
//!
//! `verify` is part of the test gate. For each exercise it prints one line when every rule
//! holds, or one line per broken rule (`✗ 01 remote-calls: <rule>: <what>`), and exits 1 only
//! when a rule is broken. The rules:
//! - **brief**: the crate has a `README.md` with a title and the command that runs its tests,
//!   at least two hints in `HINTS.md` beside it (never in the brief), and
//!   `[package.metadata.lab]` has title, minutes and core;
//! - **workspace**: both crates are members, the solution a default member, the skeleton not
//!   (a plain `cargo test` never runs a skeleton);
//! - **in sync**: the exercise is byte for byte what `cargo lab generate` makes;
//! - **skeleton builds**: it compiles with no warning;
//! - **skeleton fails**: every test fails against the skeleton within the budget (a test that
//!   passes tests nothing the attendee writes; one that hangs waits on a timeout after a
//!   `todo!()`), and its output shows one of the skeleton's `todo!()` sentences;
//! - **solution**: passes all its tests, clippy with warnings denied, and rustfmt. With
//!   `--tested` (the test gate, whose `cargo test` has just run every solution's tests) it
//!   only has tests: they are listed, not run a second time.
//!
//! Skeleton tests run one per process with their output captured: their failures are expected
//! and never reach the log as test-runner summaries.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::catalog::{Catalog, Exercise, file_name, find_root, subdirs};
use crate::refuse;
use crate::render::{self, Rustfmt, Side};
use crate::runner;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Only this exercise (number or name); default: all of them.
    pub exercise: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this exercise (number or name); default: all of them.
    pub exercise: Option<String>,
    /// Seconds a skeleton's test may take to fail.
    #[arg(long, default_value_t = 10)]
    pub budget: u64,
    /// The solutions' tests passed in this run already (`scripts/test.sh` runs `cargo test`
    /// first): list them instead of running them again.
    #[arg(long)]
    pub tested: bool,
}

/// How verify treats each solution's tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolutionTests {
    /// Run them all: every one must pass.
    Run,
    /// They passed earlier in the same run: only count them (a solution needs tests).
    List,
}

/// How long a solution's whole `cargo test` may take, build included, before verify gives up.
const SOLUTION_BUDGET: Duration = Duration::from_secs(600);

pub fn generate(args: GenerateArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return refuse(&e),
    };
    match generate_at(&root, args.exercise.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab generate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Regenerates the chosen exercises (all by default) and prints one line for each.
pub fn generate_at(root: &Path, only: Option<&str>) -> Result<(), String> {
    let catalog = Catalog::load(root)?;
    if let Some(problem) = catalog.problems.first() {
        return Err(problem.clone());
    }
    for exercise in select(&catalog, only)? {
        let skeleton = render::render(root, exercise, Side::Skeleton)?;
        let changed = write_crate(&exercise.exercise_dir(root), &skeleton.files)?;
        let state = if changed == 0 {
            "unchanged".to_string()
        } else {
            format!("{changed} files written or removed")
        };
        println!(
            "generated exercises/{}: {} files, {} todo!(), {state}",
            exercise.rel.display(),
            skeleton.files.len(),
            skeleton.todos.len()
        );
    }
    Ok(())
}

/// Makes `dir` hold exactly `files` (build output aside); returns how many files it touched.
pub fn write_crate(
    dir: &Path,
    files: &std::collections::BTreeMap<PathBuf, Vec<u8>>,
) -> Result<usize, String> {
    let mut touched = 0;
    for stale in render::list_files(dir)?
        .into_iter()
        .filter(|f| !files.contains_key(f))
    {
        std::fs::remove_file(dir.join(&stale))
            .map_err(|e| format!("cannot remove {}: {e}", stale.display()))?;
        touched += 1;
    }
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        touched += 1;
    }
    Ok(touched)
}

pub fn verify(args: VerifyArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return refuse(&e),
    };
    let started = Instant::now();
    let solution_tests = if args.tested {
        SolutionTests::List
    } else {
        SolutionTests::Run
    };
    match verify_at(
        &root,
        args.exercise.as_deref(),
        Duration::from_secs(args.budget),
        solution_tests,
    ) {
        Ok(report) => {
            let secs = started.elapsed().as_secs();
            if report.violations == 0 {
                println!(
                    "verify: every rule holds for {} exercise(s) ({secs} s)",
                    report.exercises
                );
                ExitCode::SUCCESS
            } else {
                println!(
                    "verify: {} rule(s) broken across {} exercise(s) ({secs} s); `cargo lab generate` fixes sync, the rest is in the lines above",
                    report.violations, report.exercises
                );
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("verify: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a verify run found.
#[derive(Debug, Default)]
pub struct Report {
    pub exercises: usize,
    pub violations: usize,
}

/// Checks the chosen exercises (all by default), printing one line per exercise that holds
/// and one line per broken rule.
pub fn verify_at(
    root: &Path,
    only: Option<&str>,
    budget: Duration,
    solution_tests: SolutionTests,
) -> Result<Report, String> {
    let catalog = Catalog::load(root)?;
    let mut report = Report::default();
    let mut violation = |who: &str, rule: &str, what: &str| {
        println!("✗ {who}: {rule}: {}", one_line(what));
        report.violations += 1;
    };
    if only.is_none() {
        for problem in &catalog.problems {
            violation("solutions", "layout", problem);
        }
        for orphan in orphan_exercises(root, &catalog)? {
            violation(
                &orphan,
                "layout",
                "an exercise with no solution; exercises are generated from solutions/",
            );
        }
    }
    let members = Members::read(root)?;
    let exercises = select(&catalog, only)?;
    for exercise in &exercises {
        let started = Instant::now();
        let found = verify_one(root, exercise, &members, budget, solution_tests);
        match found {
            Ok(summary) => println!(
                "✓ {exercise}: {summary} ({} s)",
                started.elapsed().as_secs()
            ),
            Err(broken) => {
                for (rule, what) in broken {
                    violation(&exercise.label(), rule, &what);
                }
            }
        }
    }
    report.exercises = exercises.len();
    Ok(report)
}

type Violations = Vec<(&'static str, String)>;

/// Every rule for one exercise: a one-line summary when they all hold.
fn verify_one(
    root: &Path,
    exercise: &Exercise,
    members: &Members,
    budget: Duration,
    solution_tests: SolutionTests,
) -> Result<String, Violations> {
    let mut broken = Violations::new();
    check_brief(root, exercise, &mut broken);
    members.check(exercise, &mut broken);
    let todos = check_sync(root, exercise, &mut broken);
    let skeleton = check_skeleton(root, exercise, &todos, budget, &mut broken);
    let solution = check_solution(root, exercise, solution_tests, &mut broken);
    if broken.is_empty() {
        Ok(format!("in sync; {skeleton}; {solution}"))
    } else {
        Err(broken)
    }
}

fn check_brief(root: &Path, exercise: &Exercise, broken: &mut Violations) {
    let path = exercise.solution_dir(root).join("README.md");
    let Ok(brief) = std::fs::read_to_string(&path) else {
        broken.push((
            "brief",
            format!(
                "no README.md in solutions/{} (the brief)",
                exercise.rel.display()
            ),
        ));
        return;
    };
    if !brief.lines().any(|l| l.starts_with("# ")) {
        broken.push(("brief", "README.md has no `# ` title".into()));
    }
    let hints = exercise.hints(root).map(|h| h.len()).unwrap_or(0);
    if hints < 2 {
        broken.push((
            "brief",
            format!(
                "{hints} hint(s); write 2-3 in {} beside the brief, each a `## Hint N: ...` section",
                crate::catalog::HINTS
            ),
        ));
    }
    if brief.contains("<details>") {
        broken.push((
            "brief",
            format!(
                "README.md holds <details> blocks: hints go in {}, where the brief cannot give them away",
                crate::catalog::HINTS
            ),
        ));
    }
    let command = format!("cargo test -p {}", exercise.package());
    if !brief.contains(&command) {
        broken.push((
            "brief",
            format!("README.md does not show how to run the tests (`{command}`)"),
        ));
    }
}

/// Compares the committed exercise with a fresh rendering; returns the `todo!()` sentences.
fn check_sync(root: &Path, exercise: &Exercise, broken: &mut Violations) -> Vec<String> {
    let skeleton = match render::render(root, exercise, Side::Skeleton) {
        Ok(skeleton) => skeleton,
        Err(e) => {
            broken.push(("in sync", format!("cannot generate the exercise: {e}")));
            return Vec::new();
        }
    };
    let dir = exercise.exercise_dir(root);
    let on_disk = render::list_files(&dir).unwrap_or_default();
    let mut differ: Vec<String> = Vec::new();
    for (rel, bytes) in &skeleton.files {
        match std::fs::read(dir.join(rel)) {
            Ok(found) if &found == bytes => {}
            Ok(_) => differ.push(format!("{} differs", rel.display())),
            Err(_) => differ.push(format!("{} is missing", rel.display())),
        }
    }
    for rel in on_disk.iter().filter(|f| !skeleton.files.contains_key(*f)) {
        differ.push(format!("{} is not generated", rel.display()));
    }
    if !differ.is_empty() {
        broken.push((
            "in sync",
            format!(
                "exercises/{} is not what generation makes ({}); run `cargo lab generate {}`",
                exercise.rel.display(),
                differ.join(", "),
                exercise.number
            ),
        ));
    }
    if skeleton.todos.is_empty() {
        broken.push((
            "skeleton fails",
            "the solution marks no lab:todo region, so the skeleton asks nothing".into(),
        ));
    }
    skeleton.todos
}

/// Builds the skeleton's tests once and runs each alone against the budget.
fn check_skeleton(
    root: &Path,
    exercise: &Exercise,
    todos: &[String],
    budget: Duration,
    broken: &mut Violations,
) -> String {
    let dir = exercise.exercise_dir(root);
    let build = match runner::build_tests(root, exercise.package(), &dir.join("Cargo.toml")) {
        Ok(build) => build,
        Err(e) => {
            broken.push(("skeleton builds", e));
            return String::new();
        }
    };
    if let Some(error) = build.error {
        broken.push((
            "skeleton builds",
            format!("the skeleton does not compile: {error}"),
        ));
        return String::new();
    }
    if let Some(first) = build.warnings.first() {
        broken.push((
            "skeleton builds",
            format!("{} warning(s), the first: {first}", build.warnings.len()),
        ));
    }
    let mut tests = 0;
    let mut slowest = Duration::ZERO;
    for exe in &build.executables {
        let names = match runner::list_tests(exe) {
            Ok(names) => names,
            Err(e) => {
                broken.push(("skeleton fails", e));
                continue;
            }
        };
        for name in names {
            tests += 1;
            let run = match runner::run_one_test(exe, &name, &dir, budget) {
                Ok(run) => run,
                Err(e) => {
                    broken.push(("skeleton fails", e));
                    continue;
                }
            };
            slowest = slowest.max(run.elapsed);
            if run.timed_out() {
                broken.push((
                    "skeleton fails",
                    format!("`{name}` did not fail within {} s against the skeleton; it must fail fast on a todo!(), not wait on a timeout", budget.as_secs()),
                ));
            } else if run.success() {
                broken.push((
                    "skeleton fails",
                    format!("`{name}` passes against the skeleton, so it tests nothing the attendee writes"),
                ));
            } else if !todos
                .iter()
                .any(|t| run.output.contains(&format!("not yet implemented: {t}")))
            {
                broken.push((
                    "skeleton fails",
                    format!("`{name}` fails against the skeleton but its output shows no todo!() sentence, so it does not say what is missing"),
                ));
            }
        }
    }
    if tests == 0 {
        broken.push(("skeleton fails", "the exercise has no tests".into()));
    }
    format!(
        "skeleton builds clean and its {tests} tests fail in at most {:.2} s, each naming a todo!()",
        slowest.as_secs_f64()
    )
}

fn check_solution(
    root: &Path,
    exercise: &Exercise,
    solution_tests: SolutionTests,
    broken: &mut Violations,
) -> String {
    let package = exercise.solution_package();
    let mut tests = 0;
    let run = match solution_tests {
        SolutionTests::Run => runner::cargo_test(root, &package, SOLUTION_BUDGET),
        SolutionTests::List => list_solution_tests(root, exercise),
    };
    match run {
        Err(e) => broken.push(("solution", e)),
        Ok(run) if run.all_passed() => tests = run.total(),
        Ok(run) => {
            let what = if let Some(error) = run.compile_error {
                format!("does not compile: {error}")
            } else if run.timed_out {
                format!(
                    "`cargo test -p {package}` ran over {} s",
                    SOLUTION_BUDGET.as_secs()
                )
            } else if run.total() == 0 {
                "has no tests".into()
            } else {
                let names: Vec<&str> = run.failed.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "{} of {} tests fail ({}); run `cargo test -p {package}`",
                    names.len(),
                    run.total(),
                    names.join(", ")
                )
            };
            broken.push(("solution", what));
        }
    }
    let mut clippy = runner::cargo(root);
    clippy.args([
        "clippy",
        "--color",
        "never",
        "--all-targets",
        "-p",
        &package,
        "--",
        "-D",
        "warnings",
    ]);
    match runner::run_captured(clippy, None) {
        Ok(run) if run.success() => {}
        Ok(run) => broken.push((
            "solution",
            format!("clippy -D warnings: {}", runner::first_error(&run.output)),
        )),
        Err(e) => broken.push(("solution", e)),
    }
    let dir = exercise.solution_dir(root);
    match render::list_files(&dir)
        .and_then(|files| Rustfmt::for_root(root).unformatted(&dir, &files))
    {
        Ok(files) if files.is_empty() => {}
        Ok(files) => broken.push((
            "solution",
            format!(
                "rustfmt would change {}; run `cargo fmt -p {package}`",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Err(e) => broken.push(("solution", e)),
    }
    match solution_tests {
        SolutionTests::Run => format!("solution passes its {tests} tests, clippy and rustfmt"),
        SolutionTests::List => {
            format!("solution has {tests} tests (passed in this run's cargo test), clippy, rustfmt")
        }
    }
}

/// A solution's tests as a run in which every one passed: for `--tested`, whose caller has
/// just seen them pass. Only a solution that does not build, or has no test, is reported.
fn list_solution_tests(root: &Path, exercise: &Exercise) -> Result<runner::TestRun, String> {
    let package = exercise.solution_package();
    let manifest = exercise.solution_dir(root).join("Cargo.toml");
    let build = runner::build_tests(root, &package, &manifest)?;
    let mut run = runner::TestRun {
        compile_error: build.error,
        ..runner::TestRun::default()
    };
    for exe in &build.executables {
        run.passed.extend(runner::list_tests(exe)?);
    }
    Ok(run)
}

/// The workspace's `members` and `default-members`, to check where each crate is listed.
struct Members {
    members: Vec<String>,
    defaults: Vec<String>,
}

impl Members {
    fn read(root: &Path) -> Result<Members, String> {
        let text = std::fs::read_to_string(root.join("Cargo.toml"))
            .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
        let manifest: toml::Table =
            toml::from_str(&text).map_err(|e| format!("Cargo.toml does not parse: {e}"))?;
        let list = |key: &str| -> Vec<String> {
            manifest
                .get("workspace")
                .and_then(|w| w.get(key))
                .and_then(|m| m.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Members {
            members: list("members"),
            defaults: list("default-members"),
        })
    }

    fn check(&self, exercise: &Exercise, broken: &mut Violations) {
        let solution = format!("solutions/{}", exercise.rel.display());
        let skeleton = format!("exercises/{}", exercise.rel.display());
        let listed =
            |list: &[String], path: &str| list.iter().any(|pattern| glob_match(pattern, path));
        if !listed(&self.members, &solution) || !listed(&self.members, &skeleton) {
            broken.push((
                "workspace",
                format!("add \"{solution}\" and \"{skeleton}\" to the workspace members"),
            ));
        }
        // An empty default-members means every member is a default one.
        if !self.defaults.is_empty() && !listed(&self.defaults, &solution) {
            broken.push((
                "workspace",
                format!("add \"{solution}\" to default-members so `cargo test` runs it"),
            ));
        }
        if self.defaults.is_empty() || listed(&self.defaults, &skeleton) {
            broken.push((
                "workspace",
                format!("\"{skeleton}\" must not be a default member: a plain `cargo test` would run a skeleton"),
            ));
        }
    }
}

/// Cargo's member globs, as far as the lab uses them: `*` matches within one path segment.
fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| segment_match(p, s))
}

fn segment_match(pattern: &str, segment: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == segment,
        Some((head, tail)) => {
            segment.starts_with(head)
                && segment.len() >= head.len() + tail.len()
                && (0..=segment.len() - head.len() - tail.len())
                    .any(|skip| segment_match(tail, &segment[head.len() + skip..]))
        }
    }
}

/// Crates under `exercises/` that no solution generates.
fn orphan_exercises(root: &Path, catalog: &Catalog) -> Result<Vec<String>, String> {
    let mut orphans = Vec::new();
    for section in subdirs(&root.join("exercises"))? {
        for dir in subdirs(&section)? {
            let rel = Path::new(&file_name(&section)).join(file_name(&dir));
            if dir.join("Cargo.toml").is_file() && !catalog.exercises.iter().any(|e| e.rel == rel) {
                orphans.push(format!("exercises/{}", rel.display()));
            }
        }
    }
    Ok(orphans)
}

fn select<'a>(catalog: &'a Catalog, only: Option<&str>) -> Result<Vec<&'a Exercise>, String> {
    match only {
        Some(arg) => Ok(vec![catalog.find(arg)?]),
        None => Ok(catalog.exercises.iter().collect()),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_globs_match_one_segment_per_star() {
        assert!(glob_match(
            "solutions/*/*",
            "solutions/1-distribution/01-remote-calls"
        ));
        assert!(glob_match(
            "exercises/1-*/0*",
            "exercises/1-distribution/01-remote-calls"
        ));
        assert!(!glob_match(
            "solutions/*",
            "solutions/1-distribution/01-remote-calls"
        ));
        assert!(glob_match("harness/lab", "harness/lab"));
        assert!(!glob_match(
            "exercises/*/*",
            "solutions/1-distribution/01-remote-calls"
        ));
    }
}
