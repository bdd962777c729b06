//! `cargo lab doctor` on this seat, then on seats broken on purpose: an old rustc (a stand-in
//! script as `RUSTC`) and a low open-file limit (lowered for the child process only).
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

/// Held while a test writes its stand-in rustc and while one starts a process: a file being
/// written stays open in any child another test thread forks meanwhile, until that child
/// execs, and running the file then fails "Text file busy" (the launcher's tests met it
/// beside a CPU hog).
static EXECUTABLES: Mutex<()> = Mutex::new(());

/// Runs `command` to its end, started under [`EXECUTABLES`].
fn run(command: &mut Command) -> Output {
    let child = {
        let _starting = EXECUTABLES.lock().unwrap_or_else(|e| e.into_inner());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    child.wait_with_output().unwrap()
}

fn doctor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    command.arg("doctor").env("LAB_ROOT", root);
    command
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of check `name`, and the fix line under it if there is one.
fn line_of<'a>(text: &'a str, name: &str) -> (&'a str, Option<&'a str>) {
    let mut lines = text.lines();
    let found = lines
        .find(|l| l.contains(&format!(" {name} ")))
        .unwrap_or_else(|| panic!("no {name} check in:\n{text}"));
    let fix = lines.next().filter(|l| l.trim_start().starts_with("->"));
    (found, fix)
}

#[test]
fn an_old_rustc_fails_the_seat_with_the_command_that_fixes_it() {
    let dir = std::env::temp_dir().join(format!("lab-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rustc = dir.join("rustc");
    {
        let _writing = EXECUTABLES.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::write(
            &rustc,
            "#!/bin/sh\necho 'rustc 1.70.0 (90c541806 2023-05-31)'\n",
        )
        .unwrap();
        std::fs::set_permissions(&rustc, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = run(doctor().env("RUSTC", &rustc));
    let _ = std::fs::remove_dir_all(&dir);
    let text = said(&out);
    let (line, fix) = line_of(&text, "toolchain");
    assert!(line.contains("FAIL") && line.contains("1.70.0"), "{text}");
    assert!(
        fix.is_some_and(|f| f.contains("rustup update stable")),
        "{text}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed check is exit status 1:\n{text}"
    );
}

#[test]
fn a_low_open_file_limit_fails_the_seat_and_says_how_to_raise_it() {
    let mut command = doctor();
    // SAFETY: setrlimit is async-signal-safe; it lowers the child's own limit before exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run(&mut command);
    let text = said(&out);
    let (line, fix) = line_of(&text, "open files");
    assert!(line.contains("FAIL") && line.contains("256"), "{text}");
    assert!(fix.is_some_and(|f| f.contains("ulimit -Hn")), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
}

#[test]
fn this_seat_is_ready() {
    let out = run(&mut doctor());
    let text = said(&out);
    assert!(
        !text.contains("FAIL"),
        "the machine that runs the tests is a ready seat:\n{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    for check in [
        "toolchain",
        "rustfmt",
        "clippy",
        "fetched",
        "loopback",
        "open files",
        "disk",
        "docker",
        "checkout",
    ] {
        line_of(&text, check);
    }
}
