//! Presenter mode: `cargo lab demo NAME --dashboard` plays a scenario demo on the dashboard.
//! The demo's intro is the first caption; each fault fires at its time through the same path
//! as a click (so it is recorded and shaded alike) and its `say` line becomes the caption, in
//! large type for a projector. When the schedule is over the cluster stays up for questions
//! ("what if we kill another?") until Stop.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Weak};
use std::time::Duration;

use harness::fault;
use harness::scenario::Scenario;

use super::{Dashboard, How, Setup, run_dashboard};
use crate::scenario::{Impl, build_node};

/// Plays `scenario` (a demo) on a dashboard.
pub fn present(
    root: &Path,
    scenario: &Scenario,
    implementation: Impl,
    seed: Option<u64>,
) -> ExitCode {
    let bin = match build_node(root, &scenario.cluster.node, implementation) {
        Ok(bin) => bin,
        Err(e) => return crate::refuse(&e),
    };
    let setup = Setup {
        node: scenario.cluster.node.clone(),
        node_args: scenario.cluster.args.clone(),
        seed: seed.unwrap_or(scenario.seed),
        rate: scenario.workload.rate,
        record: None,
        implementation,
        presenter: true,
    };
    let how = How {
        out: None,
        port: 0,
        open: false,
    };
    let schedule = scenario.clone();
    let played = run_dashboard(
        &bin,
        scenario.cluster.nodes,
        setup,
        &how,
        move |dashboard| {
            let dashboard = Arc::downgrade(dashboard);
            std::thread::spawn(move || play(&dashboard, &schedule));
        },
    );
    match played {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::refuse(&e),
    }
}

/// The schedule, on its own thread (a restart blocks until the node is ready).
fn play(dashboard: &Weak<Dashboard>, scenario: &Scenario) {
    let say = |text: &str| {
        if let Some(d) = dashboard.upgrade() {
            d.caption(text);
        }
        println!("  {text}");
    };
    say(scenario.intro.trim());
    for scheduled in &scenario.faults {
        if !wait_until(dashboard, scheduled.at) {
            return;
        }
        let Some(d) = dashboard.upgrade() else { return };
        let label = {
            let hit = scheduled
                .target
                .resolve(&scheduled.fault, &fault::Picks::draw(d.ids(), d.seed()));
            fault::label(&scheduled.fault, &hit)
        };
        let at = d.elapsed().as_secs_f64();
        match &scheduled.say {
            Some(line) => say(&format!("{at:.1} s · {label}: {line}")),
            None => say(&format!("{at:.1} s · {label}")),
        }
        if let Err(e) = d.apply_scheduled(&scheduled.fault, &scheduled.target) {
            println!("  {}", e.error);
        }
    }
    if wait_until(dashboard, scenario.duration) {
        say(
            "That was the demo. The cluster is still up and still under load: break it some \
             more, or press Stop for the report.",
        );
    }
}

/// Sleeps until `at` into the run; false if the dashboard stopped first.
fn wait_until(dashboard: &Weak<Dashboard>, at: Duration) -> bool {
    loop {
        let Some(d) = dashboard.upgrade() else {
            return false;
        };
        if d.is_stopping() {
            return false;
        }
        let left = at.saturating_sub(d.elapsed());
        drop(d);
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
