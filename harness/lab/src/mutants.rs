//! `cargo lab mutants`: the tests must reject a *wrong* answer, not only a missing one.
//!
//! `verify` proves that every test fails against the skeleton's `todo!()`s. What an attendee
//! actually writes is an answer, sometimes a wrong one, so this gate runs
//! [cargo-mutants](https://mutants.rs) on each solution: it changes the reference code one
//! small edit at a time (`+` into `-`, `<` into `<=`, a body into `Default::default()`) and
//! runs the solution's tests on each change. It mutates only the solution's files that have
//! `lab:todo` regions, on a copy of the workspace (cargo-mutants' default: the working tree is
//! never touched), then sorts every mutant by where it falls ([`Place`]):
//! - **attendee region**: every line it changes lies inside a `lab:todo` region, so an
//!   attendee could write it. One the tests miss is *a wrong answer the tests accept*: it is
//!   reported with its file, line and change, and the command exits 1;
//! - **given code**: everything else (a body replacement that spans given lines too is given
//!   code). Counted and listed as information: the attendee does not write it.
//!
//! A mutant the tests cannot catch because no behaviour tells it apart from the reference (an
//! *equivalent* mutant) is named in the solution's `README.md`, under `## Notes for
//! maintainers`, on a line of its own:
//!
//! ```text
//! - equivalent: `src/<file>.rs: <the change, as cargo-mutants prints it>`: why no test can tell
//! ```
//!
//! (the file below the solution, then cargo-mutants' description of the change, without the
//! line and column, so the note survives edits above it). The gate counts it as equivalent,
//! never as a wrong answer, and says so when a note names a mutant that no longer exists.
//!
//! Mutants run one at a time (the machine's cores are for the tests' clusters). They build in
//! a target directory of the gate's own, `<target>/lab-mutants/target` (`<target>` being
//! `CARGO_TARGET_DIR`, else `target/`): kept between runs, so only the first one builds the
//! dependencies, and never the maintainer's own, because cargo names a workspace member's
//! artifacts by its path relative to the workspace root, the same in cargo-mutants' copy:
//! a `cargo test` there during a run would swap the mutated build for the real one and turn
//! caught mutants into missed ones. cargo-mutants' own output (logs, diffs, `outcomes.json`)
//! stays under `<target>/lab-mutants/<NN>-<name>/mutants.out/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde::Deserialize;

use crate::catalog::{Catalog, Exercise, find_root};
use crate::{refuse, render, runner};

/// The version measured when the gate was written (`cargo install --locked cargo-mutants`
/// builds it in about 8 minutes on 2 cores).
const TESTED_WITH: &str = "27.1";

/// The heading in a solution's brief under which equivalent mutants are named.
const NOTES_HEADING: &str = "## Notes for maintainers";

#[derive(Debug, clap::Args)]
pub struct MutantsArgs {
    /// Only this exercise (number or name); default: all of them.
    pub exercise: Option<String>,
    /// Only list the mutants and where each falls; run no test.
    #[arg(long)]
    pub list: bool,
}

/// One mutant, as cargo-mutants describes it in `--list --json` and in `outcomes.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Mutant {
    /// `file:line:col: change`, e.g. `src/phi.rs:163:47: replace + with - in PhiDetector::phi`.
    pub name: String,
    /// Relative to the workspace root.
    pub file: String,
    /// The text the mutant replaces.
    pub span: Span,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Span {
    pub start: LineCol,
    pub end: LineCol,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LineCol {
    pub line: usize,
}

impl Mutant {
    /// The change without its position: `replace + with - in PhiDetector::phi`.
    pub fn change(&self) -> &str {
        // The name is `file:line:col: change`; the file itself has no ": ".
        self.name.split_once(": ").map_or(&self.name, |(_, c)| c)
    }
}

/// What the tests made of a mutant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Caught,
    /// The tests ran past cargo-mutants' timeout: they did not accept the change (a loop that
    /// never ends is a wrong answer noticed), so this counts as caught.
    Timeout,
    Missed,
    /// It does not compile: no attendee could hand it in.
    Unviable,
}

/// Where a mutant falls in its solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Inside a `lab:todo` region: the attendee writes this code.
    Region,
    /// Outside every region: the exercise gives this code.
    Given,
}

/// The `lab:todo` regions of the files that have any, by path relative to the workspace
/// root, each as the lines of its marker and its `lab:end`.
pub type Regions = BTreeMap<String, Vec<(usize, usize)>>;

/// A mutant is in a region when its first and last changed lines both lie strictly between a
/// region's marker and its `lab:end`.
pub fn place(mutant: &Mutant, regions: &Regions) -> Place {
    let (first, last) = (mutant.span.start.line, mutant.span.end.line);
    let inside = regions.get(&mutant.file).is_some_and(|file| {
        file.iter()
            .any(|&(marker, end)| marker < first && last < end)
    });
    if inside { Place::Region } else { Place::Given }
}

/// The mutants of `cargo mutants --list --json`.
pub fn read_list(json: &str) -> Result<Vec<Mutant>, String> {
    serde_json::from_str(json).map_err(|e| format!("cannot read cargo-mutants' list: {e}"))
}

/// The mutants of an `outcomes.json` with what the tests made of each (the baseline left out).
pub fn read_outcomes(json: &str) -> Result<Vec<(Mutant, Outcome)>, String> {
    #[derive(Deserialize)]
    struct File {
        outcomes: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        scenario: Scenario,
        summary: String,
    }
    #[derive(Deserialize)]
    enum Scenario {
        Baseline,
        Mutant(Mutant),
    }
    let file: File = serde_json::from_str(json)
        .map_err(|e| format!("cannot read cargo-mutants' outcomes.json: {e}"))?;
    let mut out = Vec::new();
    for entry in file.outcomes {
        let Scenario::Mutant(mutant) = entry.scenario else {
            continue;
        };
        let outcome = match entry.summary.as_str() {
            "CaughtMutant" => Outcome::Caught,
            "MissedMutant" => Outcome::Missed,
            "Timeout" => Outcome::Timeout,
            "Unviable" => Outcome::Unviable,
            other => {
                return Err(format!(
                    "outcomes.json: `{}` has the unknown outcome {other:?} (cargo-mutants {TESTED_WITH} was the version tested)",
                    mutant.name
                ));
            }
        };
        out.push((mutant, outcome));
    }
    Ok(out)
}

/// The equivalent mutants a solution's brief names: `(file below the solution, change)`.
pub fn equivalents(brief: &str) -> Vec<(String, String)> {
    let mut in_notes = false;
    let mut out = Vec::new();
    for line in brief.lines() {
        if line.starts_with("## ") {
            in_notes = line.trim_end() == NOTES_HEADING;
            continue;
        }
        let Some(rest) = line.strip_prefix("- equivalent: `").filter(|_| in_notes) else {
            continue;
        };
        if let Some((file, change)) = rest.split_once('`').and_then(|(n, _)| n.split_once(": ")) {
            out.push((file.to_string(), change.to_string()));
        }
    }
    out
}

/// One exercise's mutants, sorted.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per place: caught (timeouts included), missed and unviable counts.
    pub region: Counts,
    pub given: Counts,
    /// Attendee-region mutants the tests accept and no note calls equivalent.
    pub wrong_answers: Vec<Mutant>,
    /// Attendee-region mutants the tests accept that a note calls equivalent.
    pub equivalent: Vec<Mutant>,
    /// Given-code mutants the tests accept (information).
    pub given_missed: Vec<Mutant>,
    /// Notes that name no surviving attendee-region mutant (stale after an edit).
    pub stale_notes: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub caught: usize,
    pub timeouts: usize,
    pub missed: usize,
    pub unviable: usize,
}

impl Counts {
    /// Mutants that compile: the ones that say anything about the tests.
    pub fn viable(&self) -> usize {
        self.caught + self.missed
    }
}

impl Tally {
    /// Sorts `outcomes` by place and outcome; `solution` is the solution's folder relative to
    /// the root (to match the notes' file names), `notes` what [`equivalents`] read.
    pub fn of(
        outcomes: Vec<(Mutant, Outcome)>,
        regions: &Regions,
        solution: &str,
        notes: &[(String, String)],
    ) -> Tally {
        let mut tally = Tally::default();
        let mut used = vec![false; notes.len()];
        for (mutant, outcome) in outcomes {
            let place = place(&mutant, regions);
            let counts = match place {
                Place::Region => &mut tally.region,
                Place::Given => &mut tally.given,
            };
            match outcome {
                Outcome::Caught => counts.caught += 1,
                Outcome::Timeout => {
                    counts.caught += 1;
                    counts.timeouts += 1;
                }
                Outcome::Unviable => counts.unviable += 1,
                Outcome::Missed => counts.missed += 1,
            }
            if outcome != Outcome::Missed {
                continue;
            }
            if place == Place::Given {
                tally.given_missed.push(mutant);
                continue;
            }
            let file = mutant
                .file
                .strip_prefix(solution)
                .map_or(mutant.file.as_str(), |f| f.trim_start_matches('/'));
            match notes
                .iter()
                .position(|(f, c)| f == file && c == mutant.change())
            {
                Some(i) => {
                    used[i] = true;
                    tally.equivalent.push(mutant);
                }
                None => tally.wrong_answers.push(mutant),
            }
        }
        tally.stale_notes = notes
            .iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|((f, c), _)| format!("{f}: {c}"))
            .collect();
        tally
    }
}

pub fn run(args: MutantsArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return refuse(&e),
    };
    if let Err(e) = installed(&root) {
        return refuse(&e);
    }
    let catalog = match Catalog::load(&root) {
        Ok(catalog) => catalog,
        Err(e) => return refuse(&e),
    };
    let exercises: Vec<&Exercise> = match &args.exercise {
        Some(arg) => match catalog.find(arg) {
            Ok(exercise) => vec![exercise],
            Err(e) => return refuse(&e),
        },
        None => catalog.exercises.iter().collect(),
    };
    let started = Instant::now();
    let mut wrong = 0;
    for exercise in &exercises {
        let result = if args.list {
            list_one(&root, exercise).map(|()| 0)
        } else {
            gate_one(&root, exercise)
        };
        match result {
            Ok(n) => wrong += n,
            Err(e) => return refuse(&format!("mutants {exercise}: {e}")),
        }
    }
    if args.list {
        return ExitCode::SUCCESS;
    }
    let secs = started.elapsed().as_secs();
    if wrong == 0 {
        println!(
            "mutants: the tests reject every attendee-region mutant of {} exercise(s) ({secs} s)",
            exercises.len()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "mutants: {wrong} wrong answer(s) the tests accept, across {} exercise(s) ({secs} s); write a test that fails on each, or name it under `{NOTES_HEADING}` in the solution's README.md if no behaviour can tell it apart",
            exercises.len()
        );
        ExitCode::FAILURE
    }
}

/// `Ok` when `cargo mutants` answers; otherwise the one line that says how to install it.
fn installed(root: &Path) -> Result<(), String> {
    let mut cmd = runner::cargo(root);
    cmd.args(["mutants", "--version"]);
    match runner::run_captured(cmd, None) {
        Ok(run) if run.success() => Ok(()),
        _ => Err(format!(
            "cargo-mutants is not installed; `cargo install --locked cargo-mutants` installs it (version {TESTED_WITH} tested, about 8 minutes to build)"
        )),
    }
}

/// The solution's files with `lab:todo` regions, by root-relative path, with their regions.
fn regions_of(root: &Path, exercise: &Exercise) -> Result<Regions, String> {
    let dir = exercise.solution_dir(root);
    let mut regions = Regions::new();
    for rel in render::list_files(&dir)? {
        if rel.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let shown = Path::new("solutions").join(&exercise.rel).join(&rel);
        let source = std::fs::read_to_string(dir.join(&rel))
            .map_err(|e| format!("cannot read {}: {e}", shown.display()))?;
        let rendered = crate::markers::render(&source, crate::markers::Side::Solution)
            .map_err(|e| format!("{}: {e}", shown.display()))?;
        if !rendered.regions.is_empty() {
            regions.insert(slashed(&shown), rendered.regions);
        }
    }
    if regions.is_empty() {
        return Err("the solution marks no lab:todo region".into());
    }
    Ok(regions)
}

/// A path with `/` separators, as cargo-mutants writes them.
fn slashed(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `cargo mutants` for the exercise's solution, limited to its files with regions.
fn cargo_mutants(root: &Path, exercise: &Exercise, regions: &Regions) -> std::process::Command {
    let mut cmd = runner::cargo(root);
    cmd.env("CARGO_TARGET_DIR", lab_mutants_dir(root).join("target"))
        .args(["mutants", "--colors", "never", "--package"])
        .arg(exercise.solution_package());
    for file in regions.keys() {
        cmd.args(["--file", file]);
    }
    cmd
}

fn list_one(root: &Path, exercise: &Exercise) -> Result<(), String> {
    let regions = regions_of(root, exercise)?;
    let mut cmd = cargo_mutants(root, exercise, &regions);
    cmd.args(["--list", "--json"]);
    // Quick (no build), and the JSON is stdout alone, so no file capture.
    let run = cmd
        .output()
        .map_err(|e| format!("cannot run cargo mutants: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "cargo mutants --list failed: {}",
            runner::first_error(&String::from_utf8_lossy(&run.stderr))
        ));
    }
    let mutants = read_list(&String::from_utf8_lossy(&run.stdout))?;
    let (inside, given): (Vec<&Mutant>, Vec<&Mutant>) = mutants
        .iter()
        .partition(|m| place(m, &regions) == Place::Region);
    println!(
        "mutants {exercise}: {} in attendee regions, {} in given code, in {}",
        inside.len(),
        given.len(),
        regions.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    for mutant in inside {
        println!("    region: {}", mutant.name);
    }
    Ok(())
}

/// Runs the gate on one exercise and prints its lines; returns how many wrong answers the
/// tests accept.
fn gate_one(root: &Path, exercise: &Exercise) -> Result<usize, String> {
    let regions = regions_of(root, exercise)?;
    let out = output_dir(root, exercise);
    let solution = format!("solutions/{}", slashed(&exercise.rel));
    let brief =
        std::fs::read_to_string(exercise.solution_dir(root).join("README.md")).unwrap_or_default();
    println!(
        "mutants {exercise}: testing {} (cargo-mutants' logs in {})",
        regions.keys().cloned().collect::<Vec<_>>().join(", "),
        out.join("mutants.out").display()
    );
    // cargo-mutants writes into the directory but does not create it.
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let started = Instant::now();
    let mut cmd = cargo_mutants(root, exercise, &regions);
    cmd.args(["--jobs", "1", "--output"]).arg(&out);
    let run = runner::run_captured(cmd, None)?;
    // 0: all caught, 2: some missed, 3: some timed out; anything else means no verdict.
    match run.status.and_then(|s| s.code()) {
        Some(0 | 2 | 3) => {}
        Some(4) => {
            return Err(format!(
                "the solution's tests fail before any mutation; run `cargo test -p {}`",
                exercise.solution_package()
            ));
        }
        _ => {
            return Err(format!(
                "cargo mutants failed: {}",
                runner::first_error(&run.output)
            ));
        }
    }
    let outcomes_path = out.join("mutants.out/outcomes.json");
    let json = std::fs::read_to_string(&outcomes_path)
        .map_err(|e| format!("cannot read {}: {e}", outcomes_path.display()))?;
    let tally = Tally::of(
        read_outcomes(&json)?,
        &regions,
        &solution,
        &equivalents(&brief),
    );
    print_tally(exercise, &tally, started.elapsed().as_secs());
    Ok(tally.wrong_answers.len())
}

fn print_tally(exercise: &Exercise, tally: &Tally, secs: u64) {
    let mark = if tally.wrong_answers.is_empty() {
        '✓'
    } else {
        '✗'
    };
    let equivalent = match tally.equivalent.len() {
        0 => String::new(),
        n => format!(", {n} named equivalent"),
    };
    println!(
        "{mark} {exercise}: attendee regions: {}/{} viable mutants caught{equivalent}; given code: {}/{} caught ({}{secs} s)",
        tally.region.caught,
        tally.region.viable(),
        tally.given.caught,
        tally.given.viable(),
        match tally.region.timeouts + tally.given.timeouts {
            0 => String::new(),
            n => format!("{n} by a timeout; "),
        }
    );
    for mutant in &tally.wrong_answers {
        println!(
            "✗ {exercise}: a wrong answer the tests accept: {}",
            mutant.name
        );
    }
    for mutant in &tally.equivalent {
        println!("    equivalent (named in the brief): {}", mutant.name);
    }
    for note in &tally.stale_notes {
        println!(
            "    a note names no surviving attendee-region mutant (drop it): `{note}` under `{NOTES_HEADING}`"
        );
    }
    for mutant in &tally.given_missed {
        println!("    given code, not caught (information): {}", mutant.name);
    }
}

/// Where cargo-mutants writes its report for this exercise.
fn output_dir(root: &Path, exercise: &Exercise) -> PathBuf {
    lab_mutants_dir(root).join(exercise.rel.file_name().unwrap_or_default())
}

/// The gate's own directory under the cargo target directory: its builds and its reports.
fn lab_mutants_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |t| root.join(t))
        .join("lab-mutants")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOLUTION: &str = "solutions/1-basics/01-greeting";
    const FILE: &str = "solutions/1-basics/01-greeting/src/lib.rs";

    /// A solution file as the gate sees it: a region in `greet`, given code around it.
    const SOURCE: &str = "\
pub fn greet(name: &str) -> String {
    let name = name.trim();
    // lab:todo Return the greeting.
    // A note.
    let mut out = String::from(\"Hello, \");
    out + name + \"!\"
    // lab:end
}

pub fn shout(name: &str) -> String {
    greet(name).to_uppercase()
}
";

    /// An outcomes.json in cargo-mutants 27.1's shape (trimmed to the fields the gate reads
    /// and a few it does not, which it must ignore).
    fn outcomes() -> String {
        let mutant = |line: usize, end: usize, change: &str, summary: &str| {
            format!(
                r#"{{"scenario": {{"Mutant": {{"name": "{FILE}:{line}:5: {change}", "package": "greeting-solution", "file": "{FILE}", "function": {{"function_name": "greet", "return_type": "-> String", "span": {{"start": {{"line": 1, "column": 1}}, "end": {{"line": 8, "column": 2}}}}}}, "span": {{"start": {{"line": {line}, "column": 5}}, "end": {{"line": {end}, "column": 9}}}}, "replacement": "x", "genre": "BinaryOperator"}}}}, "summary": "{summary}", "log_path": "log/x.log", "phase_results": []}}"#
            )
        };
        let entries = [
            r#"{"scenario": "Baseline", "summary": "Success", "phase_results": []}"#.to_string(),
            // Inside the region: caught, missed, timed out, unviable, missed but equivalent.
            mutant(6, 6, "replace + with - in greet", "CaughtMutant"),
            mutant(6, 6, "replace + with * in greet", "MissedMutant"),
            mutant(
                5,
                5,
                "replace String::from with String::new in greet",
                "Timeout",
            ),
            mutant(
                5,
                6,
                "replace greet -> String with Default::default()",
                "Unviable",
            ),
            mutant(6, 6, "delete ! in greet", "MissedMutant"),
            // A body replacement that spans the given `trim` line: given code.
            mutant(
                2,
                6,
                "replace greet -> String with String::new()",
                "MissedMutant",
            ),
            // Given code below the region.
            mutant(
                11,
                11,
                "replace shout -> String with String::new()",
                "CaughtMutant",
            ),
        ];
        format!(
            r#"{{"outcomes": [{}], "total_mutants": 7, "cargo_mutants_version": "27.1.0"}}"#,
            entries.join(", ")
        )
    }

    fn regions() -> Regions {
        let rendered = crate::markers::render(SOURCE, crate::markers::Side::Solution).unwrap();
        assert_eq!(rendered.regions, vec![(3, 7)], "the parser's region lines");
        Regions::from([(FILE.to_string(), rendered.regions)])
    }

    #[test]
    fn mutants_are_sorted_into_attendee_regions_and_given_code() {
        let brief = "# Greeting\n\n## Notes for maintainers\n\n- equivalent: `src/lib.rs: delete ! in greet`: no test can see it.\n- equivalent: `src/lib.rs: replace - with + in gone`: stale.\n\n## Other\n\n- equivalent: `src/lib.rs: replace + with * in greet`: not under the heading.\n";
        let notes = equivalents(brief);
        assert_eq!(notes.len(), 2, "{notes:?}");
        let tally = Tally::of(
            read_outcomes(&outcomes()).unwrap(),
            &regions(),
            SOLUTION,
            &notes,
        );
        assert_eq!(
            tally.region,
            Counts {
                caught: 2,
                timeouts: 1,
                missed: 2,
                unviable: 1
            }
        );
        assert_eq!(tally.region.viable(), 4);
        assert_eq!(
            tally.given,
            Counts {
                caught: 1,
                timeouts: 0,
                missed: 1,
                unviable: 0
            }
        );
        let names = |ms: &[Mutant]| {
            ms.iter()
                .map(|m| m.change().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&tally.wrong_answers), ["replace + with * in greet"]);
        assert_eq!(names(&tally.equivalent), ["delete ! in greet"]);
        assert_eq!(
            names(&tally.given_missed),
            ["replace greet -> String with String::new()"]
        );
        assert_eq!(tally.stale_notes, ["src/lib.rs: replace - with + in gone"]);
    }

    #[test]
    fn a_mutant_on_a_marker_line_or_in_another_file_is_given_code() {
        let regions = regions();
        let at = |file: &str, first: usize, last: usize| Mutant {
            name: format!("{file}:{first}:1: x"),
            file: file.into(),
            span: Span {
                start: LineCol { line: first },
                end: LineCol { line: last },
            },
        };
        assert_eq!(place(&at(FILE, 4, 6), &regions), Place::Region);
        assert_eq!(place(&at(FILE, 3, 6), &regions), Place::Given);
        assert_eq!(place(&at(FILE, 5, 7), &regions), Place::Given);
        assert_eq!(place(&at("src/other.rs", 5, 5), &regions), Place::Given);
    }

    #[test]
    fn an_unknown_outcome_is_an_error_not_a_guess() {
        let json = outcomes().replace("\"Timeout\"", "\"Exploded\"");
        let e = read_outcomes(&json).unwrap_err();
        assert!(e.contains("Exploded") && e.contains(TESTED_WITH), "{e}");
    }
}
