//! `cargo lab demo retry-storm`: what retries do to the service they retry against, measured
//! where it hurts, in the arrivals at the payment node per 100 ms.
//!
//! Two payment nodes of exercise 04. Two groups of front-end clients each send 100
//! authorizations a second at least once, each group to its own node, so each node's arrival
//! log shows one group's retries: n1's clients are the naive control, n2's apply the lesson.
//! - **Act 1, an outage ends.** Both nodes hang for 0.8 s (their links a blackhole, every
//!   request held), then every held connection is reset at once: about 80 requests per group
//!   fail at the same instant. Both groups back off 2 s doubling to 4 s; n1's without jitter,
//!   so its 80 come back together, n2's with full jitter, so they spread over two seconds.
//! - **Act 2, the service fails for everyone.** For 1 s every reply is lost (the work done, the
//!   answer gone). Both groups retry fast (20 ms doubling to 100 ms, jittered, a 1 s deadline);
//!   n1's without a budget, so each request retries until its deadline, n2's with a retry
//!   budget of 10% (a burst of 5), so the failing service sees little more than its usual load,
//!   and the requests the budget refuses give up instead.
//!
//! A line a second shows what each group sent per 100 ms (its attempts, counted by its
//! transport). The figures and the checks come from the nodes' own arrival logs, read at the
//! end. The report directory holds `arrivals.svg` (arrivals per 100 ms at each node, the
//! faults shaded), `arrivals.csv`, `timeline.txt`, the node logs, and the harness's report of
//! every send (`report.html`, `verdict.json`, `history.jsonl`).
//!
//! The lab runs it (`cargo lab demo retry-storm [--impl exercise] [--seed S]`) with the node
//! binary it built, solution or exercise: `--node <binary> --out <dir> [--seed S]`. With
//! `--impl exercise` the senders and the budget are the attendee's code.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use harness::Cluster;
use harness::check::{self, Bound, CheckResult};
use harness::demo::{Demo, broke, verdict};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Span};
use retries_solution::{
    Arrival, Backoff, GiveUp, HttpTransport, Operation, Payment, PaymentError, Receipt,
    RetryBudget, Sender, Transport, WallClock,
};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// The window arrivals are counted in.
const WINDOW: Duration = Duration::from_millis(100);
/// Each group sends one authorization this often: 100 a second, 10 per window.
const EVERY: Duration = Duration::from_millis(10);
/// The naive control's node, and the careful group's.
const NAIVE: &str = "n1";
const CAREFUL: &str = "n2";

// Act 1: 4 s of sends; the nodes hang from 1 s for 0.8 s, then their connections reset.
const STORM_SENDS: usize = 400;
const HANG_AT: Duration = Duration::from_millis(1000);
const HANG: Duration = Duration::from_millis(800);
const STORM_DEADLINE: Duration = Duration::from_secs(6);
const STORM_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    cap: Duration::from_secs(4),
    jitter: true,
};

// Act 2: 3 s of sends; every reply is lost from 1 s for 1 s.
const FAIL_SENDS: usize = 300;
const FAIL_AT: Duration = Duration::from_millis(1000);
const FAIL_FOR: Duration = Duration::from_millis(1000);
const FAIL_DEADLINE: Duration = Duration::from_secs(1);
const FAIL_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(20),
    cap: Duration::from_millis(100),
    jitter: true,
};
const BUDGET_PERCENT: u32 = 10;
const BUDGET_BURST: u32 = 5;

const INTRO: &str = "\
Retries are load. Two payment nodes of exercise 04; two groups of front-end clients send 100
authorizations a second each, at least once, n1's clients the naive control, n2's the lesson.
Act 1, an outage ends: both nodes hang for 0.8 s, then every held request fails at the same
instant. Both groups back off 2 s; n1's without jitter, so its failed requests come back in
the same 100 ms, n2's with full jitter (a wait drawn from 0 to 2 s), so they spread out.
Act 2, the service fails for everyone: for 1 s every reply is lost. Both groups retry fast
(20 ms doubling to 100 ms) until a 1 s deadline; n1's as often as they like, n2's only while
a retry budget of 10% has a token. Watch the attempts per 100 ms, then the arrivals.";

/// A transport that notes when each attempt starts: what a group sends, per window.
#[derive(Clone)]
struct Counted {
    inner: HttpTransport,
    t0: Instant,
    attempts: Arc<Mutex<Vec<Duration>>>,
}

impl Transport for Counted {
    async fn attempt(
        &self,
        node: &str,
        op: Operation,
        payment: &Payment,
        timeout: Duration,
    ) -> Result<Receipt, PaymentError> {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.push(self.t0.elapsed());
        }
        self.inner.attempt(node, op, payment, timeout).await
    }
}

/// One group of clients: a sender to its own node.
struct Group {
    node: &'static str,
    sender: Arc<Sender<Counted, WallClock>>,
    attempts: Arc<Mutex<Vec<Duration>>>,
}

impl Group {
    fn new(
        cluster: &Cluster,
        node: &'static str,
        t0: Instant,
        backoff: Backoff,
        seed: u64,
    ) -> Group {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let transport = Counted {
            inner: HttpTransport::new([(node, cluster.addr(node).to_string())]),
            t0,
            attempts: attempts.clone(),
        };
        let sender = Sender::new(transport, WallClock::default(), vec![node.to_string()])
            .backoff(backoff)
            .seed(seed);
        Group {
            node,
            sender: Arc::new(sender),
            attempts,
        }
    }

    fn with_budget(self, budget: Arc<RetryBudget>) -> Group {
        let sender = Arc::try_unwrap(self.sender)
            .unwrap_or_else(|_| unreachable!("a new group's sender is not shared yet"))
            .budget(budget);
        Group {
            sender: Arc::new(sender),
            ..self
        }
    }

    /// Its attempts in `[from, to)`, per window.
    fn attempts_per_window(&self, from: Duration, to: Duration) -> Vec<usize> {
        let attempts = self.attempts.lock().map(|a| a.clone()).unwrap_or_default();
        let windows = ((to - from).as_millis() / WINDOW.as_millis()) as usize;
        check::per_window(&attempts, from, WINDOW, windows)
    }
}

/// How each send of a batch ended.
#[derive(Default, Debug, Clone, Copy)]
struct Outcomes {
    sent: usize,
    ok: usize,
    gave_up_budget: usize,
    gave_up_deadline: usize,
    other: usize,
}

/// What one act measured at one node, from its arrival log.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    /// The median arrivals per window in the act's first 800 ms, before any fault.
    steady: usize,
    /// The most arrivals in any 100 ms after the fault began (sliding).
    peak: usize,
    /// The act's requests that first reached the node while the fault lasted, and every
    /// arrival of them: their load on the service, retries included.
    hit_arrivals: usize,
    hit_requests: usize,
}

/// The run: both acts' outcomes and spans, the node arrivals on the demo's clock.
struct Storm {
    acts: [Act; 2],
    /// Each node's arrivals (request id, time since the demo's start).
    arrivals: Vec<(&'static str, Vec<(String, Duration)>)>,
    spans: Vec<Span>,
}

struct Act {
    batch: &'static str,
    /// From the demo's start: when its first send went, when its fault began and ended.
    start: Duration,
    fault: (Duration, Duration),
    naive: Outcomes,
    careful: Outcomes,
}

fn main() -> ExitCode {
    let args = Demo::start("retry-storm", INTRO);
    println!(
        "starting 2 payment nodes of {} ({})\n",
        args.whose,
        args.node_name(),
    );
    // The seed draws the jitter of n2's clients.
    let seed = args.seed_or_random();
    let cluster = match Cluster::builder(&args.node).nodes(2).seed(seed).start() {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the nodes did not start: {e}")),
    };
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let started = SystemTime::now();
    let t0 = Instant::now();
    let history = History::starting_at(t0);
    let mut timeline = Timeline::new(t0);
    let outcome = runtime.block_on(script(&cluster, t0, seed, &history, &mut timeline));
    let written = write_report(
        &args, seed, started, &cluster, &history, &timeline, &outcome,
    );
    drop(cluster);
    match (outcome, written) {
        (Ok(run), Ok(table)) => {
            let (results, figures) = checks(&run);
            println!("{figures}");
            let passed = results.iter().all(|c| c.passed);
            lesson(passed);
            println!(
                "another draw of the jitter: cargo lab demo retry-storm; this one again: --seed {seed}\n"
            );
            // The report's path comes last: it is what the audience opens next.
            println!(
                "  arrivals per 100 ms: {}",
                args.out.join("arrivals.svg").display()
            );
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

/// What the terminal showed, kept for `timeline.txt`.
struct Timeline {
    t0: Instant,
    lines: Vec<String>,
}

impl Timeline {
    fn new(t0: Instant) -> Timeline {
        Timeline {
            t0,
            lines: Vec::new(),
        }
    }

    fn print(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }

    fn say(&mut self, what: &str) {
        let at = self.t0.elapsed().as_secs_f64();
        self.print(format!("  >> {at:>5.1} s  {what}"));
    }
}

/// The two acts.
async fn script(
    cluster: &Cluster,
    t0: Instant,
    seed: u64,
    history: &History,
    timeline: &mut Timeline,
) -> Result<Storm, String> {
    let mut spans = Vec::new();
    // One healthy send per node first: the node works, the attendee's unwritten function
    // fails here, once, with its message, and the probe's arrival puts the node's clock on
    // the demo's (it went out when it was sent: one attempt, over loopback).
    let mut probes = Vec::new();
    for node in [NAIVE, CAREFUL] {
        let group = Group::new(cluster, node, t0, STORM_BACKOFF, seed);
        let sender = group.sender.clone();
        let sent_at = t0.elapsed();
        let send = async move {
            sender
                .send_at_least_once(Operation::Authorize, &payment("probe", 0), STORM_DEADLINE)
                .await
        };
        match guarded(send).await? {
            Ok(_) => probes.push((node, sent_at)),
            Err(e) => return Err(format!("{node} did not authorize a healthy payment: {e}")),
        }
    }

    timeline.say(&format!(
        "act 1, an outage ends. {NAIVE}'s clients back off 2 s without jitter, {CAREFUL}'s with full jitter."
    ));
    let naive = Group::new(
        cluster,
        NAIVE,
        t0,
        Backoff {
            jitter: false,
            ..STORM_BACKOFF
        },
        seed,
    );
    let careful = Group::new(cluster, CAREFUL, t0, STORM_BACKOFF, seed);
    let start = t0.elapsed();
    let fault = (start + HANG_AT, start + HANG_AT + HANG);
    spans.push(Span {
        label: "hang, then reset".into(),
        start: fault.0,
        end: fault.1,
        nodes: vec![NAIVE.into(), CAREFUL.into()],
    });
    let outage = async {
        tokio::time::sleep(HANG_AT).await;
        for node in [NAIVE, CAREFUL] {
            cluster.client_link(node).blackhole();
        }
        tokio::time::sleep(HANG).await;
        for node in [NAIVE, CAREFUL] {
            cluster.client_link(node).heal();
            cluster.client_link(node).reset();
        }
    };
    let header = format!("no jitter ({NAIVE})|full jitter ({CAREFUL})");
    let outcomes = live(
        timeline,
        &header,
        [&naive, &careful],
        start,
        [
            (HANG_AT, "both nodes hang: every request is held"),
            (
                HANG_AT + HANG,
                "the hang ends: every held connection is reset at once",
            ),
        ],
        async {
            tokio::join!(
                send_batch(&naive, "storm", STORM_SENDS, STORM_DEADLINE, history),
                send_batch(&careful, "storm", STORM_SENDS, STORM_DEADLINE, history),
                outage,
            )
        },
    )
    .await;
    let (naive_out, careful_out, ()) = outcomes;
    let storm = Act {
        batch: "storm",
        start,
        fault,
        naive: naive_out?,
        careful: careful_out?,
    };
    timeline.say(&format!(
        "act 1 done: {NAIVE}'s clients {} of {} authorized, {CAREFUL}'s {} of {}.",
        storm.naive.ok, storm.naive.sent, storm.careful.ok, storm.careful.sent
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    timeline.say(&format!(
        "act 2, the service fails for everyone. Both retry fast; {CAREFUL}'s within a {BUDGET_PERCENT}% budget."
    ));
    let naive = Group::new(cluster, NAIVE, t0, FAIL_BACKOFF, seed);
    let budget = Arc::new(RetryBudget::new(BUDGET_PERCENT, BUDGET_BURST));
    let careful =
        Group::new(cluster, CAREFUL, t0, FAIL_BACKOFF, seed.wrapping_add(1)).with_budget(budget);
    let start = t0.elapsed();
    let fault = (start + FAIL_AT, start + FAIL_AT + FAIL_FOR);
    spans.push(Span {
        label: "every reply lost".into(),
        start: fault.0,
        end: fault.1,
        nodes: vec![NAIVE.into(), CAREFUL.into()],
    });
    let failing = async {
        tokio::time::sleep(FAIL_AT).await;
        for node in [NAIVE, CAREFUL] {
            cluster.client_link(node).drop_response(1.0);
        }
        tokio::time::sleep(FAIL_FOR).await;
        for node in [NAIVE, CAREFUL] {
            cluster.client_link(node).clear();
        }
    };
    let header = format!("no budget ({NAIVE})|{BUDGET_PERCENT}% budget ({CAREFUL})");
    let (naive_out, careful_out, ()) = live(
        timeline,
        &header,
        [&naive, &careful],
        start,
        [
            (
                FAIL_AT,
                "every reply is lost: the work is done, the answer never comes",
            ),
            (FAIL_AT + FAIL_FOR, "the replies come through again"),
        ],
        async {
            tokio::join!(
                send_batch(&naive, "failing", FAIL_SENDS, FAIL_DEADLINE, history),
                send_batch(&careful, "failing", FAIL_SENDS, FAIL_DEADLINE, history),
                failing,
            )
        },
    )
    .await;
    let failing = Act {
        batch: "failing",
        start,
        fault,
        naive: naive_out?,
        careful: careful_out?,
    };
    timeline.say(&format!(
        "act 2 done: {NAIVE}'s clients {} of {} authorized; {CAREFUL}'s {} of {}, {} stopped by the budget.",
        failing.naive.ok,
        failing.naive.sent,
        failing.careful.ok,
        failing.careful.sent,
        failing.careful.gave_up_budget
    ));

    for node in [NAIVE, CAREFUL] {
        cluster.client_link(node).clear();
    }
    let mut arrivals = Vec::new();
    for (node, probe_sent) in probes {
        arrivals.push((node, arrivals_of(cluster, node, probe_sent).await?));
    }
    Ok(Storm {
        acts: [storm, failing],
        arrivals,
        spans,
    })
}

/// Runs `work` while printing, once a second, each group's attempts per window of that
/// second, and the narration at its moments (from `start`).
async fn live<F: std::future::Future>(
    timeline: &mut Timeline,
    header: &str,
    groups: [&Group; 2],
    start: Duration,
    moments: [(Duration, &str); 2],
    work: F,
) -> F::Output {
    let (left, right) = header.split_once('|').unwrap_or((header, ""));
    timeline.print(format!(
        "  {:>6}  attempts per 100 ms, each second: {left:<26}| {right}",
        "t"
    ));
    let done = AtomicBool::new(false);
    let printer = async {
        let mut said = 0;
        let mut second = start;
        loop {
            let next = second + Duration::from_secs(1);
            while timeline.t0.elapsed() < next {
                if said < moments.len() && timeline.t0.elapsed() >= start + moments[said].0 {
                    timeline.say(moments[said].1);
                    said += 1;
                }
                if done.load(Ordering::Relaxed) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let row = |g: &Group| {
                g.attempts_per_window(second, next)
                    .iter()
                    .map(|n| format!("{n:>3}"))
                    .collect::<String>()
            };
            timeline.print(format!(
                "  {:>5.1}s  {:<35}| {}",
                second.as_secs_f64(),
                row(groups[0]),
                row(groups[1])
            ));
            second = next;
        }
    };
    let work = async {
        let out = work.await;
        done.store(true, Ordering::Relaxed);
        out
    };
    let (out, ()) = tokio::join!(work, printer);
    out
}

/// Payment `i` of a batch: its request id and order are `<batch>-<i>`.
fn payment(batch: &str, i: usize) -> Payment {
    Payment {
        request_id: format!("{batch}-{i}"),
        order: format!("{batch}-{i}"),
        amount_cents: 1999,
        card: "4242424242424242".into(),
    }
}

/// Awaits a send in its own task, so an attendee's `todo!()` ends the demo with its message.
async fn guarded<F>(send: F) -> Result<F::Output, String>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(send).await.map_err(panicked)
}

fn panicked(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            format!("a send panicked: {why}")
        }
        Err(e) => format!("a send did not finish: {e}"),
    }
}

/// Sends `count` authorizations of `batch` at least once, one every [`EVERY`] (open loop),
/// each recorded in the history, and counts how they ended.
async fn send_batch(
    group: &Group,
    batch: &str,
    count: usize,
    deadline: Duration,
    history: &History,
) -> Result<Outcomes, String> {
    let mut schedule = tokio::time::interval(EVERY);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sends = JoinSet::new();
    for i in 0..count {
        schedule.tick().await;
        let sender = group.sender.clone();
        let payment = payment(batch, i);
        let op = history.invoke(
            group.node,
            Action::Request {
                name: format!("authorize {}", payment.request_id),
            },
        );
        sends.spawn(async move {
            let outcome = sender
                .send_at_least_once(Operation::Authorize, &payment, deadline)
                .await;
            match &outcome {
                Ok(_) => op.ok(),
                Err(PaymentError::Business { code, .. }) => op.fail(code.clone()),
                Err(e @ PaymentError::GaveUp { why, .. }) => {
                    let why = match why {
                        GiveUp::Budget => "gave up: budget",
                        GiveUp::Deadline => "gave up: deadline",
                    };
                    op.unknown(format!("{why}: {e}"));
                }
                Err(e) => op.unknown(e.to_string()),
            }
            outcome
        });
    }
    let mut outcomes = Outcomes {
        sent: count,
        ..Outcomes::default()
    };
    while let Some(done) = sends.join_next().await {
        match done.map_err(panicked)? {
            Ok(_) => outcomes.ok += 1,
            Err(PaymentError::GaveUp {
                why: GiveUp::Budget,
                ..
            }) => outcomes.gave_up_budget += 1,
            Err(PaymentError::GaveUp {
                why: GiveUp::Deadline,
                ..
            }) => outcomes.gave_up_deadline += 1,
            Err(_) => outcomes.other += 1,
        }
    }
    Ok(outcomes)
}

/// Every request that reached `node`, as times since the demo's start: the node's clock is
/// set by the probe, whose one attempt reached it as it was sent, at `probe_sent`.
async fn arrivals_of(
    cluster: &Cluster,
    node: &str,
    probe_sent: Duration,
) -> Result<Vec<(String, Duration)>, String> {
    let answer = cluster
        .http(node)
        .get_json::<Vec<Arrival>>("/internal/arrivals")
        .await;
    let log = cluster
        .expect_answer(answer, &format!("reading {node}'s arrivals"))
        .await;
    let origin = log
        .iter()
        .find(|a| a.request_id == "probe-0")
        .map(|a| a.t_us)
        .ok_or_else(|| format!("{node}'s arrival log has no probe"))?;
    Ok(log
        .iter()
        .filter(|a| a.t_us >= origin)
        .map(|a| {
            let since = Duration::from_micros(a.t_us - origin);
            (a.request_id.clone(), probe_sent + since)
        })
        .collect())
}

/// The figures of one act at one node.
fn measure(act: &Act, arrivals: &[(String, Duration)]) -> Measured {
    let prefix = format!("{}-", act.batch);
    let times: Vec<Duration> = arrivals
        .iter()
        .filter(|(id, _)| id.starts_with(&prefix))
        .map(|(_, t)| *t)
        .collect();
    let mut before = check::per_window(&times, act.start, WINDOW, 8);
    before.sort();
    let after: Vec<Duration> = times
        .iter()
        .copied()
        .filter(|t| *t >= act.fault.0)
        .collect();
    // The requests that first reached the node while the fault lasted, and every arrival of
    // them: the node's own view, whenever the client got round to sending them.
    let mut first: HashMap<&str, Duration> = HashMap::new();
    for (id, t) in arrivals.iter().filter(|(id, _)| id.starts_with(&prefix)) {
        first.entry(id.as_str()).or_insert(*t);
    }
    let hit = |id: &str| {
        first
            .get(id)
            .is_some_and(|t| *t >= act.fault.0 && *t < act.fault.1)
    };
    let hit_requests = first.keys().filter(|id| hit(id)).count();
    let hit_arrivals = arrivals.iter().filter(|(id, _)| hit(id)).count();
    Measured {
        steady: before[before.len() / 2],
        peak: check::peak_rate(&after, WINDOW),
        hit_arrivals,
        hit_requests,
    }
}

/// The checks the demo holds its figures to, and the figures as the terminal shows them.
fn checks(run: &Storm) -> (Vec<CheckResult>, String) {
    let [storm, failing] = &run.acts;
    let at = |node: &str, act: &Act| -> Measured {
        run.arrivals
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, log)| measure(act, log))
            .unwrap_or_default()
    };
    let (n1, n2) = (at(NAIVE, storm), at(CAREFUL, storm));
    let steady = n1.steady.max(n2.steady).max(1);
    let (f1, f2) = (at(NAIVE, failing), at(CAREFUL, failing));
    let ratio = |m: &Measured| m.hit_arrivals as f64 / m.hit_requests.max(1) as f64;
    let results = vec![
        CheckResult::new(
            format!("act 1: {CAREFUL}'s jittered clients keep the peak near the steady rate (at most 3.5x)"),
            n2.peak as f64 / steady as f64,
            Bound::AtMost,
            3.5,
        )
        .unit("x steady")
        .detail(format!("peak {} per 100 ms, steady {steady}", n2.peak)),
        CheckResult::new(
            // 8 to 9x on a quiet laptop; a busy one runs the clients' timers late, which
            // spreads the wave a little (5x beside two builds).
            format!("act 1: {NAIVE}'s unjittered clients come back together (at least 3x)"),
            n1.peak as f64 / steady as f64,
            Bound::AtLeast,
            3.0,
        )
        .unit("x steady")
        .detail(format!("peak {} per 100 ms, steady {steady}", n1.peak)),
        CheckResult::new(
            format!("act 2: a {BUDGET_PERCENT}% budget keeps {CAREFUL}'s failing service near its usual load (at most 1.5x)"),
            ratio(&f2),
            Bound::AtMost,
            1.5,
        )
        .unit("x")
        .detail(format!(
            "{} arrivals for the {} requests that first reached it while every reply was lost",
            f2.hit_arrivals, f2.hit_requests
        )),
        CheckResult::new(
            format!("act 2: without a budget, {NAIVE}'s clients multiply the failing service's load (at least 3x)"),
            ratio(&f1),
            Bound::AtLeast,
            3.0,
        )
        .unit("x")
        .detail(format!(
            "{} arrivals for the {} requests that first reached it while every reply was lost",
            f1.hit_arrivals, f1.hit_requests
        )),
    ];
    let mut figures = String::new();
    let _ = writeln!(
        figures,
        "\nact 1, an outage ends: arrivals per 100 ms at the payment node"
    );
    let _ = writeln!(
        figures,
        "  {:<24} {:>7} {:>6} {:>8}",
        "clients", "steady", "peak", "peak/steady"
    );
    for (label, m) in [
        (format!("{NAIVE}, no jitter"), n1),
        (format!("{CAREFUL}, full jitter"), n2),
    ] {
        let _ = writeln!(
            figures,
            "  {label:<24} {:>7} {:>6} {:>7.1}x",
            m.steady,
            m.peak,
            m.peak as f64 / steady as f64
        );
    }
    let _ = writeln!(
        figures,
        "\nact 2, every reply lost for 1 s: the load of the requests that arrived meanwhile"
    );
    let _ = writeln!(
        figures,
        "  {:<24} {:>8} {:>9} {:>6}   authorized / gave up",
        "clients", "requests", "arrivals", "load"
    );
    for (label, m, o) in [
        (format!("{NAIVE}, no budget"), f1, failing.naive),
        (
            format!("{CAREFUL}, {BUDGET_PERCENT}% budget"),
            f2,
            failing.careful,
        ),
    ] {
        let _ = writeln!(
            figures,
            "  {label:<24} {:>8} {:>9} {:>5.1}x   {} / {} (budget {}, deadline {})",
            m.hit_requests,
            m.hit_arrivals,
            ratio(&m),
            o.ok,
            o.gave_up_budget + o.gave_up_deadline + o.other,
            o.gave_up_budget,
            o.gave_up_deadline
        );
    }
    (results, figures)
}

fn lesson(passed: bool) {
    if passed {
        println!(
            "\nRetries are load. Clients that failed together retry together unless each draws its\n\
             own wait: jitter turns a wave into a drizzle. And when the service fails for everyone,\n\
             a budget caps what retries add, at the price of giving up sooner: the requests it\n\
             refuses fail fast instead of hammering a service that cannot answer.\n"
        );
    } else {
        println!(
            "\nThe figures fell outside what the lesson promises. On a very busy machine the\n\
             clients' timers run late and bunch up: close what else is running and try again.\n"
        );
    }
}

/// The report directory: the harness's report of every send (`report.html`, `verdict.json`,
/// `history.jsonl`), `arrivals.svg` and `arrivals.csv` (arrivals per 100 ms at each node),
/// `timeline.txt` and the node logs. Returns the terminal's table.
fn write_report(
    args: &Demo,
    seed: u64,
    started: SystemTime,
    cluster: &Cluster,
    history: &History,
    timeline: &Timeline,
    outcome: &Result<Storm, String>,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    std::fs::write(out.join("timeline.txt"), timeline.lines.join("\n") + "\n").map_err(io)?;
    let (mut results, spans) = match outcome {
        Ok(run) => {
            let (csv, svg) = plot(run);
            std::fs::write(out.join("arrivals.csv"), csv).map_err(io)?;
            std::fs::write(out.join("arrivals.svg"), svg).map_err(io)?;
            (checks(run).0, run.spans.clone())
        }
        Err(why) => (
            vec![
                CheckResult::new("the demo ran to its end", 0.0, Bound::AtLeast, 1.0)
                    .detail(why.clone()),
            ],
            Vec::new(),
        ),
    };
    report::explain::attach_logs(&mut results, out, started, &spans);
    let load = LoadReport::from_history(history, 2);
    let run = report::Run {
        title: "retry-storm: an outage ends, then a service fails for everyone",
        seed: Some(seed),
        load: &load,
        history,
        checks: &results,
        faults: &spans,
        inconclusive: None,
    };
    report::write(out, &run).map_err(|e| e.to_string())
}

/// Arrivals per 100 ms at each node over the run: as CSV, and as an SVG plot with the faults
/// shaded (no script, no network: it opens anywhere).
fn plot(run: &Storm) -> (String, String) {
    let end = run
        .arrivals
        .iter()
        .flat_map(|(_, log)| log.iter().map(|(_, t)| *t))
        .max()
        .unwrap_or_default()
        + WINDOW;
    let windows = (end.as_millis() / WINDOW.as_millis()) as usize;
    let series: Vec<(&str, Vec<usize>)> = run
        .arrivals
        .iter()
        .map(|(node, log)| {
            let times: Vec<Duration> = log.iter().map(|(_, t)| *t).collect();
            (
                *node,
                check::per_window(&times, Duration::ZERO, WINDOW, windows),
            )
        })
        .collect();
    let mut csv = String::from("t_s");
    for (node, _) in &series {
        csv.push_str(&format!(",{node}"));
    }
    csv.push('\n');
    for k in 0..windows {
        csv.push_str(&format!("{:.1}", k as f64 * WINDOW.as_secs_f64()));
        for (_, counts) in &series {
            csv.push_str(&format!(",{}", counts[k]));
        }
        csv.push('\n');
    }

    let (width, height, left, top, bottom) = (960.0, 360.0, 50.0, 30.0, 40.0);
    let plot_w = width - left - 20.0;
    let plot_h = height - top - bottom;
    let most = series
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let x = |t: f64| left + plot_w * t / end.as_secs_f64();
    let y = |v: f64| top + plot_h * (1.0 - v / most);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"{left}\" y=\"18\">retry-storm: arrivals per 100 ms at each payment node \
         ({NAIVE}: the naive clients, {CAREFUL}: jitter, then a budget)</text>\n"
    );
    for span in &run.spans {
        let (a, b) = (x(span.start.as_secs_f64()), x(span.end.as_secs_f64()));
        svg.push_str(&format!(
            "<rect x=\"{a:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#fbb\" \
             opacity=\"0.5\" data-label=\"{}\"/>\n<text x=\"{a:.1}\" y=\"{:.1}\" fill=\"#a33\">{}</text>\n",
            (b - a).max(1.0),
            span.label,
            top + 12.0,
            span.label
        ));
    }
    for k in 0..=4 {
        let v = most * k as f64 / 4.0;
        svg.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>\n",
            left + plot_w,
            y(v),
            y(v),
            left - 6.0,
            y(v) + 4.0
        ));
    }
    for s in 0..=end.as_secs() {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{s} s</text>\n",
            x(s as f64),
            height - bottom + 16.0
        ));
    }
    for ((node, counts), colour) in series.iter().zip(["#d62728", "#1f77b4"]) {
        let points: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(k, v)| {
                format!(
                    "{:.1},{:.1}",
                    x((k as f64 + 0.5) * WINDOW.as_secs_f64()),
                    y(*v as f64)
                )
            })
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" data-series=\"{node}\" \
             points=\"{}\"/>\n",
            points.join(" ")
        ));
    }
    let legend_y = height - 6.0;
    svg.push_str(&format!(
        "<text x=\"{left}\" y=\"{legend_y}\" fill=\"#d62728\">{NAIVE}: no jitter, then no budget</text>\n\
         <text x=\"{:.1}\" y=\"{legend_y}\" fill=\"#1f77b4\">{CAREFUL}: full jitter, then a {BUDGET_PERCENT}% budget</text>\n</svg>\n",
        left + 260.0
    ));
    (csv, svg)
}
