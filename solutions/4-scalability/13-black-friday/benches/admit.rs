//! What the regulator's decision costs a request: `Limits::admit` alone, then a whole trip
//! through the [`Regulator`] (enter, then give the slot back) with a free slot, behind a
//! queue, and refused.
//!
//! `cargo bench -p black-friday-solution` (add `-- --quick` for a short run). Each figure is
//! one request on one thread:
//! - `admit/serve`, `admit/queue`, `admit/reject`: the decision itself, two comparisons;
//! - `regulator/uncontended`: a free slot taken and given back (the lock twice, no queue);
//! - `regulator/queued/N`: a request that joins a queue N long behind the one slot, and is
//!   handed the slot as the request before it finishes (each wait: a channel and a wake-up);
//! - `regulator/refused`: every slot taken and the queue full, refused at once.
//!
//! A checkout costs the service 40 ms; next to it the regulator's microsecond is nothing,
//! and so is a refusal, which is the point: saying no must stay cheaper than the work, or
//! the edge saturates refusing (the brief's last trade-off). The regulator takes one lock per
//! decision; at hundreds of thousands of requests a second on many cores, that lock would be
//! the next bottleneck.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use black_friday_solution::{Limits, Overload, Pass, Regulator};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// A request on its way into the regulator.
type Entering<'a> = Pin<Box<dyn Future<Output = Result<Pass, Overload>> + 'a>>;

fn limits(limit: usize, max_queue: usize) -> Limits {
    Limits {
        limit,
        max_queue,
        // Long enough that no bench request ever expires.
        max_wait: Duration::from_secs(3600),
        retry_after: Duration::from_secs(1),
    }
}

/// Polls `entering` once: it takes a free slot, joins the queue, or is refused.
async fn poll_once(entering: &mut Entering<'_>) -> Poll<Result<Pass, Overload>> {
    poll_fn(|cx| Poll::Ready(entering.as_mut().poll(cx))).await
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("admit");
    let four = limits(4, 8);
    for (name, in_service, queued) in [("serve", 2, 0), ("queue", 4, 3), ("reject", 4, 8)] {
        group.bench_function(name, |b| {
            b.iter(|| four.admit(black_box(in_service), black_box(queued)))
        });
    }
    group.finish();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("regulator");

    let free = Regulator::new(limits(4, 8), None);
    group.bench_function("uncontended", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    let pass = free.enter().await.expect("a slot is free");
                    drop(black_box(pass));
                }
                started.elapsed()
            })
        })
    });

    for depth in [1, 64] {
        // One slot, held; `depth` requests waiting for it. Each iteration one more joins the
        // tail, the holder finishes and the head is handed the slot: the queue stays `depth`
        // long, and every request measured went all the way through it.
        let one = Regulator::new(limits(1, depth), None);
        group.bench_function(BenchmarkId::new("queued", depth), |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut held = one.enter().await.expect("the slot is free");
                    let mut line: VecDeque<Entering<'_>> = VecDeque::new();
                    for _ in 0..depth - 1 {
                        let mut entering: Entering<'_> = Box::pin(one.enter());
                        assert!(poll_once(&mut entering).await.is_pending(), "it queues");
                        line.push_back(entering);
                    }
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let mut entering: Entering<'_> = Box::pin(one.enter());
                        assert!(poll_once(&mut entering).await.is_pending(), "it queues");
                        line.push_back(entering);
                        drop(held);
                        let mut head = line.pop_front().expect("a request waits");
                        held = head.as_mut().await.expect("handed the slot");
                    }
                    let elapsed = started.elapsed();
                    drop(held);
                    for mut waiting in line {
                        drop(waiting.as_mut().await);
                    }
                    elapsed
                })
            })
        });
    }

    let full = Regulator::new(limits(1, 1), None);
    group.bench_function("refused", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let held = full.enter().await.expect("the slot is free");
                let mut waiting: Entering<'_> = Box::pin(full.enter());
                assert!(poll_once(&mut waiting).await.is_pending(), "it queues");
                let started = Instant::now();
                for _ in 0..iterations {
                    let refused = full.enter().await;
                    assert!(black_box(refused).is_err(), "the queue is full");
                }
                let elapsed = started.elapsed();
                drop(held);
                drop(waiting.as_mut().await);
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
