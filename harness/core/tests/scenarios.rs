//! Scenarios as data: files are validated before anything starts, and the first real
//! scenario passes on a durable store and catches a store that acknowledges before writing.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::Cluster;
use harness::scenario::{RunOptions, RunOutcome, Scenario, ScenarioError, run, run_on};

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
    // About 600 of the 800 succeed on a quiet machine; beside seven builds (load average 24,
    // every fsync slow) 266 did. A hundred is a run that really ran, not a measurement.
    assert!(
        outcome.load.ok >= 100,
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
fn a_node_that_panics_stops_the_run_at_once_and_is_named_with_its_panic_line() {
    // The healthy path is the test above: the same scenario kills n1 twice (SIGKILL, as the
    // harness does) and plays to its end, since a node the harness killed is not a panic.
    let scenario = kill_restart();
    let cluster = Cluster::builder(TEST_NODE)
        .nodes(1)
        .seed(7)
        .start()
        .unwrap();
    let options = RunOptions {
        bin: TEST_NODE.into(),
        seed: None,
        out: out_dir("panicked"),
        extra_args: Vec::new(),
        observer: None,
    };
    // A second in, before the schedule's first kill at 2.5 s, n1 panics (the kit exits 101).
    let n1 = cluster.addr("n1");
    let crash = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        let _ = support::request(n1, "POST", "/crash", "");
        Instant::now()
    });
    let result = run_on(&cluster, &scenario, scenario.seed, &options);
    let returned = Instant::now();
    let crashed = crash.join().unwrap();
    let error = match result {
        Err(ScenarioError::Run(why)) => why,
        Err(other) => panic!("the run must stop for the crash, not: {other}"),
        Ok(outcome) => panic!(
            "the run played on against a dead node to its end:\n{}",
            outcome.table
        ),
    };
    assert!(
        error.contains("n1 panicked") && error.contains("crash requested by POST /crash"),
        "the error names the node and its panic line: {error}"
    );
    // Seven seconds of schedule and a second of recovery were left. The watch looks every
    // 20 ms; the rest is the load and the schedule winding down, slack for a starved machine.
    let after = returned.saturating_duration_since(crashed);
    assert!(
        after < Duration::from_secs(4),
        "the run stopped {after:?} after the crash; it should stop at once"
    );
    let _ = std::fs::remove_dir_all(&options.out);
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
    // The verdict explains itself: the lost adds by operation, cart and time, in the table
    // and in verdict.json, beside the node's log lines.
    let check = outcome
        .checks
        .iter()
        .find(|c| c.name.contains("lost"))
        .unwrap();
    assert!(
        !check.offenders.is_empty() && check.offenders.len() <= 5,
        "up to five lost adds are named: {check:#?}"
    );
    for offender in &check.offenders {
        assert!(offender.what.starts_with("add w"), "{offender:?}");
        assert!(
            offender.what.contains(" to c"),
            "names the cart: {offender:?}"
        );
        assert_eq!(offender.node, "n1");
        assert_eq!(offender.outcome, "ok", "an acknowledged add: {offender:?}");
        assert!(
            offender.invoked_s > 0.0 && offender.completed_s.is_some(),
            "{offender:?}"
        );
        assert!(
            outcome
                .table
                .contains(&format!("op {} {}", offender.op, offender.what)),
            "the terminal names it:\n{}",
            outcome.table
        );
    }
    assert!(
        check.offenders.iter().any(|o| !o.log.is_empty()),
        "the node's log lines around the lost adds are attached: {check:#?}"
    );
    let verdict = std::fs::read_to_string(outcome.dir.join("verdict.json")).unwrap();
    assert!(verdict.contains("\"offenders\""), "{verdict}");
    let _ = std::fs::remove_dir_all(&outcome.dir);
}

#[test]
fn a_fault_on_a_node_no_request_reaches_is_inconclusive_not_a_pass() {
    let text = r#"name = "idle-fault"
description = "n2 killed while every client talks to n1"
duration = "3s"
recover = "500ms"
[cluster]
binary = "test-node"
nodes = 2
[workload]
get = "/health"
rate = 50
timeout = "500ms"
nodes = ["n1"]
[[faults]]
at = "1s"
fault = "kill"
target = "n2"
[[faults]]
at = "2s"
fault = "restart"
target = "n2"
[[checks]]
check = "availability"
min = 0.9
"#;
    let scenario = Scenario::parse(Path::new("idle-fault.toml"), text).unwrap();
    let outcome = play(&scenario, "idle-fault", &[]);
    assert!(
        outcome.checks.iter().all(|c| c.passed),
        "n1 answered throughout:\n{}",
        outcome.table
    );
    let why = outcome.inconclusive.as_deref().unwrap_or_else(|| {
        panic!(
            "a fault that touched nothing proves nothing:\n{}",
            outcome.table
        )
    });
    assert!(
        why.contains("kill n2") && why.contains("nothing was sent to n2"),
        "{why}"
    );
    assert!(!outcome.passed, "inconclusive is not a pass");
    assert!(
        outcome.table.starts_with("INCONCLUSIVE"),
        "{}",
        outcome.table
    );
    let _ = std::fs::remove_dir_all(&outcome.dir);
}

#[test]
fn lost_replies_and_a_one_way_cut_lose_nothing_acknowledged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/lost-replies.toml");
    let scenario = Scenario::load(&path).expect("the shipped scenario is valid");
    let outcome = play(&scenario, "lost-replies", &[]);
    println!("{}", outcome.table);
    // The promise under test: lost replies and a one-way cut lose no acknowledged add and
    // double none. The scenario's availability check is reported, not asserted here: on a
    // loaded 2-core machine (seven builds beside it, every fsync slow) a window after the
    // faults cleared measured 0.42 while nothing was lost.
    for check in ["lost", "duplicates"] {
        let result = outcome
            .checks
            .iter()
            .find(|c| c.name.contains(check))
            .unwrap_or_else(|| panic!("no {check} check in {:?}", outcome.checks));
        assert!(result.passed, "seed {}:\n{}", outcome.seed, outcome.table);
    }
    assert!(
        outcome.inconclusive.is_none(),
        "both faults touched the run: {:?}",
        outcome.inconclusive
    );
    assert!(
        outcome.load.unknown > 0,
        "some replies were really lost (unknown outcomes): {:?}",
        outcome.load
    );
    let labels: Vec<&str> = outcome.faults.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(
        labels,
        ["drop_response 30% client->n1", "cut n1->n2"],
        "both faults, labelled as scheduled, ended by the clear"
    );
    for span in &outcome.faults {
        let end = span.end.as_secs_f64();
        assert!((5.0..5.5).contains(&end), "cleared at 5 s: {span:?}");
    }
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
    let (line, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"cut\"\nfrom = \"n1\"\nto = \"n9\"\n"
    ));
    assert_eq!(line, 12, "{reason}");
    assert!(reason.contains("no node \"n9\""), "{reason}");

    let (line, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"partition\"\ngroups = [[\"n1\"], [\"n2\"]]\n"
    ));
    assert_eq!(line, 11, "{reason}");
    assert!(reason.contains("n3 is in no group"), "{reason}");

    let (_, reason) = invalid(&format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"loss\"\ntarget = \"n1\"\np = 2.0\n"
    ));
    assert!(reason.contains("at most 1"), "{reason}");

    let (_, reason) = invalid(&HEAD.replace("binary = \"test-node\"", "binary = \"../../bin/sh\""));
    assert!(reason.contains("not a path"), "{reason}");

    let (_, reason) = invalid(&format!("{HEAD}timeout = \"0ms\"\n"));
    assert!(
        reason.contains("more than 0"),
        "a zero timeout is refused: {reason}"
    );

    let (_, reason) = invalid(&format!("{HEAD}nodes = [\"n4\"]\n"));
    assert!(reason.contains("no node \"n4\""), "{reason}");

    let shipped = kill_restart();
    assert_eq!(shipped.faults.len(), 4);
    assert_eq!(shipped.duration, Duration::from_secs(8));
}

#[test]
fn a_scenario_holds_back_the_node_it_joins_and_a_leave_lasts_until_it_joins_again() {
    let text = r#"name = "membership"
description = "n3 joins at 1 s, leaves at 2 s, joins again at 3 s"
duration = "4s"
recover = "500ms"
[cluster]
binary = "test-node"
nodes = 3
[workload]
get = "/health"
rate = 50
timeout = "500ms"
nodes = ["n1", "n3"]
[[faults]]
at = "1s"
fault = "join"
target = "n3"
[[faults]]
at = "2s"
fault = "leave"
target = "n3"
[[faults]]
at = "3s"
fault = "join"
target = "n3"
[[checks]]
check = "availability"
min = 0.2
"#;
    let scenario = Scenario::parse(Path::new("membership.toml"), text).unwrap();
    let outcome = play(&scenario, "membership", &[]);
    assert!(outcome.passed, "{}", outcome.table);
    // Half the requests go to n3: held back until 1 s, they fail, so the worst second is
    // about half available (it would be 1 if n3 had run from the start).
    let worst = figure(&outcome, "availability");
    assert!(
        (0.2..0.8).contains(&worst),
        "n3 serves nobody before its join: the worst second's availability is {worst}\n{}",
        outcome.table
    );
    let labels: Vec<&str> = outcome.faults.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(
        labels,
        ["leave n3"],
        "a join opens no span; a leave lasts until the join"
    );
    let leave = &outcome.faults[0];
    assert!(
        leave.start >= Duration::from_millis(1900) && leave.end >= Duration::from_millis(2900),
        "leave from 2 s to the join at 3 s: {leave:?}"
    );
    let _ = std::fs::remove_dir_all(&outcome.dir);
}
