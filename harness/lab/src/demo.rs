//! `cargo lab demo [NAME]`: the instructor's live demos.
//!
//! A demo is a scenario with a story: its file has an `intro` (what is about to happen and
//! why) and a `say` line on each fault. The demo prints the intro, starts a local cluster of
//! reference nodes, drives the load, fires the faults with their narration, shows the live
//! figures every second (throughput, errors, p99, each node's state), and ends with the
//! checks and the report's path. It never waits for input, so it runs the same in CI.
//!
//! A few demos need more than a workload can see, and are code: [`crate::detection`] shows
//! each node's own view of the others while one hangs and another dies. [`names`] lists both
//! kinds, for `--list` and for the slide checker.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use harness::scenario::{self, Live, Observer, RunOptions, Scenario};

use crate::catalog::find_root;
use crate::detection;
use crate::scenario::{Impl, build_node, default_out, discover, file_stem};

/// The demo `cargo lab demo` runs without a name: the README's run command.
pub const FLAGSHIP: &str = "owner-lost";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The demo to run (default: the flagship). `--list` shows them all.
    pub name: Option<String>,
    /// List the demos.
    #[arg(long)]
    pub list: bool,
    /// Run the attendee's exercise nodes instead of the reference solution's.
    #[arg(long = "impl", value_enum, default_value_t = Impl::Solution)]
    pub implementation: Impl,
    /// Replaces the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(args: DemoArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return fail(&e),
    };
    let demos = demos(&root);
    if args.list {
        let mut listed: Vec<(&str, &str)> = demos
            .iter()
            .map(|d| (d.name.as_str(), d.description.as_str()))
            .chain(CODE_DEMOS.iter().copied())
            .collect();
        listed.sort();
        for (name, description) in listed {
            let star = if name == FLAGSHIP { "*" } else { " " };
            println!("{star} {name:<24} {description}");
        }
        println!("\n* the flagship: `cargo lab demo` runs it. Any other: cargo lab demo <name>");
        return ExitCode::SUCCESS;
    }
    let name = args.name.as_deref().unwrap_or(FLAGSHIP);
    if name == detection::NAME {
        return detection::run(&root, args.implementation, args.seed);
    }
    let Some(demo) = demos.iter().find(|d| d.name == name) else {
        return fail(&format!(
            "no demo named {name:?}; there are: {}",
            names(&root).join(", ")
        ));
    };
    play(&root, demo, &args)
}

/// The demos written as code, with what `--list` says about them.
const CODE_DEMOS: [(&str, &str); 1] = [(detection::NAME, detection::DESCRIPTION)];

/// Every scenario's name, as `cargo lab scenario run <name>` takes it (demos or not).
pub fn scenario_names(root: &Path) -> Vec<String> {
    discover(root).iter().map(|path| file_stem(path)).collect()
}

/// Every demo's name, scenario files and code alike, in name order.
pub fn names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = demos(root)
        .into_iter()
        .map(|d| d.name)
        .chain(CODE_DEMOS.iter().map(|(name, _)| name.to_string()))
        .collect();
    names.sort();
    names
}

fn fail(message: &str) -> ExitCode {
    eprintln!("lab: {message}");
    ExitCode::from(2)
}

/// Every scenario with an intro, in name order.
pub fn demos(root: &Path) -> Vec<Scenario> {
    discover(root)
        .iter()
        .filter_map(|path| Scenario::load(path).ok())
        .filter(|s| !s.intro.trim().is_empty())
        .collect()
}

fn play(root: &Path, demo: &Scenario, args: &DemoArgs) -> ExitCode {
    println!("== demo: {} ==\n", demo.name);
    for line in demo.intro.trim().lines() {
        println!("  {}", line.trim());
    }
    println!();
    let bin = match build_node(root, &demo.cluster.node, args.implementation) {
        Ok(bin) => bin,
        Err(e) => return fail(&e),
    };
    let seed = args.seed.unwrap_or(demo.seed);
    println!(
        "starting {} node(s) of {}, then {} s of cart traffic at {}/s (seed {seed})\n",
        demo.cluster.nodes,
        bin.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default(),
        demo.duration.as_secs_f64(),
        demo.workload.rate,
    );
    let options = RunOptions {
        bin,
        seed: Some(seed),
        out: default_out(root, &demo.name, seed),
        extra_args: Vec::new(),
        observer: Some(Arc::new(Narrator::default())),
    };
    match scenario::run(demo, &options) {
        Ok(outcome) => {
            // The report's path comes last: it is what the audience opens next.
            println!("  -- replay it: cargo lab demo {} --seed {seed}", demo.name);
            println!("\n{}", outcome.table);
            if outcome.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&format!("the demo broke: {e}")),
    }
}

/// Prints one line a second, and the narration as the faults fire.
#[derive(Default)]
struct Narrator {
    header_printed: Mutex<bool>,
}

impl Observer for Narrator {
    fn second(&self, live: &Live) {
        let mut header = self
            .header_printed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !*header {
            let nodes: String = live
                .nodes
                .iter()
                .map(|(id, _)| format!("{id:<8}"))
                .collect();
            println!(
                "  {:>5}  {:>6}  {:>6}  {:>9}  {nodes}",
                "t", "ok/s", "err/s", "p99"
            );
            *header = true;
        }
        let p99 = live
            .p99
            .map_or("-".to_string(), |p| format!("{:.1} ms", ms(p)));
        let nodes: String = live.nodes.iter().map(|(_, s)| format!("{s:<8}")).collect();
        println!(
            "  {:>4}s  {:>6}  {:>6}  {:>9}  {nodes}",
            live.elapsed.as_secs(),
            live.ok,
            live.errors,
            p99
        );
        let _ = std::io::stdout().flush();
    }

    fn fault(&self, at: Duration, label: &str, say: Option<&str>) {
        match say {
            Some(say) => println!("  >> {:.1} s  {label}: {say}", at.as_secs_f64()),
            None => println!("  >> {:.1} s  {label}", at.as_secs_f64()),
        }
    }

    fn phase(&self, what: &str) {
        println!("  -- {what}");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
