//! What the guards cost a call: one `ask` of a fuse (ok, and blown), and a bulkhead's worker
//! taken and given back.
//!
//! `cargo bench -p circuit-breakers` (add `-- --quick` for a short run). Each figure
//! is one call on one thread:
//! - `ask/ok`: a fuse that is not blown (a clock read and a lock);
//! - `ask/blown`: a blown fuse refusing a caller: the whole price of a refusal inside the
//!   front-end, which answers it instead of a timeout;
//! - `bulkhead/acquire+drop`: a worker taken from a bulkhead and given back.
//!
//! A call to a dependency costs a millisecond of HTTP on loopback at best and a timeout when
//! it hangs, so anything near a microsecond here is noise to it: the lesson is the ratio, a
//! blown fuse's "no" against the second it replaces. (The fuse takes a lock per ask; under
//! many threads a real one would use atomics for the ok path.)

use std::hint::black_box;
use std::time::Duration;

use circuit_breakers::{Bulkhead, Fuse, Policy};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let policy = Policy {
        tolerate: 3,
        window: Duration::from_secs(1),
        reset: Duration::from_secs(3600),
    };
    let mut group = c.benchmark_group("ask");
    let ok = Fuse::new(policy);
    group.bench_function("ok", |b| b.iter(|| black_box(ok.ask())));
    let blown = Fuse::new(policy);
    for _ in 0..=policy.tolerate {
        blown.melt();
    }
    assert!(blown.is_blown(), "four melts blow a fuse that tolerates 3");
    group.bench_function("blown", |b| b.iter(|| black_box(blown.ask())));
    group.finish();

    let bulkhead = Bulkhead::new(4);
    c.bench_function("bulkhead/acquire+drop", |b| {
        b.iter(|| drop(black_box(bulkhead.try_acquire())))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
