//! `cargo lab mutants` on a copy of the fixture whose tests are too weak: the mutant inside
//! the attendee's region that they accept is reported as a wrong answer (exit 1), and the one
//! in given code only as information. Without cargo-mutants installed, the gate says in one
//! line how to install it, and that is what this test checks instead.

#[allow(dead_code)]
mod common;

use common::{Fixture, SOLUTION};

#[test]
fn a_wrong_answer_in_a_region_fails_the_gate_and_given_code_is_information() {
    let fixture = Fixture::copy("mutants");
    // Given code the tests never call, and tests that only ask for a non-empty greeting.
    fixture.edit(&format!("{SOLUTION}/src/lib.rs"), |s| {
        s + "\n/// Given code: the exercise ships it.\npub fn shout(name: &str) -> String {\n    greet(name).to_uppercase()\n}\n"
    });
    fixture.edit(&format!("{SOLUTION}/tests/greeting.rs"), |s| {
        s.replace(
            "assert_eq!(greet(\"Ada\"), \"Hello, Ada!\");",
            "assert!(!greet(\"Ada\").is_empty());",
        )
        .replace(
            "assert_eq!(greet(\"Grace\"), \"Hello, Grace!\");",
            "assert!(!greet(\"Grace\").is_empty());",
        )
    });
    let installed = std::process::Command::new("cargo")
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    let run = fixture.lab(&["mutants", "1"]);
    if !installed {
        println!("cargo-mutants is not installed: checking the gate's refusal only");
        assert_eq!(run.code, Some(2));
        assert!(
            run.stderr
                .contains("`cargo install --locked cargo-mutants` installs it"),
            "{}",
            run.stderr
        );
        return;
    }
    assert_eq!(
        run.code,
        Some(1),
        "a wrong answer the tests accept fails the gate"
    );
    let wrong: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("a wrong answer the tests accept"))
        .collect();
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].contains("src/lib.rs:7:")
            && wrong[0].contains("replace greet -> String with \"xyzzy\".into()"),
        "the surviving region mutant, with its line and change: {}",
        wrong[0]
    );
    let summary = run
        .stdout
        .lines()
        .find(|l| l.starts_with("✗ 01 greeting: attendee regions:"))
        .expect("the exercise's summary line");
    assert!(
        summary.contains("attendee regions: 1/2 viable mutants caught")
            && summary.contains("given code: 0/"),
        "{summary}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("given code, not caught (information)") && l.contains("shout")),
        "the given-code survivor is listed as information"
    );
}
