//! `cargo lab` is an alias for `cargo run --quiet -p lab-launcher -- ARGS`. This launcher
//! builds the real `lab` command and then becomes it (exec on Unix), with the same arguments.
//!
//! Why not alias `cargo run --quiet -p lab` directly: on a fresh clone that first build takes
//! minutes, and `--quiet` hides all of it, so a newcomer's first command looks hung. Without
//! `--quiet`, every later run prints cargo's two status lines before the lab's own output.
//! The launcher has no dependencies (it builds in a second), runs `cargo build -p lab`, and
//! shows cargo's output only when cargo has something to compile or fetch; an up-to-date
//! build stays silent.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The words cargo starts a status line with when it is doing real work.
const WORK: [&str; 6] = [
    "Compiling",
    "Downloading",
    "Downloaded",
    "Updating",
    "Locking",
    "Blocking",
];

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let here = match std::env::current_exe() {
        Ok(path) => path,
        Err(e) => return fail(&format!("cannot find where the launcher runs from: {e}")),
    };
    if let Err(e) = build_lab() {
        return fail(&e);
    }
    let lab = lab_binary(&here);
    become_lab(&lab, args)
}

/// `cargo build -p lab`, its output forwarded from the first line that shows real work.
fn build_lab() -> Result<(), String> {
    // `cargo run` tells the binary which cargo it is; fall back to the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--package",
            "lab",
            "--bin",
            "lab",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo to build the lab command: {e}"))?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut held = Vec::new();
    let mut showing = false;
    let mut out = std::io::stderr().lock();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if !showing && WORK.iter().any(|word| line.trim_start().starts_with(word)) {
            showing = true;
            let _ = writeln!(
                out,
                "lab: building the lab command first (a fresh clone takes a few minutes; later runs start at once)"
            );
            for earlier in held.drain(..) {
                let _ = writeln!(out, "{earlier}");
            }
        }
        if showing {
            let _ = writeln!(out, "{line}");
        } else {
            held.push(line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo build of the lab command did not finish: {e}"))?;
    if status.success() {
        return Ok(());
    }
    // A failed build shows everything cargo said, even if nothing looked like work.
    for line in held {
        let _ = writeln!(out, "{line}");
    }
    Err(format!(
        "building the lab command failed ({status}); the lines above say why. \
         `cargo build -p lab` shows the same"
    ))
}

/// The `lab` binary cargo just built: beside this launcher, same target dir and profile.
fn lab_binary(launcher: &Path) -> PathBuf {
    launcher.with_file_name(format!("lab{}", std::env::consts::EXE_SUFFIX))
}

#[cfg(unix)]
fn become_lab(lab: &Path, args: Vec<std::ffi::OsString>) -> ExitCode {
    use std::os::unix::process::CommandExt;
    // exec only returns on failure; on success the lab command owns the process, its
    // signals and its exit status.
    let e = Command::new(lab).args(args).exec();
    fail(&format!("cannot start {}: {e}", lab.display()))
}

#[cfg(not(unix))]
fn become_lab(lab: &Path, args: Vec<std::ffi::OsString>) -> ExitCode {
    match Command::new(lab).args(args).status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => fail(&format!("cannot start {}: {e}", lab.display())),
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("lab: {why}");
    ExitCode::from(2)
}
