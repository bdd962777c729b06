//! The first `cargo lab` on a fresh clone builds the lab command before anything else: every
//! crate in its tree is paid for in the attendee's first minutes. Three that once cost about
//! a third of that build are kept out, and this says so when one comes back.

use std::path::PathBuf;
use std::process::Command;

use lab::catalog::Catalog;

/// The workspace this test was built from.
fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace's `Cargo.toml`, parsed.
fn workspace_manifest() -> toml::Table {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
        .expect("the workspace's Cargo.toml");
    text.parse().expect("Cargo.toml is TOML")
}

/// Crates (by name prefix) the lab command's tree must not hold, with why and how they went.
const KEPT_OUT: &[(&str, &str)] = &[
    (
        "icu_",
        "ICU4X came with idna_adapter 1.2 (~50 s of a 2-core cold build); Cargo.lock holds \
         idna_adapter at 1.0.0: `cargo update -p idna_adapter --precise 1.0.0`",
    ),
    (
        "tracing-attributes",
        "#[instrument] brings a second syn (~37 s); keep tracing's default features off",
    ),
    (
        "regex-automata",
        "tracing-subscriber's env-filter brings a regex engine (~20 s); the kit's --log is read \
         as filter::Targets",
    ),
];

/// `cargo tree` of the lab command, one crate per line (`name vVERSION [(proc-macro)]`).
fn lab_tree() -> String {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "lab",
            "-e",
            "normal,build",
            "--locked",
            "--offline",
        ])
        .args(["--prefix", "none", "--no-dedupe"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_lab_commands_tree_holds_one_syn_and_none_of_the_crates_kept_out() {
    let tree = lab_tree();
    let mut crates: Vec<(&str, &str)> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect();
    crates.sort_unstable();
    crates.dedup();
    assert!(
        crates.iter().any(|(name, _)| *name == "harness"),
        "cargo tree's output does not look like the lab's tree:\n{tree}"
    );

    for (prefix, why) in KEPT_OUT {
        let found: Vec<_> = crates
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .collect();
        assert!(
            found.is_empty(),
            "the lab command's tree holds {found:?} again: {why}"
        );
    }
    let syns: Vec<_> = crates.iter().filter(|(name, _)| *name == "syn").collect();
    assert_eq!(
        syns.len(),
        1,
        "more than one syn in the lab command's tree: {syns:?}"
    );
}

/// What only runs while compiling gains nothing from optimisation but costs the most to
/// optimise: the workspace's `package."*"` opt-level outranks cargo's own build-override, so
/// each proc macro (and each parser under them) is set back to 0 by name in Cargo.toml.
const COMPILE_TIME_ONLY: &[&str] = &["syn", "proc-macro2", "quote"];

#[test]
fn every_proc_macro_in_the_lab_commands_tree_builds_unoptimised() {
    let tree = lab_tree();
    let mut compile_time: Vec<&str> = tree
        .lines()
        .filter(|line| line.contains("(proc-macro)"))
        .filter_map(|line| line.split_whitespace().next())
        .chain(COMPILE_TIME_ONLY.iter().copied())
        .collect();
    compile_time.sort_unstable();
    compile_time.dedup();
    assert!(
        compile_time.contains(&"serde_derive"),
        "cargo tree's output does not look like the lab's tree:\n{tree}"
    );

    let workspace = workspace_manifest();
    let level = |name: &str| {
        workspace
            .get("profile")
            .and_then(|p| p.get("dev"))
            .and_then(|d| d.get("package"))
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("opt-level"))
            .and_then(|l| l.as_integer())
    };
    assert_eq!(
        level("*"),
        Some(1),
        "the dependencies' opt-level changed: revisit this test"
    );
    let optimised: Vec<_> = compile_time
        .iter()
        .filter(|name| level(name) != Some(0))
        .collect();
    assert!(
        optimised.is_empty(),
        "{optimised:?} run only while compiling but build at the dependencies' opt-level 1 \
         (syn alone took 41 s of a cold build so, 12 s at 0): add to Cargo.toml, beside the \
         others, for each: [profile.dev.package.<name>] opt-level = 0"
    );
}

/// Incremental compilation is off for the workspace (its caches cost a fresh clone's build
/// about 50 s) and on for each exercise, the crates attendees edit and rebuild in a loop.
#[test]
fn incremental_compilation_is_on_for_every_exercise_and_off_for_the_rest() {
    let workspace = workspace_manifest();
    let dev = workspace
        .get("profile")
        .and_then(|p| p.get("dev"))
        .expect("Cargo.toml has [profile.dev]");
    assert_eq!(
        dev.get("incremental").and_then(|i| i.as_bool()),
        Some(false),
        "[profile.dev] no longer says incremental = false: a fresh clone's build pays for \
         incremental caches of every harness crate, solution and test binary again"
    );
    let incremental = |name: &str| {
        dev.get("package")
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("incremental"))
            .and_then(|i| i.as_bool())
    };

    let catalog = Catalog::load(&workspace_root()).expect("the lab's exercises");
    let exercises: Vec<&str> = catalog.exercises.iter().map(|e| e.package()).collect();
    assert!(
        exercises.len() >= 15,
        "the catalog holds only {exercises:?}: revisit this test"
    );
    let missing: Vec<_> = exercises
        .iter()
        .filter(|name| incremental(name) != Some(true))
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} build without incremental compilation, so an attendee's edit-and-test \
         loop takes about twice as long (2.0 s against 4.2 s for exactly-once): add to \
         Cargo.toml's [profile.dev.package], beside the others, for each: \
         <name> = {{ incremental = true }}"
    );
}
