//! A synthetic history as a lab run at 5,000 operations a second would record it, for the
//! analysis benches and `examples/analysis_scale.rs` (which include this file by path).
//!
//! Three nodes; half the operations add to a cart and half read one (by default); 97% end ok, 2% unknown
//! (a 1 s timeout), 1% fail. Replies take 1-6 ms and interleave with later invokes, as they
//! do in a real history. A read returns every add stored in its cart so far (so it is never
//! stale); the final reads hold every stored add, with one duplicate and one lost
//! acknowledged add per 100,000 operations so the checkers have offenders to name. The
//! history is written as `history.jsonl` lines, the form a run leaves, and read back with
//! [`History::read_jsonl`], so a field added to events later needs nothing here.

#![allow(dead_code)] // each includer uses its own part

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use harness::check::FinalReads;
use harness::history::History;

/// Operations a second, as in issue 13's 10-minute run.
pub const RATE: u64 = 5_000;

/// The lines of a history of `ops` operations over `carts` carts, `reads` percent of them
/// reads, and the final reads.
pub fn write(ops: u64, carts: u64, reads: u64, mut out: impl Write) -> io::Result<FinalReads> {
    let mut stored: Vec<Vec<String>> = vec![Vec::new(); carts as usize];
    // Completions not yet due, earliest first: (time, id, line).
    let mut pending: BinaryHeap<Reverse<(u64, u64, String)>> = BinaryHeap::new();
    let nodes = ["n1", "n2", "n3"];
    let mut lost = Vec::new();
    for id in 0..ops {
        let t = id * 1_000_000 / RATE;
        while let Some(Reverse((at, ..))) = pending.peek()
            && *at <= t
        {
            let Reverse((.., line)) = pending.pop().unwrap();
            out.write_all(line.as_bytes())?;
        }
        // A cheap, fixed scramble stands in for a seeded rng: same arguments, same history.
        let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        let node = nodes[(h % 3) as usize];
        let cart = (h >> 8) % carts;
        let fate = (h >> 24) % 100;
        let (phase, error, end) = match fate {
            0 => ("fail", Some("http_503"), t + 2_000),
            1 | 2 => ("unknown", Some("timeout"), t + 1_000_000),
            _ => ("ok", None, t + 1_000 + (h >> 32) % 5_000),
        };
        let error = error
            .map(|e| format!(r#","error":"{e}""#))
            .unwrap_or_default();
        let (action, items) = if (h >> 40) % 100 >= reads {
            let item = format!("w{id}");
            let stored_it = phase == "ok" || (phase == "unknown" && fate == 1);
            if stored_it {
                if id % 100_000 == 99_999 && phase == "ok" {
                    lost.push((cart, item.clone())); // acknowledged, then lost
                }
                stored[cart as usize].push(item.clone());
            }
            (
                format!(r#""f":"add","key":"c{cart}","item":"{item}""#),
                String::new(),
            )
        } else {
            let items = if phase == "ok" {
                let list: Vec<String> = stored[cart as usize]
                    .iter()
                    .map(|i| format!("\"{i}\""))
                    .collect();
                format!(r#","items":[{}]"#, list.join(","))
            } else {
                String::new()
            };
            (format!(r#""f":"read","key":"c{cart}""#), items)
        };
        writeln!(
            out,
            r#"{{"id":{id},"t_us":{t},"type":"invoke","node":"{node}",{action}}}"#
        )?;
        let line = format!(
            "{{\"id\":{id},\"t_us\":{end},\"type\":\"{phase}\",\"node\":\"{node}\",{action}{items}{error}}}\n"
        );
        pending.push(Reverse((end, id, line)));
    }
    while let Some(Reverse((.., line))) = pending.pop() {
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    for (cart, item) in lost {
        stored[cart as usize].retain(|i| *i != item);
    }
    let mut finals = FinalReads::new();
    for (cart, mut items) in stored.into_iter().enumerate() {
        if cart % 1_000 == 7
            && let Some(first) = items.first().cloned()
        {
            items.push(first); // stored twice
        }
        finals.insert(format!("c{cart}"), items);
    }
    Ok(finals)
}

/// Carts for `ops` operations: about 40 operations each (20 adds), so a read carries about
/// ten items however long the run, and the history grows linearly with it.
pub fn carts_for(ops: u64) -> u64 {
    (ops / 40).max(20)
}

/// The history and final reads of `ops` operations, through a `history.jsonl` in memory.
pub fn history(ops: u64) -> (History, FinalReads) {
    let mut lines = Vec::new();
    let finals = write(ops, carts_for(ops), 50, &mut lines).expect("writing to memory");
    let history = History::read_jsonl(&lines[..]).expect("the synthetic history parses");
    (history, finals)
}
