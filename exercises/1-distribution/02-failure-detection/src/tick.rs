//! The tick detector: Erlang's `net_ticktime`, the file you write first.
//!
//! Every T/4 the node sends each peer a tick and asks its detector for a verdict
//! ([`TickDetector::tick`]); whenever anything arrives from the peer, the node tells the
//! detector ([`TickDetector::heard`]). A peer from which nothing arrived during four tick
//! intervals in a row is down. The detector counts tick intervals, not milliseconds, exactly
//! as the Erlang runtime does, and that granularity is why a peer that goes silent at some
//! instant is declared down between 0.75 T and 1.25 T later, never at exactly T: its last
//! frame may have come up to one interval before it went silent, and the verdict is only
//! taken once per interval.
//!
//! Counting ticks rather than reading a clock has a second merit: a node that was itself
//! frozen for a while (a long GC, a SIGSTOP) wakes up to one late tick, counts one silent
//! interval, and does not declare every peer down at once because the clock jumped.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use serde::{Deserialize, Serialize};

/// Silent tick intervals in a row after which a peer is down: four, as in `net_ticktime`
/// (ticks every T/4, down after T of silence, give or take a tick).
pub const SILENT_TICKS_FOR_DOWN: u32 = 4;

/// What a detector concludes about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Up,
    Down,
}

/// One peer's tick detector. Pure: it never reads a clock, its caller ticks it.
#[derive(Debug, Clone)]
pub struct TickDetector {
    /// Set by [`TickDetector::heard`] when anything arrives from the peer; the next tick
    /// reads and clears it.
    heard_since_tick: bool,
    /// Tick intervals in a row in which nothing arrived. Shown in the node's cluster view,
    /// so an instructor can watch it climb towards [`SILENT_TICKS_FOR_DOWN`].
    silent_ticks: u32,
}

/// The same as [`TickDetector::new`]: no detector starts with the peer unheard from.
impl Default for TickDetector {
    fn default() -> TickDetector {
        TickDetector::new()
    }
}

impl TickDetector {
    /// A detector for a peer just connected. The connection itself is proof of life, so the
    /// first tick finds the peer heard from.
    pub fn new() -> TickDetector {
        TickDetector {
            heard_since_tick: true,
            silent_ticks: 0,
        }
    }

    /// Anything arrived from the peer: a tick's answer, or any other frame.
    pub fn heard(&mut self) {
        self.heard_since_tick = true;
    }

    /// Tick intervals in a row in which nothing arrived, as of the last tick.
    pub fn silent_ticks(&self) -> u32 {
        self.silent_ticks
    }

    /// Called once per tick interval (every T/4): closes the interval that just ended and
    /// says whether the peer is up or down.
    pub fn tick(&mut self) -> Verdict {
        // If anything was heard from the peer during it, the peer is Up and the count of
        // silent intervals starts again from zero; otherwise count one more silent interval,
        // and after SILENT_TICKS_FOR_DOWN of them in a row the peer is Down.
        todo!("Close the tick interval that just ended and say whether the peer is up.")
    }
}
