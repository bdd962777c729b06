//! `cargo lab scenario run NAME --repeat N`: a line per run, a summary of every check's passes
//! and figures and of the write unavailability after each kill, and a non-zero exit naming
//! every seed that failed. On a quick scenario: one test node, two seconds, one kill.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A two-second scenario of the harness's test node, killed at 1 s and restarted at 1.4 s;
/// its availability check holds every second to `min`.
fn scenario(name: &str, min: f64) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("repeat");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
name = "{name}"
description = "a test node killed for 400 ms"
duration = "2s"
recover = "300ms"
seed = 5
[cluster]
binary = "test-node"
nodes = 1
[workload]
rate = 40
carts = 4
read_share = 0.0
timeout = "500ms"
[[faults]]
at = "1s"
fault = "kill"
target = "n1"
[[faults]]
at = "1400ms"
fault = "restart"
target = "n1"
[[checks]]
check = "no-lost-acks"
[[checks]]
check = "availability"
min = {min}
window = "1s"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn repeat(file: &Path, n: &str) -> Run {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "repeat-out-{}",
        file.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["scenario", "run"])
        .arg(file)
        .args(["--repeat", n, "--out"])
        .arg(&out)
        .env(
            "LAB_ROOT",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        )
        .output()
        .expect("the lab binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn every_run_gets_a_line_and_the_summary_counts_passes_and_spreads_the_figures() {
    let run = repeat(&scenario("repeat-passing", 0.0), "2");
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(0), "every run passes: {all}");
    for line in ["run   1/2  seed 5 ", "run   2/2  seed 6 "] {
        assert!(run.stdout.contains(line), "{line:?} in: {all}");
    }
    assert!(
        run.stdout.contains(
            "summary of repeat-passing: 2 runs, 2 passed, 0 failed, 0 inconclusive, 0 broke"
        ),
        "{all}"
    );
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("a summary row for {name}: {all}"))
            .to_string()
    };
    let lost = row("no lost acknowledged adds");
    assert!(lost.contains("2/2") && lost.contains("0 adds"), "{lost}");
    assert!(row("availability per 1 s").contains("2/2"), "{all}");
    // Killed at 1 s, back at 1.4 s: no add is acknowledged in between.
    let gap = row("writes unavailable after kill n1");
    let figures: Vec<f64> = gap
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        figures.len() == 3 && figures.iter().all(|ms| (300.0..1000.0).contains(ms)),
        "min, median and max of the window, each about 400 ms: {gap}"
    );
    assert!(!run.stdout.contains("FAILED with seed"), "{all}");
}

#[test]
fn a_failed_run_is_named_by_its_seed_and_the_exit_is_not_zero() {
    // No second can be fully available when the only node is dead for 400 ms of it.
    let run = repeat(&scenario("repeat-failing", 1.0), "2");
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(1), "{all}");
    assert!(
        run.stdout.contains(
            "summary of repeat-failing: 2 runs, 0 passed, 2 failed, 0 inconclusive, 0 broke"
        ),
        "{all}"
    );
    for seed in [5, 6] {
        assert!(
            run.stdout.contains(&format!(
                "FAILED with seed {seed}; replay: cargo lab scenario run"
            )),
            "seed {seed}: {all}"
        );
    }
    let availability = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("availability per 1 s") && l.contains("/2"))
        .unwrap_or_else(|| panic!("a summary row for availability: {all}"));
    assert!(availability.contains("0/2"), "{availability}");
    assert!(
        run.stdout.contains("availability per 1 s") && run.stdout.contains(" FAIL"),
        "each run's line marks the failed check: {all}"
    );
}
