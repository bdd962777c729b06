//! What attendees type: where am I (`cargo lab`), `check`, `hint`, `reset`, `diff`, `solve`.
//!
//! Progress comes from test results, cached in `.lab/` ([`crate::progress`]) by a hash of each
//! exercise's files: `cargo lab` reruns the tests only of exercises whose files changed since
//! their last run, and knows an untouched exercise ("not started") without running anything.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::catalog::{Catalog, Exercise};
use crate::progress::{Outcome, Progress, State, hash_dir, hash_files};
use crate::refuse;
use crate::render::{self, Side};
use crate::runner::{self, TestRun};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Exercise number or name; default: the next unfinished one.
    pub exercise: Option<String>,
}
#[derive(Debug, clap::Args)]
pub struct HintArgs {
    /// Exercise number or name; default: the next unfinished one.
    pub exercise: Option<String>,
}
#[derive(Debug, clap::Args)]
pub struct ExerciseArg {
    /// Exercise number or name.
    pub exercise: String,
}

/// How long an attendee's `cargo test` may run, first build included, before `lab` stops it.
const TEST_BUDGET: Duration = Duration::from_secs(600);

/// Where an exercise stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The files are the skeleton as generated.
    NotStarted,
    Passing {
        total: usize,
    },
    Failing {
        passed: usize,
        total: usize,
    },
    /// It does not compile.
    Broken,
    /// Changed since its last run and not run again (only when asked not to run tests).
    Changed,
    /// The exercise crate is not there (a partial checkout).
    Missing,
}

impl Status {
    fn passing(&self) -> bool {
        matches!(self, Status::Passing { .. })
    }

    fn describe(&self) -> String {
        match self {
            Status::NotStarted => "· not started".into(),
            Status::Passing { total } => format!("✓ passing ({total} tests)"),
            Status::Failing { passed, total } => {
                format!("✗ failing ({passed} of {total} tests pass)")
            }
            Status::Broken => "✗ does not compile".into(),
            Status::Changed => "… changed since its last check".into(),
            Status::Missing => "? missing from exercises/".into(),
        }
    }

    fn from_outcome(outcome: &Outcome) -> Status {
        if outcome.broken {
            Status::Broken
        } else if outcome.passing() {
            Status::Passing {
                total: outcome.total,
            }
        } else {
            Status::Failing {
                passed: outcome.passed,
                total: outcome.total,
            }
        }
    }
}

/// The lab as one attendee's checkout sees it.
pub struct Workshop {
    pub root: PathBuf,
    pub catalog: Catalog,
    state: State,
    progress: Progress,
}

impl Workshop {
    pub fn open(root: &Path) -> Result<Workshop, String> {
        let catalog = Catalog::load(root)?;
        let state = State::new(root);
        let progress = state.progress();
        Ok(Workshop {
            root: root.to_path_buf(),
            catalog,
            state,
            progress,
        })
    }

    /// Every exercise's status, running the tests of changed ones when `run` is set.
    pub fn statuses(&mut self, run: bool) -> Result<Vec<(Exercise, Status)>, String> {
        let mut out = Vec::new();
        for exercise in self.catalog.exercises.clone() {
            let status = self.status_of(&exercise, run)?;
            out.push((exercise, status));
        }
        self.state.save_progress(&self.progress)?;
        Ok(out)
    }

    fn status_of(&mut self, exercise: &Exercise, run: bool) -> Result<Status, String> {
        let dir = exercise.exercise_dir(&self.root);
        if !dir.join("Cargo.toml").is_file() {
            return Ok(Status::Missing);
        }
        let hash = hash_dir(&dir)?;
        if self.skeleton_hash(exercise).as_deref() == Some(hash.as_str()) {
            return Ok(Status::NotStarted);
        }
        if let Some(outcome) = self
            .progress
            .results
            .get(exercise.package())
            .filter(|o| o.hash == hash)
        {
            return Ok(Status::from_outcome(outcome));
        }
        if !run {
            return Ok(Status::Changed);
        }
        eprintln!("  (running the tests of {exercise}: its files changed since the last run)");
        let test_run = runner::cargo_test(&self.root, exercise.package(), TEST_BUDGET)?;
        Ok(self.record(exercise, &hash, &test_run))
    }

    /// Remembers a test run for the files it ran on.
    fn record(&mut self, exercise: &Exercise, hash: &str, run: &TestRun) -> Status {
        let outcome = Outcome {
            hash: hash.to_string(),
            passed: run.passed.len(),
            total: run.total(),
            broken: run.compile_error.is_some() || run.timed_out,
        };
        let status = Status::from_outcome(&outcome);
        self.progress
            .results
            .insert(exercise.package().to_string(), outcome);
        status
    }

    /// The hash of the untouched skeleton, rendered once per version of the solution.
    fn skeleton_hash(&mut self, exercise: &Exercise) -> Option<String> {
        let solution = hash_dir(&exercise.solution_dir(&self.root)).ok()?;
        if let Some((from, skeleton)) = self.progress.skeletons.get(exercise.package())
            && *from == solution
        {
            return Some(skeleton.clone());
        }
        // Needs rustfmt; without it an exercise just counts as changed.
        let rendered = render::render(&self.root, exercise, Side::Skeleton).ok()?;
        let skeleton = hash_files(&rendered.files);
        self.progress
            .skeletons
            .insert(exercise.package().to_string(), (solution, skeleton.clone()));
        Some(skeleton)
    }

    /// The next exercise to do: the first core one not passing, where a stretch exercise counts
    /// as soon as it is started; once the core path is done, the first one not passing.
    pub fn next(statuses: &[(Exercise, Status)]) -> Option<&Exercise> {
        let open = |s: &Status| !s.passing();
        statuses
            .iter()
            .find(|(e, s)| open(s) && (e.core || *s != Status::NotStarted))
            .or_else(|| statuses.iter().find(|(_, s)| open(s)))
            .map(|(e, _)| e)
    }

    /// The exercise an attendee named, or the next one (from cached results only: no test runs).
    pub(crate) fn pick(&mut self, arg: Option<&str>) -> Result<Exercise, String> {
        match arg {
            Some(arg) => self.catalog.find(arg).cloned(),
            None => {
                let statuses = self.statuses(false)?;
                Workshop::next(&statuses)
                    .cloned()
                    .ok_or_else(|| "every exercise passes; name one to work on it again".into())
            }
        }
    }
}

pub(crate) fn open() -> Result<Workshop, String> {
    Workshop::open(&crate::catalog::find_root()?)
}

pub fn status() -> ExitCode {
    let mut workshop = match open() {
        Ok(w) => w,
        Err(e) => return refuse(&e),
    };
    let statuses = match workshop.statuses(true) {
        Ok(s) => s,
        Err(e) => return refuse(&e),
    };
    print!("{}", render_status(&statuses));
    ExitCode::SUCCESS
}

/// The progress table and what to do next.
pub fn render_status(statuses: &[(Exercise, Status)]) -> String {
    let mut out = String::from(
        "Architecting for Scalability and Reliability: the exercises in order (★ the half-day core path)\n",
    );
    let width = statuses
        .iter()
        .map(|(e, _)| e.title.chars().count())
        .max()
        .unwrap_or(0);
    let mut section = String::new();
    for (exercise, status) in statuses {
        if exercise.section != section {
            section = exercise.section.clone();
            out.push_str(&format!("\n  {}\n", exercise.section_title()));
        }
        let star = if exercise.core { "★" } else { " " };
        out.push_str(&format!(
            "  {star} {:02} {:<width$}  {:>3} min  {}\n",
            exercise.number,
            exercise.title,
            exercise.minutes,
            status.describe()
        ));
    }
    let core: Vec<_> = statuses.iter().filter(|(e, _)| e.core).collect();
    let core_done = core.iter().filter(|(_, s)| s.passing()).count();
    out.push_str(&format!(
        "\n  core path: {core_done} of {} done\n\n",
        core.len()
    ));
    match Workshop::next(statuses) {
        Some(next) => out.push_str(&format!(
            "Next: {:02} {} ({} min)\n  read the brief:  {}\n  run its tests:   cargo test -p {}   (or `cargo lab check {}` for a summary)\n  stuck?           cargo lab hint {}\n",
            next.number,
            next.title,
            next.minutes,
            next.brief().display(),
            next.package(),
            next.number,
            next.number
        )),
        None => out.push_str("Every exercise passes. Compare yours with the reference: cargo lab diff <N>\n"),
    }
    out
}

pub fn check(args: CheckArgs) -> ExitCode {
    let mut workshop = match open() {
        Ok(w) => w,
        Err(e) => return refuse(&e),
    };
    let exercise = match workshop.pick(args.exercise.as_deref()) {
        Ok(e) => e,
        Err(e) => return refuse(&e),
    };
    match check_exercise(&mut workshop, &exercise) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => refuse(&e),
    }
}

/// Runs one exercise's tests, prints the summary, records the result; true when all pass.
pub fn check_exercise(workshop: &mut Workshop, exercise: &Exercise) -> Result<bool, String> {
    let dir = exercise.exercise_dir(&workshop.root);
    let hash = hash_dir(&dir)?;
    println!(
        "Checking {:02} {}: cargo test -p {}",
        exercise.number,
        exercise.title,
        exercise.package()
    );
    let run = runner::cargo_test(&workshop.root, exercise.package(), TEST_BUDGET)?;
    let status = workshop.record(exercise, &hash, &run);
    workshop.state.save_progress(&workshop.progress)?;
    print!("{}", summarise(exercise, &run));
    if run.all_passed() {
        for demo in crate::demo::on_node(&workshop.root, exercise.package()) {
            println!("  Watch it on a cluster: cargo lab demo {demo} --impl exercise");
        }
    }
    Ok(status.passing())
}

/// A short, friendly account of a test run: what passed, and for each failure its message.
pub fn summarise(exercise: &Exercise, run: &TestRun) -> String {
    let secs = run.elapsed.as_secs_f64();
    let n = exercise.number;
    if let Some(error) = &run.compile_error {
        return format!(
            "✗ {} does not compile yet ({secs:.1} s). The first error:\n{}\nFull output: cargo test -p {}\n",
            exercise.package(),
            indent(error, "    "),
            exercise.package()
        );
    }
    if run.timed_out {
        return format!(
            "✗ the tests ran for more than {} s and were stopped: does a call wait forever? Run `cargo test -p {}` to watch.\n",
            TEST_BUDGET.as_secs(),
            exercise.package()
        );
    }
    if run.all_passed() {
        return format!(
            "✓ all {} tests pass ({secs:.1} s): {:02} {} is done.\n  Compare with the reference: cargo lab diff {n}\n  See where you are: cargo lab\n",
            run.total(),
            n,
            exercise.title
        );
    }
    let mut out = format!(
        "✗ {} of {} tests pass ({secs:.1} s)\n",
        run.passed.len(),
        run.total()
    );
    for name in &run.passed {
        out.push_str(&format!("  ✓ {name}\n"));
    }
    for failure in &run.failed {
        out.push_str(&format!(
            "  ✗ {}\n{}\n",
            failure.name,
            indent(&panic_message(&failure.output), "      ")
        ));
    }
    out.push_str(&format!(
        "Everything the tests printed: cargo test -p {}\nStuck? cargo lab hint {n}\n",
        exercise.package()
    ));
    out
}

/// The heart of a failed test's output: the panic message and where it happened.
fn panic_message(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let Some(at) = lines.iter().position(|l| l.contains("panicked at ")) else {
        return lines
            .iter()
            .rev()
            .take(6)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
    };
    let location = lines[at]
        .split("panicked at ")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(':');
    let message: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| {
            !l.is_empty() && !l.starts_with("note: ") && !l.starts_with("stack backtrace:")
        })
        .take(8)
        .copied()
        .collect();
    format!("{}\n(at {location})", message.join("\n"))
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn hint(args: HintArgs) -> ExitCode {
    let mut workshop = match open() {
        Ok(w) => w,
        Err(e) => return refuse(&e),
    };
    let exercise = match workshop.pick(args.exercise.as_deref()) {
        Ok(e) => e,
        Err(e) => return refuse(&e),
    };
    match next_hint(&workshop, &exercise) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => refuse(&e),
    }
}

/// The next hint for `exercise` (and counts it as shown); once all are shown, all of them.
pub fn next_hint(workshop: &Workshop, exercise: &Exercise) -> Result<String, String> {
    let hints = exercise.hints(&workshop.root)?;
    if hints.is_empty() {
        return Ok(format!(
            "{exercise} has no hints; its brief is {}\n",
            exercise.brief().display()
        ));
    }
    let shown = workshop.state.hints_shown(exercise.package());
    let n = exercise.number;
    if shown >= hints.len() {
        let mut out = format!(
            "All {} hints for {:02} {}:\n",
            hints.len(),
            n,
            exercise.title
        );
        for hint in &hints {
            out.push_str(&format!(
                "\n{}\n{}\n",
                hint.summary,
                indent(&hint.text, "  ")
            ));
        }
        out.push_str(&format!(
            "\nStill stuck? Compare with the reference solution: cargo lab diff {n}\n"
        ));
        return Ok(out);
    }
    let hint = &hints[shown];
    workshop
        .state
        .set_hints_shown(exercise.package(), shown + 1)?;
    let more = if shown + 1 < hints.len() {
        format!("Ask again for the next one: cargo lab hint {n}")
    } else {
        format!("That was the last hint. The reference solution: cargo lab diff {n}")
    };
    Ok(format!(
        "{:02} {}, hint {} of {}: {}\n\n{}\n\n{more}\n",
        n,
        exercise.title,
        shown + 1,
        hints.len(),
        hint.summary,
        indent(&hint.text, "  ")
    ))
}

pub fn reset(args: ExerciseArg) -> ExitCode {
    replace_with(args, Side::Skeleton)
}

pub fn solve(args: ExerciseArg) -> ExitCode {
    replace_with(args, Side::Solution)
}

fn replace_with(args: ExerciseArg, side: Side) -> ExitCode {
    let result = open().and_then(|workshop| {
        let exercise = workshop.catalog.find(&args.exercise)?.clone();
        put_in_place(&workshop, &exercise, side)
    });
    match result {
        Ok(message) => {
            print!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => refuse(&e),
    }
}

/// Backs up the attendee's files, then writes the skeleton or the reference solution in
/// their place. Returns what to tell the attendee.
pub fn put_in_place(
    workshop: &Workshop,
    exercise: &Exercise,
    side: Side,
) -> Result<String, String> {
    let dir = exercise.exercise_dir(&workshop.root);
    let rendered = render::render(&workshop.root, exercise, side)?;
    let shown = Path::new("exercises").join(&exercise.rel);
    let what = match side {
        Side::Skeleton => "back to its skeleton",
        Side::Solution => "the reference solution",
    };
    if dir.is_dir() && hash_dir(&dir)? == hash_files(&rendered.files) {
        return Ok(format!(
            "{} is already {what}; nothing changed.\n",
            shown.display()
        ));
    }
    let saved = if dir.is_dir() {
        let why = if side == Side::Skeleton {
            "reset"
        } else {
            "solve"
        };
        let backup = workshop.state.backup(exercise.package(), &dir, why)?;
        let backup = backup
            .strip_prefix(&workshop.root)
            .unwrap_or(&backup)
            .to_path_buf();
        format!("Your files are saved in {}.\n", backup.display())
    } else {
        String::new()
    };
    crate::pipeline::write_crate(&dir, &rendered.files)?;
    let next = match side {
        Side::Skeleton => format!(
            "Start again from the brief: {}\n",
            exercise.brief().display()
        ),
        Side::Solution => format!(
            "Run it: cargo lab check {}. Read it: {}/src/. Keep going: cargo lab\n",
            exercise.number,
            shown.display()
        ),
    };
    Ok(format!("{saved}{} is now {what}.\n{next}", shown.display()))
}

pub fn diff(args: ExerciseArg) -> ExitCode {
    let result = open().and_then(|workshop| {
        let exercise = workshop.catalog.find(&args.exercise)?.clone();
        show_diff(&workshop, &exercise)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => refuse(&e),
    }
}

/// `git diff` (or `diff -ru`) of the attendee's crate against the reference solution as it
/// would stand in the exercise's place (`.lab/reference/<package>/`).
fn show_diff(workshop: &Workshop, exercise: &Exercise) -> Result<(), String> {
    let rendered = render::render(&workshop.root, exercise, Side::Solution)?;
    let reference = Path::new(".lab").join("reference").join(exercise.package());
    crate::pipeline::write_crate(&workshop.root.join(&reference), &rendered.files)?;
    let yours = Path::new("exercises").join(&exercise.rel);
    println!(
        "Your code (-) against the reference solution (+) of {:02} {}:",
        exercise.number, exercise.title
    );
    let status = Command::new("git")
        .args(["diff", "--no-index", "--"])
        .arg(&yours)
        .arg(&reference)
        .current_dir(&workshop.root)
        .status()
        .or_else(|_| {
            Command::new("diff")
                .arg("-ru")
                .arg(&yours)
                .arg(&reference)
                .current_dir(&workshop.root)
                .status()
        })
        .map_err(|e| format!("cannot run git or diff: {e}"))?;
    // Both tools exit 1 when the trees differ, which is the expected case here.
    match status.code() {
        Some(0) => println!("No difference: your code is the reference solution."),
        Some(1) => {}
        _ => return Err("the diff tool failed; see above".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(number: u32, core: bool) -> Exercise {
        Exercise {
            number,
            name: format!("ex{number}"),
            section: "1-distribution".into(),
            rel: PathBuf::from(format!("1-distribution/{number:02}-ex{number}")),
            title: format!("Exercise {number}"),
            minutes: 20,
            core,
            benches: Vec::new(),
        }
    }

    #[test]
    fn next_is_the_first_open_core_exercise_or_a_started_stretch_one() {
        let passing = Status::Passing { total: 3 };
        let failing = Status::Failing {
            passed: 1,
            total: 3,
        };
        let plan = |s: [Status; 3]| -> Vec<(Exercise, Status)> {
            vec![
                (exercise(1, true), s[0].clone()),
                (exercise(2, false), s[1].clone()),
                (exercise(3, true), s[2].clone()),
            ]
        };
        let next = |s| Workshop::next(&plan(s)).map(|e| e.number);
        assert_eq!(
            next([Status::NotStarted, Status::NotStarted, Status::NotStarted]),
            Some(1)
        );
        assert_eq!(
            next([passing.clone(), Status::NotStarted, Status::NotStarted]),
            Some(3)
        );
        assert_eq!(
            next([passing.clone(), failing.clone(), Status::NotStarted]),
            Some(2)
        );
        assert_eq!(
            next([passing.clone(), Status::NotStarted, passing.clone()]),
            Some(2)
        );
        assert_eq!(next([passing.clone(), passing.clone(), passing]), None);
    }

    #[test]
    fn a_failure_is_summarised_by_its_panic_message() {
        let output = "\nthread 'x' panicked at src/lib.rs:10:5:\nnot yet implemented: Send it.\nnote: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            panic_message(output),
            "not yet implemented: Send it.\n(at src/lib.rs:10:5)"
        );
    }
}
