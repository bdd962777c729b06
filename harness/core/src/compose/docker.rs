//! The docker CLI runner: every docker and compose command the cluster needs, each with a
//! time budget, so a stuck engine fails a scenario instead of hanging it.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::ClusterError;

/// Budget for one docker command (kill, inspect, connect): the engine answers these in well
/// under a second; a minute means it is stuck, and a scenario must not hang on it.
pub(super) const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);
/// Budget for `up` and `down`, which create and remove networks, volumes and containers.
pub(super) const COMPOSE_TIMEOUT: Duration = Duration::from_secs(180);

/// `LAB_COMPOSE` if set (e.g. `docker compose`), else `docker-compose` (Debian's 1.29) if it
/// runs, else the `docker compose` v2 plugin.
pub(super) fn compose_command() -> Result<Vec<String>, ClusterError> {
    if let Ok(chosen) = std::env::var("LAB_COMPOSE") {
        let words: Vec<String> = chosen.split_whitespace().map(String::from).collect();
        if !words.is_empty() {
            return Ok(words);
        }
    }
    for candidate in [vec!["docker-compose"], vec!["docker", "compose"]] {
        let candidate: Vec<String> = candidate.into_iter().map(String::from).collect();
        if run(&candidate, &["version".into()], &[], DOCKER_TIMEOUT).is_ok() {
            return Ok(candidate);
        }
    }
    Err(ClusterError::Io(
        "neither docker-compose nor `docker compose` runs here; install one (Debian: apt install \
         docker-compose)"
            .into(),
    ))
}

pub(super) fn docker(args: &[&str]) -> Result<String, ClusterError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run(&["docker".to_string()], &args, &[], DOCKER_TIMEOUT)
}

/// Runs `program` (one or more words) with `args` and returns its standard output. A failure
/// names the command and gives docker's own last line of complaint; a command that hangs past
/// `timeout` is killed, so a stuck engine cannot hang a scenario.
pub(super) fn run(
    program: &[String],
    args: &[String],
    env: &[(String, String)],
    timeout: Duration,
) -> Result<String, ClusterError> {
    let shown = format!("{} {}", program.join(" "), args.join(" "));
    let child = Command::new(&program[0])
        .args(&program[1..])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            ClusterError::Io(format!(
                "cannot run {}: {e}; is Docker installed?",
                program[0]
            ))
        })?;
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    // Waiting on another thread drains both pipes while this one keeps the clock.
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(output) => output.map_err(|e| ClusterError::Io(format!("`{shown}`: {e}")))?,
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet,
            // so its pid cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(ClusterError::Io(format!(
                "`{shown}` did not finish within {timeout:?}; is the Docker engine stuck? \
                 (try: docker info)"
            )));
        }
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim();
    Err(ClusterError::Io(format!("`{shown}` failed: {why}")))
}
