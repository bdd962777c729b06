//! The callee: the logic node's side of the link. Given, not part of the exercise.
//!
//! Every call is answered from a task of its own after the work time the call asks for, so
//! a slow call never holds up a quick one and replies leave in whatever order the work
//! finishes: exactly what a caller must be ready for.
//!
//! What one link can make it hold is bounded: work of at most [`MAX_WORK`] per call, at most
//! [`MAX_WORKING`] calls at once (more are dropped unanswered, as an overloaded node would),
//! and no work once the link is gone (nobody is left to answer). A frame that is not a call
//! is dropped; the log says so for the 1st, 2nd, 4th, 8th... of them, not for every one.

use std::time::Duration;

use node_kit::Link;
use tokio::task::JoinSet;

use crate::{CallFrame, ReplyFrame};

/// The longest a call may make the callee work; a call asking for more works this long.
pub const MAX_WORK: Duration = Duration::from_secs(300);

/// The most calls one link may have the callee working on at once.
pub const MAX_WORKING: usize = 256;

/// Serves one link until the caller goes away.
pub async fn serve(link: Link) {
    let (replies, mut calls) = link.split();
    let mut working = JoinSet::new();
    let (mut unreadable, mut dropped) = (0u64, 0u64);
    loop {
        let frame = tokio::select! {
            frame = calls.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
            Some(_) = working.join_next(), if !working.is_empty() => continue,
        };
        let call: CallFrame = match serde_json::from_str(&frame) {
            Ok(call) => call,
            Err(e) => {
                // A frame we cannot read has no id to answer to: drop it and carry on.
                unreadable += 1;
                if unreadable.is_power_of_two() {
                    tracing::warn!(error = %e, unreadable, "dropping a frame that is not a call");
                }
                continue;
            }
        };
        if working.len() >= MAX_WORKING {
            dropped += 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "{MAX_WORKING} calls at work already: dropping a call"
                );
            }
            continue;
        }
        let replies = replies.clone();
        working.spawn(async move {
            let work = Duration::from_millis(call.request.work_ms).min(MAX_WORK);
            tokio::time::sleep(work).await;
            let reply = ReplyFrame {
                id: call.id,
                reply: call.request.body,
            };
            // The caller may be gone by now; then there is no one to answer.
            let _ = replies.send_json(&reply);
        });
    }
    // Dropping `working` here stops the calls still at work: their link is gone.
}
