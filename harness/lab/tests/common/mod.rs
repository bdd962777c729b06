//! A throwaway copy of the fixture workspace (`tests/fixture`) and the `lab` binary run on it.
//!
//! The fixture is one tiny exercise pair with no dependencies. Each test gets its own copy, so
//! tests can break it freely and run in parallel. Each copy builds into a target directory of
//! its own under cargo's per-package temporary directory, kept between runs so builds stay
//! warm. (Not one shared target: cargo names a workspace member's artifacts by its path
//! relative to the workspace root, which is the same in every copy, so copies would race.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Fixture {
    pub root: PathBuf,
    target: PathBuf,
}

impl Fixture {
    /// A fresh copy of the fixture, named after the test.
    pub fn copy(test: &str) -> Fixture {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let root = tmp.join(format!("lab-fixture-{test}"));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture"),
            &root,
        );
        Fixture {
            root,
            target: tmp.join(format!("lab-fixture-target-{test}")),
        }
    }

    /// Runs `lab <args>` on this copy.
    pub fn lab(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("the lab binary runs");
        Run::from(output, args)
    }

    /// `lab <args>` on this copy, to start as the test likes (a long-running `watch`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command
            .args(args)
            .current_dir(&self.root)
            .env("LAB_ROOT", &self.root)
            .env("CARGO_TARGET_DIR", &self.target);
        command
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn edit(&self, rel: &str, edit: impl FnOnce(String) -> String) {
        let path = self.path(rel);
        let text = std::fs::read_to_string(&path).expect("fixture file exists");
        std::fs::write(&path, edit(text)).expect("fixture file is writable");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("fixture file exists")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

pub const SOLUTION: &str = "solutions/1-basics/01-greeting";
pub const EXERCISE: &str = "exercises/1-basics/01-greeting";

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output, args: &[&str]) -> Run {
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        // Shown only when the test fails: what lab said, for the reader of the failure.
        println!(
            "$ lab {}\n(exit {:?})\n{}{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture copy");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("read fixture entry");
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy fixture file");
        }
    }
}
