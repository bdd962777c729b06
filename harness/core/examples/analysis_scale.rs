//! How the analysis scales: a synthetic history of N operations (a lab run at 5,000 a second;
//! 3 million is ten minutes), then each step a run's end takes, timed: reading
//! `history.jsonl`, pairing operations, every checker, the load figures, the report (which
//! writes `history.jsonl` back). Or, with `record`, the cost of recording N operations from
//! four threads at once through [`History::invoke`].
//!
//! ```sh
//! cargo build --release -p harness --example analysis_scale
//! /usr/bin/time -v target/release/examples/analysis_scale 3000000
//! /usr/bin/time -v target/release/examples/analysis_scale record 3000000
//! ```
//! It prints each step's time and the process's peak RSS (VmHWM) after it. By default the
//! carts are one per 40 operations and half the operations are reads; `<ops> 20 0` is the
//! scenario files' 20 carts with adds only (a read of a cart that large would make the
//! history itself grow with the square of the run).

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

use std::io::BufReader;
use std::time::{Duration, Instant};

use harness::check::{
    Availability, Checker, Duplicates, LatencyPercentiles, NoLostAcks, StaleReads,
};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Run};

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let record = args.peek().is_some_and(|a| a == "record");
    if record {
        args.next();
    }
    let usage = "usage: analysis_scale [record] <operations> [carts] [read percent]";
    let mut number = |default: u64| args.next().map_or(default, |a| a.parse().expect(usage));
    let ops = number(1_000_000);
    let carts = number(synthetic::carts_for(ops));
    let reads = number(50);
    if record {
        return record_only(ops);
    }
    let dir = std::env::temp_dir().join(format!("lab-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("synthetic.jsonl");
    let total = Instant::now();

    let finals = step("generate history.jsonl", || {
        let out = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
        synthetic::write(ops, carts, reads, out).expect("write")
    });
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "{ops} operations, {} carts, {:.0} MB of history.jsonl",
        finals.len(),
        size as f64 / 1e6
    );
    let history = step("read history.jsonl", || {
        let input = BufReader::new(std::fs::File::open(&file).expect("open"));
        History::read_jsonl(input).expect("parses")
    });
    let _ = std::fs::remove_file(&file);
    let analysis = Instant::now();

    let checks: Vec<Box<dyn Checker>> = vec![
        Box::new(NoLostAcks),
        Box::new(Duplicates { max: 0 }),
        Box::new(StaleReads { max: 0 }),
        Box::new(Availability {
            window: Duration::from_secs(1),
            min: 0.9,
            exclude: Vec::new(),
        }),
        Box::new(LatencyPercentiles {
            window: Duration::from_secs(1),
            p: 99.0,
            max: Duration::from_millis(100),
            exclude: Vec::new(),
        }),
    ];
    let mut results = Vec::new();
    for check in &checks {
        let result = step(&check.name(), || check.check(&history, &finals));
        println!("    {} {}: {}", result.figure, result.unit, result.detail);
        results.push(result);
    }
    // A run's report gets its load figures from the generator; a demo without one makes them
    // from the history, which copies its operations: measured last, so that the peak RSS
    // printed before it is the run's path alone (an empty history's figures stand in).
    let mut load = LoadReport::from_history(&History::default(), 32);
    let faults = [report::Span::from((
        "synthetic",
        Duration::from_secs(60),
        Duration::from_secs(70),
    ))];
    step("report::write", || {
        let run = Run {
            title: "synthetic analysis",
            seed: None,
            load: &load,
            history: &history,
            checks: &results,
            faults: &faults,
            inconclusive: None,
        };
        report::write(&dir, &run).expect("report written")
    });
    let checked = analysis.elapsed();
    let checked_rss = peak_rss_mb();
    step("operations() (a copy of every operation)", || {
        history.operations().len()
    });
    step("LoadReport::from_history", || {
        load = LoadReport::from_history(&history, 32)
    });
    drop(load);
    println!(
        "checkers and report: {:.2} s, peak RSS {checked_rss} MB; with the copies: {:.2} s; everything: {:.2} s; peak RSS {} MB",
        checked.as_secs_f64(),
        analysis.elapsed().as_secs_f64(),
        total.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Records `ops` operations from four threads, as a load generator's workers do.
fn record_only(ops: u64) {
    let history = History::new();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..4 {
            let history = history.clone();
            s.spawn(move || {
                for i in (t..ops).step_by(4) {
                    let action = Action::Add {
                        key: format!("c{}", i % 20),
                        item: format!("w{i}"),
                    };
                    history.invoke("n1", action).ok();
                }
            });
        }
    });
    let took = start.elapsed();
    println!(
        "recorded {ops} operations ({} events) from 4 threads in {:.2} s ({:.0} ns per operation); peak RSS {} MB",
        history.len(),
        took.as_secs_f64(),
        took.as_nanos() as f64 / ops as f64,
        peak_rss_mb()
    );
}

fn step<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!(
        "{:>8.3} s  {what} (peak RSS so far {} MB)",
        start.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    out
}

/// The process's peak resident set (VmHWM), in MB.
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
