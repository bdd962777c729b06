//! The attendee's commands on copies of the fixture: progress, check, hint, solve, reset,
//! diff, and the one line a bad argument gets.

mod common;

use common::{EXERCISE, Fixture, SOLUTION};

#[test]
fn an_attendee_goes_from_not_started_to_passing_and_back() {
    let fixture = Fixture::copy("journey");

    let status = fixture.lab(&[]);
    assert_eq!(status.code, Some(0));
    assert!(status.stdout.contains("★ 01 Greeting") && status.stdout.contains("· not started"));
    assert!(status.stdout.contains("Next: 01 Greeting"));
    assert!(
        status
            .stdout
            .contains("exercises/1-basics/01-greeting/README.md")
    );
    assert!(status.stdout.contains("cargo test -p greeting"));

    let check = fixture.lab(&["check"]);
    assert_eq!(check.code, Some(1), "check passes on the skeleton");
    assert!(check.stdout.contains("0 of 2 tests pass"));
    assert!(
        check
            .stdout
            .contains("not yet implemented: Return \"Hello, <name>!\" for the given name.")
    );
    // Untouched files are "not started", checked or not; once edited, the tests tell.
    assert!(fixture.lab(&[]).stdout.contains("· not started"));
    fixture.edit(&format!("{EXERCISE}/src/lib.rs"), |s| {
        s.replace("todo!(", "todo!(\"{}\", ")
    });
    let status = fixture.lab(&[]);
    assert!(status.stdout.contains("✗ failing (0 of 2 tests pass)"));
    assert!(status.stderr.contains("running the tests of 01 greeting"));

    let solve = fixture.lab(&["solve", "1"]);
    assert_eq!(solve.code, Some(0));
    let backup = solve
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Your files are saved in "))
        .expect("a backup");
    let backed_up = fixture
        .path(backup.trim_end_matches('.'))
        .join("src/lib.rs");
    assert!(
        std::fs::read_to_string(backed_up)
            .expect("backup has lib.rs")
            .contains("todo!(\"{}\", ")
    );
    assert!(
        fixture
            .read(&format!("{EXERCISE}/src/lib.rs"))
            .contains("format!(\"Hello, {name}!\")")
    );

    let status = fixture.lab(&[]);
    assert!(
        status.stdout.contains("✓ passing (2 tests)"),
        "solve did not make it pass"
    );
    assert!(status.stdout.contains("Every exercise passes"));
    assert_eq!(fixture.lab(&["check", "1"]).code, Some(0));

    let diff = fixture.lab(&["diff", "greeting"]);
    assert_eq!(diff.code, Some(0));
    assert!(diff.stdout.contains("No difference"));

    let reset = fixture.lab(&["reset", "01-greeting"]);
    assert_eq!(reset.code, Some(0));
    assert!(
        reset
            .stdout
            .contains("Your files are saved in .lab/backups/greeting/")
    );
    assert!(fixture.lab(&[]).stdout.contains("· not started"));
}

#[test]
fn progress_survives_renumbering_without_rerunning_tests() {
    let fixture = Fixture::copy("renumber");
    assert_eq!(fixture.lab(&["solve", "1"]).code, Some(0));
    assert!(fixture.lab(&[]).stdout.contains("✓ passing"));

    for tree in ["solutions", "exercises"] {
        std::fs::rename(
            fixture.path(&format!("{tree}/1-basics/01-greeting")),
            fixture.path(&format!("{tree}/1-basics/03-greeting")),
        )
        .expect("rename");
    }
    fixture.edit("Cargo.toml", |s| s.replace("01-greeting", "03-greeting"));
    let status = fixture.lab(&[]);
    assert!(status.stdout.contains("★ 03 Greeting") && status.stdout.contains("✓ passing"));
    assert!(
        !status.stderr.contains("running the tests"),
        "the cached result was not used"
    );
}

#[test]
fn hints_come_one_at_a_time_and_never_from_the_brief() {
    let fixture = Fixture::copy("hints");
    let first = fixture.lab(&["hint", "1"]);
    assert!(first.stdout.contains("hint 1 of 2: Hint 1: a nudge"));
    assert!(
        first.stdout.contains("`format!` builds a `String`.")
            && !first.stdout.contains("Hello, {name}")
    );
    let second = fixture.lab(&["hint"]);
    assert!(
        second.stdout.contains("hint 2 of 2") && second.stdout.contains("That was the last hint")
    );
    let all = fixture.lab(&["hint", "1"]);
    assert!(all.stdout.contains("All 2 hints"));
    // They live beside the solution; the brief the attendee reads does not give them away.
    assert!(
        fixture
            .read(&format!("{SOLUTION}/HINTS.md"))
            .contains("`format!` builds a `String`.")
    );
    for brief in [
        format!("{SOLUTION}/README.md"),
        format!("{EXERCISE}/README.md"),
    ] {
        let text = fixture.read(&brief);
        assert!(
            !text.contains("`format!` builds a `String`.") && text.contains("cargo lab hint 1"),
            "{brief} points at `cargo lab hint`, and holds no hint: {text}"
        );
    }
}

#[test]
fn a_bad_argument_gets_one_line_that_says_what_exists() {
    let fixture = Fixture::copy("bad-args");
    for args in [
        &["check", "7"][..],
        &["hint", "adder"],
        &["reset", "0"],
        &["diff", "x"],
        &["solve", "99"],
    ] {
        let run = fixture.lab(args);
        assert_eq!(run.code, Some(2), "lab {args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "lab {args:?}");
        assert!(
            run.stderr.contains("the only one is 1 (greeting)"),
            "lab {args:?}"
        );
    }
}
