//! What the limit costs: one AIMD update, and one alarm decision.
//!
//! `cargo bench -p adaptive-limits` (add `-- --quick` for a short run). Each figure
//! is one call on one thread:
//! - `aimd/in-time`: a window in time and in use (the additive increase);
//! - `aimd/over-target`: a window over target (the multiplicative decrease);
//! - `alarm/decide`: the watermarks' decision on one sample.
//!
//! The sampler calls each once per 100 ms window, so anything near a nanosecond is free: the
//! lesson is that adapting costs nothing per request. What a request pays is the limiter's
//! lock in `try_enter` and its ticket's drop, measured too (`limiter/enter+drop`).

use std::hint::black_box;
use std::time::Duration;

use adaptive_limits::{Aimd, Alarm, Limiter, Watermarks, Window};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let aimd = Aimd {
        min: 1.0,
        max: 200.0,
        target: Duration::from_millis(100),
        increase: 1.0,
        backoff: 0.8,
    };
    let in_time = Window {
        served: 20,
        latency: Some(Duration::from_millis(60)),
        peak_in_flight: 20,
    };
    let over = Window {
        latency: Some(Duration::from_millis(180)),
        ..in_time
    };
    let mut group = c.benchmark_group("aimd");
    group.bench_function("in-time", |b| {
        b.iter(|| black_box(aimd.next_limit(black_box(20.0), black_box(&in_time))))
    });
    group.bench_function("over-target", |b| {
        b.iter(|| black_box(aimd.next_limit(black_box(20.0), black_box(&over))))
    });
    group.finish();

    let marks = Watermarks {
        high: 0.2,
        low: 0.05,
    };
    c.bench_function("alarm/decide", |b| {
        b.iter(|| black_box(marks.decide(black_box(false), black_box(0.3))))
    });

    let limiter = Limiter::new(1000.0, Some(aimd), Alarm::new("overload", marks), None);
    c.bench_function("limiter/enter+drop", |b| {
        b.iter(|| drop(black_box(limiter.try_enter())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
