//! `cargo lab demo crash-loop`: a child crash-loops while its sibling keeps serving, until the
//! crashes come faster than the supervisor's intensity allows, and the node goes down.
//!
//! The story needs each child's generation, which only the node knows (`GET /children`), next
//! to what a client sees, so this demo is code, beside the exercise it shows. It opens with
//! the three strategies: a node each, carts crashed once, the generations side by side. Then
//! it starts one logic node (one_for_one, at most 3 restarts within 2 s) and sends carts 50
//! calls a second throughout, recording each in a history. It prints a line a second: carts'
//! answers and errors, every child's generation, the supervisor's restarts, the node's state.
//! The script:
//! one crash of the mailer; a crash loop at one crash a second (under the intensity: restarted
//! every time, carts untouched); a crash loop at ten a second (over it: the supervisor gives
//! up, the node exits with status 70, and the harness shows its last line); then the level
//! above the node (here the harness, in production systemd or Kubernetes) starts it again.
//! It ends with the figures, the checks, and the run's report directory (`verdict.json`,
//! `history.jsonl` of every call, the node's log, `report.html` with the crash loops and the
//! outage shaded, `timeline.txt`).
//!
//! The lab runs it (`cargo lab demo crash-loop [--impl exercise]`) with the node binary it
//! built, solution or exercise: `--node <binary> --out <dir> [--seed S]`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use harness::Cluster;
use harness::check::{self, CheckResult};
use harness::demo::{Demo, broke, verdict};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Span};
use node_kit::sync::Mutex;
use serde_json::json;
use supervision::{Reply, Strategy, SupervisorView};

/// The supervisor's intensity: at most this many restarts within [`PERIOD`].
const INTENSITY: u32 = 3;
const PERIOD: Duration = Duration::from_secs(2);

/// The slow crash loop (one crash this long after every start: under the intensity) and the
/// fast one (over it).
const SLOW: Duration = Duration::from_millis(1000);
const FAST: Duration = Duration::from_millis(100);

/// Carts' load: one call every this long.
const CALL_EVERY: Duration = Duration::from_millis(20);
const CALL_TIMEOUT: Duration = Duration::from_millis(1000);

/// How often the demo reads `GET /children`.
const POLL: Duration = Duration::from_millis(100);

const CHILDREN: [&str; 4] = ["sessions", "carts", "orders", "mailer"];

const INTRO: &str = "\
A node is a supervision tree. The shop's logic node runs four services under one
supervisor, started in this order: sessions, carts, orders and the mailer. When one crashes,
the supervisor's strategy says which children restart with it; each child's generation
(how many times it was started) shows what happened. First, one node per strategy, and one
crash of carts each.
Then one node, one_for_one, with an intensity of 3 restarts within 2 s: one more than that,
and the supervisor concludes that restarting is not helping, stops every child and
escalates to the node, which exits. Carts gets 50 calls a second all along. The mailer
crashes once; then it reads a poison message 1 s after every start: one crash a second,
under the intensity. Then every 100 ms: ten a second, over it.";

fn main() -> ExitCode {
    let args = Demo::start("crash-loop", INTRO);
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let strategies = match runtime.block_on(strategies(&args.node)) {
        Ok(strategies) => strategies,
        Err(e) => return broke(&format!("the demo broke: {e}")),
    };
    println!(
        "starting 1 node of {} ({}): --strategy one_for_one --intensity {INTENSITY} \
         --period-ms {}\n",
        args.whose,
        args.node_name(),
        PERIOD.as_millis()
    );
    let flags = [
        "--strategy".to_string(),
        "one_for_one".into(),
        "--intensity".into(),
        INTENSITY.to_string(),
        "--period-ms".into(),
        PERIOD.as_millis().to_string(),
    ];
    let cluster = match Cluster::builder(&args.node).nodes(1).args(flags).start() {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the node did not start: {e}")),
    };
    let seed = args.seed_or(0);
    let started = SystemTime::now();
    let mut show = Show::new(&cluster);
    let outcome = runtime
        .block_on(script(&mut show))
        .map(|findings| Findings {
            strategies,
            ..findings
        });
    let written = write_report(&args, seed, started, &cluster, &show, &outcome);
    drop(cluster);
    match (outcome, written) {
        (Ok(findings), Ok(table)) => {
            figures(&findings);
            let passed = checks(&findings).iter().all(|c| c.passed);
            lesson(passed);
            // The report's path comes last: it is what the audience opens next.
            print!("{table}");
            verdict(passed)
        }
        (Ok(_), Err(e)) => broke(&format!("could not write the report: {e}")),
        (Err(e), written) => {
            if written.is_ok() {
                eprintln!("the node's log is in {}", args.out.display());
            }
            broke(&format!("the demo broke: {e}"))
        }
    }
}

/// What carts' callers got during one phase of the script.
#[derive(Debug, Clone, Default)]
struct Tally {
    ok: u64,
    failed: u64,
    /// The generations of carts that answered.
    carts_generations: Vec<u64>,
}

/// What the demo measured.
#[derive(Debug, Default)]
struct Findings {
    /// Per strategy, every child's generation after one crash of carts.
    strategies: Vec<(Strategy, Vec<u64>)>,
    /// Carts during the slow crash loop (under the intensity).
    slow: Tally,
    /// The mailer's generation when the slow loop started and when it ended.
    slow_mailer: (u64, u64),
    /// From the start of the fast crash loop to the node's exit.
    to_exit: Duration,
    /// The harness's account of the exit.
    exit: String,
    exit_code: Option<i32>,
    /// Carts while the node was down, and after it was started again.
    down: Tally,
    after: Tally,
}

/// The calls counted per second and per phase.
#[derive(Default)]
struct Counts {
    second: Tally,
    phase: Tally,
}

/// The load on carts, the node's latest view, and what the terminal shows of them.
struct Show<'a> {
    cluster: &'a Cluster,
    history: History,
    counts: Arc<Mutex<Counts>>,
    latest: Option<SupervisorView>,
    http: reqwest::Client,
    start: Instant,
    next_line: Duration,
    timeline: Vec<String>,
    spans: Vec<Span>,
}

impl<'a> Show<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        let start = Instant::now();
        let http = reqwest::Client::builder()
            .pool_idle_timeout(node_kit::peer::POOL_IDLE)
            .timeout(CALL_TIMEOUT)
            .no_proxy()
            .build()
            .expect("a plain HTTP client builds");
        let mut show = Show {
            cluster,
            history: History::starting_at(start),
            counts: Arc::default(),
            latest: None,
            http,
            start,
            next_line: Duration::from_secs(1),
            timeline: Vec::new(),
            spans: Vec::new(),
        };
        show.print(format!(
            "  {:>5}  {:>8}  {:>6}   {:>8} {:>5} {:>6} {:>6}   {:>8}  node",
            "t", "carts ok", "err", "sessions", "carts", "orders", "mailer", "restarts"
        ));
        show
    }

    fn print(&mut self, line: String) {
        println!("{line}");
        self.timeline.push(line);
    }

    fn say(&mut self, what: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }

    fn span_starts(&mut self, label: &str) {
        let now = self.start.elapsed();
        self.spans.push(Span {
            label: label.into(),
            start: now,
            end: now,
            nodes: vec!["n1".into()],
        });
    }

    fn span_ends(&mut self) {
        let now = self.start.elapsed();
        if let Some(span) = self.spans.last_mut() {
            span.end = now;
        }
    }

    /// Starts carts' load: a call every [`CALL_EVERY`], each on its own task, until the
    /// returned handle is aborted.
    fn load(&self) -> tokio::task::JoinHandle<()> {
        let url = format!("http://{}/call/carts", self.cluster.addr("n1"));
        let (http, history, counts) =
            (self.http.clone(), self.history.clone(), self.counts.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CALL_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let (http, url, counts) = (http.clone(), url.clone(), counts.clone());
                let call = history.invoke(
                    "n1",
                    Action::Request {
                        name: "POST /call/carts".into(),
                    },
                );
                tokio::spawn(async move {
                    let answer = match http.post(&url).send().await {
                        Ok(r) if r.status().is_success() => r
                            .json::<Reply>()
                            .await
                            .map_err(|e| format!("a reply that is not one: {e}")),
                        Ok(r) => Err(format!("HTTP {}", r.status())),
                        Err(e) => Err(node_kit::error::causes(&e)),
                    };
                    let mut guard = counts.lock();
                    let counts = &mut *guard;
                    match answer {
                        Ok(reply) => {
                            call.ok();
                            for tally in [&mut counts.second, &mut counts.phase] {
                                tally.ok += 1;
                                tally.carts_generations.push(reply.generation);
                            }
                        }
                        Err(e) => {
                            call.fail(e);
                            counts.second.failed += 1;
                            counts.phase.failed += 1;
                        }
                    }
                });
            }
        })
    }

    /// Ends a phase: what carts' callers got since the last one.
    fn phase(&self) -> Tally {
        std::mem::take(&mut self.counts.lock().phase)
    }

    /// One round: reads the node's view, prints the line if one is due.
    async fn poll(&mut self) {
        self.latest = match self.cluster.is_running("n1") {
            true => match self
                .http
                .get(format!("http://{}/children", self.cluster.addr("n1")))
                .timeout(Duration::from_millis(300))
                .send()
                .await
            {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            },
            false => None,
        };
        while self.start.elapsed() >= self.next_line {
            self.line();
            self.next_line += Duration::from_secs(1);
        }
    }

    fn line(&mut self) {
        let second = std::mem::take(&mut self.counts.lock().second);
        let state = self.cluster.state("n1").to_string();
        let children = match &self.latest {
            Some(view) => {
                let generations: Vec<String> = CHILDREN
                    .iter()
                    .map(|name| {
                        view.children
                            .iter()
                            .find(|c| c.name == *name)
                            .map_or("?".into(), |c| c.generation.to_string())
                    })
                    .collect();
                format!(
                    "{:>8} {:>5} {:>6} {:>6}   {:>8}",
                    generations[0], generations[1], generations[2], generations[3], view.restarts
                )
            }
            None => format!("{:>8} {:>5} {:>6} {:>6}   {:>8}", "-", "-", "-", "-", "-"),
        };
        let line = format!(
            "  {:>4}s  {:>8}  {:>6}   {children}  {state}",
            self.next_line.as_secs(),
            second.ok,
            second.failed
        );
        self.print(line);
    }

    async fn run_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            self.poll().await;
            tokio::time::sleep(POLL).await;
        }
    }

    /// The mailer's generation as the node last showed it.
    fn mailer(&self) -> u64 {
        self.latest
            .as_ref()
            .and_then(|v| v.children.iter().find(|c| c.name == "mailer"))
            .map_or(0, |c| c.generation)
    }

    async fn internal(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), String> {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.cluster.addr("n1")))
            .header(node_kit::COOKIE_HEADER, self.cluster.cookie());
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{path} answered {}", r.status())),
            Err(e) => Err(format!("{path}: {}", node_kit::error::causes(&e))),
        }
    }

    async fn crash_loop(&self, every: Option<Duration>) -> Result<(), String> {
        match every {
            Some(every) => {
                let body = json!({ "every_ms": every.as_millis() as u64 });
                self.internal(
                    reqwest::Method::PUT,
                    "/internal/crash-loop/mailer",
                    Some(body),
                )
                .await
            }
            None => {
                self.internal(reqwest::Method::DELETE, "/internal/crash-loop/mailer", None)
                    .await
            }
        }
    }

    /// Fails if the node exited: a todo!() in the attendee's supervisor, with `--impl exercise`.
    fn alive(&self) -> Result<(), String> {
        self.cluster.check_alive().map_err(|e| e.to_string())
    }
}

/// What each strategy restarts: one node per strategy (one after another: the harness runs
/// one cluster at a time), carts crashed once, every child's generation read back.
async fn strategies(node: &Path) -> Result<Vec<(Strategy, Vec<u64>)>, String> {
    println!("first, what one crash of carts restarts under each strategy (a node each):\n");
    println!(
        "  {:<14} {:<34} {:>8} {:>5} {:>6} {:>6}",
        "strategy", "restarts", "sessions", "carts", "orders", "mailer"
    );
    let mut seen = Vec::new();
    for (strategy, name, restarts) in [
        (Strategy::OneForOne, "one_for_one", "the child that crashed"),
        (Strategy::OneForAll, "one_for_all", "every child"),
        (
            Strategy::RestForOne,
            "rest_for_one",
            "that child and those started after",
        ),
    ] {
        let cluster = Cluster::builder(node)
            .nodes(1)
            .args(["--strategy", name])
            .start()
            .map_err(|e| format!("the {name} node did not start: {e}"))?;
        let n1 = cluster.http("n1");
        let crashed = n1.post("/internal/crash/carts").send().await;
        if !crashed.is_ok_and(|r| r.status().is_success()) {
            return Err(format!("the {name} node refused to crash carts"));
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let view = loop {
            cluster.check_alive().map_err(|e| e.to_string())?;
            if let Ok(view) = n1.get_json::<SupervisorView>("/children").await
                && view.restarts >= 1
            {
                break view;
            }
            if Instant::now() > deadline {
                return Err(format!("the {name} node did not restart carts within 3 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let generations: Vec<u64> = view.children.iter().map(|c| c.generation).collect();
        let cells: Vec<String> = generations.iter().map(u64::to_string).collect();
        println!(
            "  {name:<14} {restarts:<34} {:>8} {:>5} {:>6} {:>6}",
            cells[0], cells[1], cells[2], cells[3]
        );
        seen.push((strategy, generations));
    }
    println!("\n  (carts depend on sessions, orders on carts, the mailer on orders: rest_for_one");
    println!("  restarts what depended on carts and leaves sessions alone.)\n");
    Ok(seen)
}

/// The demo's script: healthy, one crash, a slow crash loop, a fast one, the node restarted.
async fn script(show: &mut Show<'_>) -> Result<Findings, String> {
    let mut findings = Findings::default();
    let load = show.load();
    show.run_for(Duration::from_secs(2)).await;
    show.alive()?;

    show.say("POST /internal/crash/mailer: the mailer panics. one_for_one restarts it alone.");
    show.internal(reqwest::Method::POST, "/internal/crash/mailer", None)
        .await?;
    show.run_for(Duration::from_secs(2)).await;
    show.alive()?;

    show.say(&format!(
        "a poison message: the mailer now panics {} s after every start. One crash a second \
         is under 3 in 2 s: restarted every time.",
        SLOW.as_secs()
    ));
    show.phase();
    findings.slow_mailer.0 = show.mailer();
    show.span_starts("crash loop: 1 a second");
    show.crash_loop(Some(SLOW)).await?;
    show.run_for(Duration::from_secs(6)).await;
    show.alive()?;
    findings.slow = show.phase();
    findings.slow_mailer.1 = show.mailer();
    show.span_ends();
    show.say(&format!(
        "the mailer went from generation {} to {}; carts answered {} calls and failed {}.",
        findings.slow_mailer.0, findings.slow_mailer.1, findings.slow.ok, findings.slow.failed
    ));

    show.say(&format!(
        "now every {} ms: ten crashes a second. The fourth restart within 2 s is one too many.",
        FAST.as_millis()
    ));
    show.span_starts("crash loop: 10 a second");
    let fast = Instant::now();
    show.crash_loop(Some(FAST)).await?;
    let exit = loop {
        show.poll().await;
        if let Err(exited) = show.cluster.check_alive() {
            break exited;
        }
        if fast.elapsed() > Duration::from_secs(5) {
            return Err("the supervisor did not give up within 5 s of 10 crashes a second".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    findings.to_exit = fast.elapsed();
    show.span_ends();
    show.phase();
    show.span_starts("the node is down");
    findings.exit = exit.to_string();
    findings.exit_code = exit_code(&findings.exit);
    let last_line = escalation_line(&show.cluster.log_path("n1"))
        .unwrap_or_else(|| "(no escalation line in its log)".into());
    show.say(&format!(
        "the supervisor gave up {} ms later. The harness sees n1 exit ({}); its last line:",
        findings.to_exit.as_millis(),
        findings
            .exit_code
            .map_or("no status".into(), |c| format!("exit status {c}"))
    ));
    show.say(&format!("  {last_line}"));
    show.run_for(Duration::from_secs(2)).await;
    findings.down = show.phase();

    show.say("the level above the node (the harness here; systemd, Kubernetes, heart in production) starts it again.");
    show.cluster.restart("n1").map_err(|e| e.to_string())?;
    show.span_ends();
    show.phase();
    show.run_for(Duration::from_secs(3)).await;
    show.alive()?;
    findings.after = show.phase();
    show.say("a fresh node: every child at generation 1, carts serving.");
    load.abort();
    Ok(findings)
}

/// `exit code 70` in the harness's account of an exit.
fn exit_code(exited: &str) -> Option<i32> {
    let rest = exited.split("exit code ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The node's escalation line, from its log.
fn escalation_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains("escalation:") && l.starts_with("node "))
        .map(str::to_string)
}

fn checks(findings: &Findings) -> Vec<CheckResult> {
    let slow_restarts = findings
        .slow_mailer
        .1
        .saturating_sub(findings.slow_mailer.0) as f64;
    let carts_generations: Vec<f64> = findings
        .slow
        .carts_generations
        .iter()
        .map(|g| *g as f64)
        .collect();
    let wrong_sets = findings
        .strategies
        .iter()
        .filter(|(strategy, generations)| {
            let expected: &[u64] = match strategy {
                Strategy::OneForOne => &[1, 2, 1, 1],
                Strategy::OneForAll => &[2, 2, 2, 2],
                Strategy::RestForOne => &[1, 2, 2, 2],
            };
            generations.as_slice() != expected
        })
        .count();
    vec![
        check::largest_at_most(
            "strategies that restarted another set than theirs after a crash of carts",
            &[wrong_sets as f64],
            0.0,
            "strategies",
        ),
        check::largest_at_most(
            "carts: failed calls while the mailer crashed once a second",
            &[findings.slow.failed as f64],
            0.0,
            "calls",
        ),
        check::smallest_at_least(
            "carts: calls answered while the mailer crashed once a second",
            &[findings.slow.ok as f64],
            100.0,
            "calls",
        ),
        check::largest_at_most(
            "carts: its generation while the mailer crashed (never restarted)",
            &carts_generations,
            1.0,
            "",
        ),
        check::smallest_at_least(
            "the mailer: restarts during 6 s of one crash a second",
            &[slow_restarts],
            4.0,
            "restarts",
        ),
        CheckResult::new(
            "the node's exit status after ten crashes a second (70: escalation)",
            findings.exit_code.map_or(-1.0, f64::from),
            check::Bound::AtLeast,
            70.0,
        )
        .detail(findings.exit.lines().next().unwrap_or_default().to_string()),
        check::largest_at_most(
            "from ten crashes a second to the node's exit",
            &[findings.to_exit.as_secs_f64() * 1000.0],
            2000.0,
            "ms",
        ),
        check::smallest_at_least(
            "carts: calls answered after the node was started again",
            &[findings.after.ok as f64],
            50.0,
            "calls",
        ),
    ]
}

fn figures(findings: &Findings) {
    println!("\nwhat carts' callers got:");
    println!("  {:<42} {:>8} {:>8}", "phase", "answered", "failed");
    for (phase, tally) in [
        ("the mailer crashing once a second (6 s)", &findings.slow),
        ("the node down after the escalation (2 s)", &findings.down),
        ("the node started again (3 s)", &findings.after),
    ] {
        println!("  {phase:<42} {:>8} {:>8}", tally.ok, tally.failed);
    }
    println!(
        "\nthe mailer restarted {} times in the slow loop; at ten a second the supervisor gave up \
         after {} ms ({}).",
        findings
            .slow_mailer
            .1
            .saturating_sub(findings.slow_mailer.0),
        findings.to_exit.as_millis(),
        findings
            .exit_code
            .map_or("no exit status".into(), |c| format!("exit status {c}"))
    );
}

fn lesson(passed: bool) {
    if passed {
        println!(
            "\nA crash the supervisor can absorb costs one child a restart and nobody else \
             anything.\nA crash loop faster than its intensity is not absorbed: it climbs the \
             tree, and the node\ngoes down in one clean step that the level above can see and \
             act on.\n"
        );
    } else {
        println!(
            "\nThe run did not show what it should: see the checks above and the node's log in \
             the report.\n"
        );
    }
}

/// The run's report directory (`verdict.json`, `history.jsonl` of every call, `report.html`,
/// the node's log) plus `timeline.txt`. Returns the terminal's table.
fn write_report(
    args: &Demo,
    seed: u64,
    started: SystemTime,
    cluster: &Cluster,
    show: &Show<'_>,
    outcome: &Result<Findings, String>,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    std::fs::write(out.join("timeline.txt"), show.timeline.join("\n") + "\n").map_err(io)?;
    let mut results = match outcome {
        Ok(findings) => checks(findings),
        Err(why) => vec![
            CheckResult::new("the demo ran to its end", 0.0, check::Bound::AtLeast, 1.0)
                .detail(why.clone()),
        ],
    };
    report::explain::attach_logs(&mut results, out, started, &show.spans);
    let load = LoadReport::from_history(&show.history, 1);
    let run = report::Run {
        title: "crash-loop: a child crash-looping under its supervisor, then past its intensity",
        seed: Some(seed),
        load: &load,
        history: &show.history,
        checks: &results,
        faults: &show.spans,
        inconclusive: None,
    };
    report::write(out, &run).map_err(|e| e.to_string())
}
