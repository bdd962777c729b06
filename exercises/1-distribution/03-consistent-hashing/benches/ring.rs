//! What the ring costs a request, at the vnode counts rings run at: 16 per node (a few, as
//! Cassandra 4 defaults to), 256 (Cassandra's old default) and 2048 (this lab's nodes,
//! [`VNODES`]), on 3 nodes and on 8.
//!
//! `cargo bench -p consistent-hashing` (add `-- --quick` for a short run). Each
//! figure is one call:
//! - `owner`: the key's hash and a binary search among every vnode's token;
//! - `preflist/all-up`: the owner and the walk clockwise to 3 distinct nodes;
//! - `preflist/owner-down`: the same with the key's owner down, so the walk goes on to a
//!   fallback (and skips every further vnode of the nodes already met);
//! - `new`: placing every node's vnodes and sorting them, which a node does when the member
//!   list changes.
//!
//! A node spends tens of microseconds of HTTP on a cart request and a network hop to forward
//! it, so a lookup well under a microsecond is noise to it; the figures say how far that holds
//! as vnodes grow (a binary search grows with log(vnodes); the walk with how many vnodes of
//! the same nodes sit in a row).

use std::hint::black_box;

use consistent_hashing::ring::{Ring, VNODES};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// Vnodes per node.
const VNODE_COUNTS: [usize; 3] = [16, 256, VNODES];
/// Physical nodes.
const NODE_COUNTS: [usize; 2] = [3, 8];

fn nodes(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// Cart keys the lookups cycle through, so no one key's path stays in cache.
fn keys() -> Vec<String> {
    (0..4096).map(|i| format!("cart-{i}")).collect()
}

fn lookups(c: &mut Criterion) {
    let keys = keys();
    for n in NODE_COUNTS {
        let mut group = c.benchmark_group(format!("{n} nodes"));
        for vnodes in VNODE_COUNTS {
            let ring = Ring::new(nodes(n), vnodes);
            let mut k = 0;
            let mut next = || {
                k = (k + 1) % keys.len();
                keys[k].as_str()
            };
            group.bench_with_input(BenchmarkId::new("owner", vnodes), &ring, |b, ring| {
                b.iter(|| black_box(ring.owner(black_box(next()))).len())
            });
            let mut k = 0;
            let mut next = || {
                k = (k + 1) % keys.len();
                keys[k].as_str()
            };
            group.bench_with_input(
                BenchmarkId::new("preflist/all-up", vnodes),
                &ring,
                |b, ring| b.iter(|| black_box(ring.preflist(black_box(next()), 3, |_| true))),
            );
            // The owner down: each key's own owner, so every walk needs a fallback.
            let owners: Vec<&str> = keys.iter().map(|key| ring.owner(key)).collect();
            let mut k = 0;
            group.bench_with_input(
                BenchmarkId::new("preflist/owner-down", vnodes),
                &ring,
                |b, ring| {
                    b.iter(|| {
                        k = (k + 1) % keys.len();
                        let down = owners[k];
                        black_box(ring.preflist(black_box(&keys[k]), 3, |node| node != down))
                    })
                },
            );
            group.bench_with_input(BenchmarkId::new("new", vnodes), &vnodes, |b, &vnodes| {
                b.iter(|| black_box(Ring::new(nodes(n), vnodes)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, lookups);
criterion_main!(benches);
