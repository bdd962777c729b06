//! `cargo lab demo capacity-halves`: the service behind the shop's edge slows to half its
//! capacity under a steady load, then recovers; the adaptive limit follows it, the overload
//! alarm sets once and clears once, and a limit fixed for the old capacity doubles its
//! latency.
//!
//! Two edge nodes of exercise 14, each in front of its own service of 4 workers at 20 ms a
//! checkout (200 a second, on any machine). n1's limit is adaptive (AIMD, aiming at 100 ms);
//! n2's is fixed at 20, the best for the full capacity (T c / s = 100 ms x 4 / 20 ms). Both
//! get 150 checkouts a second for 13 s; from 4 s to 9 s both services take 40 ms a
//! checkout (100 a second: the load is 1.5x capacity). Each second prints a line per edge
//! (its limit, refusals, the admitted p50 and p99, the alarm); the end writes the report
//! directory:
//! - `report.html`, `verdict.json`, `history.jsonl`: n1, with the demo's checks (the
//!   harness's report, the halved phase shaded);
//! - `fixed/`: the same for the control;
//! - `limit.html`: the limits of both and n1's alarm over time, plotted; `limit.tsv`: the
//!   same, every 100 ms, as a table;
//! - `timeline.txt` (what the terminal showed), `figures.json`, the node logs.
//!
//! The lab runs it with the node binary it built (solution or exercise):
//! `--node <binary> --out <dir> [--seed S] [--whose ...]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use adaptive_limits_solution::Figures;
use common::{HALVED, SERVICE_TIME, TARGET, WORKERS, node_args, optimum};
use harness::Cluster;
use harness::check::{Bound, CheckResult};
use harness::checkout::{self, Seconds};
use harness::demo::{Demo, broke, verdict};
use harness::history::History;
use harness::load::{Load, LoadReport, Schedule, new_histogram};
use harness::report::{self, Span};
use hdrhistogram::Histogram;
use node_kit::sync::Mutex;
use serde_json::json;

const RATE: f64 = 150.0;
const RUN: Duration = Duration::from_secs(13);
const HALVE_AT: Duration = Duration::from_secs(4);
const RESTORE_AT: Duration = Duration::from_secs(9);
const EDGES: [&str; 2] = ["n1", "n2"];

const INTRO: &str = "\
Mid-afternoon at the shop. Two edges take 150 checkouts a second, each in front of its own
service of 4 workers at 20 ms a checkout: 200 a second, whatever this laptop's CPU. At 4 s a
dependency slows down and every checkout takes 40 ms: capacity halves to 100 a second, under
1.5x that load. At 9 s it comes back.
n1's concurrency limit is adaptive (exercise 14's AIMD): one more in service per 100 ms while
checkouts are answered within 100 ms, a fifth fewer when they are not. n2's is fixed at 20, the
best limit for the full capacity (by Little's law, 20 in service at 20 ms each wait 100 ms).
Each edge raises the alarm 'overload' when it refuses over 20% of its arrivals, and clears it
under 5%. Watch n1's limit, the admitted p50, and the alarm column.";

fn narration(second: u64) -> Option<&'static str> {
    match second {
        0 => Some(
            "full capacity, 0.75 of it offered: nothing refused; n1's limit floats above what is in use (it grows only while half of it is used).",
        ),
        4 => Some(
            "capacity halves. Twice the service time is twice the requests in service (Little's law): n1's limit finds about 10 (T c / s, halved) and holds there, refusing the third it cannot serve in time; n2 lets 20 in and every checkout waits 200 ms.",
        ),
        9 => Some("capacity is back: nothing is refused, the alarms clear, once each."),
        _ => None,
    }
}

/// One second of one edge, by the second its replies came back in.
/// One look at both edges' limiters.
#[derive(Clone)]
struct Look {
    at: Duration,
    edges: [Option<Figures>; 2],
}

fn main() -> ExitCode {
    let args = Demo::start("capacity-halves", INTRO);
    println!(
        "starting 2 edge nodes of {} ({}): n1 adaptive, n2 fixed at 20\n",
        args.whose,
        args.node_name(),
    );
    let cluster = match Cluster::builder(&args.node)
        .nodes(2)
        .args(node_args())
        .start()
    {
        Ok(cluster) => cluster,
        Err(e) => return broke(&format!("the edges did not start: {e}")),
    };
    let runtime = match Demo::runtime() {
        Ok(runtime) => runtime,
        Err(e) => return broke(&e),
    };
    let seed = args.seed_or(14);
    let started = SystemTime::now();
    let run = match runtime.block_on(play(&cluster)) {
        Ok(run) => run,
        Err(e) => {
            let _ = args.report_dir(&cluster);
            eprintln!("the node logs are in {}", args.out.display());
            return broke(&format!("the demo broke: {e}"));
        }
    };
    let written = write_report(&args, seed, started, &cluster, &run);
    drop(cluster);
    match written {
        Ok(table) => {
            let passed = run.checks.iter().all(|c| c.passed);
            lesson(passed, run.reports[0].max_lag.max(run.reports[1].max_lag));
            println!("run it again: cargo lab demo capacity-halves\n");
            print!("{table}");
            println!(
                "the limits and the alarm: {}",
                args.out.join("limit.html").display()
            );
            verdict(passed)
        }
        Err(e) => broke(&format!("could not write the report: {e}")),
    }
}

struct Measured {
    reports: [LoadReport; 2],
    histories: [History; 2],
    looks: Vec<Look>,
    checks: Vec<CheckResult>,
    timeline: Vec<String>,
    figures: serde_json::Value,
}

async fn play(cluster: &Cluster) -> Result<Measured, String> {
    let fixed = optimum(SERVICE_TIME) as usize;
    let answer = cluster
        .http("n2")
        .request(reqwest::Method::PUT, "/internal/limit")
        .json(&json!({ "fixed": fixed }))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    answer.map_err(|e| format!("cannot fix n2's limit: {e}"))?;

    let start = Instant::now() + Duration::from_millis(200);
    let live = Seconds::shared(TARGET);
    let histories = [History::starting_at(start), History::starting_at(start)];
    let load = || Load::new(Schedule::Constant { rate: RATE }, RUN).timeout(Duration::from_secs(2));
    let [n1, n2] = EDGES;
    let first = checkout::drive(cluster, n1, load(), &histories[0], &live, None);
    let second = checkout::drive(cluster, n2, load(), &histories[1], &live, None);
    let changes = async {
        for (at, s) in [(HALVE_AT, HALVED), (RESTORE_AT, SERVICE_TIME)] {
            tokio::time::sleep_until((start + at).into()).await;
            for node in EDGES {
                common::set_service_time(cluster, node, s).await;
            }
        }
    };
    let (a, b, (timeline, looks), ()) =
        tokio::join!(first, second, print_seconds(cluster, &live, start), changes);
    let reports = [a?, b?];
    let (checks, figures) = checks(&reports, &looks);
    Ok(Measured {
        reports,
        histories,
        looks,
        checks,
        timeline,
        figures,
    })
}

/// Prints a line a second while the run goes, and looks at both limiters every 100 ms.
async fn print_seconds(
    cluster: &Cluster,
    live: &Mutex<Seconds>,
    start: Instant,
) -> (Vec<String>, Vec<Look>) {
    let mut timeline = Vec::new();
    say(
        &mut timeline,
        format!(
            "  {:>4} {:>9}   {:<45} {:<30}",
            "", "", "n1, adaptive", "n2, fixed at 20"
        ),
    );
    say(
        &mut timeline,
        format!(
            "  {:>4} {:>9}   {:>5} {:>6} {:>7} {:>7} {:>7} {:>6}   {:>7} {:>7} {:>7} {:>6}",
            "t",
            "capacity",
            "limit",
            "served",
            "refused",
            "p50",
            "p99",
            "alarm",
            "refused",
            "p50",
            "p99",
            "alarm"
        ),
    );
    let mut looks = Vec::new();
    let mut second = 0u64;
    tokio::time::sleep_until(start.into()).await;
    let until = RUN + Duration::from_millis(1500);
    while start.elapsed() < until {
        let mut edges = [None, None];
        for (i, node) in EDGES.iter().enumerate() {
            edges[i] = cluster
                .http(node)
                .get_json::<Figures>("/internal/limit")
                .await
                .ok();
        }
        looks.push(Look {
            at: start.elapsed(),
            edges,
        });
        let due = Duration::from_secs(second + 1) + Duration::from_millis(200);
        if start.elapsed() >= due && second < RUN.as_secs() {
            if let Some(words) = narration(second) {
                say(&mut timeline, format!("  >> {second:>2} s  {words}"));
            }
            let at = Duration::from_secs(second) + Duration::from_millis(500);
            let capacity = if (HALVE_AT..RESTORE_AT).contains(&at) {
                WORKERS as f64 / HALVED.as_secs_f64()
            } else {
                WORKERS as f64 / SERVICE_TIME.as_secs_f64()
            };
            let (a, b) = {
                let live = live.lock();
                (live.second(EDGES[0], second), live.second(EDGES[1], second))
            };
            // The limit and the alarm as they stood at the end of the second.
            let end = Duration::from_secs(second + 1);
            let state = |i: usize| {
                looks
                    .iter()
                    .rev()
                    .find(|l| l.at <= end)
                    .and_then(|l| l.edges[i].clone())
            };
            let (fa, fb) = (state(0), state(1));
            let alarm = |f: &Option<Figures>| match f {
                Some(f) if f.alarm.active => "SET",
                Some(_) => "-",
                None => "?",
            };
            say(
                &mut timeline,
                format!(
                    "  {:>3}s {:>7.0}/s   {:>5.1} {:>6} {:>7} {:>7} {:>7} {:>6}   {:>7} {:>7} {:>7} {:>6}",
                    second,
                    capacity,
                    fa.as_ref().map_or(0.0, |f| f.limit),
                    a.ok,
                    a.refused,
                    a.quantile(0.5),
                    a.quantile(0.99),
                    alarm(&fa),
                    b.refused,
                    b.quantile(0.5),
                    b.quantile(0.99),
                    alarm(&fb),
                ),
            );
            second += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (timeline, looks)
}

fn say(timeline: &mut Vec<String>, line: String) {
    println!("{line}");
    timeline.push(line);
}

/// The admitted latencies of seconds `from..to` of a run.
fn served(report: &LoadReport, from: u64, to: u64) -> Histogram<u64> {
    let mut all = new_histogram();
    for w in report
        .windows
        .iter()
        .skip(from as usize)
        .take((to - from) as usize)
    {
        let _ = all.add(&w.ok_latency);
    }
    all
}

/// What the demo holds the run to, and its figures.
fn checks(reports: &[LoadReport; 2], looks: &[Look]) -> (Vec<CheckResult>, serde_json::Value) {
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    // The halved phase's last 3 s: settled.
    let settled = (HALVE_AT.as_secs() + 2, RESTORE_AT.as_secs());
    let (adaptive, fixed) = (
        served(&reports[0], settled.0, settled.1),
        served(&reports[1], settled.0, settled.1),
    );
    let limits: Vec<f64> = looks
        .iter()
        .filter(|l| (HALVE_AT + Duration::from_secs(2)..RESTORE_AT).contains(&l.at))
        .filter_map(|l| l.edges[0].as_ref().map(|f| f.limit))
        .collect();
    let mean_limit = limits.iter().sum::<f64>() / limits.len().max(1) as f64;
    let alarm_at = |active: bool, from: Duration| {
        looks
            .iter()
            .find(|l| {
                l.at >= from
                    && l.edges[0]
                        .as_ref()
                        .is_some_and(|f| f.alarm.active == active)
            })
            .map(|l| l.at)
    };
    let set_at = alarm_at(true, HALVE_AT);
    let cleared_at = alarm_at(false, RESTORE_AT);
    let last = looks.iter().rev().find_map(|l| l.edges[0].clone());
    let (sets, clears) = last
        .as_ref()
        .map_or((0, 0), |f| (f.alarm.sets, f.alarm.clears));
    let new = optimum(HALVED);
    let target = TARGET.as_secs_f64() * 1000.0;
    let after = |t: Option<Duration>, from: Duration| {
        t.map_or(f64::INFINITY, |t| (t.saturating_sub(from)).as_secs_f64())
    };
    let checks = vec![
        CheckResult::new(
            "adaptive, capacity halved: the mean limit (settled, within half of T c / s = 10)",
            (mean_limit - new).abs() / new,
            Bound::AtMost,
            0.5,
        )
        .detail(format!("mean limit {mean_limit:.1}, optimum {new:.0}")),
        CheckResult::new(
            "adaptive, capacity halved: admitted p50 (settled)",
            ms(&adaptive, 0.5),
            Bound::AtMost,
            1.5 * target,
        )
        .unit("ms")
        .detail("1.5x the 100 ms target".into()),
        CheckResult::new(
            "the overload alarm sets within 1.5 s of the halving",
            after(set_at, HALVE_AT),
            Bound::AtMost,
            1.5,
        )
        .unit("s"),
        CheckResult::new(
            "the overload alarm clears within 1.5 s of capacity's return",
            after(cleared_at, RESTORE_AT),
            Bound::AtMost,
            1.5,
        )
        .unit("s"),
        CheckResult::new(
            "the overload alarm's transitions (one set, one clear: no flapping)",
            (sets + clears) as f64,
            Bound::AtMost,
            2.0,
        )
        .detail(format!("{sets} set, {clears} cleared")),
        CheckResult::new(
            "fixed at 20, capacity halved: admitted p50 (twice the target)",
            ms(&fixed, 0.5),
            Bound::AtLeast,
            1.5 * target,
        )
        .unit("ms"),
    ];
    let figures = json!({
        "capacity_per_s": { "full": WORKERS as f64 / SERVICE_TIME.as_secs_f64(), "halved": WORKERS as f64 / HALVED.as_secs_f64() },
        "offered_per_s": RATE,
        "target_ms": target,
        "halved": { "from_s": HALVE_AT.as_secs(), "to_s": RESTORE_AT.as_secs() },
        "adaptive": {
            "settled_mean_limit": mean_limit,
            "optimum": new,
            "settled_p50_ms": ms(&adaptive, 0.5),
            "settled_p99_ms": ms(&adaptive, 0.99),
            "alarm_set_after_s": set_at.map(|t| t.saturating_sub(HALVE_AT).as_secs_f64()),
            "alarm_cleared_after_s": cleared_at.map(|t| t.saturating_sub(RESTORE_AT).as_secs_f64()),
            "alarm_sets": sets,
            "alarm_clears": clears,
            "load": reports[0].summary(),
        },
        "fixed": {
            "limit": optimum(SERVICE_TIME),
            "settled_p50_ms": ms(&fixed, 0.5),
            "settled_p99_ms": ms(&fixed, 0.99),
            "load": reports[1].summary(),
        },
    });
    (checks, figures)
}

fn lesson(passed: bool, lag: Duration) {
    if passed {
        println!(
            "\nNobody told n1 that capacity halved: it measured it. Its limit went where the latency\n\
             said the service could keep up, and the alarm said 'overload' once, and 'over' once,\n\
             however the refusals wobbled. n2's limit was right this morning; this afternoon it let\n\
             twice too much in, and every checkout it admitted waited twice as long.\n"
        );
    } else if lag > Duration::from_millis(50) {
        println!(
            "\nThe load generator fell up to {} ms behind its schedule: this machine was too busy to\n\
             measure the edges. Close what else is running and try again.\n",
            lag.as_millis()
        );
    } else {
        println!(
            "\nThe figures fell outside what the limit and the alarm promise, on a machine that kept\n\
             up: look at limit.html, and at n1's log (its alarm lines).\n"
        );
    }
}

fn write_report(
    args: &Demo,
    seed: u64,
    started: SystemTime,
    cluster: &Cluster,
    run: &Measured,
) -> Result<String, String> {
    let out = args.report_dir(cluster)?;
    let io = |e: std::io::Error| format!("{}: {e}", out.display());
    let fixed_dir = out.join("fixed");
    std::fs::create_dir_all(&fixed_dir).map_err(io)?;
    std::fs::write(out.join("timeline.txt"), run.timeline.join("\n") + "\n").map_err(io)?;
    let text = serde_json::to_string_pretty(&run.figures).map_err(|e| e.to_string())?;
    std::fs::write(out.join("figures.json"), text + "\n").map_err(io)?;
    let mut tsv = String::from(
        "t_s\tn1_limit\tn1_in_flight\tn1_refused_share\tn1_alarm\tn2_limit\tn2_refused_share\tn2_alarm\n",
    );
    for l in &run.looks {
        let cell = |i: usize| {
            l.edges[i]
                .as_ref()
                .map_or(("-".into(), "-".into(), "-".into(), "-".into()), |f| {
                    (
                        format!("{:.1}", f.limit),
                        f.in_flight.to_string(),
                        format!("{:.3}", f.refused_share),
                        u8::from(f.alarm.active).to_string(),
                    )
                })
        };
        let (a, b) = (cell(0), cell(1));
        tsv += &format!(
            "{:.1}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            l.at.as_secs_f64(),
            a.0,
            a.1,
            a.2,
            a.3,
            b.0,
            b.2,
            b.3
        );
    }
    std::fs::write(out.join("limit.tsv"), tsv).map_err(io)?;
    std::fs::write(out.join("limit.html"), limit_page(&run.looks)).map_err(io)?;

    let spans = vec![Span {
        label: "capacity halved".into(),
        start: HALVE_AT,
        end: RESTORE_AT,
        nodes: EDGES.iter().map(|e| e.to_string()).collect(),
    }];
    let mut checks = run.checks.clone();
    report::explain::attach_logs(&mut checks, out, started, &spans);
    let table = report::write(
        out,
        &report::Run {
            title: "capacity-halves: n1, adaptive limit, capacity halved from 4 s to 9 s",
            seed: Some(seed),
            load: &run.reports[0],
            history: &run.histories[0],
            checks: &checks,
            faults: &spans,
            inconclusive: None,
        },
    )
    .map_err(|e| e.to_string())?;
    report::write(
        &fixed_dir,
        &report::Run {
            title: "capacity-halves: n2, limit fixed at 20 (the control)",
            seed: Some(seed),
            load: &run.reports[1],
            history: &run.histories[1],
            checks: &[],
            faults: &spans,
            inconclusive: None,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(table)
}

/// `limit.html`: both limits over time, n1's alarm as a band, the halved phase shaded.
fn limit_page(looks: &[Look]) -> String {
    let (w, h, pad) = (900.0, 300.0, 40.0);
    let span = (RUN + Duration::from_millis(1500)).as_secs_f64();
    let top = 30.0;
    let x = |t: f64| pad + (w - 2.0 * pad) * t / span;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v.min(top) / top;
    let line = |i: usize| {
        looks
            .iter()
            .filter_map(|l| {
                let f = l.edges[i].as_ref()?;
                Some(format!("{:.1},{:.1}", x(l.at.as_secs_f64()), y(f.limit)))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect x=\"{:.1}\" y=\"{pad}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eee\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\">capacity halved</text>\n",
        x(HALVE_AT.as_secs_f64()),
        x(RESTORE_AT.as_secs_f64()) - x(HALVE_AT.as_secs_f64()),
        h - 2.0 * pad,
        x(HALVE_AT.as_secs_f64()) + 4.0,
        pad + 14.0,
    );
    // n1's alarm: a red band along the top while it is set.
    for pair in looks.windows(2) {
        if pair[0].edges[0].as_ref().is_some_and(|f| f.alarm.active) {
            svg += &format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" fill=\"#c33\"/>\n",
                x(pair[0].at.as_secs_f64()),
                pad - 12.0,
                x(pair[1].at.as_secs_f64()) - x(pair[0].at.as_secs_f64()),
            );
        }
    }
    for (v, label) in [
        (optimum(SERVICE_TIME), "T c / s at full capacity"),
        (optimum(HALVED), "T c / s halved"),
    ] {
        svg += &format!(
            "<line x1=\"{pad}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#666\">{v:.0}: {label}</text>\n",
            w - pad,
            y(v),
            y(v),
            w - pad - 190.0,
            y(v) - 4.0
        );
    }
    for t in (0..=span as u64).step_by(2) {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t} s</text>\n",
            x(t as f64),
            h - pad + 16.0
        );
    }
    svg += &format!(
        "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"2\" points=\"{}\"/>\n\
         <polyline fill=\"none\" stroke=\"#e80\" stroke-width=\"2\" points=\"{}\"/>\n</svg>",
        line(0),
        line(1)
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>capacity-halves: \
         the limits and the alarm</title></head><body style=\"font-family: sans-serif\">\n\
         <h1>capacity-halves: the limits and the alarm</h1>\n<p>Blue: n1's adaptive limit. \
         Orange: n2's, fixed at 20. Red band: n1's alarm <code>overload</code> set. Shaded: the \
         service at half capacity. Every 100 ms in <a href=\"limit.tsv\">limit.tsv</a>; the load \
         in <a href=\"report.html\">report.html</a> (n1) and <a href=\"fixed/report.html\">\
         fixed/report.html</a> (n2).</p>\n{svg}\n</body></html>\n"
    )
}
