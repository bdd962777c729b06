//! What a restart costs: from a child's panic to its replacement (and the rest of its set)
//! running again, per strategy, under supervisors of 4 and of 64 children.
//!
//! `cargo bench -p supervision` (add `-- --quick` for a short run). Each figure is
//! one crash of the middle child, handled: the panic unwinding its task, the supervisor seeing
//! the exit, the intensity check, the set stopped last to first (each stop waits for its task
//! to end) and started again first to last, up to the moment every new instance has run. The
//! panics are silenced here (the node prints each one, with its backtrace if
//! `RUST_BACKTRACE` is set, which costs more than the restart itself).
//!
//! one_for_one's figure does not grow with the number of children; one_for_all's and
//! rest_for_one's grow with the set they restart. Either is microseconds, next to the
//! milliseconds a restarted child usually spends getting back what it lost (a connection, a
//! cache, its state from a replica): the restart is cheap, what it throws away is not.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use supervision::{ChildSpec, Intensity, Strategy, Supervisor, to_restart};
use tokio::sync::{Notify, mpsc};

/// A supervisor over `n` children, running on `runtime`: each child reports its start on
/// the returned channel, then panics when its trigger is notified.
fn tree(
    runtime: &tokio::runtime::Runtime,
    strategy: Strategy,
    n: usize,
) -> (Vec<Arc<Notify>>, mpsc::UnboundedReceiver<usize>) {
    let (started, starts) = mpsc::unbounded_channel();
    let triggers: Vec<Arc<Notify>> = (0..n).map(|_| Arc::default()).collect();
    let never = Intensity {
        restarts: u32::MAX,
        period: Duration::from_secs(1),
    };
    let mut supervisor = Supervisor::new("bench", strategy, never);
    for (i, trigger) in triggers.iter().enumerate() {
        let (started, trigger) = (started.clone(), trigger.clone());
        supervisor = supervisor.child(ChildSpec::new(format!("c{i}"), move |_| {
            let (started, trigger) = (started.clone(), trigger.clone());
            async move {
                let _ = started.send(i);
                trigger.notified().await;
                panic!("crash");
            }
        }));
    }
    runtime.spawn(supervisor.run());
    (triggers, starts)
}

fn restarts(c: &mut Criterion) {
    std::panic::set_hook(Box::new(|_| {}));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    for n in [4, 64] {
        let mut group = c.benchmark_group(format!("{n} children"));
        for (strategy, name) in [
            (Strategy::OneForOne, "one_for_one"),
            (Strategy::RestForOne, "rest_for_one"),
            (Strategy::OneForAll, "one_for_all"),
        ] {
            let (triggers, mut starts) = tree(&runtime, strategy, n);
            runtime.block_on(async {
                for _ in 0..n {
                    starts.recv().await.expect("every child starts");
                }
            });
            let crashed = n / 2;
            let set = to_restart(strategy, crashed, n).len();
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            triggers[crashed].notify_one();
                            for _ in 0..set {
                                black_box(starts.recv().await.expect("the set starts again"));
                            }
                        }
                        started.elapsed()
                    })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, restarts);
criterion_main!(benches);
