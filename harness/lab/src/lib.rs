//! The `lab` command line, run as `cargo lab ...` (an alias in `.cargo/config.toml`).
//!
//! The map, one module per audience:
//! - [`workshop`]: what attendees type: progress (no arguments), `check`, `hint`, `reset`,
//!   `diff`, `solve`.
//! - [`pipeline`]: what maintainers type: `generate` (exercises from solutions) and `verify`
//!   (the gate that keeps every pair honest).
//! - [`mutants`]: `mutants`, the maintainers' gate that the tests reject wrong answers in the
//!   attendee's regions, not only missing ones (cargo-mutants).
//! - [`load`]: `load`, a standalone open-loop HTTP load generator.
//! - [`scenario`]: `scenario list|run`, failure and load scenarios described as data.
//! - [`demo`]: `demo`, the narrated instructor demos, declared by the crates they belong to.
//! - [`doctor`]: `doctor`, whether this seat is ready for the workshop, with a fix per problem.
//! - [`watch`]: `watch`, an exercise's tests run again on every save, with one-key commands.
//! - [`dashboard`]: `dashboard`, a live cluster in the browser: chaos at a click, every click
//!   recorded as a replayable scenario.
//!
//!
//! What those commands share:
//! - [`catalog`]: the exercises, read from the solutions (names, packages, folders, hints).
//! - [`markers`]: the solution regions (`lab:todo`, `lab:replace`) and what each side gets.
//! - [`render`]: a solution crate rendered as its exercise (or as the reference for `solve`).
//! - [`runner`]: cargo and test runs with their output captured and summarised.
//! - [`progress`]: what `lab` remembers between runs under `.lab/`.
//! - [`bar`]: the progress bar of timed runs; [`refuse`]: how a command that cannot do its
//!   job says so (one line, exit status 2).
//!
//! The parser is public so the slide checker can parse every `cargo lab` command a deck shows.

pub mod dashboard;
pub mod demo;
pub mod doctor;
pub mod load;
pub mod mutants;
pub mod pipeline;
pub mod scenario;
pub mod watch;
pub mod workshop;

pub mod bar;
pub mod catalog;
pub mod markers;
pub mod progress;
pub mod render;
pub mod runner;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo lab",
    bin_name = "cargo lab",
    about = "The scalability and reliability lab: where you are, what is next, and the tools to break things.",
    after_help = "With no command: the exercises in order, how far you are, and what to do next."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an exercise's tests with a short summary (default: the next unfinished one).
    Check(workshop::CheckArgs),
    /// Show the next hint for an exercise; one more each time you ask.
    Hint(workshop::HintArgs),
    /// Put an exercise back to its skeleton (your files are backed up first).
    Reset(workshop::ExerciseArg),
    /// Show your code next to the reference solution.
    Diff(workshop::ExerciseArg),
    /// Put the reference solution in place of your code (your files are backed up first).
    Solve(workshop::ExerciseArg),
    /// Maintainers: regenerate the exercise crates from the solutions.
    Generate(pipeline::GenerateArgs),
    /// Maintainers: check that every exercise and solution pair is honest.
    Verify(pipeline::VerifyArgs),
    /// Maintainers: check that the tests reject wrong answers in the attendee's code (cargo-mutants).
    Mutants(mutants::MutantsArgs),
    /// Drive an HTTP endpoint at a fixed rate and report honest latency percentiles.
    Load(load::LoadArgs),
    /// List or run failure and load scenarios.
    Scenario(scenario::ScenarioArgs),
    /// Run a narrated instructor demo (default: the flagship one).
    Demo(demo::DemoArgs),
    /// Check that this seat is ready for the workshop, and say how to fix what is not.
    Doctor(doctor::DoctorArgs),
    /// Run an exercise's tests again on every save (keys: h hint, n next, l list, q quit).
    Watch(watch::WatchArgs),
    /// A live cluster in the browser: kill, pause, cut and partition at a click, every click recorded as a scenario.
    Dashboard(dashboard::DashboardArgs),
}

/// Prints `lab: <message>` on stderr and returns exit status 2: the command could not do its
/// job (a bad argument, no lab found, a run that broke), which is not a test or check result
/// (those exit 0 or 1). Every command says so through here.
pub fn refuse(message: &str) -> ExitCode {
    eprintln!("lab: {message}");
    ExitCode::from(2)
}

/// Parses `std::env::args` and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => workshop::status(),
        Some(Command::Check(args)) => workshop::check(args),
        Some(Command::Hint(args)) => workshop::hint(args),
        Some(Command::Reset(args)) => workshop::reset(args),
        Some(Command::Diff(args)) => workshop::diff(args),
        Some(Command::Solve(args)) => workshop::solve(args),
        Some(Command::Generate(args)) => pipeline::generate(args),
        Some(Command::Verify(args)) => pipeline::verify(args),
        Some(Command::Mutants(args)) => mutants::run(args),
        Some(Command::Load(args)) => load::run(args),
        Some(Command::Scenario(args)) => scenario::run(args),
        Some(Command::Demo(args)) => demo::run(args),
        Some(Command::Doctor(args)) => doctor::run(args),
        Some(Command::Watch(args)) => watch::run(args),
        Some(Command::Dashboard(args)) => dashboard::run(args),
    }
}
