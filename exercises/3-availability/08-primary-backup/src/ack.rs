//! When may the primary say "done"? The other file you write.
//!
//! The primary sends each write to every backup at once and counts the copies as the
//! backups answer: its own copy is the first. With `w` copies the write survives the loss of
//! `w - 1` machines, so that is when it may be acknowledged. `w = 1` is the naive primary:
//! it answers as soon as it holds the write itself and lets the backups catch up, and a
//! crash in between loses what it acknowledged (the tests' negative control).
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use tokio::sync::mpsc;

use crate::view::View;

/// One backup's answer to a replicated write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The backup holds the write.
    Stored,
    /// The backup refused it: it is in a later view, so the sender is no longer primary.
    Stale(View),
    /// No answer (refused, reset, timed out) or an error: the backup may be down.
    NoAnswer(String),
}

/// Why a write could not be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// A backup is in a later view: this node must step down and send the client to
    /// `View::primary`.
    Stale(View),
    /// Every backup answered and fewer than `w` copies exist.
    TooFew {
        copies: usize,
        w: usize,
        /// What the backups that did not store it said.
        why: Vec<String>,
    },
}

/// Waits until `w` copies of a write exist, counting the primary's own as the first, and
/// returns how many copies it counted. `replies` gets one [`Reply`] per backup, in the order
/// they come, and closes once every backup has answered.
pub async fn ack_after_w(
    w: usize,
    replies: &mut mpsc::Receiver<Reply>,
) -> Result<usize, Shortfall> {
    // A Stale reply ends it at once with Shortfall::Stale; NoAnswer is noted in `why`; when
    // `replies` closes (recv gives None) before there are w copies, it is Shortfall::TooFew.
    todo!("Count copies from 1 (your own) and return Ok as soon as there are w of them.")
}
