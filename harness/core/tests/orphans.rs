//! No node outlives the process that started it, however that process ends.
//!
//! This test binary (`harness = false`) runs itself as a child that starts a cluster, then:
//! - `panic`: panics mid-run (the cluster's drop must kill the nodes);
//! - `sigint`: is interrupted with SIGINT, as by Ctrl-C (the reaper must kill them);
//! - `sigkill`: is killed with SIGKILL, so nothing runs in it (the nodes must notice the end
//!   of file on their stdin and exit by themselves);
//! - `paused` (Linux): the same with one node paused (SIGSTOP), which cannot read its stdin:
//!   the parent-death signal (SIGCONT) must wake it so that it exits too.
//!
//! Each case first shows the nodes are really running, then that none is left, then (from
//! the node logs) which mechanism ended them.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::Cluster;

const TEST_NODE: &str = env!("CARGO_BIN_EXE_test-node");

fn main() {
    match std::env::var("ORPHAN_CHILD").as_deref() {
        Ok(mode) => child(mode),
        Err(_) => parent(),
    }
}

fn child(mode: &str) {
    let cluster = Cluster::builder(TEST_NODE)
        .nodes(3)
        .start()
        .expect("cluster starts");
    if mode == "paused" {
        cluster.pause("n2").expect("n2 pauses");
    }
    println!("UP {}", cluster.run_dir().display());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    if mode == "panic" {
        panic!("deliberate panic with a cluster running");
    }
    std::thread::sleep(Duration::from_secs(60));
    eprintln!("child was never stopped");
    std::process::exit(3);
}

fn parent() {
    let mut failed = Vec::new();
    let modes: &[&str] = if cfg!(target_os = "linux") {
        &["panic", "sigint", "sigkill", "paused"]
    } else {
        &["panic", "sigint", "sigkill"]
    };
    for &mode in modes {
        let started = Instant::now();
        match case(mode) {
            Ok(()) => println!("test orphans::{mode} ... ok ({:?})", started.elapsed()),
            Err(why) => {
                println!("test orphans::{mode} ... FAILED: {why}");
                failed.push(mode);
            }
        }
    }
    println!(
        "orphans: {} passed, {} failed",
        modes.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

fn case(mode: &str) -> Result<(), String> {
    let runs = std::env::temp_dir().join(format!("lab-orphans-{}-{mode}", std::process::id()));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("ORPHAN_CHILD", mode)
        .env("LAB_RUNS_DIR", &runs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if mode == "panic" {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .map_err(|e| format!("cannot run the child: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    if !line.starts_with("UP ") {
        let _ = child.kill();
        return Err(format!("the child did not start its cluster: {line:?}"));
    }
    let running = processes_mentioning(&runs);
    if running.len() != 3 {
        let _ = child.kill();
        return Err(format!("expected 3 running nodes, found {running:?}"));
    }

    let pid = child.id() as i32;
    match mode {
        "panic" => child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"go\n")
            .map_err(|e| e.to_string())?,
        // SAFETY: kill has no memory-safety preconditions.
        "sigint" => unsafe {
            libc::kill(pid, libc::SIGINT);
        },
        _ => unsafe {
            libc::kill(pid, libc::SIGKILL);
        },
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if mode == "panic"
        && !(stderr.contains("=== cluster state at the failure") && stderr.contains("running at"))
    {
        return Err(format!(
            "a panicking test must print the cluster's state; it printed:\n{stderr}"
        ));
    }
    if status.success() {
        return Err(format!("the child should have failed, it exited {status}"));
    }

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_mentioning(&runs);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for pid in &left {
                // SAFETY: as above; clean up what the test found so it leaks nothing itself.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            return Err(format!(
                "nodes still alive 5 s after the child ended: {left:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Who ended the nodes? A node that exits on its own (stdin closed) says so in its log. Only
    // the SIGKILL case may rely on that; in the others the harness must have killed them first.
    let noticed_eof = node_logs(&runs)
        .iter()
        .filter(|log| log.contains("stdin closed"))
        .count();
    let _ = std::fs::remove_dir_all(&runs);
    match (mode, noticed_eof) {
        ("sigkill" | "paused", 3) => Ok(()),
        ("sigkill" | "paused", n) => Err(format!(
            "only {n} of 3 nodes exited on end of file of stdin"
        )),
        (_, 0) => Ok(()),
        (_, n) => Err(format!(
            "{n} nodes outlived the harness until their stdin closed: it did not kill them"
        )),
    }
}

/// The contents of every node log under `runs` (`<runs>/<run>/<id>.log`).
fn node_logs(runs: &Path) -> Vec<String> {
    let mut logs = Vec::new();
    for run in std::fs::read_dir(runs).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(run.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == "log") {
                logs.push(std::fs::read_to_string(file.path()).unwrap_or_default());
            }
        }
    }
    logs
}

/// Live processes whose command line mentions `dir` (nodes get their data directory there).
fn processes_mentioning(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(&needle)
        {
            found.push(pid);
        }
    }
    found
}
