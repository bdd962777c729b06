//! `cargo lab generate` and `cargo lab verify` on copies of the fixture: a pair in sync passes,
//! and the two ways an exercise goes wrong unnoticed are caught, each as one line that names
//! the exercise and the rule.

mod common;

use common::{EXERCISE, Fixture, SOLUTION};

#[test]
fn a_pair_in_sync_verifies() {
    let fixture = Fixture::copy("in-sync");
    let run = fixture.lab(&["verify"]);
    assert_eq!(run.code, Some(0), "verify fails on the untouched fixture");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("✓ 01 greeting: in sync"))
    );
    // The skeleton's failing tests ran, but no test runner summary escaped into the output.
    assert!(!run.stdout.contains("test result:") && !run.stderr.contains("test result:"));
}

#[test]
fn an_exercise_out_of_sync_with_its_solution_is_caught() {
    let fixture = Fixture::copy("out-of-sync");
    fixture.edit(&format!("{EXERCISE}/src/lib.rs"), |s| {
        s + "\n// edited by hand\n"
    });
    let run = fixture.lab(&["verify"]);
    assert_eq!(run.code, Some(1));
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("in sync:"))
        .expect("an in-sync violation");
    assert!(line.starts_with("✗ 01 greeting: in sync:"), "{line}");
    assert!(
        line.contains("src/lib.rs differs") && line.contains("cargo lab generate 1"),
        "{line}"
    );

    // Generation is the fix.
    assert_eq!(fixture.lab(&["generate"]).code, Some(0));
    assert_eq!(fixture.lab(&["verify"]).code, Some(0));
}

#[test]
fn a_test_that_passes_against_the_skeleton_is_caught() {
    let fixture = Fixture::copy("passes-on-skeleton");
    fixture.edit(&format!("{SOLUTION}/tests/greeting.rs"), |s| {
        s + "\n#[test]\nfn arithmetic_holds() {\n    assert_eq!(2 + 2, 4);\n}\n"
    });
    assert_eq!(fixture.lab(&["generate", "1"]).code, Some(0));
    let run = fixture.lab(&["verify"]);
    assert_eq!(run.code, Some(1));
    let broken: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(
        broken,
        vec![
            "✗ 01 greeting: skeleton fails: `arithmetic_holds` passes against the skeleton, so it tests nothing the attendee writes"
        ]
    );
}

#[test]
fn a_malformed_region_stops_generation_with_its_line() {
    let fixture = Fixture::copy("malformed");
    fixture.edit(&format!("{SOLUTION}/src/lib.rs"), |s| {
        s.replace("    // lab:end\n", "")
    });
    let run = fixture.lab(&["generate"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("src/lib.rs: line 5: this region has no // lab:end"),
        "{}",
        run.stderr
    );
    // Nothing was written over the committed exercise.
    assert!(
        fixture
            .read(&format!("{EXERCISE}/src/lib.rs"))
            .contains("todo!(")
    );
}

#[test]
fn generation_turns_a_multi_line_todo_into_a_sentence_and_a_comment_under_the_preamble() {
    let fixture = Fixture::copy("multi-line-todo");
    // From scratch: nothing of the committed exercise's source survives into the new one.
    std::fs::remove_file(fixture.path(&format!("{EXERCISE}/src/lib.rs"))).unwrap();
    assert_eq!(fixture.lab(&["generate"]).code, Some(0));
    assert_eq!(
        fixture.read(&format!("{EXERCISE}/src/lib.rs")),
        r#"//! Greets people: the exercise of the fixture that `lab`'s own tests generate and verify.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

/// The greeting for `name`.
pub fn greet(name: &str) -> String {
    // The name goes in as it is, between "Hello, " and "!".
    todo!("Return \"Hello, <name>!\" for the given name.")
}
"#
    );
    // The solution carries no preamble of its own. (That this skeleton builds without a
    // warning, the preamble keeping `name` quiet, is `a_pair_in_sync_verifies`.)
    assert!(
        !fixture
            .read(&format!("{SOLUTION}/src/lib.rs"))
            .contains("allow(")
    );
}

#[test]
fn a_todo_sentence_too_wide_for_one_line_stops_generation_with_its_line() {
    let fixture = Fixture::copy("wide-todo");
    fixture.edit(&format!("{SOLUTION}/src/lib.rs"), |s| {
        s.replace(
            "for the given name.",
            "for the given name, with a comma after Hello and an exclamation mark at the end.",
        )
    });
    let run = fixture.lab(&["generate"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(
            "src/lib.rs: line 5: the lab:todo sentence makes a 120-column line; keep it within 100"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn a_test_that_hangs_on_the_skeleton_is_caught_within_the_budget() {
    let fixture = Fixture::copy("hangs-on-skeleton");
    // On the skeleton, greet panics; this test then waits a minute, as a test that waits on a
    // timeout after a todo!() would.
    fixture.edit(&format!("{SOLUTION}/tests/greeting.rs"), |s| {
        s + "\n#[test]\nfn waits_after_a_todo() {\n    if std::panic::catch_unwind(|| greet(\"x\")).is_err() {\n        std::thread::sleep(std::time::Duration::from_secs(60));\n    }\n    assert_eq!(greet(\"Ada\"), \"Hello, Ada!\");\n}\n"
    });
    assert_eq!(fixture.lab(&["generate"]).code, Some(0));
    let started = std::time::Instant::now();
    let run = fixture.lab(&["verify", "--budget", "2"]);
    assert_eq!(run.code, Some(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(50),
        "verify waited for the hung test"
    );
    let broken: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0].starts_with(
            "✗ 01 greeting: skeleton fails: `waits_after_a_todo` did not fail within 2 s"
        ),
        "{}",
        broken[0]
    );
}

#[test]
fn hints_in_the_brief_instead_of_beside_it_are_caught() {
    let fixture = Fixture::copy("hints-in-brief");
    fixture.edit(&format!("{SOLUTION}/README.md"), |s| {
        s + "\n<details>\n<summary>Hint 3</summary>\n\nThe answer.\n\n</details>\n"
    });
    fixture.edit(&format!("{SOLUTION}/HINTS.md"), |s| {
        s.split("## Hint 2").next().unwrap_or_default().to_string()
    });
    assert_eq!(fixture.lab(&["generate", "1"]).code, Some(0));
    let run = fixture.lab(&["verify"]);
    assert_eq!(run.code, Some(1));
    let broken: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(
        broken
            .iter()
            .any(|l| l.contains("brief: 1 hint(s); write 2-3 in HINTS.md")),
        "{broken:?}"
    );
    assert!(
        broken
            .iter()
            .any(|l| l.contains("README.md holds <details> blocks: hints go in HINTS.md")),
        "{broken:?}"
    );
    // The generator never copies the hints into the exercise.
    assert!(!fixture.path(&format!("{EXERCISE}/HINTS.md")).exists());
}

#[test]
fn verify_tested_counts_the_solutions_tests_instead_of_running_them_again() {
    // A solution test that fails: the gate's own `cargo test` would have stopped on it, so
    // `--tested` (run by the gate right after that `cargo test`) only counts it; a plain
    // verify, which vouches for nothing, runs it and fails.
    let fixture = Fixture::copy("tested");
    fixture.edit(&format!("{SOLUTION}/tests/greeting.rs"), |s| {
        s + "\n#[test]\nfn greets_loudly() {\n    assert_eq!(greet(\"Ada\"), \"HELLO, ADA!\");\n}\n"
    });
    assert_eq!(fixture.lab(&["generate", "1"]).code, Some(0));

    let listed = fixture.lab(&["verify", "--tested"]);
    assert_eq!(listed.code, Some(0), "{}", listed.stdout);
    assert!(
        listed
            .stdout
            .contains("solution has 3 tests (passed in this run's cargo test)"),
        "{}",
        listed.stdout
    );

    let ran = fixture.lab(&["verify"]);
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("✗ 01 greeting: solution:") && l.contains("greets_loudly")),
        "{}",
        ran.stdout
    );
}
