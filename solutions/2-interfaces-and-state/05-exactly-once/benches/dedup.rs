//! What the dedup table costs a charge, at the sizes it runs at: a window's worth of entries
//! (64, the client's default; 1024, a generous one) and a table nobody collects (100 000
//! request ids, an hour of a busy client without acknowledgements).
//!
//! `cargo bench -p exactly-once-solution` (add `-- --quick` for a short run). Each figure is
//! one call on a table of that size:
//! - `begin/repeat`: a repeat, answered with a copy of its reply (a lookup and a clone);
//! - `steady/charge`: a whole charge as the ledger does it: the watermark moves up by one
//!   (`collect`), a first arrival (`begin`) and its reply (`finish`).
//!
//! The ledger spends about a millisecond of HTTP and processor time per charge, so anything
//! well under a microsecond here is noise to it; the figures say how far that holds as the
//! table grows. The reference `collect` drops from the oldest end, so a charge costs what it
//! removes; a `collect` written with `retain` walks the whole table on every charge (measured
//! on 2 shared cores: 1.4 us at 64 entries, 21 us at 1024, 74 ms at 100 000).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use exactly_once_solution::{DedupTable, Receipt, Reply};
use retries_solution::Operation;

const SIZES: [u64; 3] = [64, 1024, 100_000];

fn reply(seq: u64) -> Reply {
    Reply::Charged(Receipt {
        request_id: format!("shop-1-{seq}"),
        operation: Operation::Charge,
        order: format!("order-{seq}"),
        amount_cents: 1999,
        node: "n1".into(),
    })
}

/// A table holding requests 1..=size, every one answered.
fn table_of(size: u64) -> DedupTable {
    let mut table = DedupTable::new();
    for seq in 1..=size {
        table.begin(seq);
        table.finish(seq, reply(seq));
    }
    table
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("begin");
    for size in SIZES {
        let mut table = table_of(size);
        group.bench_with_input(BenchmarkId::new("repeat", size), &size, |b, &size| {
            b.iter(|| black_box(table.begin(black_box(size / 2 + 1))));
        });
    }
    group.finish();

    // A steady client with `size` charges past its watermark: each charge moves the watermark
    // up by one (collecting the oldest entry), begins the newest and finishes it, so the table
    // stays at `size` entries. This is a charge's whole cost in the table.
    let mut group = c.benchmark_group("steady");
    for size in SIZES {
        let mut table = table_of(size);
        let mut next = size + 1;
        let answer = reply(next);
        group.bench_with_input(BenchmarkId::new("charge", size), &size, |b, &size| {
            b.iter(|| {
                table.collect(next - size);
                black_box(table.begin(next));
                table.finish(next, answer.clone());
                next += 1;
            });
        });
        assert_eq!(
            table.len() as u64,
            size,
            "the steady table stays at its size"
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
