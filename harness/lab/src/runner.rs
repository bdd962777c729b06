//! Running cargo and test binaries with their output captured, and reading what they said.
//!
//! Two ways to run an exercise's tests:
//! - [`cargo_test`]: `cargo test -p <package>` as an attendee would, read back into a
//!   [`TestRun`] (what `check` and the progress table use);
//! - [`build_tests`] then [`run_one_test`]: build the test binaries once, then run each test in
//!   a process of its own with a time budget (what `verify` uses on skeletons, where a test
//!   that hangs on a `todo!()` must be caught rather than waited for).
//!
//! Output never goes to the terminal: the caller decides what one line to show.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The cargo that runs `lab` (so a pinned toolchain stays pinned), or the one on the PATH.
pub fn cargo(root: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(program);
    cmd.current_dir(root).env("CARGO_TERM_COLOR", "never");
    cmd
}

/// What a finished (or abandoned) process printed.
#[derive(Debug)]
pub struct Captured {
    /// None when it was killed for running out of time.
    pub status: Option<ExitStatus>,
    pub output: String,
    pub elapsed: Duration,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
}

/// Runs `cmd` with stdout and stderr going to one file, killing its process group once
/// `budget` has passed. A file (not a pipe) because a node a test started may keep inherited
/// descriptors open after the test process is gone.
pub fn run_captured(mut cmd: Command, budget: Option<Duration>) -> Result<Captured, String> {
    use std::os::unix::process::CommandExt;
    let scratch = scratch_file()?;
    let out =
        File::create(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let status = wait(&mut child, budget.map(|b| started + b));
    let elapsed = started.elapsed();
    let output = std::fs::read(&scratch)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let _ = std::fs::remove_file(&scratch);
    Ok(Captured {
        status,
        output,
        elapsed,
    })
}

fn wait(child: &mut Child, deadline: Option<Instant>) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // The whole group: the test and anything it spawned that did not start its own.
            let pgid = child.id() as libc::pid_t;
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn scratch_file() -> Result<PathBuf, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(std::env::temp_dir().join(format!("lab-{}-{n}.out", std::process::id())))
}

/// One `cargo test`, read back.
#[derive(Debug, Default)]
pub struct TestRun {
    pub passed: Vec<String>,
    pub failed: Vec<Failure>,
    /// The first compiler error, when the crate does not build.
    pub compile_error: Option<String>,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// Everything cargo and the tests printed.
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub name: String,
    /// What the test printed (its panic message among it).
    pub output: String,
}

impl TestRun {
    /// Every test ran and passed, and there was at least one.
    pub fn all_passed(&self) -> bool {
        self.compile_error.is_none()
            && !self.timed_out
            && self.failed.is_empty()
            && !self.passed.is_empty()
    }

    pub fn total(&self) -> usize {
        self.passed.len() + self.failed.len()
    }
}

/// `cargo test -p <package>` for every test of the package, whatever fails.
pub fn cargo_test(root: &Path, package: &str, budget: Duration) -> Result<TestRun, String> {
    let mut cmd = cargo(root);
    cmd.args(["test", "--no-fail-fast", "--color", "never", "-p", package]);
    let captured = run_captured(cmd, Some(budget))?;
    let mut run = parse_libtest(&captured.output);
    run.elapsed = captured.elapsed;
    run.timed_out = captured.timed_out();
    if !captured.success() && !run.timed_out && run.failed.is_empty() {
        run.compile_error = Some(first_error(&captured.output));
    }
    run.output = captured.output;
    Ok(run)
}

/// Reads libtest's human output: `test name ... ok|FAILED` lines and the `---- name ... ----`
/// sections that hold a failed test's output.
pub fn parse_libtest(output: &str) -> TestRun {
    let mut run = TestRun::default();
    let mut failed_names = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        if let Some(name) = rest.strip_suffix(" ... ok") {
            run.passed.push(name.to_string());
        } else if let Some(name) = rest.strip_suffix(" ... FAILED") {
            failed_names.push(name.to_string());
        }
    }
    for name in failed_names {
        let header = format!("---- {name} stdout ----");
        let detail = output
            .split_once(&header)
            .map(|(_, after)| {
                after
                    .lines()
                    .skip(1)
                    .take_while(|l| !l.starts_with("---- ") && *l != "failures:")
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        run.failed.push(Failure {
            name,
            output: detail.trim().to_string(),
        });
    }
    run
}

/// The first `error` block of compiler output, for a one-glance summary.
pub fn first_error(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("error")) else {
        return output
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
    };
    lines[start..]
        .iter()
        .take_while(|l| !l.is_empty())
        .take(12)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// A package's test binaries, built once, and what the compiler warned about in its code.
#[derive(Debug, Default)]
pub struct TestBuild {
    pub executables: Vec<PathBuf>,
    /// Rendered warnings for the package's own code.
    pub warnings: Vec<String>,
    /// The first compiler error, when it does not build.
    pub error: Option<String>,
}

/// `cargo test --no-run` for `package` (whose manifest is `manifest`), read from cargo's JSON
/// messages: the test executables, and warnings (cargo replays them when nothing is rebuilt).
pub fn build_tests(root: &Path, package: &str, manifest: &Path) -> Result<TestBuild, String> {
    let mut cmd = cargo(root);
    cmd.args([
        "test",
        "--no-run",
        "--message-format",
        "json-diagnostic-short",
        "-p",
        package,
    ]);
    let captured = run_captured(cmd, None)?;
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let mut build = TestBuild::default();
    for line in captured.output.lines().filter(|l| l.starts_with('{')) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let ours = message["manifest_path"]
            .as_str()
            .is_some_and(|p| Path::new(p) == manifest);
        if !ours {
            continue;
        }
        match message["reason"].as_str() {
            Some("compiler-artifact") if message["profile"]["test"] == true => {
                if let Some(exe) = message["executable"].as_str() {
                    build.executables.push(PathBuf::from(exe));
                }
            }
            Some("compiler-message") => {
                let rendered = message["message"]["rendered"]
                    .as_str()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                match message["message"]["level"].as_str() {
                    Some("warning") => build.warnings.push(rendered),
                    Some("error") if build.error.is_none() => build.error = Some(rendered),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !captured.success() && build.error.is_none() {
        build.error = Some(first_error(&captured.output));
    }
    Ok(build)
}

/// The tests a libtest binary holds.
pub fn list_tests(exe: &Path) -> Result<Vec<String>, String> {
    let output = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} --list failed: {}",
            exe.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// Runs one test of `exe` alone, from the package's directory as `cargo test` would, and
/// gives up on it after `budget`.
pub fn run_one_test(
    exe: &Path,
    test: &str,
    package_dir: &Path,
    budget: Duration,
) -> Result<Captured, String> {
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .current_dir(package_dir)
        .env("CARGO_MANIFEST_DIR", package_dir)
        .env("RUST_BACKTRACE", "0");
    run_captured(cmd, Some(budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_output_is_read_back() {
        let output = "running 2 tests\ntest a ... ok\ntest b::c ... FAILED\n\nfailures:\n\n---- b::c stdout ----\n\nthread 'b::c' panicked at src/lib.rs:3:5:\nnot yet implemented: Add them.\n\nfailures:\n    b::c\n";
        let run = parse_libtest(output);
        assert_eq!(run.passed, vec!["a"]);
        assert_eq!(run.failed.len(), 1);
        assert_eq!(run.failed[0].name, "b::c");
        assert!(
            run.failed[0]
                .output
                .ends_with("not yet implemented: Add them.")
        );
    }
}
