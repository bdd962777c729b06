//! Views and epochs: who is the primary, and since when. One of the two files you write.
//!
//! A *view* is an epoch number and the primary of that epoch. Every node starts in epoch 1
//! with the lowest id as primary. When a backup's failure detector says the primary is down,
//! exactly one backup (the lowest id still alive) starts a new epoch with itself as primary.
//! Every replication message carries the sender's view, and every node checks it before it
//! does anything: a message from an older epoch is refused, because its sender was the
//! primary once and is not any more (it was hung, or cut off, or it restarted with an old
//! idea of the world). That check is *fencing*: the old primary may still be running and
//! still believe in itself, but nothing it sends is accepted, so it cannot acknowledge a
//! write that the new primary does not have.
//!
//! Both functions are pure: the node (`node.rs`) gives them what it knows and does what
//! they say.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use serde::{Deserialize, Serialize};

/// Who is the primary, since which epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// Counts the primaries the cluster has had: a new primary always takes a higher one.
    pub epoch: u64,
    /// The node that takes every write in this epoch.
    pub primary: String,
}

impl View {
    /// The view every node starts in: epoch 1, the lowest id primary. `nodes` is every id of
    /// the cluster, this node's included.
    pub fn first<'a>(nodes: impl IntoIterator<Item = &'a str>) -> View {
        let primary = nodes.into_iter().min().unwrap_or_default().to_string();
        View { epoch: 1, primary }
    }
}

/// What a node does with a message that carries a view (a replicated write, a new
/// primary's announcement, a state transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The message comes from this node's own view: accept it.
    Current,
    /// The message comes from a later epoch: adopt its view (a primary steps down), then
    /// accept it.
    Newer,
    /// The message comes from an epoch that is over, or from a second claim on this node's
    /// epoch by another primary: refuse it, and say which view this node is in.
    Stale,
}

/// Compares the view a message carries (`theirs`) with this node's (`mine`).
pub fn fence(mine: &View, theirs: &View) -> Fence {
    // The same epoch is Current when it names the same primary; one epoch has one primary,
    // so a second node claiming this node's epoch is Stale too.
    todo!("Compare the message's epoch with this node's: older is Stale, later is Newer.")
}

/// The failure detector declared `down` dead. `up` is every peer it says is alive; `me` is
/// this node. Returns the view this node must promote itself to, or `None` if it must not.
pub fn on_verdict(view: &View, me: &str, down: &str, up: &[String]) -> Option<View> {
    // Alive means you and the peers in `up`, never `down` itself. Every backup runs this on
    // the same verdict, so exactly one of them gets a view back: the next epoch, naming it.
    todo!("Promote only when the dead node is the primary and you are the lowest id alive.")
}
