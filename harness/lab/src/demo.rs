//! `cargo lab demo [NAME]`: the instructor's live demos.
//!
//! A demo is declared by the crate it belongs to, in `[package.metadata.lab] demos` (see
//! [`crate::scenario::declared`]); the lab knows none by name. Two kinds:
//! - a scenario with a story: its file has an `intro` (what is about to happen and why) and a
//!   `say` line on each fault. The demo prints the intro, starts a local cluster, drives the
//!   load, fires the faults with their narration, shows the live figures every second
//!   (throughput, errors, p99, each node's state), and ends with the checks and the report;
//! - a code demo, for stories a workload cannot see (exercise 02's detection times, read from
//!   each node's own view): the example named after its crate, run with the node binary the
//!   lab built.
//!
//! Either runs the reference solution's nodes or, with `--impl exercise`, the attendee's, and
//! says which. Either writes the same report directory and prints its path last. A demo never
//! waits for input, so it runs the same in CI. [`names`] lists them for `--list` and for the
//! slide checker.
//!
//! A scenario demo also runs on the containers of docker-compose.yml (`--target compose`, the
//! image's reference nodes): the same file, then each control as its container variant
//! `<control>-compose.toml` when there is one (a control may need a fault containers cannot
//! make), else as itself if containers can play it, else not at all, saying why.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use harness::scenario::{self, Live, NodeRef, Observer, RunOptions, Scenario};

use crate::catalog::find_root;
use crate::scenario::{
    Containers, DemoEntry, Impl, Target, build_node, declared, default_out, discover, file_stem,
};

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
    /// Presenter mode: play it in `cargo lab dashboard`'s page, the narration as captions.
    #[arg(long)]
    pub dashboard: bool,
    /// Where a scenario demo's nodes run: local processes behind the harness's proxies, or
    /// the containers of docker-compose.yml (build the image first: scripts/build-image.sh).
    #[arg(long, value_enum, default_value_t = Target::Local)]
    pub target: Target,
}

/// A demo, ready to list or run.
enum Demo {
    Scenario {
        scenario: Box<Scenario>,
        flagship: bool,
    },
    Code(DemoEntry),
}

impl Demo {
    fn name(&self) -> &str {
        match self {
            Demo::Scenario { scenario, .. } => &scenario.name,
            Demo::Code(DemoEntry::Code { name, .. }) => name,
            Demo::Code(DemoEntry::Scenario { .. }) => unreachable!("built as Demo::Scenario"),
        }
    }

    fn about(&self) -> &str {
        match self {
            Demo::Scenario { scenario, .. } => &scenario.description,
            Demo::Code(DemoEntry::Code { about, .. }) => about,
            Demo::Code(DemoEntry::Scenario { .. }) => unreachable!("built as Demo::Scenario"),
        }
    }

    fn flagship(&self) -> bool {
        match self {
            Demo::Scenario { flagship, .. } => *flagship,
            Demo::Code(DemoEntry::Code { flagship, .. }) => *flagship,
            Demo::Code(DemoEntry::Scenario { flagship, .. }) => *flagship,
        }
    }
}

pub fn run(args: DemoArgs) -> ExitCode {
    let root = match find_root() {
        Ok(root) => root,
        Err(e) => return fail(&e),
    };
    let demos = match demos(&root) {
        Ok(demos) => demos,
        Err(e) => return fail(&e),
    };
    if args.list {
        for demo in &demos {
            let star = if demo.flagship() { "*" } else { " " };
            println!("{star} {:<24} {}", demo.name(), demo.about());
        }
        println!("\n* the flagship: `cargo lab demo` runs it. Any other: cargo lab demo <name>");
        println!("  On your own code: cargo lab demo <name> --impl exercise");
        return ExitCode::SUCCESS;
    }
    let chosen = match &args.name {
        Some(name) => demos.iter().find(|d| d.name() == name),
        None => demos.iter().find(|d| d.flagship()),
    };
    let Some(demo) = chosen else {
        let names: Vec<&str> = demos.iter().map(Demo::name).collect();
        return fail(&format!(
            "no demo named {:?}; there are: {}",
            args.name.as_deref().unwrap_or("(the flagship)"),
            names.join(", ")
        ));
    };
    let on_containers = args.target == Target::Compose;
    match demo {
        _ if on_containers && args.dashboard => {
            fail("the dashboard drives local nodes: drop --dashboard or --target compose")
        }
        _ if on_containers && args.implementation == Impl::Exercise => fail(
            "on containers a demo runs the image's reference nodes: drop --impl exercise or --target compose",
        ),
        Demo::Scenario { scenario, .. } if on_containers => {
            play_on_containers(&root, scenario, &args)
        }
        Demo::Code(_) if on_containers => fail(
            "this demo is code of its own, on local nodes: only a scenario demo runs on containers",
        ),
        Demo::Scenario { scenario, .. } if args.dashboard => {
            crate::dashboard::present(&root, scenario, args.implementation, args.seed)
        }
        Demo::Code(_) if args.dashboard => {
            fail("this demo is code of its own: only a scenario demo plays on the dashboard")
        }
        Demo::Scenario { scenario, .. } => play(&root, scenario, &args),
        Demo::Code(entry) => run_code(&root, entry, &args),
    }
}

/// Every scenario's name, as `cargo lab scenario run <name>` takes it (demos or not).
pub fn scenario_names(root: &Path) -> Vec<String> {
    discover(root).iter().map(|path| file_stem(path)).collect()
}

/// Every demo's name, scenario files and code alike, in name order.
pub fn names(root: &Path) -> Vec<String> {
    demos(root)
        .unwrap_or_default()
        .iter()
        .map(|d| d.name().to_string())
        .collect()
}

fn fail(message: &str) -> ExitCode {
    crate::refuse(message)
}

/// The demos that run the nodes of exercise `package`: those an attendee can watch on their
/// own code with `--impl exercise`, in name order.
pub fn on_node(root: &Path, package: &str) -> Vec<String> {
    demos(root)
        .unwrap_or_default()
        .iter()
        .filter(|demo| match demo {
            Demo::Scenario { scenario, .. } => {
                scenario.cluster.node == NodeRef::Exercise(package.to_string())
            }
            Demo::Code(DemoEntry::Code { node, .. }) => node == package,
            Demo::Code(DemoEntry::Scenario { .. }) => false,
        })
        .map(|demo| demo.name().to_string())
        .collect()
}

/// Every declared demo, in name order. A scenario demo must load and have an intro; there
/// must be exactly one flagship.
fn demos(root: &Path) -> Result<Vec<Demo>, String> {
    let mut demos = Vec::new();
    for entry in declared(root)?.demos {
        match entry {
            DemoEntry::Scenario { path, flagship } => {
                let scenario = Scenario::load(&path).map_err(|e| e.to_string())?;
                if scenario.intro.trim().is_empty() {
                    return Err(format!(
                        "{} is declared a demo but has no intro to narrate",
                        path.display()
                    ));
                }
                demos.push(Demo::Scenario {
                    scenario: Box::new(scenario),
                    flagship,
                });
            }
            code => demos.push(Demo::Code(code)),
        }
    }
    demos.sort_by(|a, b| a.name().cmp(b.name()));
    let flagships = demos.iter().filter(|d| d.flagship()).count();
    if flagships != 1 {
        return Err(format!(
            "the crates declare {flagships} flagship demos; `cargo lab demo` needs exactly one \
             (flagship = true in [package.metadata.lab] demos)"
        ));
    }
    Ok(demos)
}

/// Whose code runs, for the narration.
fn whose(implementation: Impl) -> &'static str {
    match implementation {
        Impl::Solution => "the reference solution",
        Impl::Exercise => "your exercise",
    }
}

/// Runs a code demo: builds the node (solution or exercise), then the demo's example of the
/// same side with that binary, a seed and the report directory.
fn run_code(root: &Path, entry: &DemoEntry, args: &DemoArgs) -> ExitCode {
    let DemoEntry::Code {
        name,
        package,
        node,
        ..
    } = entry
    else {
        return fail("not a code demo");
    };
    let node_ref = NodeRef::Exercise(node.clone());
    let bin = match build_node(root, &node_ref, args.implementation) {
        Ok(bin) => bin,
        Err(e) => return fail(&e),
    };
    // The example is built from the same side as the node (the generator copies it into the
    // exercise crate), so both agree on the node's wire types.
    let host = match args.implementation {
        Impl::Solution => package.clone(),
        Impl::Exercise => node.clone(),
    };
    let seed = args.seed.unwrap_or_else(|| {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now()) % 10_000
    });
    let out = default_out(root, name, seed);
    eprintln!("building the {name} demo (the example of {host}) ...");
    let status = crate::runner::cargo(root)
        .args([
            "run",
            "--quiet",
            "--package",
            &host,
            "--example",
            &host,
            "--",
        ])
        .arg("--node")
        .arg(&bin)
        .arg("--out")
        .arg(&out)
        .args([
            "--seed",
            &seed.to_string(),
            "--whose",
            whose(args.implementation),
        ])
        .status();
    // The demo prints its own table and report path, last.
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(2)).unwrap_or(2)),
        Err(e) => fail(&format!("cannot run cargo: {e}")),
    }
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
        "starting {} node(s) of {} ({}), then {} s of cart traffic at {}/s (seed {seed})\n",
        demo.cluster.nodes,
        whose(args.implementation),
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
    let passed = match scenario::run(demo, &options) {
        Ok(outcome) => {
            // The report's path comes last: it is what the audience opens next.
            println!("  -- replay it: cargo lab demo {} --seed {seed}", demo.name);
            println!("\n{}", outcome.table);
            outcome.passed
        }
        Err(e) => return fail(&format!("the demo broke: {e}")),
    };
    let mut controls_did = true;
    for path in &demo.controls {
        match control(root, path, &options, seed, args.implementation) {
            Ok(did) => controls_did &= did,
            Err(e) => return fail(&e),
        }
    }
    if passed && controls_did {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs a negative control right after its demo, narrated: the same story without the idea.
/// True when it lost what it gives up (a check of it failed, on purpose).
fn control(
    root: &Path,
    path: &Path,
    demo: &RunOptions,
    seed: u64,
    implementation: Impl,
) -> Result<bool, String> {
    let control = Scenario::load(path).map_err(|e| e.to_string())?;
    let Some(gives_up) = &control.control else {
        return Err(format!(
            "{} is listed in controls but has no `control = \"what it gives up\"`",
            path.display()
        ));
    };
    println!("\n== the control: {} ({gives_up}) ==\n", control.name);
    for line in control.intro.trim().lines() {
        println!("  {}", line.trim());
    }
    println!();
    let bin = build_node(root, &control.cluster.node, implementation)?;
    let options = RunOptions {
        bin,
        out: default_out(root, &control.name, seed),
        ..demo.clone()
    };
    let outcome = scenario::run(&control, &options)
        .map_err(|e| format!("the control {} broke: {e}", control.name))?;
    println!(
        "  -- replay it: cargo lab scenario run {} --seed {seed}",
        control.name
    );
    println!("\n{}", outcome.table);
    if !outcome.passed {
        println!(
            "  the control lost nothing with seed {seed}: this run cannot show what {} prevents",
            demo_name(path)
        );
    }
    Ok(outcome.passed)
}

/// A scenario demo on the containers of docker-compose.yml, narrated like [`play`], then its
/// controls, each as its container variant when it has one (see the module comment).
fn play_on_containers(root: &Path, demo: &Scenario, args: &DemoArgs) -> ExitCode {
    println!("== demo: {} (on containers) ==\n", demo.name);
    for line in demo.intro.trim().lines() {
        println!("  {}", line.trim());
    }
    println!();
    let seed = args.seed.unwrap_or(demo.seed);
    println!(
        "{} containers of the reference solution (the image's), then {} s of cart traffic at \
         {}/s (seed {seed})",
        demo.cluster.nodes,
        demo.duration.as_secs_f64(),
        demo.workload.rate,
    );
    let run = |scenario: &Scenario| Containers {
        seed,
        extra_args: Vec::new(),
        out: default_out(root, &scenario.name, seed),
        observer: Some(Arc::new(Narrator::default()) as Arc<dyn Observer>),
    };
    let passed = match run(demo).play(root, demo) {
        Ok(outcome) => {
            println!(
                "  -- replay it: cargo lab demo {} --target compose --seed {seed}",
                demo.name
            );
            println!("\n{}", outcome.table);
            crate::scenario::print_figures(&outcome);
            outcome.passed
        }
        Err(e) => return fail(&format!("the demo broke: {e}")),
    };
    let mut controls_did = true;
    for path in &demo.controls {
        let variant = container_variant(path);
        let control = match Scenario::load(variant.as_deref().unwrap_or(path)) {
            Ok(control) => control,
            Err(e) => return fail(&e.to_string()),
        };
        let Some(gives_up) = &control.control else {
            return fail(&format!(
                "{} is listed in controls but has no `control = \"what it gives up\"`",
                control.path.display()
            ));
        };
        let shown = control
            .path
            .strip_prefix(root)
            .unwrap_or(&control.path)
            .display()
            .to_string();
        if variant.is_none()
            && let Err(why) = Containers::refusal(root, &control, seed)
        {
            // Said plainly: the demo shows what containers can show, and no more.
            println!(
                "\n== the control {} ({gives_up}) runs on local processes only ==\n  {why}\n  \
                 run it there: cargo lab scenario run {} --seed {seed}",
                control.name,
                file_stem(path)
            );
            continue;
        }
        println!("\n== the control: {} ({gives_up}) ==\n", control.name);
        for line in control.intro.trim().lines() {
            println!("  {}", line.trim());
        }
        println!();
        let outcome = match run(&control).play(root, &control) {
            Ok(outcome) => outcome,
            Err(e) => return fail(&format!("the control {} broke: {e}", control.name)),
        };
        println!("  -- replay it: cargo lab scenario run {shown} --target compose --seed {seed}");
        println!("\n{}", outcome.table);
        if !outcome.passed {
            println!(
                "  the control lost nothing with seed {seed}: this run cannot show what {} prevents",
                demo.name
            );
        }
        controls_did &= outcome.passed;
    }
    if passed && controls_did {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A control's container variant: `<control>-compose.toml` beside it, if that file exists.
fn container_variant(control: &Path) -> Option<std::path::PathBuf> {
    let variant = control.with_file_name(format!("{}-compose.toml", file_stem(control)));
    variant.is_file().then_some(variant)
}

/// The file name a control is known by.
fn demo_name(path: &Path) -> String {
    file_stem(path)
}

/// Prints one line a second, and the narration as the faults fire.
#[derive(Default)]
struct Narrator {
    header_printed: std::sync::atomic::AtomicBool,
}

impl Observer for Narrator {
    fn second(&self, live: &Live) {
        if !self
            .header_printed
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            let nodes: String = live
                .nodes
                .iter()
                .map(|(id, _)| format!("{id:<8}"))
                .collect();
            println!(
                "  {:>5}  {:>6}  {:>6}  {:>9}  {nodes}",
                "t", "ok/s", "err/s", "p99"
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exercise_knows_the_demos_that_run_its_nodes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert_eq!(on_node(&root, "failure-detection"), ["detection"]);
        assert_eq!(on_node(&root, "consistent-hashing"), ["owner-lost"]);
        assert!(on_node(&root, "no-such-exercise").is_empty());
    }

    #[test]
    fn on_containers_the_failover_demo_runs_a_control_docker_can_make() {
        // The local control delays links, which containers cannot do; without its container
        // variant the compose demo would show the real run and no control at all.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let failover = Scenario::load(
            &root.join("solutions/3-availability/08-primary-backup/scenarios/failover.toml"),
        )
        .expect("failover.toml loads");
        assert!(!failover.controls.is_empty(), "failover lists its control");
        assert_eq!(Containers::refusal(&root, &failover, 42), Ok(()));
        for path in &failover.controls {
            let local = Scenario::load(path).expect("the control loads");
            let why = Containers::refusal(&root, &local, 42).expect_err("latency is local only");
            assert!(why.contains("latency"), "{why}");
            let variant = container_variant(path).expect("a -compose.toml variant beside it");
            let variant = Scenario::load(&variant).expect("the variant loads");
            assert_eq!(Containers::refusal(&root, &variant, 42), Ok(()));
            // The same idea given up, on the same node with the same flags.
            assert_eq!(variant.control, local.control);
            assert_eq!(variant.cluster.node, local.cluster.node);
            assert_eq!(variant.cluster.args, local.cluster.args);
        }
    }
}
