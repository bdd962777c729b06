//! The split-brain resolver: what a node decides when it can no longer see some of its peers.
//!
//! A partition looks exactly like a crash: from either side, the other side went silent. If
//! each side concludes the other is dead and carries on (auto-downing), the cluster now has
//! two leaders, and both accept writes for the same carts: a split brain. Akka's split-brain
//! resolver ends it with a rule every node applies to its own view, with no messages needed:
//!
//! - **keep-majority**: the side that sees more than half of the members stays up, the rest
//!   stop. On an even split, the side holding the lowest member id stays up, so exactly one
//!   side survives a 2|2 split too ([`keep_majority`]).
//! - **stable-after**: a view is acted on only once it has stopped changing for a while, so a
//!   node that blinks (a long GC pause, a flapping link) is not thrown out for it
//!   ([`Resolver::observe`]).
//!
//! What a node acts on is its [`Standing`]: the view it last decided on, and the decision.
//! The cluster's leader (where carts are written) is the lowest id of that view; a node that
//! decided to stop serves nothing ([`route`]).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// What the rule says of a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// This side keeps serving.
    Up,
    /// This side stops: it must not take writes the other side may be taking too.
    Down,
}

/// What a node acts on: the view it last decided on and what it decided.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Standing {
    pub decision: Decision,
    /// The members this node counts as its side (itself included), as last decided.
    pub view: BTreeSet<String>,
}

impl Standing {
    /// The member that leads this side: the lowest id of the view.
    pub fn leader(&self) -> Option<&str> {
        self.view.first().map(String::as_str)
    }
}

/// Keep-majority: `Up` if `reachable` (this node's side, itself included) holds more than
/// half of `members`, or exactly half and the lowest member id; `Down` otherwise.
pub fn keep_majority(members: &BTreeSet<String>, reachable: &BTreeSet<String>) -> Decision {
    // lab:todo Up for more than half of the members, or exactly half holding the lowest id.
    // Count only reachable ids that are members. members.first() is the lowest id.
    let side = reachable.intersection(members).count();
    let lowest = members.first();
    if 2 * side > members.len()
        || (2 * side == members.len() && lowest.is_some_and(|l| reachable.contains(l)))
    {
        Decision::Up
    } else {
        Decision::Down
    }
    // lab:end
}

/// Applies keep-majority to a node's changing view, once the view has been stable for
/// `stable_after`. Pure: every call takes the time it is about, so the tests replay views
/// without waiting.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// Everyone in the cluster, this node included: the configured peers and itself.
    members: BTreeSet<String>,
    stable_after: Duration,
    /// The view last observed, and since when it has been this one.
    seen: BTreeSet<String>,
    seen_since: Instant,
    /// What the node acts on.
    standing: Standing,
}

impl Resolver {
    /// A node that starts as a member of a whole, healthy cluster: up, everyone in its view.
    pub fn new(members: BTreeSet<String>, stable_after: Duration, now: Instant) -> Resolver {
        let standing = Standing {
            decision: Decision::Up,
            view: members.clone(),
        };
        Resolver {
            seen: members.clone(),
            members,
            stable_after,
            seen_since: now,
            standing,
        }
    }

    /// The node's standing after it sees `reachable` (itself included) at `now`.
    ///
    /// A view that differs from the one last seen restarts the stability clock. Once the view
    /// seen has been the same for `stable_after` and differs from the standing's view, the
    /// node decides again: keep-majority on that view. Until then the standing is unchanged.
    pub fn observe(&mut self, now: Instant, reachable: BTreeSet<String>) -> Standing {
        // lab:todo Restart the clock on a new view; decide on it once stable for stable_after.
        // Fields: self.seen, self.seen_since, self.standing. Decide with keep_majority and
        // make the view you decided on the standing's view. Never decide on an unstable view.
        if reachable != self.seen {
            self.seen = reachable;
            self.seen_since = now;
        }
        let stable = now.saturating_duration_since(self.seen_since) >= self.stable_after;
        if stable && self.seen != self.standing.view {
            self.standing = Standing {
                decision: keep_majority(&self.members, &self.seen),
                view: self.seen.clone(),
            };
        }
        self.standing.clone()
        // lab:end
    }

    /// The standing, as last observed.
    pub fn standing(&self) -> &Standing {
        &self.standing
    }

    pub fn members(&self) -> &BTreeSet<String> {
        &self.members
    }
}

/// What a node does with a cart request, given its standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This node leads its side, and its side is up: it applies the request.
    Serve,
    /// Another node leads: send the client there (a 421 naming it).
    Redirect(String),
    /// This side decided to stop: refuse (a 503), so no write lands on both sides.
    Refuse,
}

/// Where a cart request goes on node `me` with `standing`.
pub fn route(standing: &Standing, me: &str) -> Route {
    // lab:todo Refuse when down; serve when you lead your view; else redirect to its leader.
    // Standing::leader() is the lowest id of the view.
    match (standing.decision, standing.leader()) {
        (Decision::Down, _) | (Decision::Up, None) => Route::Refuse,
        (Decision::Up, Some(leader)) if leader == me => Route::Serve,
        (Decision::Up, Some(leader)) => Route::Redirect(leader.to_string()),
    }
    // lab:end
}
