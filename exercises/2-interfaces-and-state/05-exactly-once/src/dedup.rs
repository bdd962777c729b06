//! The dedup table: the file you write.
//!
//! The ledger keeps one [`DedupTable`] per client. A client numbers its requests 1, 2, 3, ...
//! (request id `<client>-<seq>`) and sends each until it gets an answer, so the same number
//! can arrive many times. The table remembers, per number, what happened to it:
//!
//! ```text
//! begin(seq)            absent           -> New          (mark it in progress; carry it out)
//!                       in progress      -> InProgress   (carry out nothing; it is being done)
//!                       done, reply R    -> Repeat(R)    (carry out nothing; answer R again)
//!                       seq <= watermark -> Acknowledged (the client said it has the reply)
//! finish(seq, reply)    in progress      -> done, reply  (what every repeat will get)
//! collect(watermark)    drops every entry at or below it; the watermark never goes back
//! ```
//!
//! The watermark is the client's promise: "I have an answer for every request up to and
//! including this number, and will never send one of them again". Entries above it are the
//! requests still in flight, so the table holds about as many entries as the client has
//! requests in flight, however long it runs.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use retries_solution::Receipt;

/// What the ledger answered a request the first time: what every repeat of it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The card was charged: 200 and this receipt.
    Charged(Receipt),
    /// The card's issuer said no: 402 `card_declined` and this sentence. An answer too, so a
    /// repeat gets the same no (and asks the issuer nothing).
    Declined { message: String },
}

/// What happened to one request the table remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Its first arrival is being carried out (the card processor has not answered yet).
    InProgress,
    /// Carried out; this is what it was answered.
    Done(Reply),
}

/// What to do with a request that has just arrived, by its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: carry it out, then [`DedupTable::finish`] it.
    New,
    /// Carried out before: answer this again and do nothing.
    Repeat(Reply),
    /// Its first arrival is still being carried out: do nothing now (the ledger answers 503,
    /// "ask again", and the at-least-once sender does).
    InProgress,
    /// At or below the watermark: the client has its answer and promised never to send it
    /// again, so this is a stray copy. Refuse it; never carry it out.
    Acknowledged,
}

/// One client's requests, by sequence number, above its acknowledged watermark.
#[derive(Debug, Default)]
pub struct DedupTable {
    /// Every request above the watermark that arrived: in progress, or its reply.
    entries: BTreeMap<u64, Entry>,
    /// The highest watermark the client sent: every request at or below it has its answer
    /// at the client, so none of them is in `entries`. 0: nothing acknowledged yet.
    acked: u64,
}

impl DedupTable {
    pub fn new() -> DedupTable {
        DedupTable::default()
    }

    /// A request numbered `seq` arrived: is it new, a repeat, one in progress, or a stray
    /// copy of one already acknowledged? A new one is marked in progress before this returns,
    /// so a copy that arrives while it is carried out is not new.
    pub fn begin(&mut self, seq: u64) -> Begin {
        // At or below self.acked: Acknowledged. In self.entries: InProgress, or Repeat with a
        // copy of its reply. Absent: New, and mark it Entry::InProgress now, before anything
        // is carried out, or a copy arriving in the meantime would be New too.
        todo!("Say what to do with request seq: Acknowledged, InProgress, Repeat or New.")
    }

    /// Request `seq`, which [`begin`](Self::begin) said was new, was carried out and answered
    /// `reply`: from now on every repeat gets that reply.
    pub fn finish(&mut self, seq: u64, reply: Reply) {
        // Only a request still in the table: one already collected stays collected.
        todo!("Record reply as the answer of request seq, for every repeat to get.")
    }

    /// The client says it has the answer to every request up to and including `watermark`:
    /// forget them. A watermark lower than one already seen changes nothing (a request can
    /// carry an older one than the request before it).
    pub fn collect(&mut self, watermark: u64) {
        // The watermark only ever moves up: an older one changes nothing. This runs on every
        // charge: drop from the oldest end (first_entry) rather than walk the whole table.
        todo!("Drop every entry at or below watermark and remember it in self.acked.")
    }

    /// How many requests the table holds: what the bound is about.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The highest watermark the client sent.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// What the table holds for `seq`, if anything.
    pub fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(&seq)
    }
}
