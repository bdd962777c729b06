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
//! `GET /metrics` shows the calls at work on all links as `callee_calls_at_work`.

use std::sync::Arc;
use std::time::Duration;

use node_kit::Link;
use node_kit::metrics::Metrics;
use node_kit::sync::Mutex;
use tokio::task::JoinSet;

use crate::{CallFrame, ReplyFrame};

/// The longest a call may make the callee work; a call asking for more works this long.
pub const MAX_WORK: Duration = Duration::from_secs(300);

/// The most calls one link may have the callee working on at once.
pub const MAX_WORKING: usize = 256;

/// The gauge on `/metrics` that counts the calls at work on every link of this node.
pub const AT_WORK_METRIC: &str = "callee_calls_at_work";

/// The calls at work on all of this node's links: a call enters when it starts working and
/// leaves when it is answered or when its link goes (its task is dropped either way).
#[derive(Clone)]
pub struct AtWork {
    count: Arc<Mutex<i64>>,
    /// Where the count is shown, as [`AT_WORK_METRIC`].
    metrics: Metrics,
}

impl AtWork {
    pub fn new(metrics: Metrics) -> AtWork {
        let at_work = AtWork {
            count: Arc::default(),
            metrics,
        };
        at_work.shift(0);
        at_work
    }

    fn enter(&self) -> Working {
        self.shift(1);
        Working(self.clone())
    }

    fn shift(&self, by: i64) {
        // Under the lock, so the gauge never shows an older count than the last change.
        let mut count = self.count.lock();
        *count += by;
        self.metrics.set(AT_WORK_METRIC, *count as f64);
    }
}

/// One call at work; dropping it (answered, or its task dropped with the link) counts it out.
struct Working(AtWork);

impl Drop for Working {
    fn drop(&mut self) {
        self.0.shift(-1);
    }
}

/// Serves one link until the caller goes away.
pub async fn serve(link: Link, at_work: AtWork) {
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
        let working_on = at_work.enter();
        working.spawn(async move {
            let _working_on = working_on;
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
