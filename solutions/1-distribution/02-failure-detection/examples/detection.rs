//! `cargo lab demo detection`: how long it takes three nodes to call a peer down when it hangs,
//! and when it dies.
//!
//! A scenario file cannot tell this story: its workload sees requests succeed or fail, and
//! what matters here is each node's own view of the others (this exercise's `GET /cluster`,
//! read into its own [`ClusterView`]). So this demo is code, and lives beside the exercise it
//! shows. It starts three nodes with a tick time T, asks every running node for its view every
//! [`POLL`] (the harness's [`Views`]), and prints a line a second of who thinks what. Then it
//! pauses n2 (SIGSTOP: sockets open, no answers) and measures when n1 and n3 declare it down;
//! resumes it; kills n3 (SIGKILL: the operating system closes its sockets) and measures the
//! same for n1 and n2; restarts it. It ends with the detection times against T, the checks,
//! and the run's report directory (`verdict.json`, `history.jsonl` of every ask, the node
//! logs, `report.html` with the pause and the kill shaded, `timeline.txt`).
//!
//! A detection time is taken from the node's own account, not from the poll that saw it:
//! the view says how long a peer has been in its state (`for_ms`), so the moment of the
//! verdict is known to a few milliseconds even though the demo polls every 50.
//!
//! The lab runs it (`cargo lab demo detection [--impl exercise] [--seed S]`) with the node
//! binary it built, solution or exercise: `--node <binary> --out <dir> [--seed S]`.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use failure_detection_solution::monitor::ClusterView;
use failure_detection_solution::tick::Verdict;
use harness::Cluster;
use harness::check::{self, CheckResult};
use harness::demo::{Demo, broke, verdict};
use harness::history::History;
use harness::load::LoadReport;
use harness::report::{self, Span};
use harness::watch::Views;
use serde_json::json;

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

/// What the demo measured.
struct Findings {
    paused: Vec<Detection>,
    resumed: Vec<Detection>,
    killed: Vec<Detection>,
    restarted: Vec<Detection>,
}

fn main() -> ExitCode {
    let args = Demo::start("detection", INTRO);
    println!(
        "starting 3 nodes of {} ({}), T = {} ms\n",
        args.whose,
        args.node_name(),
        T.as_millis()
    );
    let cluster = match Cluster::builder(&args.node)
        .nodes(3)
        .args(["--tick-time-ms", &T.as_millis().to_string()])
        .start()
    {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the cluster did not start: {e}")),
    };
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    // The seed picks the moment of the pause within a tick interval.
    let seed = args.seed_or_random();
    let started = SystemTime::now();
    let mut watch = Watch::new(&cluster);
    let outcome = runtime.block_on(script(&mut watch, seed));
    let written = write_report(&args, seed, started, &cluster, &watch, &outcome);
    drop(cluster);
    match (outcome, written) {
        (Ok(findings), Ok(table)) => {
            times(&findings);
            let passed = checks(&findings).iter().all(|c| c.passed);
            lesson(passed);
            println!(
                "pause at another moment: cargo lab demo detection; at the same offset: --seed {seed}\n"
            );
            // The report's path comes last: it is what the audience opens next.
            print!("{table}");
            verdict(passed)
        }
        (Ok(_), Err(e)) => broke(&format!("could not write the report: {e}")),
        (Err(e), written) => {
            if written.is_ok() {
                eprintln!("the node logs are in {}", args.out.display());
            }
            broke(&format!("the demo broke: {e}"))
        }
    }
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
    watch.fault_starts(&format!("pause {HUNG}"), HUNG);
    cluster.pause(HUNG).map_err(|e| e.to_string())?;
    let paused = watch
        .detect(HUNG, Verdict::Down, Instant::now(), "the pause", T * 3)
        .await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "SIGCONT {HUNG}: it answers the ticks that waited for it."
    ));
    cluster.resume(HUNG).map_err(|e| e.to_string())?;
    watch.fault_ends();
    let resumed = watch
        .detect(HUNG, Verdict::Up, Instant::now(), "the resume", T * 2)
        .await?;
    watch.until_all_up(T * 3).await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "SIGKILL {KILLED}: its operating system closes its sockets, and the close travels at once."
    ));
    watch.fault_starts(&format!("kill {KILLED}"), KILLED);
    cluster.kill(KILLED).map_err(|e| e.to_string())?;
    let killed = watch
        .detect(KILLED, Verdict::Down, Instant::now(), "the kill", T * 3)
        .await?;
    watch.run_for(Duration::from_secs(1)).await?;

    watch.say(&format!(
        "restarting {KILLED}: its peers redial it and see it up."
    ));
    cluster.restart(KILLED).map_err(|e| e.to_string())?;
    watch.fault_ends();
    let restarted = watch
        .detect(KILLED, Verdict::Up, Instant::now(), "its ready line", T * 2)
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

/// The nodes' views, polled, and what the terminal shows of them.
struct Watch<'a> {
    cluster: &'a Cluster,
    views: Views<'a, ClusterView>,
    /// The run's time zero: the history's, the report's, the timeline's.
    start: Instant,
    /// When the next per-second line is due, from `start`.
    next_line: Duration,
    /// Every line printed since the cluster started, for the report.
    timeline: Vec<String>,
    /// The faults, as the report shades them; the last one may still be open.
    spans: Vec<Span>,
}

impl<'a> Watch<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        let start = Instant::now();
        let history = History::starting_at(start);
        let mut watch = Watch {
            cluster,
            views: Views::new(cluster, "/cluster", ASK_TIMEOUT, history),
            start,
            next_line: Duration::from_secs(1),
            timeline: Vec::new(),
            spans: Vec::new(),
        };
        watch.header();
        watch
    }

    fn print(&mut self, line: String) {
        println!("{line}");
        self.timeline.push(line);
    }

    fn say(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }

    fn fault_starts(&mut self, label: &str, node: &str) {
        let now = self.start.elapsed();
        self.spans.push(Span {
            label: label.into(),
            start: now,
            end: now,
            nodes: vec![node.into()],
        });
    }

    fn fault_ends(&mut self) {
        let now = self.start.elapsed();
        if let Some(span) = self.spans.last_mut() {
            span.end = now;
        }
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
            match self.views.latest(id) {
                Some(seen) => {
                    for peer in ids.iter().filter(|p| *p != id) {
                        let cell = seen.view.peers.get(peer).map_or("?".into(), |p| {
                            let phi = p.phi.map_or("inf".into(), |phi| {
                                if phi >= 100.0 {
                                    "99+".into()
                                } else {
                                    format!("{phi:.1}")
                                }
                            });
                            let state = match p.state {
                                Verdict::Up => "up",
                                Verdict::Down => "down",
                            };
                            format!("{state:<4} {phi:>4}")
                        });
                        line.push_str(&format!("{cell:<11}"));
                    }
                }
                None => {
                    let state = self.cluster.state(id);
                    line.push_str(&format!("{:<22}", format!("({state})")));
                }
            }
        }
        self.print(line.trim_end().to_string());
    }

    /// One round: asks every running node for its view, prints the line if one is due. Fails
    /// if a node exited by itself (an attendee's `todo!()`, with `--impl exercise`).
    async fn poll(&mut self) -> Result<(), String> {
        self.views.poll().await.map_err(|e| e.to_string())?;
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
                .flat_map(|id| match self.views.latest(id) {
                    None => vec![format!("{id} does not answer")],
                    Some(seen) => ids
                        .iter()
                        .filter(|p| *p != id)
                        .filter(|p| {
                            seen.view
                                .peers
                                .get(*p)
                                .is_none_or(|v| v.state != Verdict::Up)
                        })
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
        state: Verdict,
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
        let word = match state {
            Verdict::Up => "up",
            Verdict::Down => "down",
        };
        let mut found: Vec<Detection> = Vec::new();
        let mut phi_suspected: Vec<(String, Duration)> = Vec::new();
        loop {
            self.poll().await?;
            for watcher in &watchers {
                if found.iter().any(|d| &d.watcher == watcher) {
                    continue;
                }
                let Some(seen) = self.views.latest(watcher) else {
                    continue;
                };
                let Some(peer) = seen.view.peers.get(target) else {
                    return Err(format!("{watcher} does not watch {target}"));
                };
                let suspected_before = phi_suspected.iter().any(|(w, _)| w == watcher);
                if peer.suspected && state == Verdict::Down && !suspected_before {
                    let at = seen.at.saturating_duration_since(since);
                    phi_suspected.push((watcher.clone(), at));
                }
                if peer.state != state {
                    continue;
                }
                // The verdict's moment, by the watcher: `for_ms` before its answer arrived.
                let decided = seen
                    .at
                    .checked_sub(Duration::from_millis(peer.for_ms))
                    .unwrap_or(seen.at);
                let detection = Detection {
                    watcher: watcher.clone(),
                    after: decided.saturating_duration_since(since),
                    why: peer.why.clone(),
                    phi_suspected: phi_suspected
                        .iter()
                        .find(|(w, _)| w == watcher)
                        .map(|(_, at)| *at),
                };
                self.say(&format!(
                    "{watcher} says {target} is {word}, {} ms after {what} ({}): {:.2} T",
                    detection.after.as_millis(),
                    detection.why,
                    detection.after.as_secs_f64() / T.as_secs_f64()
                ));
                found.push(detection);
            }
            if found.len() == watchers.len() {
                return Ok(found);
            }
            if since.elapsed() >= limit {
                let seen: Vec<&str> = found.iter().map(|d| d.watcher.as_str()).collect();
                return Err(format!(
                    "{} ms after {what}, only {seen:?} of {watchers:?} see {target} {word}",
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

/// What the demo holds its measurements to, as the report's checks.
fn checks(findings: &Findings) -> Vec<CheckResult> {
    let ms = |ds: &[Detection]| -> Vec<f64> {
        ds.iter().map(|d| d.after.as_secs_f64() * 1000.0).collect()
    };
    let (low, high) = paused_window();
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    let through_a_close = findings
        .paused
        .iter()
        .filter(|d| d.why.contains("link closed") || d.why.is_empty())
        .count();
    vec![
        check::smallest_at_least(
            format!("the paused {HUNG}: no verdict before 0.75 T - 100 ms"),
            &ms(&findings.paused),
            millis(low),
            "ms",
        ),
        check::largest_at_most(
            format!("the paused {HUNG}: every verdict by 1.25 T + 300 ms"),
            &ms(&findings.paused),
            millis(high),
            "ms",
        ),
        check::largest_at_most(
            format!("the paused {HUNG}: verdicts through a closed link instead of silence"),
            &[through_a_close as f64],
            0.0,
            "verdicts",
        ),
        check::largest_at_most(
            format!("the killed {KILLED}: every verdict in under 0.3 T"),
            &ms(&findings.killed),
            millis(killed_limit()),
            "ms",
        ),
    ]
}

/// The measured times against T.
fn times(findings: &Findings) {
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
}

fn lesson(passed: bool) {
    if passed {
        println!(
            "\nA hang costs about T before anyone can act on it; a crash costs milliseconds. Halve T\n\
             to halve the first, and every pause longer than about T (a GC, a swap, a full\n\
             network queue) is taken for a death.\n"
        );
    } else {
        println!(
            "\nThe times fell outside what net_ticktime promises. On a very busy machine the\n\
             nodes' timers run late: close what else is running and try again.\n"
        );
    }
}

/// A number in [0, 1) from a seed (splitmix64's finaliser).
fn unit_interval(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The run's report directory, as every scenario writes it (`verdict.json` with the checks,
/// `history.jsonl` of every ask, `report.html`, the node logs), plus `timeline.txt` (what the
/// terminal showed) and `detections.json` (each verdict's time). Returns the terminal's table.
fn write_report(
    args: &Demo,
    seed: u64,
    started: SystemTime,
    cluster: &Cluster,
    watch: &Watch<'_>,
    outcome: &Result<Findings, String>,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    std::fs::write(out.join("timeline.txt"), watch.timeline.join("\n") + "\n").map_err(io)?;
    let mut results = match outcome {
        Ok(findings) => checks(findings),
        Err(why) => vec![
            CheckResult::new("the demo ran to its end", 0.0, check::Bound::AtLeast, 1.0)
                .detail(why.clone()),
        ],
    };
    report::explain::attach_logs(&mut results, out, started, &watch.spans);
    if let Ok(findings) = outcome {
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
        let detections = json!({
            "tick_time_ms": T.as_millis() as u64,
            "paused": {"node": HUNG, "detections": as_json(&findings.paused)},
            "resumed": {"node": HUNG, "detections": as_json(&findings.resumed)},
            "killed": {"node": KILLED, "detections": as_json(&findings.killed)},
            "restarted": {"node": KILLED, "detections": as_json(&findings.restarted)},
        });
        let text = serde_json::to_string_pretty(&detections).map_err(|e| e.to_string())?;
        std::fs::write(out.join("detections.json"), text + "\n").map_err(io)?;
    }
    let history = watch.views.history();
    let load = LoadReport::from_history(history, cluster.ids().len());
    let title = "detection: a paused node and a killed one, as their peers see them";
    let run = report::Run {
        title,
        seed: Some(seed),
        load: &load,
        history,
        checks: &results,
        faults: &watch.spans,
        inconclusive: None,
    };
    report::write(out, &run).map_err(|e| e.to_string())
}
