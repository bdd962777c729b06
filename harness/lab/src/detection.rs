//! `cargo lab demo detection`: how long it takes three nodes to call a peer down when it hangs,
//! and when it dies.
//!
//! A scenario file cannot tell this story: its workload sees requests succeed or fail, and
//! what matters here is each node's own view of the others (exercise 02's `GET /cluster`).
//! So this demo is code. It starts three nodes of exercise 02 with a tick time T, asks every
//! running node for its view every [`POLL`], and prints a line a second of who thinks what.
//! Then it pauses n2 (SIGSTOP: sockets open, no answers) and measures when n1 and n3 declare
//! it down; resumes it; kills n3 (SIGKILL: the operating system closes its sockets) and
//! measures the same for n1 and n2; restarts it. It ends with the two detection times against
//! T, and a report directory (`verdict.json`, the timeline, the node logs) whose path it
//! prints last.
//!
//! A detection time is taken from the node's own account, not from the poll that saw it:
//! the view says how long a peer has been in its state (`for_ms`), so the moment of the
//! verdict is known to a few milliseconds even though the demo polls every 50.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use harness::Cluster;
use harness::deployment::NodeState;
use harness::scenario::NodeRef;
use serde::Deserialize;
use serde_json::json;

use crate::scenario::{Impl, build_node};

/// The demo's name: `cargo lab demo detection`.
pub const NAME: &str = "detection";

/// What `cargo lab demo --list` says about it.
pub const DESCRIPTION: &str =
    "exercise 02: how long until a paused node is declared down (about T), and a killed one";

/// T, the nodes' tick time: long enough that its window dwarfs scheduling noise on a busy
/// laptop, short enough that the room does not wait. Erlang's default is 60 s.
const T: Duration = Duration::from_millis(1600);

/// How often the demo asks every running node for its view.
const POLL: Duration = Duration::from_millis(50);

/// How long a node has to answer `GET /cluster` before its view is left blank for a round.
const ASK_TIMEOUT: Duration = Duration::from_millis(300);

/// The node that is paused, and the one that is killed.
const HUNG: &str = "n2";
const KILLED: &str = "n3";

const INTRO: &str = "\
You cannot tell a dead node from a slow one: you can only wait, and then decide. Three nodes
of exercise 02 watch each other the way Erlang's net_ticktime does, with T = 1.6 s: every
T/4 (400 ms) each node ticks each peer and asks whether it heard anything in the interval
that just ended; four silent intervals in a row and the peer is down. In Erlang a silent
peer is down 0.75 T to 1.25 T after it went quiet. Here a peer answers each tick at once, so
its last word always comes just after a check, and the verdict lands between T and 1.25 T:
1.6 to 2.0 s, depending on where in a tick interval the silence starts.
First we pause n2 (SIGSTOP) at a random moment: its sockets stay open, it just never
answers. Only the silence can tell, so expect about T. Then we kill n3 (SIGKILL): its
operating system closes its sockets, the closed connections reach n1 and n2 at once, and no
tick is needed: expect a few milliseconds.
Every 50 ms we ask each running node for its view (GET /cluster). Each line shows what every
node thinks of its peers, and phi, the accrual detector's suspicion (8 or more: suspected).";

/// One node's view, as `GET /cluster` answers it (only the fields the demo shows).
#[derive(Debug, Clone, Deserialize)]
struct View {
    peers: BTreeMap<String, PeerView>,
}

#[derive(Debug, Clone, Deserialize)]
struct PeerView {
    /// `up` or `down`.
    state: String,
    why: String,
    /// How long the peer has been in `state`, by the node's own clock.
    for_ms: u64,
    /// `None` when off the scale.
    phi: Option<f64>,
    /// Phi at or above its threshold (8).
    suspected: bool,
}

/// A view and the moment it arrived.
#[derive(Debug, Clone)]
struct Seen {
    view: View,
    at: Instant,
}

/// One watcher's verdict on a broken peer.
#[derive(Debug, Clone)]
struct Detection {
    watcher: String,
    /// From the fault to the verdict, by the watcher's account.
    after: Duration,
    why: String,
    /// From the fault to the first poll that found phi past its threshold, if one did
    /// before the verdict (to the poll's resolution: phi has no "since").
    phi_suspected: Option<Duration>,
}

/// Runs the demo. Never reads stdin. `seed` picks the moment of the pause within a tick
/// interval (random when `None`), so runs land all over net_ticktime's window.
pub fn run(root: &Path, implementation: Impl, seed: Option<u64>) -> ExitCode {
    println!("== demo: {NAME} ==\n");
    for line in INTRO.lines() {
        println!("  {line}");
    }
    println!();
    let node = NodeRef::Exercise("failure-detection".into());
    let bin = match build_node(root, &node, implementation) {
        Ok(bin) => bin,
        Err(e) => return broke(&e),
    };
    println!(
        "starting 3 nodes of {}, T = {} ms\n",
        bin.file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default(),
        T.as_millis()
    );
    let cluster = match Cluster::builder(&bin)
        .nodes(3)
        .args(["--tick-time-ms", &T.as_millis().to_string()])
        .start()
    {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the cluster did not start: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return broke(&format!("cannot start a runtime: {e}")),
    };
    let mut watch = match Watch::new(&cluster) {
        Ok(watch) => watch,
        Err(e) => return broke(&e),
    };
    let seed = seed.unwrap_or_else(entropy);
    let outcome = runtime.block_on(script(&mut watch, seed));
    let out = crate::scenario::default_out(root, NAME, seed);
    let written = write_report(&out, seed, &cluster, &watch, &outcome);
    drop(cluster);
    match outcome {
        Ok(findings) => {
            let passed = summary(&findings);
            println!(
                "pause at another moment: cargo lab demo {NAME}; at the same offset: --seed {seed}"
            );
            match written {
                Ok(()) => println!("report: {}", out.display()),
                Err(e) => eprintln!("lab: could not write the report: {e}"),
            }
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            if written.is_ok() {
                eprintln!("the node logs are in {}", out.display());
            }
            broke(&format!("the demo broke: {e}"))
        }
    }
}

fn broke(message: &str) -> ExitCode {
    eprintln!("lab: {message}");
    ExitCode::from(2)
}

/// What the demo measured.
struct Findings {
    paused: Vec<Detection>,
    resumed: Vec<Detection>,
    killed: Vec<Detection>,
    restarted: Vec<Detection>,
}

/// The demo's script: healthy, pause, resume, kill, restart.
async fn script(watch: &mut Watch<'_>, seed: u64) -> Result<Findings, String> {
    let cluster = watch.cluster;
    watch.until_all_up(T * 3).await?;
    // Where the pause falls within a tick interval decides where in the window the verdict
    // lands; a fixed script would land on the same spot every time.
    let offset = (T / 4).mul_f64(unit_interval(seed));
    watch.say(&format!(
        "every node sees every peer up. The pause comes in 2 s and {} ms (seed {seed}).",
        offset.as_millis()
    ));
    watch.run_for(Duration::from_secs(2) + offset).await?;

    watch.say(&format!(
        "SIGSTOP {HUNG}: it hangs with its sockets open. Its peers hear nothing, and must wait."
    ));
    cluster.pause(HUNG).map_err(|e| e.to_string())?;
    let paused = watch
        .detect(HUNG, "down", Instant::now(), "the pause", T * 3)
        .await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "SIGCONT {HUNG}: it answers the ticks that waited for it."
    ));
    cluster.resume(HUNG).map_err(|e| e.to_string())?;
    let resumed = watch
        .detect(HUNG, "up", Instant::now(), "the resume", T * 2)
        .await?;
    watch.until_all_up(T * 3).await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "SIGKILL {KILLED}: its operating system closes its sockets, and the close travels at once."
    ));
    cluster.kill(KILLED).map_err(|e| e.to_string())?;
    let killed = watch
        .detect(KILLED, "down", Instant::now(), "the kill", T * 3)
        .await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "restarting {KILLED}: its peers redial it and see it up."
    ));
    cluster.restart(KILLED).map_err(|e| e.to_string())?;
    let restarted = watch
        .detect(KILLED, "up", Instant::now(), "its ready line", T * 2)
        .await?;
    watch.until_all_up(T * 3).await?;
    watch.say("every node sees every peer up again.");
    Ok(Findings {
        paused,
        resumed,
        killed,
        restarted,
    })
}

/// Polls every running node's view and prints what it sees.
struct Watch<'a> {
    cluster: &'a Cluster,
    http: reqwest::Client,
    start: Instant,
    /// When the next per-second line is due, from `start`.
    next_line: Duration,
    /// Each node's latest view, while it answers.
    views: BTreeMap<String, Seen>,
    /// Every line printed since the cluster started, for the report.
    timeline: Vec<String>,
}

impl<'a> Watch<'a> {
    fn new(cluster: &'a Cluster) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(ASK_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut watch = Watch {
            cluster,
            http,
            start: Instant::now(),
            next_line: Duration::from_secs(1),
            views: BTreeMap::new(),
            timeline: Vec::new(),
        };
        watch.header();
        Ok(watch)
    }

    fn print(&mut self, line: String) {
        println!("{line}");
        self.timeline.push(line);
    }

    fn say(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }

    /// Two header lines: whose view, then which peer.
    fn header(&mut self) {
        let ids = self.cluster.ids();
        let mut top = format!("  {:>6}  ", "");
        let mut bottom = format!("  {:>6}  ", "t");
        for id in &ids {
            top.push_str(&format!("{:<22}", format!("{id} sees")));
            for peer in ids.iter().filter(|p| *p != id) {
                bottom.push_str(&format!("{peer:<11}"));
            }
        }
        self.print(top.trim_end().to_string());
        self.print(bottom.trim_end().to_string());
    }

    /// One line: each node's view of its peers (state and phi), or why it has none.
    fn line(&mut self) {
        let ids = self.cluster.ids();
        let mut line = format!("  {:>5}s  ", self.next_line.as_secs());
        for id in &ids {
            let state = self.cluster.state(id);
            match self.views.get(id) {
                Some(seen) if state == NodeState::Up => {
                    for peer in ids.iter().filter(|p| *p != id) {
                        let cell = seen.view.peers.get(peer).map_or("?".into(), |p| {
                            let phi = p.phi.map_or("inf".into(), |phi| {
                                if phi >= 100.0 {
                                    "99+".into()
                                } else {
                                    format!("{phi:.1}")
                                }
                            });
                            format!("{:<4} {phi:>4}", p.state)
                        });
                        line.push_str(&format!("{cell:<11}"));
                    }
                }
                _ => line.push_str(&format!("{:<22}", format!("({state})"))),
            }
        }
        self.print(line.trim_end().to_string());
    }

    /// One round: asks every running node for its view, prints the line if one is due. Fails
    /// if a node exited by itself (an attendee's `todo!()`, with `--impl exercise`).
    async fn poll(&mut self) -> Result<(), String> {
        self.cluster.check_alive().map_err(|e| e.to_string())?;
        let mut asks = tokio::task::JoinSet::new();
        for id in self.cluster.ids() {
            if self.cluster.state(&id) != NodeState::Up {
                self.views.remove(&id);
                continue;
            }
            let url = format!("http://{}/cluster", self.cluster.addr(&id));
            let http = self.http.clone();
            asks.spawn(async move {
                let view = match http.get(&url).send().await {
                    Ok(response) => response.json::<View>().await.ok(),
                    Err(_) => None,
                };
                (id, view, Instant::now())
            });
        }
        while let Some(Ok((id, view, at))) = asks.join_next().await {
            match view {
                Some(view) => self.views.insert(id, Seen { view, at }),
                None => self.views.remove(&id),
            };
        }
        while self.start.elapsed() >= self.next_line {
            self.line();
            self.next_line += Duration::from_secs(1);
        }
        Ok(())
    }

    async fn run_for(&mut self, duration: Duration) -> Result<(), String> {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            self.poll().await?;
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Waits until every node sees every peer up.
    async fn until_all_up(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            self.poll().await?;
            let ids = self.cluster.ids();
            let not_yet: Vec<String> = ids
                .iter()
                .flat_map(|id| match self.views.get(id) {
                    None => vec![format!("{id} does not answer")],
                    Some(seen) => ids
                        .iter()
                        .filter(|p| *p != id)
                        .filter(|p| seen.view.peers.get(*p).is_none_or(|v| v.state != "up"))
                        .map(|p| format!("{id} does not see {p} up"))
                        .collect(),
                })
                .collect();
            if not_yet.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "after {} ms: {}",
                    limit.as_millis(),
                    not_yet.join("; ")
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until every other running node sees `target` in `state`, and returns when each
    /// one decided, counted from `since` (the fault, named `what`), by the node's own account.
    async fn detect(
        &mut self,
        target: &str,
        state: &str,
        since: Instant,
        what: &str,
        limit: Duration,
    ) -> Result<Vec<Detection>, String> {
        let watchers: Vec<String> = self
            .cluster
            .ids()
            .into_iter()
            .filter(|id| id != target)
            .collect();
        let mut found: Vec<Detection> = Vec::new();
        let mut phi_suspected: BTreeMap<String, Duration> = BTreeMap::new();
        loop {
            self.poll().await?;
            for watcher in &watchers {
                if found.iter().any(|d| &d.watcher == watcher) {
                    continue;
                }
                let Some(seen) = self.views.get(watcher) else {
                    continue;
                };
                let Some(peer) = seen.view.peers.get(target) else {
                    return Err(format!("{watcher} does not watch {target}"));
                };
                if peer.suspected && state == "down" && !phi_suspected.contains_key(watcher) {
                    phi_suspected.insert(watcher.clone(), seen.at.saturating_duration_since(since));
                }
                if peer.state != state {
                    continue;
                }
                // The verdict's moment, by the watcher: `for_ms` before its answer arrived.
                let decided = seen
                    .at
                    .checked_sub(Duration::from_millis(peer.for_ms))
                    .unwrap_or(seen.at);
                let after = decided.saturating_duration_since(since);
                let detection = Detection {
                    watcher: watcher.clone(),
                    after,
                    why: peer.why.clone(),
                    phi_suspected: phi_suspected.get(watcher).copied(),
                };
                self.say(&format!(
                    "{watcher} says {target} is {state}, {} ms after {what} ({}): {:.2} T",
                    after.as_millis(),
                    detection.why,
                    after.as_secs_f64() / T.as_secs_f64()
                ));
                found.push(detection);
            }
            if found.len() == watchers.len() {
                return Ok(found);
            }
            if since.elapsed() >= limit {
                let seen: Vec<&str> = found.iter().map(|d| d.watcher.as_str()).collect();
                return Err(format!(
                    "{} ms after {what}, only {seen:?} of {watchers:?} see {target} {state}",
                    limit.as_millis()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The window a hung peer's verdict must fall in, with slack for a busy machine (the same as
/// exercise 02's test): net_ticktime's 0.75 T to 1.25 T, widened by 100 ms and 300 ms.
fn paused_window() -> (Duration, Duration) {
    (
        T * 3 / 4 - Duration::from_millis(100),
        T * 5 / 4 + Duration::from_millis(300),
    )
}

/// A killed peer must be seen well within this: a fraction of T, not the ticks' timeout.
fn killed_limit() -> Duration {
    T * 3 / 10
}

/// The checks on what was measured: (name, passed, detail).
fn checks(findings: &Findings) -> Vec<(String, bool, String)> {
    let (low, high) = paused_window();
    let paused_ok = findings.paused.iter().all(|d| {
        d.after >= low && d.after <= high && !d.why.contains("link closed") && !d.why.is_empty()
    });
    let killed_ok = findings.killed.iter().all(|d| d.after < killed_limit());
    vec![
        (
            format!(
                "the paused {HUNG} is declared down by its silence in {}-{} ms",
                low.as_millis(),
                high.as_millis()
            ),
            paused_ok,
            describe(&findings.paused),
        ),
        (
            format!(
                "the killed {KILLED} is seen down in under {} ms (0.3 T)",
                killed_limit().as_millis()
            ),
            killed_ok,
            describe(&findings.killed),
        ),
    ]
}

fn describe(detections: &[Detection]) -> String {
    detections
        .iter()
        .map(|d| format!("{} {} ms ({})", d.watcher, d.after.as_millis(), d.why))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the measured times against T and the checks; true when they all hold.
fn summary(findings: &Findings) -> bool {
    let t = T.as_secs_f64();
    let row = |fault: &str, d: &Detection| {
        println!(
            "  {fault:<10} {:<8} {:>7} ms  {:>5.2} T   {}",
            d.watcher,
            d.after.as_millis(),
            d.after.as_secs_f64() / t,
            d.why
        );
    };
    println!("\ndetection times, T = {} ms:", T.as_millis());
    println!(
        "  {:<10} {:<8} {:>10}  {:>7}   why",
        "fault", "watcher", "after", "of T"
    );
    for d in &findings.paused {
        row(&format!("pause {HUNG}"), d);
    }
    for d in &findings.killed {
        row(&format!("kill {KILLED}"), d);
    }
    for d in &findings.resumed {
        row(&format!("resume {HUNG}"), d);
    }
    for d in &findings.restarted {
        row(&format!("restart {KILLED}"), d);
    }
    for d in &findings.paused {
        if let Some(at) = d.phi_suspected.filter(|at| *at < d.after) {
            println!(
                "  phi: {} found phi past 8 for the paused {HUNG} by {} ms, {} ms before its ticks decided",
                d.watcher,
                at.as_millis(),
                (d.after - at).as_millis()
            );
        }
    }
    println!();
    let mut passed = true;
    for (name, ok, detail) in checks(findings) {
        println!("  {}  {name}: {detail}", if ok { "ok  " } else { "FAIL" });
        passed &= ok;
    }
    if passed {
        println!(
            "\nA hang costs about T before anyone can act on it; a crash costs milliseconds. Halve T\n\
             to halve the first, and every pause longer than about T (a GC, a swap, a full\n\
             network queue) is taken for a death."
        );
    } else {
        println!(
            "\nThe times fell outside what net_ticktime promises. On a very busy machine the\n\
             nodes' timers run late: close what else is running and try again."
        );
    }
    println!();
    passed
}

/// A number in [0, 1) from a seed (splitmix64's finaliser).
fn unit_interval(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed when none is given: different on every run.
fn entropy() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(SystemTime::now()) % 10_000
}

/// `verdict.json` (what was measured, machine readable), `timeline.txt` (what the terminal
/// showed) and each node's log.
fn write_report(
    out: &Path,
    seed: u64,
    cluster: &Cluster,
    watch: &Watch<'_>,
    outcome: &Result<Findings, String>,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    std::fs::create_dir_all(out).map_err(io)?;
    for id in cluster.ids() {
        let _ = std::fs::copy(cluster.log_path(&id), out.join(format!("{id}.log")));
    }
    std::fs::write(out.join("timeline.txt"), watch.timeline.join("\n") + "\n").map_err(io)?;
    let as_json = |ds: &[Detection]| {
        ds.iter()
            .map(|d| {
                json!({
                    "watcher": d.watcher,
                    "after_ms": d.after.as_secs_f64() * 1000.0,
                    "of_t": d.after.as_secs_f64() / T.as_secs_f64(),
                    "why": d.why,
                    "phi_suspected_by_ms": d.phi_suspected.map(|at| at.as_secs_f64() * 1000.0),
                })
            })
            .collect::<Vec<_>>()
    };
    let (low, high) = paused_window();
    let verdict = match outcome {
        Ok(findings) => {
            let checks: Vec<_> = checks(findings)
                .into_iter()
                .map(|(name, passed, detail)| json!({"name": name, "passed": passed, "detail": detail}))
                .collect();
            json!({
                "demo": NAME,
                "seed": seed,
                "passed": checks.iter().all(|c| c["passed"] == true),
                "tick_time_ms": T.as_millis() as u64,
                "paused_window_ms": [low.as_millis() as u64, high.as_millis() as u64],
                "killed_limit_ms": killed_limit().as_millis() as u64,
                "paused": {"node": HUNG, "detections": as_json(&findings.paused)},
                "resumed": {"node": HUNG, "detections": as_json(&findings.resumed)},
                "killed": {"node": KILLED, "detections": as_json(&findings.killed)},
                "restarted": {"node": KILLED, "detections": as_json(&findings.restarted)},
                "checks": checks,
            })
        }
        Err(why) => json!({"demo": NAME, "seed": seed, "passed": false, "broke": why}),
    };
    let text = serde_json::to_string_pretty(&verdict).map_err(|e| e.to_string())?;
    std::fs::write(out.join("verdict.json"), text + "\n").map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(watcher: &str, after_ms: u64, why: &str) -> Detection {
        Detection {
            watcher: watcher.into(),
            after: Duration::from_millis(after_ms),
            why: why.into(),
            phi_suspected: None,
        }
    }

    fn findings(paused: Vec<Detection>, killed: Vec<Detection>) -> Findings {
        Findings {
            paused,
            resumed: Vec::new(),
            killed,
            restarted: Vec::new(),
        }
    }

    fn passed(findings: &Findings) -> Vec<bool> {
        checks(findings).into_iter().map(|(_, ok, _)| ok).collect()
    }

    #[test]
    fn a_hang_must_be_judged_by_its_silence_and_a_crash_at_once() {
        let silent = "silent for 4 ticks";
        let good = findings(
            vec![seen("n1", 1640, silent), seen("n3", 1990, silent)],
            vec![seen("n1", 1, "link closed"), seen("n2", 2, "link closed")],
        );
        assert_eq!(passed(&good), [true, true]);

        // The hang seen too early, too late, or through a closed link: not net_ticktime.
        for paused in [
            seen("n1", 900, silent),
            seen("n1", 2400, silent),
            seen("n1", 1700, "link closed"),
        ] {
            let bad = findings(vec![paused], good.killed.clone());
            assert_eq!(passed(&bad), [false, true], "{bad:?}", bad = bad.paused);
        }
        // The crash seen only after the ticks ran out.
        let slow = findings(good.paused.clone(), vec![seen("n1", 1700, silent)]);
        assert_eq!(passed(&slow), [true, false]);
    }

    #[test]
    fn a_seed_picks_a_moment_anywhere_in_the_interval() {
        let moments: Vec<f64> = (0..1000).map(unit_interval).collect();
        assert!(moments.iter().all(|m| (0.0..1.0).contains(m)));
        assert!(moments.iter().any(|m| *m < 0.1) && moments.iter().any(|m| *m > 0.9));
        assert_eq!(unit_interval(562), unit_interval(562));
    }
}
