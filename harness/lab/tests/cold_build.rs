//! The first `cargo lab` on a fresh clone builds the lab command before anything else: every
//! crate in its tree is paid for in the attendee's first minutes. Three that once cost about
//! a third of that build are kept out, and this says so when one comes back.

use std::process::Command;

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

#[test]
fn the_lab_commands_tree_holds_one_syn_and_none_of_the_crates_kept_out() {
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
    let tree = String::from_utf8_lossy(&out.stdout);
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
