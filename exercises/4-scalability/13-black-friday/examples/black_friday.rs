//! `cargo lab demo black-friday`: Black Friday's first minutes at two edges of the shop, one
//! regulated, one not, side by side in the same run.
//!
//! Two edge nodes of exercise 13, each in front of its own service of known capacity (4
//! workers of 40 ms: 100 checkouts a second, on any machine). n1 keeps its regulator (4 in
//! service, 6 queued for at most 100 ms, the rest refused at once with 503 and
//! `Retry-After`); n2 has it switched off, the control. The same open-loop schedule drives
//! both at once: half of capacity, a ramp of one step a second to five times capacity, six
//! seconds there, and back to half. Each second prints a line per edge (answers in time,
//! refusals, give-ups, the admitted p99); the end compares the two at 5x with the shop's
//! promise (an answer within 150 ms) and writes the report directory:
//! - `report.html`, `verdict.json`, `history.jsonl`: the regulated edge, with the checks of
//!   both (the harness's report, the 5x phase shaded);
//! - `unregulated/`: the same for the control;
//! - `side-by-side.html`: both runs' plots next to each other, one row per plot;
//! - `timeline.txt` (what the terminal showed), `figures.json`, the node logs.
//!
//! A scenario file cannot tell this story: its workload is the cart API, one cluster and one
//! load, and this needs two edges compared in one run. So this demo is code, beside the
//! exercise it shows. The lab runs it with the node binary it built (solution or exercise):
//! `--node <binary> --out <dir> [--seed S] [--whose ...]`.

#[path = "../tests/common/edge.rs"]
#[allow(dead_code)]
mod edge;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use edge::{CAPACITY, MAX_QUEUE, SLO, rss_of};
use harness::Cluster;
use harness::check::{Bound, CheckResult};
use harness::checkout::{self, REJECTED, Seconds, metric};
use harness::demo::{Demo, broke, verdict};
use harness::history::History;
use harness::load::{Load, LoadReport, Schedule, Window, new_histogram};
use harness::report::{self, Span};
use node_kit::sync::Mutex;
use serde_json::json;

/// Clients give up on a checkout after this.
const GIVE_UP: Duration = Duration::from_millis(1500);

/// The peak: five times capacity, from `PEAK_FROM` for `PEAK`.
const PEAK_RATE: f64 = 5.0 * CAPACITY;
const PEAK_FROM: Duration = Duration::from_secs(7);
const PEAK: Duration = Duration::from_secs(6);

/// The two edges: the regulated one, and the control.
const EDGES: [&str; 2] = ["n1", "n2"];

const INTRO: &str = "\
Black Friday, 08:00. Two edges of the shop take checkouts, each in front of its own service
of 4 workers at 40 ms a checkout: 100 a second, whatever this laptop's CPU. The shop promises
an answer within 150 ms. n1 has exercise 13's regulator: 4 in service, 6 in the queue (60 ms
of work) for at most 100 ms, every other checkout refused at once with 503 and Retry-After.
n2 has none: every checkout waits for a worker, however long the line. Its customers give up
after 1.5 s, but the line does not know that.
Both get the same load at the same time: half of capacity for 3 s, then one step a second up
to 5x capacity (500 a second), 6 s there, then back to half. Watch the columns 'in time' (the
goodput: answers within the promise) and the admitted p99.";

/// The offered load: half of capacity, a ramp of one step a second, 5x, half again.
fn schedule() -> (Schedule, Duration) {
    let c = CAPACITY;
    let steps = vec![
        (Duration::from_secs(3), 0.5 * c),
        (Duration::from_secs(1), c),
        (Duration::from_secs(1), 2.0 * c),
        (Duration::from_secs(1), 3.0 * c),
        (Duration::from_secs(1), 4.0 * c),
        (PEAK, PEAK_RATE),
        (Duration::from_secs(4), 0.5 * c),
    ];
    let total = steps.iter().map(|(d, _)| *d).sum();
    (Schedule::Steps(steps), total)
}

/// What the narration says as each phase begins, by the second it begins in.
fn narration(second: u64) -> Option<&'static str> {
    match second {
        0 => Some("half of capacity: both edges serve every checkout in about 40 ms."),
        3 => Some("the doors open: the load climbs past capacity, one step a second."),
        7 => Some(
            "5x capacity. n1 refuses about four in five at once and serves the rest in time; \
             n2's line grows by 400 a second.",
        ),
        13 => Some(
            "back to half of capacity. n1 is fine at once; n2 is still working through the \
             line of customers who gave up.",
        ),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args = Demo::start("black-friday", INTRO);
    println!(
        "starting 2 edge nodes of {} ({}): n1 regulated, n2 the control\n",
        args.whose,
        args.node_name(),
    );
    let cluster = match Cluster::builder(&args.node)
        .nodes(2)
        .args(edge::node_args())
        .start()
    {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the edges did not start: {e}")),
    };
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let seed = args.seed_or(13);
    let started = SystemTime::now();
    let result = runtime.block_on(play(&cluster));
    let outcome = match result {
        Ok(run) => run,
        Err(e) => {
            let _ = args.report_dir(&cluster);
            eprintln!("the node logs are in {}", args.out.display());
            return broke(&format!("the demo broke: {e}"));
        }
    };
    let written = write_report(&args, seed, started, &cluster, &outcome);
    drop(cluster);
    match written {
        Ok(table) => {
            let passed = outcome.checks.iter().all(|c| c.passed);
            let lag = outcome.reports[0].max_lag.max(outcome.reports[1].max_lag);
            lesson(passed, lag);
            println!("run it again: cargo lab demo black-friday\n");
            // The report's path comes last: it is what the audience opens next.
            print!("{table}");
            println!(
                "side by side: {}",
                args.out.join("side-by-side.html").display()
            );
            verdict(passed)
        }
        Err(e) => broke(&format!("could not write the report: {e}")),
    }
}

/// What the run measured, for the report.
struct Measured {
    reports: [LoadReport; 2],
    histories: [History; 2],
    peaks: [Peak; 2],
    figures: [PeakFigures; 2],
    checks: Vec<CheckResult>,
    timeline: Vec<String>,
    spans: Vec<Span>,
}

/// The most a node showed during the run.
#[derive(Debug, Default, Clone, Copy)]
struct Peak {
    queue: f64,
    rss: u64,
}

/// One edge's figures over the 5x phase.
#[derive(Debug, Clone, Copy)]
struct PeakFigures {
    /// Answers within the SLO per second.
    goodput: f64,
    /// Answers of any latency per second.
    throughput: f64,
    admitted_p99: Duration,
    /// Of every checkout that ended in the phase, answered, refused or given up.
    p99_all: Duration,
    refused_per_s: f64,
    gave_up_per_s: f64,
}

async fn play(cluster: &Cluster) -> Result<Measured, String> {
    // The control: n2's regulator off.
    let switched = cluster
        .http("n2")
        .request(reqwest::Method::PUT, "/internal/regulator")
        .json(&json!({ "regulated": false }))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    switched.map_err(|e| format!("cannot switch n2's regulator off: {e}"))?;

    let (schedule, duration) = schedule();
    let start = Instant::now() + Duration::from_millis(200);
    let live = Seconds::shared(SLO);
    let histories = [History::starting_at(start), History::starting_at(start)];
    // Each checkout gives up itself after GIVE_UP, so that its history records it; the
    // load's own timeout is only a backstop.
    let load = || {
        Load::new(schedule.clone(), duration)
            .timeout(GIVE_UP + Duration::from_millis(500))
            .max_in_flight(20_000)
    };
    let [n1, n2] = EDGES;
    let printer = print_seconds(cluster, &live, start, duration + GIVE_UP);
    let (regulated, unregulated, (timeline, peaks)) = tokio::join!(
        checkout::drive(cluster, n1, load(), &histories[0], &live, Some(GIVE_UP)),
        checkout::drive(cluster, n2, load(), &histories[1], &live, Some(GIVE_UP)),
        printer
    );
    let (regulated, unregulated) = (regulated?, unregulated?);
    let reports = [regulated, unregulated];
    let figures = [peak_figures(&reports[0]), peak_figures(&reports[1])];
    let checks = checks(&figures, &reports, &peaks);
    let spans = vec![Span {
        label: "5x capacity".into(),
        start: PEAK_FROM,
        end: PEAK_FROM + PEAK,
        nodes: EDGES.iter().map(|e| e.to_string()).collect(),
    }];
    Ok(Measured {
        reports,
        histories,
        peaks,
        figures,
        checks,
        timeline,
        spans,
    })
}

/// Prints one line a second while the run goes, and samples each node's queue and memory.
async fn print_seconds(
    cluster: &Cluster,
    live: &Mutex<Seconds>,
    start: Instant,
    until: Duration,
) -> (Vec<String>, [Peak; 2]) {
    let mut timeline = Vec::new();
    say(
        &mut timeline,
        format!(
            "  {:>4}  {:>7}   {:<40} {:<34}",
            "", "", "n1, regulated", "n2, unregulated"
        ),
    );
    say(
        &mut timeline,
        format!(
            "  {:>4}  {:>7}   {:>7} {:>7} {:>7} {:>7} {:>8}   {:>7} {:>7} {:>7} {:>8}",
            "t",
            "offered",
            "in time",
            "ok",
            "refused",
            "queue",
            "p99",
            "in time",
            "ok",
            "gave up",
            "line"
        ),
    );
    let (schedule, _) = schedule();
    let mut peaks = [Peak::default(); 2];
    let mut queues = [0.0f64; 2];
    let mut second = 0u64;
    let pids: Vec<Option<u32>> = EDGES.iter().map(|id| cluster.pid(id)).collect();
    tokio::time::sleep_until(start.into()).await;
    while start.elapsed() < until {
        // Sample the queues (the regulator's, and the control's unbounded one) and memory.
        for (i, node) in EDGES.iter().enumerate() {
            let gauge = if i == 0 {
                "regulator_queue_depth"
            } else {
                "capacity_queue_depth"
            };
            let text = cluster.http(node).get("/metrics").send().await;
            if let Ok(response) = text {
                let text = response.text().await.unwrap_or_default();
                queues[i] = queues[i].max(metric(&text, gauge).unwrap_or(0.0));
                peaks[i].queue = peaks[i].queue.max(queues[i]);
            }
            let rss = pids[i].and_then(rss_of).unwrap_or(0);
            peaks[i].rss = peaks[i].rss.max(rss);
        }
        // A second's line once its replies are in (a little after it ends).
        let due = Duration::from_secs(second + 1) + Duration::from_millis(100);
        if start.elapsed() >= due {
            if let Some(words) = narration(second) {
                say(&mut timeline, format!("  >> {second:>2} s  {words}"));
            }
            let offered =
                schedule.rate_at(Duration::from_secs(second) + Duration::from_millis(500));
            let (a, b) = {
                let live = live.lock();
                (live.second(EDGES[0], second), live.second(EDGES[1], second))
            };
            say(
                &mut timeline,
                format!(
                    "  {:>3}s  {:>7.0}   {:>7} {:>7} {:>7} {:>7.0} {:>8}   {:>7} {:>7} {:>7} {:>8.0}",
                    second,
                    offered,
                    a.in_time,
                    a.ok,
                    a.refused,
                    queues[0],
                    a.quantile(0.99),
                    b.in_time,
                    b.ok,
                    b.gave_up,
                    queues[1],
                ),
            );
            queues = [0.0; 2];
            second += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (timeline, peaks)
}

/// Prints a line and keeps it for `timeline.txt`.
fn say(timeline: &mut Vec<String>, line: String) {
    println!("{line}");
    timeline.push(line);
}

/// An edge's figures over the windows of the 5x phase, from the load's own record.
fn peak_figures(report: &LoadReport) -> PeakFigures {
    let from = PEAK_FROM.as_secs() as usize;
    let to = (PEAK_FROM + PEAK).as_secs() as usize;
    let windows: Vec<&Window> = report.windows.iter().skip(from).take(to - from).collect();
    let secs = windows.len().max(1) as f64;
    let (mut ok_latency, mut all) = (new_histogram(), new_histogram());
    for w in &windows {
        let _ = ok_latency.add(&w.ok_latency);
        let _ = all.add(&w.latency);
    }
    let in_time = ok_latency.count_between(0, SLO.as_micros() as u64);
    PeakFigures {
        goodput: in_time as f64 / secs,
        throughput: ok_latency.len() as f64 / secs,
        admitted_p99: Duration::from_micros(ok_latency.value_at_quantile(0.99)),
        p99_all: Duration::from_micros(all.value_at_quantile(0.99)),
        refused_per_s: windows.iter().map(|w| w.failed).sum::<u64>() as f64 / secs,
        gave_up_per_s: windows.iter().map(|w| w.unknown).sum::<u64>() as f64 / secs,
    }
}

/// What the demo holds the run to: the regulated edge keeps its promise at 5x, the control
/// does not.
fn checks(
    figures: &[PeakFigures; 2],
    reports: &[LoadReport; 2],
    peaks: &[Peak; 2],
) -> Vec<CheckResult> {
    let [regulated, control] = figures;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let refusal_p90 = reports[0]
        .latency_of(REJECTED)
        .map_or(0.0, |h| h.value_at_quantile(0.9) as f64 / 1000.0);
    vec![
        CheckResult::new(
            "regulated at 5x: goodput (answers within 150 ms per second)",
            regulated.goodput,
            Bound::AtLeast,
            0.95 * CAPACITY,
        )
        .unit("/s")
        .detail(format!("95% of c/s = {:.0}/s", 0.95 * CAPACITY)),
        CheckResult::new(
            "regulated at 5x: admitted p99",
            ms(regulated.admitted_p99),
            Bound::AtMost,
            1.5 * ms(SLO),
        )
        .unit("ms")
        .detail("1.5x the promised 150 ms".into()),
        CheckResult::new(
            "regulated: refusals' p90 (a refusal must not wait)",
            refusal_p90,
            Bound::AtMost,
            50.0,
        )
        .unit("ms"),
        CheckResult::new(
            "regulated: the longest queue seen",
            peaks[0].queue,
            Bound::AtMost,
            MAX_QUEUE as f64,
        )
        .unit("waiting"),
        CheckResult::new(
            "unregulated at 5x: goodput collapses (under half of c/s)",
            control.goodput,
            Bound::AtMost,
            0.5 * CAPACITY,
        )
        .unit("/s"),
        CheckResult::new(
            "unregulated at 5x: p99 of every checkout, answered or given up (5x the promise)",
            ms(control.p99_all),
            Bound::AtLeast,
            5.0 * ms(SLO),
        )
        .unit("ms"),
    ]
}

fn lesson(passed: bool, lag: Duration) {
    if passed {
        println!(
            "\nSame service, same load, same 100 checkouts a second of work. The regulated edge said\n\
             no to four customers in five, at once, with a time to come back, and kept its promise\n\
             to the fifth. The unregulated edge said yes to everyone and kept it to nobody: its\n\
             workers were as busy as n1's, serving customers who had already left.\n"
        );
    } else if lag > Duration::from_millis(50) {
        println!(
            "\nThe load generator fell up to {} ms behind its schedule: this machine was too busy to\n\
             measure the edges (every late checkout carries the generator's delay). Close what else\n\
             is running and try again.\n",
            lag.as_millis()
        );
    } else {
        println!(
            "\nThe figures fell outside what the regulator promises, on a machine that kept up: look\n\
             at the regulated edge's report, and at its node log.\n"
        );
    }
}

/// The report directory: the regulated run's report at the top, the control's in
/// `unregulated/`, both side by side in `side-by-side.html`; returns the terminal's table.
fn write_report(
    args: &Demo,
    seed: u64,
    started: SystemTime,
    cluster: &Cluster,
    run: &Measured,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    let control_dir = out.join("unregulated");
    std::fs::create_dir_all(&control_dir).map_err(io)?;
    std::fs::write(out.join("timeline.txt"), run.timeline.join("\n") + "\n").map_err(io)?;
    let edge_json = |i: usize| {
        let f = run.figures[i];
        json!({
            "node": EDGES[i],
            "regulated": i == 0,
            "at_5x": {
                "goodput_per_s": f.goodput,
                "answers_per_s": f.throughput,
                "admitted_p99_ms": (f.throughput > 0.0).then_some(f.admitted_p99.as_secs_f64() * 1000.0),
                "p99_ms": f.p99_all.as_secs_f64() * 1000.0,
                "refused_per_s": f.refused_per_s,
                "gave_up_per_s": f.gave_up_per_s,
            },
            "peak_queue": run.peaks[i].queue,
            "peak_rss_bytes": run.peaks[i].rss,
            "load": run.reports[i].summary(),
        })
    };
    let figures = json!({
        "capacity_per_s": CAPACITY,
        "slo_ms": SLO.as_millis() as u64,
        "peak_rate_per_s": PEAK_RATE,
        "edges": [edge_json(0), edge_json(1)],
    });
    let text = serde_json::to_string_pretty(&figures).map_err(|e| e.to_string())?;
    std::fs::write(out.join("figures.json"), text + "\n").map_err(io)?;
    summary(&run.figures, &run.peaks);

    let mut checks = run.checks.clone();
    report::explain::attach_logs(&mut checks, out, started, &run.spans);
    let regulated = report::Run {
        title: "black-friday: n1, regulated, up to 5x capacity",
        seed: Some(seed),
        load: &run.reports[0],
        history: &run.histories[0],
        checks: &checks,
        faults: &run.spans,
        inconclusive: None,
    };
    let table = report::write(out, &regulated).map_err(|e| e.to_string())?;
    let control = report::Run {
        title: "black-friday: n2, unregulated (the control), up to 5x capacity",
        seed: Some(seed),
        load: &run.reports[1],
        history: &run.histories[1],
        checks: &[],
        faults: &run.spans,
        inconclusive: None,
    };
    report::write(&control_dir, &control).map_err(|e| e.to_string())?;
    side_by_side(out, &control_dir)?;
    Ok(table)
}

/// The terminal's comparison at 5x.
fn summary(figures: &[PeakFigures; 2], peaks: &[Peak; 2]) {
    println!(
        "\nat 5x capacity ({PEAK_RATE:.0}/s offered, capacity {CAPACITY:.0}/s, promise {} ms):",
        SLO.as_millis()
    );
    println!(
        "  {:<16} {:>9} {:>9} {:>12} {:>10} {:>9} {:>9} {:>11} {:>9}",
        "edge",
        "in time/s",
        "answers/s",
        "admitted p99",
        "refused/s",
        "gave up/s",
        "p99 all",
        "most queued",
        "peak RSS"
    );
    for (i, (f, p)) in figures.iter().zip(peaks).enumerate() {
        let admitted = if f.throughput > 0.0 {
            format!("{:.0} ms", f.admitted_p99.as_secs_f64() * 1000.0)
        } else {
            "-".into()
        };
        println!(
            "  {:<16} {:>9.0} {:>9.0} {:>12} {:>10.0} {:>9.0} {:>6.0} ms {:>11.0} {:>5} MiB",
            ["n1, regulated", "n2, unregulated"][i],
            f.goodput,
            f.throughput,
            admitted,
            f.refused_per_s,
            f.gave_up_per_s,
            f.p99_all.as_secs_f64() * 1000.0,
            p.queue,
            p.rss >> 20,
        );
    }
}

/// `side-by-side.html`: each plot of the two reports in one row, the regulated on the left.
/// Cut from the pages the harness wrote (the same style, the same SVG), so nothing is drawn
/// twice.
fn side_by_side(out: &Path, control_dir: &Path) -> Result<(), String> {
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
    let left = read(out.join("report.html"))?;
    let right = read(control_dir.join("report.html"))?;
    let style = left
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style);
    let (a, b) = (charts(&left), charts(&right));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>black-friday: regulated and unregulated</title><style>{style}\
         body {{ max-width: 1900px; }} td {{ width: 50%; border: none; }}</style></head><body>\n\
         <h1>black-friday: the same load at two edges</h1>\n\
         <p class=\"facts\">Left: n1, regulated (<a href=\"report.html\">its report</a>). \
         Right: n2, the unregulated control (<a href=\"unregulated/report.html\">its report</a>). \
         Shaded: 5x capacity. Capacity is {CAPACITY:.0} checkouts a second; the promise is an \
         answer within {} ms.</p>\n<table>\n",
        SLO.as_millis()
    );
    for ((title, left), (_, right)) in a.iter().zip(&b) {
        page += &format!(
            "<tr><th colspan=\"2\">{title}</th></tr>\n<tr><td>{left}</td><td>{right}</td></tr>\n"
        );
    }
    page += "</table>\n</body></html>\n";
    std::fs::write(out.join("side-by-side.html"), page).map_err(|e| e.to_string())
}

/// Each `<h2>title</h2>` followed by an `<svg ...>...</svg>` in a report page.
fn charts(page: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find("<h2>") {
        rest = &rest[at + 4..];
        let Some((title, after)) = rest.split_once("</h2>") else {
            break;
        };
        let after = after.trim_start();
        if after.starts_with("<svg")
            && let Some(end) = after.find("</svg>")
        {
            found.push((title.to_string(), after[..end + 6].to_string()));
        }
        rest = after;
    }
    found
}
