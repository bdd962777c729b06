//! The callee: the logic node's side of the link. Given, not part of the exercise.
//!
//! Every call is answered from a task of its own after the work time the call asks for, so
//! a slow call never holds up a quick one and replies leave in whatever order the work
//! finishes: exactly what a caller must be ready for.

use std::time::Duration;

use node_kit::Link;

use crate::{CallFrame, ReplyFrame};

/// Serves one link until the caller goes away.
pub async fn serve(link: Link) {
    let (replies, mut calls) = link.split();
    while let Some(frame) = calls.recv().await {
        let call: CallFrame = match serde_json::from_str(&frame) {
            Ok(call) => call,
            Err(e) => {
                // A frame we cannot read has no id to answer to: log it and carry on.
                tracing::warn!(error = %e, "dropping a frame that is not a call");
                continue;
            }
        };
        let replies = replies.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(call.request.work_ms)).await;
            let reply = ReplyFrame {
                id: call.id,
                reply: call.request.body,
            };
            // The caller may be gone by now; then there is no one to answer.
            let _ = replies.send_json(&reply);
        });
    }
}
