//! `cargo lab demo knee`: how much can one node take, measured so that the numbers do not
//! lie, and held to the one number the node was built to: c / s.
//!
//! The node is the kit's pool of known capacity: 4 workers of 20 ms each, 200 requests a
//! second on any machine. The demo:
//! 1. ramps an open loop from 0.55 to 1.45 times that, in steps of a second, and prints a
//!    line a second of what was offered, what was served and what the node holds;
//! 2. reads each step (the harness's [`harness::ramp`]) and finds the knee with this crate's
//!    [`knee`], held to c / s;
//! 3. checks Little's law at every step that kept up: the requests in flight, counted at
//!    the generator and at the node, against λW ([`expected_in_flight`]);
//! 4. stalls two identical nodes for one second (SIGSTOP) while this crate's [`open_loop`]
//!    drives one and the harness's closed loop (3 workers, the way most tools measure) the
//!    other, and prints what each saw.
//!
//! It writes the run's directory: `report.html` (the ramp over time, the part past c / s
//! shaded), `knee.html` (latency and throughput against offered load with the knee and c / s
//! marked, and the stall measured both ways), `steps.json`, `verdict.json`, the node logs.
//!
//! The lab runs it (`cargo lab demo knee [--impl exercise]`) with the node binary it built,
//! solution or exercise: `--node <binary> --out <dir> [--seed S]`. Nothing here is random;
//! the seed is only recorded.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use capacity_solution::node::{self, WorkDone};
use capacity_solution::{Latencies, Ramp, Step, expected_in_flight, knee, open_loop};
use harness::Cluster;
use harness::check::{self, Bound, CheckResult};
use harness::demo::{Demo, broke, verdict};
use harness::eventually::NodeHttp;
use harness::history::History;
use harness::load::{Load, LoadReport, Mode, Outcome, Schedule, Shot};
use harness::ramp::RampReport;
use harness::report::{self, Span};
use node_kit::capacity::Figures;

/// The node: c workers of s each.
const WORKERS: usize = 4;
const SERVICE_TIME: Duration = Duration::from_millis(20);
const CAPACITY: f64 = WORKERS as f64 / 0.020;

/// The promise each step is held to.
const SLO: Duration = Duration::from_millis(150);

/// A client gives up after this.
const GIVE_UP: Duration = Duration::from_secs(5);

/// The ramp: 110 to 290 a second in steps of 20, a second each.
fn ramp() -> Ramp {
    Ramp {
        from: 0.55 * CAPACITY,
        to: 1.45 * CAPACITY,
        steps: 10,
        hold: Duration::from_secs(1),
    }
}

/// How close the knee must come to c / s, and Little's law to the count.
const KNEE_MARGIN: f64 = 0.10;
const LITTLE_MARGIN: f64 = 0.15;

/// The stall: half of capacity for 5 s at each node, both paused for 1 s at 1.5 s.
const STALL_RATE: f64 = CAPACITY / 2.0;
const STALL_RUN: Duration = Duration::from_secs(5);
const STALL_AT: Duration = Duration::from_millis(1500);
const STALL: Duration = Duration::from_secs(1);
const CLOSED_WORKERS: usize = 3;

/// How often the node and the generator are asked what they hold.
const SAMPLE: Duration = Duration::from_millis(20);

const INTRO: &str = "\
How much can one node take? The node here has 4 workers, and each request holds one for
exactly 20 ms, so its capacity is c / s = 4 / 20 ms = 200 requests a second, on this laptop
as on any other. We ramp the offered load from 110 to 290 a second, a second per step, in an
open loop: each request goes out at its scheduled time whatever the node is doing, and its
latency counts from that time. Below 200/s the node keeps up: it serves what it is offered,
in about 20 ms. Past 200/s the surplus queues, throughput stays at 200 and every latency
grows with the queue: that is the knee. Little's law, L = lambda x W, says how many requests
are in flight at each step; we count them and compare.
Then the lesson of coordinated omission: two identical nodes at 100/s, stopped together for
one second (SIGSTOP). An open loop measures one; a closed loop of 3 workers, the way most
load tools work, measures the other.";

/// A step's in-flight counts, averaged over its readings.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    generator: f64,
    node: f64,
    readings: usize,
}

/// What the demo measured.
struct Findings {
    ramp: RampReport,
    held: Vec<Held>,
    knee: Option<f64>,
    open: Latencies,
    closed: LoadReport,
}

fn main() -> ExitCode {
    let args = Demo::start("knee", INTRO);
    println!(
        "starting 2 nodes of {} ({}): {WORKERS} workers x {} ms = {CAPACITY:.0}/s each\n",
        args.whose,
        args.node_name(),
        SERVICE_TIME.as_millis()
    );
    let cluster = match Cluster::builder(&args.node)
        .nodes(2)
        .args([
            "--workers",
            &WORKERS.to_string(),
            "--service-time-ms",
            &SERVICE_TIME.as_millis().to_string(),
        ])
        .start()
    {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the nodes did not start: {e}")),
    };
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let started = SystemTime::now();
    let outcome = runtime.block_on(script(&cluster));
    let written = match &outcome {
        Ok(findings) => write_report(&args, started, &cluster, findings),
        Err(_) => Err("no report: the demo did not finish".into()),
    };
    drop(cluster);
    match (outcome, written) {
        (Ok(findings), Ok(table)) => {
            let results = checks(&findings);
            let passed = results.iter().all(|c| c.passed);
            lesson(&findings, passed);
            // The report's path comes last: it is what the audience opens next.
            println!("  plots: {}", args.out.join("knee.html").display());
            print!("{table}");
            verdict(passed)
        }
        (Ok(_), Err(e)) => broke(&format!("could not write the report: {e}")),
        (Err(e), _) => broke(&format!("the demo broke: {e}")),
    }
}

fn say(start: Instant, what: &str) {
    println!("  >> {:>5.1} s  {what}", start.elapsed().as_secs_f64());
}

/// The demo's script: the ramp, its reading, the stall.
async fn script(cluster: &Cluster) -> Result<Findings, String> {
    let start = Instant::now();
    let n1 = cluster.http("n1");
    let first = node::work(&node::client(), &work_url(cluster, "n1")).await;
    first.map_err(|e| format!("one request to an idle n1: {e}"))?;

    let ramp = ramp();
    say(
        start,
        &format!(
            "the ramp: {:.0} to {:.0} a second in {} steps of {} s, open loop, at n1",
            ramp.from,
            ramp.to,
            ramp.steps,
            ramp.hold.as_secs()
        ),
    );
    println!(
        "\n  {:>4}  {:>9}  {:>9}  {:>10}  {:>16}",
        "t", "offered/s", "served/s", "queued now", "in the node, mean"
    );
    let in_flight = Arc::new(AtomicI64::new(0));
    let op = {
        let (client, url, in_flight) = (node::client(), work_url(cluster, "n1"), in_flight.clone());
        move |_: Shot| {
            let (client, url) = (client.clone(), url.clone());
            let counted = Counted::new(in_flight.clone());
            async move {
                let done = node::work(&client, &url).await;
                drop(counted);
                outcome(done)
            }
        }
    };
    let ramp_started = Instant::now();
    let (report, held) = tokio::join!(
        ramp.run(Mode::Open, GIVE_UP, op),
        watch(&n1, &ramp, ramp_started, &in_flight)
    );
    let report = report.map_err(|e| format!("the ramp could not run: {e}"))?;
    let held = held?;
    let found = knee(&report.steps, SLO);
    println!();
    steps_table(&report.steps, &held, found);

    say(
        start,
        &format!(
            "the stall: {STALL_RATE:.0}/s for {} s at n1 (open loop) and n2 (closed loop of \
             {CLOSED_WORKERS}); both SIGSTOPped at {:.1} s for {} s",
            STALL_RUN.as_secs(),
            STALL_AT.as_secs_f64(),
            STALL.as_secs()
        ),
    );
    let stall = async {
        tokio::time::sleep(STALL_AT).await;
        say(
            start,
            "SIGSTOP n1 and n2: their sockets stay open, nothing answers",
        );
        let paused = cluster.pause("n1").and_then(|()| cluster.pause("n2"));
        tokio::time::sleep(STALL).await;
        let resumed = cluster.resume("n1").and_then(|()| cluster.resume("n2"));
        say(start, "SIGCONT n1 and n2: the waiting requests are served");
        paused.and(resumed).map_err(|e| e.to_string())
    };
    let (open, closed, stalled) =
        tokio::join!(open_on(cluster, "n1"), closed_on(cluster, "n2"), stall);
    stalled?;
    let closed = closed?;
    stall_table(&open, &closed);
    Ok(Findings {
        ramp: report,
        held,
        knee: found,
        open,
        closed,
    })
}

/// Counts a request in flight at the generator while it lives (also when a timeout drops it).
struct Counted(Arc<AtomicI64>);

impl Counted {
    fn new(counter: Arc<AtomicI64>) -> Counted {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn work_url(cluster: &Cluster, id: &str) -> String {
    let addr = cluster.direct_addr(id).unwrap_or_else(|| cluster.addr(id));
    format!("http://{addr}/work")
}

fn outcome(done: Result<WorkDone, String>) -> Outcome {
    match done {
        Ok(_) => Outcome::Ok,
        Err(e) if e == "timeout" => Outcome::unknown("timeout"),
        Err(e) => Outcome::fail(e),
    }
}

/// While the ramp runs: what the generator and the node hold, every [`SAMPLE`], averaged
/// per step; a line a second of what was offered and served.
async fn watch(
    n1: &NodeHttp,
    ramp: &Ramp,
    started: Instant,
    in_flight: &AtomicI64,
) -> Result<Vec<Held>, String> {
    let n1 = n1.clone().timeout(Duration::from_millis(500));
    let rates = ramp.rates();
    let mut held = vec![Held::default(); rates.len()];
    let mut ticks = tokio::time::interval(SAMPLE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_line = Duration::from_secs(1);
    let (mut served_before, mut since_line) = (None::<u64>, (0.0, 0usize));
    while started.elapsed() < ramp.duration() {
        ticks.tick().await;
        let figures: Figures = n1.get_json("/internal/capacity").await?;
        let at = started.elapsed();
        let step = (at.as_secs_f64() / ramp.hold.as_secs_f64()) as usize;
        // The first 200 ms of a step belong to the step before it (its queue draining).
        let into_step = at.as_secs_f64() - step as f64 * ramp.hold.as_secs_f64();
        if let Some(h) = held.get_mut(step).filter(|_| into_step >= 0.2) {
            h.generator += in_flight.load(Ordering::Relaxed) as f64;
            h.node += (figures.waiting + figures.busy) as f64;
            h.readings += 1;
        }
        since_line.0 += (figures.waiting + figures.busy) as f64;
        since_line.1 += 1;
        if at >= next_line {
            let served = served_before.map_or(0, |b| figures.served - b);
            let offered = rates.get(step.saturating_sub(1)).copied().unwrap_or(0.0);
            let mean = since_line.0 / since_line.1.max(1) as f64;
            println!(
                "  {:>3}s  {offered:>9.0}  {:>9}  {:>10}  {:>16.1}",
                next_line.as_secs(),
                if served_before.is_some() {
                    served.to_string()
                } else {
                    "-".into()
                },
                figures.waiting,
                mean
            );
            served_before = Some(figures.served);
            since_line = (0.0, 0);
            next_line += Duration::from_secs(1);
        }
    }
    for h in &mut held {
        let n = h.readings.max(1) as f64;
        h.generator /= n;
        h.node /= n;
    }
    Ok(held)
}

/// Whether a step kept up, as [`knee`] reads it.
fn kept_up(step: &Step) -> bool {
    step.throughput >= capacity_solution::KEEP_UP * step.offered && step.p99 <= SLO
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn steps_table(steps: &[Step], held: &[Held], found: Option<f64>) {
    println!(
        "  {:>9} {:>9} {:>8} {:>8}   {:>10} {:>10} {:>8}   step",
        "offered/s", "served/s", "p50 ms", "p99 ms", "L gen", "L node", "λW"
    );
    for (s, h) in steps.iter().zip(held) {
        let lw = expected_in_flight(s.offered, s.mean);
        let mark = if Some(s.offered) == found {
            "<- the knee"
        } else if kept_up(s) {
            "kept up"
        } else {
            "fell behind"
        };
        println!(
            "  {:>9.0} {:>9.0} {:>8.1} {:>8.1}   {:>10.2} {:>10.2} {:>8.2}   {mark}",
            s.offered,
            s.throughput,
            ms(s.p50),
            ms(s.p99),
            h.generator,
            h.node,
            lw
        );
    }
    match found {
        Some(k) => println!(
            "\n  the knee: {k:.0}/s, {:.0}% of c/s = {CAPACITY:.0}/s (SLO: p99 within {} ms, \
             served at least {:.0}% of the offered)\n",
            k / CAPACITY * 100.0,
            SLO.as_millis(),
            capacity_solution::KEEP_UP * 100.0
        ),
        None => println!("\n  no knee found inside the ramp\n"),
    }
}

async fn open_on(cluster: &Cluster, id: &str) -> Latencies {
    let (client, url) = (node::client(), work_url(cluster, id));
    open_loop(STALL_RATE, STALL_RUN, move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let _ = tokio::time::timeout(GIVE_UP, node::work(&client, &url)).await;
        }
    })
    .await
}

async fn closed_on(cluster: &Cluster, id: &str) -> Result<LoadReport, String> {
    let (client, url) = (node::client(), work_url(cluster, id));
    Load::new(Schedule::Constant { rate: STALL_RATE }, STALL_RUN)
        .mode(Mode::Closed {
            workers: CLOSED_WORKERS,
        })
        .timeout(GIVE_UP)
        .run(move |_: Shot| {
            let (client, url) = (client.clone(), url.clone());
            async move { outcome(node::work(&client, &url).await) }
        })
        .await
        .map_err(|e| format!("the closed loop could not run: {e}"))
}

/// The stall as each loop measured it: (requests, p50, p90, p99, max), in ms.
fn stall_rows(open: &Latencies, closed: &LoadReport) -> [(String, u64, [f64; 4]); 2] {
    let q = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let o = open.histogram();
    let c = &closed.latency;
    [
        (
            "open loop (from the intended send)".into(),
            o.len(),
            [q(&o, 0.5), q(&o, 0.9), q(&o, 0.99), o.max() as f64 / 1000.0],
        ),
        (
            format!("closed loop of {CLOSED_WORKERS} (from the actual send)"),
            c.len(),
            [q(c, 0.5), q(c, 0.9), q(c, 0.99), c.max() as f64 / 1000.0],
        ),
    ]
}

fn stall_table(open: &Latencies, closed: &LoadReport) {
    println!(
        "\n  the same 1 s stall, {:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "measured by", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for (name, n, [p50, p90, p99, max]) in stall_rows(open, closed) {
        println!("  {name:<49} {n:>8} {p50:>8.1} {p90:>8.1} {p99:>8.1} {max:>8.1}");
    }
    println!(
        "  the closed loop never sent {} of its {} requests: its workers were waiting\n",
        closed.dropped, closed.scheduled
    );
}

/// What the demo holds its measurements to.
fn checks(f: &Findings) -> Vec<CheckResult> {
    let mut results = vec![
        CheckResult::new(
            format!(
                "the knee is within {:.0}% of c/s = {CAPACITY:.0}/s",
                KNEE_MARGIN * 100.0
            ),
            f.knee
                .map_or(f64::INFINITY, |k| (k / CAPACITY - 1.0).abs() * 100.0),
            Bound::AtMost,
            KNEE_MARGIN * 100.0,
        )
        .unit("% off")
        .detail(format!("knee {:?}/s", f.knee)),
    ];
    let errors: Vec<f64> = f
        .ramp
        .steps
        .iter()
        .zip(&f.held)
        .filter(|(s, _)| kept_up(s))
        .map(|(s, h)| {
            let expected = expected_in_flight(s.offered, s.mean);
            (h.generator - expected).abs() / expected * 100.0
        })
        .collect();
    results.push(check::largest_at_most(
        format!(
            "Little's law: in flight at the generator within {:.0}% of λW at every step that kept up",
            LITTLE_MARGIN * 100.0
        ),
        &errors,
        LITTLE_MARGIN * 100.0,
        "% off",
    ));
    let open_p99 = f.open.quantile(0.99).as_secs_f64() * 1000.0;
    let closed_p99 = f.closed.latency.value_at_quantile(0.99) as f64 / 1000.0;
    results.push(
        CheckResult::new(
            "the stall shows in the open loop's p99",
            open_p99,
            Bound::AtLeast,
            600.0,
        )
        .unit("ms"),
    );
    results.push(
        CheckResult::new(
            "the closed loop's p99 hides it (open p99 / closed p99)",
            open_p99 / closed_p99.max(0.001),
            Bound::AtLeast,
            4.0,
        )
        .unit("x"),
    );
    results
}

fn lesson(f: &Findings, passed: bool) {
    let open_p99 = f.open.quantile(0.99).as_secs_f64() * 1000.0;
    let closed_p99 = f.closed.latency.value_at_quantile(0.99) as f64 / 1000.0;
    if passed {
        println!(
            "  The knee came at {:.0} a second offered, against c/s = {CAPACITY:.0} on paper: capacity is a\n  \
             number you can predict, and then measure. Past it the node served {CAPACITY:.0} and queued the\n  \
             rest. Little's law told how much it held at each step. And the same stopped second\n  \
             was a p99 of {open_p99:.0} ms measured open loop, {closed_p99:.0} ms closed loop: a closed loop stops\n  \
             sending when the node stops answering, so it never measures the requests that would\n  \
             have waited. Ask of any benchmark: open or closed?\n",
            f.knee.unwrap_or(0.0)
        );
    } else {
        println!(
            "  Some figures fell outside what the lesson promises (see the checks). On a very busy\n  \
             machine the generator itself runs late: close what else is running and try again.\n"
        );
    }
}

/// The run's directory: the harness's report of the ramp, `knee.html`, `steps.json`.
fn write_report(
    args: &Demo,
    started: SystemTime,
    cluster: &Cluster,
    f: &Findings,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    let ramp = ramp();
    let past = ramp
        .rates()
        .iter()
        .position(|&r| r > CAPACITY)
        .unwrap_or(ramp.steps);
    let spans = vec![Span {
        label: format!("offered > c/s = {CAPACITY:.0}/s"),
        start: ramp.hold * past as u32,
        end: ramp.duration(),
        nodes: vec!["n1".into()],
    }];
    let mut results = checks(f);
    report::explain::attach_logs(&mut results, out, started, &spans);
    let steps: Vec<serde_json::Value> = f
        .ramp
        .steps
        .iter()
        .zip(&f.held)
        .map(|(s, h)| {
            serde_json::json!({
                "offered": s.offered,
                "throughput": s.throughput,
                "p50_ms": ms(s.p50),
                "p99_ms": ms(s.p99),
                "mean_ms": ms(s.mean),
                "in_flight_generator": h.generator,
                "in_flight_node": h.node,
                "little_lw": expected_in_flight(s.offered, s.mean),
                "kept_up": kept_up(s),
            })
        })
        .collect();
    let json = serde_json::json!({
        "capacity": CAPACITY,
        "workers": WORKERS,
        "service_time_ms": ms(SERVICE_TIME),
        "slo_p99_ms": ms(SLO),
        "knee": f.knee,
        "steps": steps,
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(out.join("steps.json"), text + "\n").map_err(io)?;
    std::fs::write(out.join("knee.html"), knee_page(f)).map_err(io)?;
    let history = History::new();
    let run = report::Run {
        title: "knee: an open-loop ramp against a node of known capacity (c/s = 200/s)",
        seed: args.seed,
        load: &f.ramp.load,
        history: &history,
        checks: &results,
        faults: &spans,
        inconclusive: None,
    };
    report::write(out, &run).map_err(|e| e.to_string())
}

// ---- knee.html: two plots against offered load, and the stall's table ----

const W: f64 = 760.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 24.0;
const RIGHT: f64 = 24.0;

/// One plot: x is offered load (requests/s), y linear or log.
struct Plot {
    x_max: f64,
    y_min: f64,
    y_max: f64,
    log: bool,
    svg: String,
}

impl Plot {
    fn new(title: &str, y_label: &str, x_max: f64, (y_min, y_max): (f64, f64), log: bool) -> Plot {
        let mut p = Plot {
            x_max,
            y_min,
            y_max,
            log,
            svg: String::new(),
        };
        let _ = write!(
            p.svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12"><text x="{LEFT}" y="16" font-weight="bold">{title}</text><rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">offered load, requests/s</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{y_label}</text>"##,
            W - LEFT - RIGHT,
            H - TOP - BOTTOM,
            LEFT + (W - LEFT - RIGHT) / 2.0,
            H - 6.0,
            TOP + (H - TOP - BOTTOM) / 2.0,
            TOP + (H - TOP - BOTTOM) / 2.0
        );
        let mut x = 0.0;
        while x <= x_max {
            let _ = write!(
                p.svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{x:.0}</text>"#,
                p.x(x),
                H - BOTTOM + 16.0
            );
            x += 50.0;
        }
        let ticks: Vec<f64> = if log {
            [
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
            ]
            .into_iter()
            .filter(|v| (y_min..=y_max).contains(v))
            .collect()
        } else {
            (0..=5)
                .map(|k| y_min + (y_max - y_min) * k as f64 / 5.0)
                .collect()
        };
        for v in ticks {
            let y = p.y(v);
            let _ = write!(
                p.svg,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
            );
        }
        p
    }

    fn x(&self, v: f64) -> f64 {
        LEFT + v / self.x_max * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let share = if self.log {
            let v = v.max(self.y_min);
            (v.ln() - self.y_min.ln()) / (self.y_max.ln() - self.y_min.ln())
        } else {
            (v - self.y_min) / (self.y_max - self.y_min)
        };
        H - BOTTOM - share.clamp(0.0, 1.0) * (H - TOP - BOTTOM)
    }

    fn series(&mut self, name: &str, color: &str, points: &[(f64, f64)], dashed: bool) {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.x(x), self.y(y)))
            .collect();
        let dash = if dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = write!(
            self.svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}" data-series="{name}"/>"#,
            path.join(" ")
        );
        for &(x, y) in points {
            let _ = write!(
                self.svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}" data-series="{name}" data-x="{x:.1}" data-v="{y:.2}"/>"#,
                self.x(x),
                self.y(y)
            );
        }
        let slot = self.svg.matches("data-legend").count() as f64;
        let _ = write!(
            self.svg,
            r#"<text x="{:.1}" y="{:.1}" fill="{color}" data-legend="{name}">{name}</text>"#,
            LEFT + 10.0,
            TOP + 16.0 + 15.0 * slot
        );
    }

    fn vertical(&mut self, x: f64, label: &str, color: &str, dashed: bool) {
        let dash = if dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let _ = write!(
            self.svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="{color}" stroke-width="2"{dash} data-mark="{label}"/><text x="{:.1}" y="{:.1}" fill="{color}">{label}</text>"#,
            H - BOTTOM,
            x + 4.0,
            TOP + 14.0 + if dashed { 16.0 } else { 0.0 },
            x = self.x(x)
        );
    }

    fn horizontal(&mut self, y: f64, label: &str, color: &str) {
        let _ = write!(
            self.svg,
            r#"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="{color}" stroke-dasharray="3,3"/><text x="{}" y="{:.1}" fill="{color}" text-anchor="end">{label}</text>"#,
            W - RIGHT,
            W - RIGHT - 4.0,
            y - 4.0,
            y = self.y(y)
        );
    }

    fn done(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

fn knee_page(f: &Findings) -> String {
    let steps = &f.ramp.steps;
    let x_max = (steps.iter().map(|s| s.offered).fold(0.0, f64::max) * 1.1 / 50.0).ceil() * 50.0;
    let p99: Vec<(f64, f64)> = steps.iter().map(|s| (s.offered, ms(s.p99))).collect();
    let p50: Vec<(f64, f64)> = steps.iter().map(|s| (s.offered, ms(s.p50))).collect();
    let y_max = p99.iter().map(|p| p.1).fold(ms(SLO), f64::max) * 1.5;
    let mut latency = Plot::new(
        "latency against offered load (log scale)",
        "ms",
        x_max,
        (10.0, y_max),
        true,
    );
    latency.series("p99", "#c0392b", &p99, false);
    latency.series("p50", "#2471a3", &p50, false);
    latency.horizontal(
        ms(SLO),
        &format!("SLO p99 {} ms", SLO.as_millis()),
        "#7d3c98",
    );
    let marks = |plot: &mut Plot| {
        plot.vertical(CAPACITY, &format!("c/s = {CAPACITY:.0}"), "#555", true);
        if let Some(k) = f.knee {
            plot.vertical(k, &format!("knee {k:.0}"), "#d35400", false);
        }
    };
    marks(&mut latency);
    let served: Vec<(f64, f64)> = steps.iter().map(|s| (s.offered, s.throughput)).collect();
    let mut throughput = Plot::new(
        "served against offered load",
        "requests/s",
        x_max,
        (0.0, x_max),
        false,
    );
    throughput.series(
        "served = offered",
        "#aaa",
        &[(0.0, 0.0), (x_max, x_max)],
        true,
    );
    throughput.series("served", "#1e8449", &served, false);
    throughput.horizontal(CAPACITY, &format!("c/s = {CAPACITY:.0}/s"), "#555");
    marks(&mut throughput);

    let mut rows = String::new();
    for (s, h) in steps.iter().zip(&f.held) {
        let _ = write!(
            rows,
            "<tr><td>{:.0}</td><td>{:.0}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td></tr>",
            s.offered,
            s.throughput,
            ms(s.p50),
            ms(s.p99),
            h.generator,
            h.node,
            expected_in_flight(s.offered, s.mean),
            if Some(s.offered) == f.knee {
                "the knee"
            } else if kept_up(s) {
                "kept up"
            } else {
                "fell behind"
            }
        );
    }
    let mut stall = String::new();
    for (name, n, [p50, p90, p99, max]) in stall_rows(&f.open, &f.closed) {
        let _ = write!(
            stall,
            "<tr><td>{name}</td><td>{n}</td><td>{p50:.1}</td><td>{p90:.1}</td><td>{p99:.1}</td><td>{max:.1}</td></tr>"
        );
    }
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>knee</title><style>body{{font-family:sans-serif;margin:2em;max-width:60em}}td,th{{padding:2px 10px;text-align:right}}th{{border-bottom:1px solid #999}}</style></head><body>
<h1>How much can it take?</h1>
<p>A node of {WORKERS} workers x {} ms: c/s = {CAPACITY:.0} requests a second. An open-loop ramp, a second per step; the knee is the last step served at {:.0}% of its offered rate or more with a p99 within {} ms. Knee: <b>{}</b>. The run over time: <a href="report.html">report.html</a>.</p>
{}
{}
<h2>Each step, and Little's law</h2>
<p>L: the requests in flight, averaged over the step (after its first 200 ms), at the generator and at the node (waiting + busy). λW: the offered rate times the step's mean latency.</p>
<table><tr><th>offered/s</th><th>served/s</th><th>p50 ms</th><th>p99 ms</th><th>L generator</th><th>L node</th><th>λW</th><th></th></tr>{rows}</table>
<h2>The same one-second stall, measured two ways</h2>
<p>Two identical nodes at {STALL_RATE:.0}/s for {} s, both stopped (SIGSTOP) at {:.1} s for {} s. The closed loop never sent {} of its {} requests.</p>
<table><tr><th>measured by</th><th>requests</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>{stall}</table>
</body></html>
"#,
        SERVICE_TIME.as_millis(),
        capacity_solution::KEEP_UP * 100.0,
        SLO.as_millis(),
        f.knee.map_or("none".into(), |k| format!("{k:.0}/s")),
        latency.done(),
        throughput.done(),
        STALL_RUN.as_secs(),
        STALL_AT.as_secs_f64(),
        STALL.as_secs(),
        f.closed.dropped,
        f.closed.scheduled,
    )
}
