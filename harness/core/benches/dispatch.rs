//! The open loop's dispatcher: what the generator itself costs per request, with an
//! operation that does nothing, so that every microsecond measured is the generator's.
//!
//! Measured as CPU time per shot (the whole process: the dispatcher thread and the runtime's
//! two worker threads) at a fixed open-loop rate, not as wall time: a generator that keeps
//! its schedule takes as long as the schedule whatever it costs, and on a busy 2-core machine
//! what decides whether it keeps it is how much CPU each request takes from the cores it
//! shares. Two ways to run the same no-op request:
//! - a task per request (any closure: the generic open loop);
//! - 64 senders of its own ([`Operation::senders`], as `HttpTarget` runs), claiming shots
//!   from the schedule.
//!
//! Each run also prints its share of late sends, which is what the CPU buys.
//!
//! `cargo bench -p harness --bench dispatch` (add `-- --quick` for a short run).

use std::future::Future;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harness::load::{Load, LoadReport, Operation, Outcome, Schedule, Shot};

/// Between the two rates `scripts/compare-load.sh` measures.
const RATE: f64 = 30_000.0;

/// A no-op request answered by a fixed set of senders of its own.
struct Senders(usize);

impl Operation for Senders {
    fn call(&self, _: Shot) -> impl Future<Output = Outcome> + Send {
        std::future::ready(Outcome::Ok)
    }
    fn senders(&self) -> usize {
        self.0
    }
}

/// The CPU time this process has used so far (every thread).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `shots` requests at [`RATE`] and returns the CPU time they took, and the report.
fn run<O: Operation>(
    runtime: &tokio::runtime::Runtime,
    shots: u64,
    op: O,
) -> (Duration, LoadReport) {
    let load = Load::new(
        Schedule::Constant { rate: RATE },
        Duration::from_secs_f64(shots.max(1) as f64 / RATE),
    );
    let before = cpu_time();
    let report = runtime.block_on(load.run(op)).expect("a valid load");
    (cpu_time() - before, report)
}

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group(format!("open loop at {RATE}/s, CPU per shot"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(1));
    let late = |name: &str, report: &LoadReport| {
        let share = 100.0 * report.late_sends as f64 / report.sent.max(1) as f64;
        eprintln!(
            "  {name}: {} shots, {share:.2}% late, {} dropped",
            report.sent, report.dropped
        );
    };
    group.bench_function("a task per request", |b| {
        b.iter_custom(|shots| {
            let (cpu, report) = run(&runtime, shots, |_: Shot| async { Outcome::Ok });
            if shots >= 10_000 {
                late("a task per request", &report);
            }
            cpu
        })
    });
    group.bench_function("64 senders", |b| {
        b.iter_custom(|shots| {
            let (cpu, report) = run(&runtime, shots, Senders(64));
            if shots >= 10_000 {
                late("64 senders", &report);
            }
            cpu
        })
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
