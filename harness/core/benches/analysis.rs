//! The analysis of a run over 1 million operations (a lab run of 200 s at 5,000 a second):
//! recording, pairing, each checker, the load figures and the report. The history is the
//! synthetic one of `benches/support/synthetic.rs`, built once.
//!
//! `cargo bench -p harness --bench analysis` (add `-- --quick` for a short run).
//! `examples/analysis_scale.rs` measures 1 and 3 million operations with peak memory.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use harness::check::{
    Availability, Checker, Duplicates, LatencyPercentiles, NoLostAcks, StaleReads,
};
use harness::history::{Action, History};
use harness::load::LoadReport;
use harness::report::{self, Run};

const OPS: u64 = 1_000_000;

fn recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("history");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    // A fresh history per batch, so the log's growth is part of what is measured but a
    // long run does not make it ever larger.
    group.bench_function("invoke and ok, one operation", |b| {
        b.iter_batched_ref(
            History::new,
            |history| {
                history
                    .invoke(
                        "n1",
                        Action::Add {
                            key: "c3".into(),
                            item: "w17".into(),
                        },
                    )
                    .ok()
            },
            BatchSize::NumIterations(10_000),
        )
    });
    group.finish();
}

fn analysis(c: &mut Criterion) {
    let (history, finals) = synthetic::history(OPS);
    let mut group = c.benchmark_group("analysis of 1M operations");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("operations()", |b| b.iter(|| history.operations().len()));
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
    for check in &checks {
        group.bench_function(check.name(), |b| b.iter(|| check.check(&history, &finals)));
    }
    let results: Vec<_> = checks.iter().map(|c| c.check(&history, &finals)).collect();
    group.bench_function("LoadReport::from_history", |b| {
        b.iter(|| LoadReport::from_history(&history, 32))
    });
    let load = LoadReport::from_history(&history, 32);
    let dir = std::env::temp_dir().join(format!("lab-bench-report-{}", std::process::id()));
    let faults = [report::Span::from((
        "synthetic",
        Duration::from_secs(60),
        Duration::from_secs(70),
    ))];
    group.bench_function("report::write (history.jsonl, verdict, html)", |b| {
        b.iter(|| {
            let run = Run {
                title: "bench",
                seed: None,
                load: &load,
                history: &history,
                checks: &results,
                faults: &faults,
                inconclusive: None,
            };
            report::write(&dir, &run).unwrap()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, recording, analysis);
criterion_main!(benches);
