//! `cargo lab dashboard`: a live cluster in the browser, chaos at a click, every click a
//! replayable scenario.
//!
//! The command starts a cluster of an exercise's node (the flagship's by default) behind the
//! harness's fault proxies, drives cart traffic at a rate the page can change, and serves a
//! page from this process on 127.0.0.1 whose address (with a per-run token) it prints. The
//! page shows the topology, the figures of each second, each node's own `/metrics`, and the
//! report's own plots with every fault shaded; its buttons apply the harness's faults
//! ([`harness::fault`], through [`harness::deployment::Deployment`]), each one recorded with
//! its time as a `[[faults]]` entry of a scenario file that `cargo lab scenario run` replays.
//!
//! The module's files, one idea each:
//! - `state`: the running dashboard: the cluster, the history, the actions taken and what
//!   the page is shown each second;
//! - `record`: the actions as a scenario file, and as the report's fault spans;
//! - `traffic`: the cart workload at an adjustable rate;
//! - `present`: presenter mode, `cargo lab demo NAME --dashboard`: a demo's schedule played
//!   on the dashboard, its narration as captions in large type;
//! - `server`: the HTTP routes and the guard (loopback, token, Host and Origin);
//! - `assets/`: the page (HTML, CSS and a little vanilla JS), compiled into the binary.
//!
//! Stopping: Enter on the terminal or the page's Stop button writes the recording (with
//! `--record`) and the run's report directory, then stops every node. Ctrl-C stops every node
//! at once through the harness's reaper (the recording, written after every action, stays).

mod present;
mod record;
mod server;
mod state;
mod traffic;

pub use present::present;
pub use record::{Action, scenario_text};
pub use server::{Served, serve};
pub use state::{Dashboard, Setup};

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use harness::Cluster;
use harness::scenario::{NodeRef, Scenario};

use crate::catalog::{Catalog, find_root};
use crate::scenario::{DemoEntry, Impl, build_node, declared, default_out};

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The exercise whose node to run (number or name; default: the flagship demo's).
    pub exercise: Option<String>,
    /// How many nodes (default: as the exercise's first scenario has it, else 3).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub nodes: Option<u8>,
    /// Whose node to run: the reference solution's or the attendee's exercise.
    #[arg(long = "impl", value_enum, default_value_t = Impl::Solution)]
    pub implementation: Impl,
    /// Write every action, as it happens, as a scenario file here (the page's Record button
    /// writes one too).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The starting rate, cart operations per second (the page changes it).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Open the page in a browser (`xdg-open` or `open`).
    #[arg(long)]
    pub open: bool,
    /// Where the run's report goes when it stops (default: target/lab-reports/dashboard-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The port to serve on (default: any free one). Always on 127.0.0.1.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A node binary by path instead of an exercise's (the lab's own tests run the harness's
    /// test-node this way); a recording names it as a harness binary by its file name.
    #[arg(long, hide = true)]
    pub node_bin: Option<PathBuf>,
}

/// Runs `cargo lab dashboard`.
pub fn run(args: DashboardArgs) -> ExitCode {
    match dashboard(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::refuse(&e),
    }
}

fn dashboard(args: DashboardArgs) -> Result<(), String> {
    if !(args.rate > 0.0 && args.rate <= 10_000.0) {
        return Err(format!("--rate {}: more than 0, at most 10000", args.rate));
    }
    let (bin, node, node_args, nodes) = match &args.node_bin {
        Some(bin) => {
            let name = bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or("--node-bin: the path of a node binary")?;
            (bin.clone(), NodeRef::Binary(name), Vec::new(), 3)
        }
        None => {
            let root = find_root()?;
            let (node, node_args, nodes) = which_node(&root, args.exercise.as_deref())?;
            let bin = build_node(&root, &node, args.implementation)?;
            (bin, node, node_args, nodes)
        }
    };
    let nodes = args.nodes.map_or(nodes, usize::from);
    let setup = Setup {
        node,
        node_args,
        seed: 1,
        rate: args.rate,
        record: args.record.clone(),
        implementation: args.implementation,
        presenter: false,
    };
    let how = How {
        out: args.out.clone(),
        port: args.port,
        open: args.open,
    };
    run_dashboard(&bin, nodes, setup, &how, |_| {})
}

/// Where and how a dashboard is served.
pub struct How {
    /// The report directory (default: target/lab-reports/dashboard-<time>).
    pub out: Option<PathBuf>,
    pub port: u16,
    /// Open a browser on the page.
    pub open: bool,
}

/// Starts `nodes` nodes of `bin`, serves the dashboard, calls `started` once it is up (a
/// demo starts its schedule there), and returns once it was stopped, its report written and
/// every node stopped.
pub fn run_dashboard(
    bin: &Path,
    nodes: usize,
    setup: Setup,
    how: &How,
    started: impl FnOnce(&Arc<Dashboard>),
) -> Result<(), String> {
    eprintln!("starting {nodes} node(s) of {} ...", bin.display());
    let cluster = Cluster::builder(bin)
        .nodes(nodes)
        .args(setup.node_args.iter().cloned())
        .seed(setup.seed)
        .start()
        .map_err(|e| format!("the cluster did not start: {e}"))?;
    let out = how.out.clone().unwrap_or_else(|| {
        let root = find_root().unwrap_or_else(|_| PathBuf::from("."));
        default_out(&root, "dashboard", setup.seed)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let dashboard = Arc::new(Dashboard::new(cluster, setup));
    let served = runtime.block_on(serve(dashboard.clone(), how.port))?;
    println!("dashboard: {}", served.url);
    println!(
        "  stop: Enter here or the page's Stop button (writes the report); Ctrl-C stops at once"
    );
    if how.open {
        open_browser(&served.url);
    }
    // Enter on the terminal stops, as the page's button does.
    let stopper = Arc::downgrade(&dashboard);
    std::thread::spawn(move || {
        let mut line = String::new();
        if std::io::stdin()
            .lock()
            .read_line(&mut line)
            .is_ok_and(|n| n > 0)
            && let Some(dashboard) = stopper.upgrade()
        {
            dashboard.stop();
        }
    });
    started(&dashboard);
    runtime.block_on(dashboard.stopped());
    let outcome = dashboard.finish(&out);
    runtime.block_on(served.shut_down());
    drop(runtime);
    // The last owner: the cluster's Drop stops every node. (A demo's schedule thread holds
    // only a weak reference.)
    drop(Arc::into_inner(dashboard));
    let written = outcome?;
    println!("{written}");
    Ok(())
}

/// The node to run, its flags and how many: the named exercise's, or the flagship demo's;
/// flags and count from the first declared scenario of that node (else none and 3).
fn which_node(
    root: &Path,
    exercise: Option<&str>,
) -> Result<(NodeRef, Vec<String>, usize), String> {
    let declared = declared(root)?;
    let node = match exercise {
        Some(arg) => {
            let catalog = Catalog::load(root)?;
            NodeRef::Exercise(catalog.find(arg)?.package().to_string())
        }
        None => declared
            .demos
            .iter()
            .find_map(|d| match d {
                DemoEntry::Scenario {
                    path,
                    flagship: true,
                } => Some(
                    Scenario::load(path)
                        .map(|s| s.cluster.node)
                        .map_err(|e| e.to_string()),
                ),
                DemoEntry::Code {
                    node,
                    flagship: true,
                    ..
                } => Some(Ok(NodeRef::Exercise(node.clone()))),
                _ => None,
            })
            .ok_or("no flagship demo is declared: name an exercise")??,
    };
    let first = declared
        .scenarios
        .iter()
        .filter_map(|p| Scenario::load(p).ok())
        .find(|s| s.cluster.node == node);
    Ok(match first {
        Some(s) => (node, s.cluster.args, s.cluster.nodes),
        None => (node, Vec::new(), 3),
    })
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(url).spawn() {
        eprintln!("lab: cannot open a browser ({opener}: {e}); open the address above");
    }
}
