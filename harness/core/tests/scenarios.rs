//! Scenarios as data: files are validated before anything starts, and the first real
//! scenario passes on a durable store and catches a store that acknowledges before writing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::scenario::{RunOptions, RunOutcome, Scenario, ScenarioError, run};

const TEST_NODE: &str = env!("CARGO_BIN_EXE_test-node");

fn kill_restart() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kill-restart.toml");
    Scenario::load(&path).expect("the shipped scenario is valid")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lab-scenario-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn play(scenario: &Scenario, name: &str, extra: &[&str]) -> RunOutcome {
    let options = RunOptions {
        bin: TEST_NODE.into(),
        seed: None,
        out: out_dir(name),
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        observer: None,
    };
    run(scenario, &options).unwrap_or_else(|e| panic!("the run broke: {e}"))
}

fn figure(outcome: &RunOutcome, check: &str) -> f64 {
    outcome
        .checks
        .iter()
        .find(|c| c.name.contains(check))
        .unwrap_or_else(|| panic!("no {check} check in {:?}", outcome.checks))
        .figure
}

#[test]
fn a_durable_store_loses_no_acknowledged_write_and_the_report_shows_the_kills() {
    let scenario = kill_restart();
    let outcome = play(&scenario, "durable", &[]);
    // The promise under test. Availability and latency are reported, not asserted here: they
    // measure the machine as much as the store, and this one may be a loaded 2-core laptop.
    for check in ["lost", "duplicates"] {
        let result = outcome
            .checks
            .iter()
            .find(|c| c.name.contains(check))
            .unwrap();
        assert!(result.passed, "seed {}:\n{}", outcome.seed, outcome.table);
    }
    println!("{}", outcome.table);
    assert!(
        outcome.load.ok > 300,
        "the load really ran: {:?}",
        outcome.load
    );
    assert_eq!(figure(&outcome, "lost"), 0.0);

    // The report directory and the faults exactly where the schedule put them.
    for file in ["verdict.json", "history.jsonl", "report.html", "n1.log"] {
        assert!(
            outcome.dir.join(file).is_file(),
            "{file} missing in {}",
            outcome.dir.display()
        );
    }
    let kills: Vec<_> = outcome
        .faults
        .iter()
        .filter(|f| f.label == "kill n1")
        .collect();
    assert_eq!(kills.len(), 2, "two kill intervals: {:?}", outcome.faults);
    for (kill, (from, to)) in kills.iter().zip([(2.5, 3.5), (5.5, 6.5)]) {
        let (start, end) = (kill.start.as_secs_f64(), kill.end.as_secs_f64());
        assert!(
            (from..from + 0.3).contains(&start),
            "kill at {start}, scheduled {from}"
        );
        assert!(
            (to..to + 0.5).contains(&end),
            "restart at {end}, scheduled {to}"
        );
    }
    let html = std::fs::read_to_string(outcome.dir.join("report.html")).unwrap();
    assert!(
        html.contains("data-label=\"kill n1\""),
        "the page shades the kills"
    );
    let _ = std::fs::remove_dir_all(&outcome.dir);
}

#[test]
fn a_store_that_acknowledges_before_writing_fails_with_lost_writes() {
    let scenario = kill_restart();
    let outcome = play(&scenario, "ack-before-write", &["--ack-before-write"]);
    let lost = figure(&outcome, "lost");
    assert!(
        !outcome.passed && lost > 0.0,
        "acknowledged adds buffered in memory must be lost by a SIGKILL (seed {}):\n{}",
        outcome.seed,
        outcome.table
    );
    let _ = std::fs::remove_dir_all(&outcome.dir);
}

fn invalid(text: &str) -> (usize, String) {
    match Scenario::parse(Path::new("bad.toml"), text) {
        Err(ScenarioError::Invalid { line, reason, .. }) => (line, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

const HEAD: &str = r#"name = "t"
duration = "5s"
[cluster]
binary = "test-node"
nodes = 3
[workload]
rate = 10
"#;

#[test]
fn bad_scenarios_are_rejected_with_the_line_and_the_reason() {
    let (line, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"explode\"\ntarget = \"n1\"\n"
    ));
    assert_eq!(line, 10, "{reason}");
    assert!(
        reason.contains("unknown fault \"explode\"") && reason.contains("kill"),
        "{reason}"
    );

    let (line, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"n7\"\n"
    ));
    assert_eq!(line, 11, "{reason}");
    assert!(
        reason.contains("no node \"n7\"") && reason.contains("n1, n2, n3"),
        "{reason}"
    );

    let (line, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"9s\"\nfault = \"kill\"\ntarget = \"n1\"\n"
    ));
    assert_eq!(line, 9, "{reason}");
    assert!(reason.contains("past the end"), "{reason}");

    let (line, reason) = invalid(&format!(
        "{HEAD}[[checks]]\ncheck = \"availability\"\nmin = 1.5\n"
    ));
    assert_eq!(line, 10, "{reason}");
    assert!(reason.contains("between 0 and 1"), "{reason}");

    let (_, reason) = invalid(&format!(
        "{HEAD}[[checks]]\ncheck = \"latency\"\np = 99\nmax = \"fast\"\n"
    ));
    assert!(reason.contains("not a time"), "{reason}");

    let (line, reason) = invalid(&HEAD.replace("rate = 10", "rate = 0"));
    assert_eq!(line, 7, "{reason}");
    assert!(reason.contains("more than 0"), "{reason}");

    let (_, reason) = invalid(&format!("{HEAD}colour = \"red\"\n"));
    assert!(
        reason.contains("colour"),
        "unknown keys are named: {reason}"
    );
    let shipped = kill_restart();
    assert_eq!(shipped.faults.len(), 4);
    assert_eq!(shipped.duration, Duration::from_secs(8));
}
