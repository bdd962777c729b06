//! `[slo]` thresholds in scenario files: a bad one is refused with its line and what is
//! accepted; a run that breaks one fails, with the threshold's own line in the verdict.

use std::path::Path;

use harness::scenario::{RunOptions, Scenario, ScenarioError, run};

const TEST_NODE: &str = env!("CARGO_BIN_EXE_test-node");

const HEAD: &str = r#"name = "t"
duration = "2s"
[cluster]
binary = "test-node"
nodes = 1
[workload]
get = "/health"
rate = 50
timeout = "500ms"
"#;

fn invalid(text: &str) -> (usize, String) {
    match Scenario::parse(Path::new("bad.toml"), text) {
        Err(ScenarioError::Invalid { line, reason, .. }) => (line, reason),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn thresholds_are_read_and_bad_ones_are_refused_by_line() {
    let good = Scenario::parse(
        Path::new("good.toml"),
        &format!(
            "{HEAD}[slo]\ncapacity = 40\nthresholds = [\"p99 < 250ms\", \"goodput > 0.95 capacity\"]\n"
        ),
    )
    .expect("a valid [slo]");
    assert_eq!(good.slo.capacity, Some(40.0));
    let names: Vec<String> = good.slo.thresholds.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["p99 < 250ms", "goodput > 0.95 capacity"]);
    let none = Scenario::parse(Path::new("none.toml"), HEAD).expect("no [slo] is fine");
    assert!(none.slo.is_empty());

    let (line, reason) = invalid(&format!(
        "{HEAD}[slo]\nthresholds = [\n  \"p99 < 1s\",\n  \"p99 < 250\",\n]\n"
    ));
    assert_eq!(line, 13, "{reason}");
    assert!(
        reason.starts_with("[slo] thresholds: threshold \"p99 < 250\"")
            && reason.contains("add a unit"),
        "{reason}"
    );
    let (line, reason) = invalid(&format!(
        "{HEAD}[slo]\nthresholds = [\"goodput > 0.9 capacity\"]\n"
    ));
    assert_eq!(line, 11, "{reason}");
    assert!(
        reason.contains("add capacity = <per second> to [slo]"),
        "{reason}"
    );
    let (line, reason) = invalid(&format!("{HEAD}[slo]\ncapacity = -1.0\n"));
    assert_eq!(line, 11, "{reason}");
    assert!(
        reason.contains("[slo] capacity = -1: requests per second"),
        "{reason}"
    );
    let (_, reason) = invalid(&format!("{HEAD}[slo]\nthreshold = [\"p99 < 1s\"]\n"));
    assert!(
        reason.contains("threshold"),
        "unknown keys are named: {reason}"
    );
    let (_, reason) = invalid(&format!("{HEAD}[slo]\nthresholds = [\"speed > fast\"]\n"));
    assert!(
        reason.contains("unknown figure \"speed\"; use p50"),
        "{reason}"
    );
}

#[test]
fn a_run_that_breaks_a_threshold_fails_and_names_it() {
    // The only node is killed at 1 s and never comes back during the load: about half of
    // the requests fail, so availability cannot reach 99%; the latency bound is wide, so it
    // holds on any machine (a request to a dead node fails at once).
    let text = format!(
        "{HEAD}[[faults]]\nat = \"1s\"\nfault = \"kill\"\ntarget = \"n1\"\n\
         [slo]\nthresholds = [\"availability > 99%\", \"p99 < 10s\"]\n"
    );
    let scenario = Scenario::parse(Path::new("slo.toml"), &text).expect("valid");
    let out = std::env::temp_dir().join(format!("lab-slo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = RunOptions {
        bin: TEST_NODE.into(),
        seed: None,
        out: out.clone(),
        extra_args: Vec::new(),
        observer: None,
    };
    let outcome = run(&scenario, &options).unwrap_or_else(|e| panic!("the run broke: {e}"));
    println!("{}", outcome.table);
    assert!(!outcome.passed, "a broken threshold fails the run");
    assert_eq!(outcome.inconclusive, None, "the kill touched the load");
    let find = |name: &str| {
        outcome
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name:?} in {:?}", outcome.checks))
    };
    let broken = find("threshold availability > 99%");
    assert!(!broken.passed);
    assert!(
        broken.detail.starts_with("availability was ")
            && broken.detail.ends_with("sent), the threshold is > 99%"),
        "{}",
        broken.detail
    );
    assert!(
        broken.figure < 90.0,
        "half the load went to a dead node: {broken:?}"
    );
    assert!(find("threshold p99 < 10s").passed);
    assert!(
        outcome.table.contains("FAIL  threshold availability > 99%"),
        "the terminal's table shows it like any check"
    );
    let verdict = std::fs::read_to_string(out.join("verdict.json")).expect("a verdict file");
    assert!(verdict.contains("threshold availability > 99%"));
    let _ = std::fs::remove_dir_all(&out);
}
