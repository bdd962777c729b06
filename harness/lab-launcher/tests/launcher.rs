//! The launcher in a sandbox: a copy of it beside a stand-in `lab` script, and a stand-in
//! cargo (the `CARGO` variable) that plays a fresh build, an up-to-date one or a broken one.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// Held while a test writes an executable and while one starts a process. A file being
/// written stays open in any child another test thread forks meanwhile, until that child
/// execs, and starting the file then fails "Text file busy" (seen beside a CPU hog, where
/// that window is long).
static EXECUTABLES: Mutex<()> = Mutex::new(());

/// A directory with the launcher, a `lab` that echoes its arguments and exits 7, and a
/// `cargo` that prints `cargo_says` on stderr and exits `cargo_exits`.
fn sandbox(name: &str, cargo_says: &str, cargo_exits: i32) -> PathBuf {
    let _writing = EXECUTABLES.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("lab-launcher-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_lab-launcher"), dir.join("lab-launcher")).unwrap();
    script(&dir.join("lab"), "echo \"lab ran with: $*\"\nexit 7\n");
    let says: String = cargo_says
        .lines()
        .map(|l| format!("echo '{l}' >&2\n"))
        .collect();
    script(&dir.join("cargo"), &format!("{says}exit {cargo_exits}\n"));
    dir
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn launch(dir: &Path, args: &[&str]) -> Output {
    let child = {
        let _starting = EXECUTABLES.lock().unwrap_or_else(|e| e.into_inner());
        Command::new(dir.join("lab-launcher"))
            .args(args)
            .env("CARGO", dir.join("cargo"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_up_to_date_build_is_silent_and_the_lab_gets_the_arguments_and_owns_the_exit_code() {
    let dir = sandbox("fresh", "    Finished `dev` profile target(s) in 0.12s", 0);
    let out = launch(&dir, &["check", "3"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lab ran with: check 3\n"
    );
    assert_eq!(
        stderr(&out),
        "",
        "nothing to build, so nothing should be said"
    );
    assert_eq!(out.status.code(), Some(7), "the exit code is the lab's own");
}

#[test]
fn a_build_with_work_to_do_says_so_and_shows_cargos_progress() {
    let cargo = "    Updating crates.io index\n   Compiling tokio v1.54.0\n   Compiling lab v0.1.0\n    Finished `dev` profile";
    let dir = sandbox("building", cargo, 0);
    let out = launch(&dir, &["demo"]);
    let said = stderr(&out);
    assert!(
        said.starts_with("lab: building the lab command first"),
        "{said}"
    );
    for line in cargo.lines() {
        assert!(
            said.contains(line),
            "cargo's line {line:?} is not shown:\n{said}"
        );
    }
    assert_eq!(String::from_utf8_lossy(&out.stdout), "lab ran with: demo\n");
}

#[test]
fn a_failed_build_shows_all_cargo_said_and_does_not_start_a_stale_lab() {
    let dir = sandbox(
        "broken",
        "error: failed to parse manifest at `Cargo.toml`",
        101,
    );
    let out = launch(&dir, &[]);
    let said = stderr(&out);
    assert!(said.contains("failed to parse manifest"), "{said}");
    assert!(said.contains("building the lab command failed"), "{said}");
    assert_eq!(out.stdout, b"", "the old lab binary must not run");
    assert_eq!(out.status.code(), Some(2));
}
