//! A code demo's side of `cargo lab demo`: the flags the lab passes and the steps every demo
//! takes before and after its own story.
//!
//! A code demo is the example named after its crate (`[[example]]` in the crate's
//! `Cargo.toml`). `cargo lab demo <name>` builds the node (the reference solution's, or with
//! `--impl exercise` the attendee's) and runs the example with
//! `--node <binary> --out <report dir> --seed <n> --whose <whose code runs>`. [`Demo`] is
//! those flags, parsed once, plus what every demo does with them: print its title and intro,
//! name the node it runs, pick its seed, start a runtime, and create its report directory
//! with every node's log in it. What happens in between is the demo's own.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use harness::Cluster;
//! use harness::demo::{Demo, broke, verdict};
//!
//! const INTRO: &str = "Three nodes say hello; one of them is killed.";
//!
//! fn main() -> ExitCode {
//!     let demo = Demo::start("hello", INTRO);
//!     println!("starting 3 nodes of {} ({})\n", demo.whose, demo.node_name());
//!     let seed = demo.seed_or_random();
//!     let cluster = match Cluster::builder(&demo.node).nodes(3).seed(seed).start() {
//!         Ok(cluster) => cluster,
//!         Err(e) => return broke(&format!("the nodes did not start: {e}")),
//!     };
//!     let runtime = match Demo::runtime() {
//!         Ok(runtime) => runtime,
//!         Err(e) => return broke(&e),
//!     };
//!     let killed = runtime.block_on(async { cluster.kill("n2").is_ok() });
//!     let out = match demo.report_dir(&cluster) {
//!         Ok(out) => out,
//!         Err(e) => return broke(&format!("could not write the report: {e}")),
//!     };
//!     println!("the node logs are in {}", out.display());
//!     verdict(killed)
//! }
//! ```

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::Cluster;

/// The flags `cargo lab demo` gives a code demo (`harness/lab/src/demo.rs`, `run_code`), and
/// the steps every demo takes with them.
#[derive(Debug, clap::Parser)]
#[command(about = "A code demo of the lab: `cargo lab demo <name>` runs it with these flags.")]
pub struct Demo {
    /// The node binary to run (the lab builds the solution's or the attendee's).
    #[arg(long)]
    pub node: PathBuf,
    /// The report directory (created).
    #[arg(long)]
    pub out: PathBuf,
    /// The run's seed, for what the demo draws at random (`cargo lab demo <name> --seed <n>`
    /// replays a run); a demo with no random choice records it in its report.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Whose code runs, for the narration: "the reference solution" or "your exercise".
    #[arg(long, default_value = "the reference solution")]
    pub whose: String,
}

impl Demo {
    /// Reads the flags; a bad one ends the process with clap's message and exit status 2.
    pub fn parse() -> Self {
        <Self as clap::Parser>::parse()
    }

    /// Reads the flags, then prints the demo's title and its intro, indented, and a blank
    /// line: what is about to happen and why, before anything starts.
    pub fn start(name: &str, intro: &str) -> Self {
        let demo = Self::parse();
        println!("== demo: {name} ==\n");
        for line in intro.lines() {
            println!("  {line}");
        }
        println!();
        demo
    }

    /// The node binary's file name, for the narration (`retries-solution`, `retries`).
    pub fn node_name(&self) -> Cow<'_, str> {
        self.node
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    }

    /// The seed given, or `fixed` when run by hand without one (a demo with no random choice
    /// names its runs by it).
    pub fn seed_or(&self, fixed: u64) -> u64 {
        self.seed.unwrap_or(fixed)
    }

    /// The seed given, or a fresh one when run by hand without one (under 10 000, so it is
    /// easy to say aloud and type again).
    pub fn seed_or_random(&self) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        self.seed
            .unwrap_or_else(|| RandomState::new().hash_one(std::time::SystemTime::now()) % 10_000)
    }

    /// The demo's runtime: two workers, like the machines the lab runs on.
    pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))
    }

    /// Creates the report directory and copies every node's log into it (`n1.log`, ...), as
    /// every scenario's report has them; returns the directory. A log that cannot be copied
    /// is left out: the report still says what happened.
    pub fn report_dir(&self, cluster: &Cluster) -> Result<&Path, String> {
        let out = self.out.as_path();
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        for id in cluster.ids() {
            let _ = std::fs::copy(cluster.log_path(&id), out.join(format!("{id}.log")));
        }
        Ok(out)
    }
}

/// A demo that could not show its story (a node that did not start, a report that could not
/// be written): one line on stderr, exit status 2, so the lab and CI tell it from a demo that
/// ran and saw its idea fail.
pub fn broke(message: &str) -> ExitCode {
    eprintln!("lab: {message}");
    ExitCode::from(2)
}

/// A demo that ran to its end: exit status 0 when its checks passed, 1 when one failed.
pub fn verdict(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn reads_the_flags_the_lab_passes() {
        let demo = Demo::try_parse_from([
            "detection",
            "--node",
            "target/debug/failure-detection",
            "--out",
            "target/lab/demo-detection",
            "--seed",
            "42",
            "--whose",
            "your exercise",
        ])
        .expect("the lab's flags parse");
        assert_eq!(demo.node, Path::new("target/debug/failure-detection"));
        assert_eq!(demo.out, Path::new("target/lab/demo-detection"));
        assert_eq!(demo.seed_or(7), 42);
        assert_eq!(demo.seed_or_random(), 42);
        assert_eq!(demo.whose, "your exercise");
        assert_eq!(demo.node_name(), "failure-detection");
    }

    #[test]
    fn by_hand_only_the_node_and_the_report_are_needed() {
        let demo = Demo::try_parse_from(["knee", "--node", "n", "--out", "o"]).expect("parses");
        assert_eq!(demo.whose, "the reference solution");
        assert_eq!(demo.seed_or(13), 13);
        assert!(demo.seed_or_random() < 10_000);
        assert!(Demo::try_parse_from(["knee", "--out", "o"]).is_err());
        assert!(
            Demo::try_parse_from(["knee", "--node", "n", "--out", "o", "--seed", "x"]).is_err()
        );
    }
}
