//! The caller's side of a remote call: the file you write.
//!
//! One [`Client`] holds one link to a node and multiplexes every call over it. What makes a
//! remote call different from a function call lives here, as it does in `gen_server:call`:
//! - a call carries a correlation id, and a table of pending calls remembers who waits for
//!   which reply, because replies come back in any order;
//! - a call waits at most its timeout, then forgets itself, so the reply that comes later
//!   finds nobody and is dropped (it must never reach a later caller);
//! - when the link drops, every pending call fails at once with [`CallError::NodeDown`],
//!   like the `'DOWN'` message of the monitor `gen_server:call` sets on the callee, instead
//!   of each caller sitting out its whole timeout.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use node_kit::sync::Mutex;
use node_kit::{Link, LinkReceiver, LinkSender};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{CallFrame, ReplyFrame, Request};

/// Why a call returned no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// No reply within the timeout. The callee may be slow, hung or cut off, and it may still
    /// carry the request out: a timeout does not say the request was not done.
    Timeout,
    /// The link to the callee is gone (closed, reset, or the node died): no reply will come.
    NodeDown,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => f.write_str("no reply within the timeout"),
            CallError::NodeDown => f.write_str("the callee's node is down"),
        }
    }
}

impl std::error::Error for CallError {}

/// What a waiting caller receives: its reply, or why there is none.
type Outcome = Result<Value, CallError>;

/// A link to one node, shared by every call to it.
pub struct Client {
    /// Frames to the callee. Every call writes to this one connection.
    link: LinkSender,
    /// The calls sent and not yet answered, shared with the reader task that routes replies.
    /// The kit's mutex does not poison: every change to the table is one statement, so a
    /// panicking caller cannot leave it half done.
    pending: Arc<Mutex<Pending>>,
}

/// The pending-call table.
#[derive(Default)]
struct Pending {
    /// The correlation id the next call gets. Ids are never reused on a link, so a late reply
    /// can only name the call it answers, never a later one.
    next_id: u64,
    /// Who waits for which reply: each waiting caller's end of its one-shot channel, by id.
    waiting: HashMap<u64, oneshot::Sender<Outcome>>,
    /// Set once the link is gone, so a call made afterwards fails at once.
    down: bool,
}

impl Client {
    /// Opens a link to the node at `addr` (`host:port`) and starts the reader task that
    /// routes its replies.
    pub async fn connect(addr: &str, cookie: &str) -> std::io::Result<Client> {
        let (link, replies) = Link::dial(addr, cookie).await?.split();
        let pending = Arc::new(Mutex::new(Pending::default()));
        tokio::spawn(read_replies(replies, pending.clone()));
        Ok(Client { link, pending })
    }

    /// How many calls wait for a reply right now. A call that has returned (with its reply,
    /// Timeout or NodeDown) must not be counted: a table that keeps it grows without end.
    pub fn in_flight(&self) -> usize {
        self.pending.lock().waiting.len()
    }

    /// Sends `request` to the node and waits at most `timeout` for its reply:
    /// `gen_server:call(Node, Request, Timeout)`.
    pub async fn call(&self, request: Request, timeout: Duration) -> Result<Value, CallError> {
        // lab:todo Send the call under a fresh correlation id and wait for its reply.
        // Register it in the pending table first (NodeDown if the link is down), send it as a
        // CallFrame, and wait at most `timeout`, removing the call from the table if time runs
        // out.
        let (id, reply) = {
            let mut pending = self.pending.lock();
            if pending.down {
                return Err(CallError::NodeDown);
            }
            let id = pending.next_id;
            pending.next_id += 1;
            let (tx, rx) = oneshot::channel();
            pending.waiting.insert(id, tx);
            (id, rx)
        };
        if self.link.send_json(&CallFrame { id, request }).is_err() {
            self.pending.lock().waiting.remove(&id);
            return Err(CallError::NodeDown);
        }
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(outcome)) => outcome,
            // Our end was dropped unanswered: only the reader task does that, when it ends.
            Ok(Err(_)) => Err(CallError::NodeDown),
            Err(_) => {
                // Forget the call, so that its reply, if it ever comes, finds nobody.
                self.pending.lock().waiting.remove(&id);
                Err(CallError::Timeout)
            }
        }
        // lab:end
    }
}

/// The reader task: routes every reply to its caller until the link closes, then fails
/// every call still waiting.
async fn read_replies(mut replies: LinkReceiver, pending: Arc<Mutex<Pending>>) {
    while let Some(frame) = replies.recv().await {
        match serde_json::from_str::<ReplyFrame>(&frame) {
            Ok(reply) => deliver(&mut pending.lock(), reply),
            Err(e) => tracing::warn!(error = %e, "dropping a frame that is not a reply"),
        }
    }
    fail_all(&mut pending.lock());
}

/// Hands `reply` to the caller waiting for it.
fn deliver(pending: &mut Pending, reply: ReplyFrame) {
    // lab:todo Hand the reply to the caller waiting for reply.id, taking it out of the table.
    // A reply nobody waits for any more (its call timed out) is dropped.
    if let Some(caller) = pending.waiting.remove(&reply.id) {
        // The caller may have given up this very instant; then nobody needs the reply.
        let _ = caller.send(Ok(reply.reply));
    } else {
        tracing::debug!(id = reply.id, "dropping a late reply: its call timed out");
    }
    // lab:end
}

/// The link is gone: no reply will ever come for any call still waiting.
fn fail_all(pending: &mut Pending) {
    // lab:todo Mark the link down and fail every call still waiting with NodeDown.
    // Failing them at once means no caller sits out its whole timeout.
    pending.down = true;
    for (_, caller) in pending.waiting.drain() {
        let _ = caller.send(Err(CallError::NodeDown));
    }
    // lab:end
}
