//! The measurements behind the load generator's figures: rate accuracy, the highest rate it
//! sustains against a trivial target, and the same against oha when `oha` is on the PATH
//! (`cargo install oha --locked`). Run it in release, on a quiet machine:
//!
//! ```sh
//! cargo run --release -p harness --example load_measure
//! ```

use std::sync::atomic::Ordering;
use std::time::Duration;

use harness::load::{Load, Schedule};

#[path = "../tests/support/target.rs"]
mod target;
use target::Target;

fn main() {
    // The target gets its own runtime and threads, as a separate server would.
    let server = tokio::runtime::Runtime::new().unwrap();
    let trivial = server.block_on(Target::start(Duration::ZERO, None));
    let slow = server.block_on(Target::start(Duration::from_millis(2), None));
    let client = tokio::runtime::Runtime::new().unwrap();
    let run = |target: &Target, rate: f64, secs: u64| {
        let load = Load::new(Schedule::Constant { rate }, Duration::from_secs(secs));
        client.block_on(load.run(target.get())).unwrap().summary()
    };
    let oha = |target: &Target, args: &[&str]| -> Option<serde_json::Value> {
        let url = format!("http://{}/", target.addr);
        let out = std::process::Command::new("oha")
            .args(["--no-tui", "--output-format", "json"])
            .args(args)
            .arg(&url)
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };
    let oha_ms = |v: &serde_json::Value, p: &str| {
        v["latencyPercentiles"][p].as_f64().unwrap_or(f64::NAN) * 1000.0
    };

    // Sent per second of the schedule, what the server received in the same run, and how
    // many sends were late: the rate is only accurate if the sends were also on time.
    println!("\nrate accuracy (open loop, 5 s, trivial target)");
    println!(
        "{:>8} {:>10} {:>10} {:>7} {:>7} {:>8} {:>8}",
        "target", "sent/s", "received", "ratio", "late %", "p50 ms", "p99 ms"
    );
    for rate in [100.0, 1000.0, 5000.0, 10000.0] {
        let before = trivial.received.load(Ordering::Relaxed);
        let s = run(&trivial, rate, 5);
        let received = trivial.received.load(Ordering::Relaxed) - before;
        println!(
            "{rate:>8} {:>10.1} {received:>10} {:>7.4} {:>7.2} {:>8.3} {:>8.3}",
            s.achieved_rate,
            s.achieved_rate / rate,
            100.0 * s.late_sends as f64 / s.sent as f64,
            s.p50_ms,
            s.p99_ms
        );
    }

    // The same yardstick for both tools: replies per second of the whole run (the drain of
    // the last replies included) at least 95% of the rate asked.
    println!("\ncapacity: open loop, 3 s per rate; sustained = replies/s at least 95% of the rate");
    let rates = [5000.0, 10000.0, 15000.0, 20000.0, 25000.0, 30000.0, 40000.0];
    let mut lab_max = 0.0;
    for rate in rates {
        let s = run(&trivial, rate, 3);
        let replies = s.ok as f64 / s.elapsed_s;
        println!(
            "  lab {rate:>6}/s: replies {replies:>8.1}/s, late {:>6}, dropped {:>6}, p50 {:.3} p99 {:.3} ms",
            s.late_sends, s.dropped, s.p50_ms, s.p99_ms
        );
        if replies >= 0.95 * rate {
            lab_max = rate;
        }
    }
    println!("  lab sustains {lab_max}/s");
    let mut oha_max = 0.0;
    for rate in rates {
        let q = format!("{rate}");
        let Some(v) = oha(
            &trivial,
            &["-z", "3s", "-c", "50", "-q", &q, "--latency-correction"],
        ) else {
            println!("  oha not found on PATH: no comparison");
            break;
        };
        let replies = v["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN);
        println!(
            "  oha {rate:>6}/s: replies {replies:>8.1}/s, p50 {:.3} p99 {:.3} ms",
            oha_ms(&v, "p50"),
            oha_ms(&v, "p99")
        );
        if replies >= 0.95 * rate {
            oha_max = rate;
        }
    }
    if let Some(v) = oha(&trivial, &["-z", "3s", "-c", "50"]) {
        let flat_out = v["summary"]["requestsPerSec"].as_f64().unwrap_or(f64::NAN);
        println!("  oha sustains {oha_max}/s (flat out, 50 connections: {flat_out:.0}/s)");
        println!("  lab/oha = {:.2}", lab_max / oha_max);
    }

    println!("\npercentiles at a fixed rate, 5 s, lab vs oha --latency-correction");
    for (name, target, rate) in [
        ("trivial", &trivial, 2000.0),
        ("2 ms service", &slow, 500.0),
    ] {
        let s = run(target, rate, 5);
        print!(
            "  {name} at {rate}/s: lab p50 {:.3} p90 {:.3} p99 {:.3} ms",
            s.p50_ms, s.p90_ms, s.p99_ms
        );
        let q = format!("{rate}");
        match oha(
            target,
            &["-z", "5s", "-c", "50", "-q", &q, "--latency-correction"],
        ) {
            Some(v) => println!(
                "; oha p50 {:.3} p90 {:.3} p99 {:.3} ms",
                oha_ms(&v, "p50"),
                oha_ms(&v, "p90"),
                oha_ms(&v, "p99")
            ),
            None => println!(),
        }
    }
}
