//! `cargo lab watch` on a copy of the fixture workspace: a save runs the tests again, and in a
//! terminal (tmux) `q` quits.

#[allow(dead_code)] // this file uses a part of it
mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{EXERCISE, Fixture};

/// The attendee's fix: what the fixture's solution has where its skeleton has a todo!().
fn fix(text: String) -> String {
    text.replace(
        "todo!(\"Return \\\"Hello, <name>!\\\" for the given name.\")",
        "format!(\"Hello, {name}!\")",
    )
}

/// Lines of the child's stdout until `wanted` is seen, or a panic after `within`.
fn until(lines: &mpsc::Receiver<String>, wanted: &str, within: Duration, seen: &mut Vec<String>) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(wanted);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => panic!(
                "no line with {wanted:?} within {within:?}; lab watch said:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn a_save_runs_the_exercises_tests_again() {
    let fixture = Fixture::copy("watch-save");
    let mut child = fixture
        .command(&["watch", "1", "--poll", "100ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab watch starts");
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut seen = Vec::new();
    // First run: the skeleton fails; watch says it is watching, and waits without a prompt.
    until(&lines, "watching", Duration::from_secs(180), &mut seen);
    assert!(
        seen.iter().any(|l| l.contains('✗')),
        "the skeleton's tests fail first:\n{}",
        seen.join("\n")
    );
    assert!(
        seen.iter().any(|l| l.contains("Ctrl-C stops")),
        "without a terminal there are no key commands to offer:\n{}",
        seen.join("\n")
    );
    // The attendee saves the fix: the tests run again, by themselves, and pass.
    fixture.edit(&format!("{EXERCISE}/src/lib.rs"), fix);
    let before = seen.len();
    until(&lines, "watching", Duration::from_secs(180), &mut seen);
    let rerun = &seen[before..];
    assert!(
        rerun.iter().any(|l| l.contains("✓ all")),
        "after the save the tests ran again and pass:\n{}",
        rerun.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn q_quits_watch_in_a_terminal() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have tmux for this test (.ci/run installs it)"
        );
        eprintln!("tmux is not installed: the terminal test of `lab watch` did not run");
        return;
    }
    let fixture = Fixture::copy("watch-keys");
    let socket = format!("lab-watch-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket])
            .args(args)
            .output()
            .expect("tmux runs")
    };
    let command = fixture.command(&["watch", "1", "--poll", "100ms"]);
    let envs: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v?.to_str()?)))
        .collect();
    let line = format!(
        "cd {} && env {} {} watch 1 --poll 100ms; echo EXITED $?; sleep 60",
        fixture.root.display(),
        envs.join(" "),
        env!("CARGO_BIN_EXE_lab")
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "35",
        "-s",
        "w",
        &line,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "w"]).stdout).into_owned();
    let wait_for = |wanted: &str| {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let now = screen();
            if now.contains(wanted) {
                return now;
            }
            if Instant::now() > deadline {
                let _ = tmux(&["kill-server"]);
                panic!("no {wanted:?} on the screen of lab watch:\n{now}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let shown = wait_for("q quit");
    assert!(
        shown.contains("h hint"),
        "in a terminal the keys are offered:\n{shown}"
    );
    tmux(&["send-keys", "-t", "w", "q"]);
    let after = wait_for("EXITED");
    let _ = tmux(&["kill-server"]);
    assert!(after.contains("stopped watching"), "{after}");
    assert!(
        after.contains("EXITED 0"),
        "q quits with status 0:\n{after}"
    );
}
