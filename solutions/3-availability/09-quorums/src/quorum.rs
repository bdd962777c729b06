//! Quorums over the preference list, Riak style: every cart lives on N nodes; a write waits
//! for W of them, a read for R; a node that is down is stood in for by the next one round the
//! ring, which keeps the write as a *hint* for the primary and hands it over when the primary
//! is back.
//!
//! Yours to write: [`targets`] (where a key's N copies go now: the sloppy quorum),
//! [`quorum`] (wait for k of n replies, and fail as soon as k cannot be reached) and
//! [`hand_off`] (give each returned primary the writes its stand-ins kept for it).

use std::future::Future;

use consistent_hashing_solution::{Ring, Role};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::store::Store;

/// Where one copy of a key goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    /// For a fallback: the primary it stands in for, which gets the copy back later.
    pub hint: Option<String>,
}

/// The copies of `key` as they go now: each of its `n` primaries that is `up`, and, when
/// `sloppy`, one fallback for each primary that is down, hinted with that primary (the first
/// fallback stands in for the first primary down, and so on). Without `sloppy` (a strict
/// quorum), only the up primaries.
pub fn targets(
    ring: &Ring,
    key: &str,
    n: usize,
    up: impl Fn(&str) -> bool,
    sloppy: bool,
) -> Vec<Target> {
    // lab:todo The up primaries, then (if sloppy) each fallback hinted with a primary that is down.
    // ring.preflist(key, n, up) gives the up primaries then the fallbacks, in order;
    // ring.preflist(key, n, |_| true) gives all n primaries, so the down ones are those
    // not up, in ring order.
    let now = ring.preflist(key, n, &up);
    let mut down = ring
        .preflist(key, n, |_| true)
        .into_iter()
        .filter(|entry| !up(&entry.node))
        .map(|entry| entry.node);
    now.into_iter()
        .filter_map(|entry| match entry.role {
            Role::Primary => Some(Target {
                node: entry.node,
                hint: None,
            }),
            Role::Fallback if sloppy => down.next().map(|primary| Target {
                node: entry.node,
                hint: Some(primary),
            }),
            Role::Fallback => None,
        })
        .collect()
    // lab:end
}

/// Why a quorum was not reached: how many were needed, how many answered, and why the others
/// did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortfall {
    pub needed: usize,
    pub ok: usize,
    pub errors: Vec<String>,
}

/// Waits for `needed` of `replies` to succeed and returns their values, in the order they
/// came, as soon as they have (the rest are left to finish, or not, on their own). Fails as
/// soon as so many have failed that `needed` can no longer be reached, or when fewer than
/// `needed` were asked at all.
pub async fn quorum<T, F>(needed: usize, replies: Vec<F>) -> Result<Vec<T>, Shortfall>
where
    F: Future<Output = Result<T, String>>,
{
    // lab:todo Collect replies as they come: done at `needed` oks, failed once out of reach.
    // FuturesUnordered yields each reply as it completes (`pending.next().await`).
    // Out of reach: the replies still pending plus the oks are fewer than `needed`.
    let asked = replies.len();
    let mut pending: FuturesUnordered<F> = replies.into_iter().collect();
    let mut oks = Vec::new();
    let mut errors = Vec::new();
    if asked < needed {
        return Err(Shortfall {
            needed,
            ok: 0,
            errors: vec![format!("only {asked} copies could be asked")],
        });
    }
    while oks.len() < needed {
        match pending.next().await {
            Some(Ok(value)) => oks.push(value),
            Some(Err(why)) => {
                errors.push(why);
                if asked - errors.len() < needed {
                    return Err(Shortfall {
                        needed,
                        ok: oks.len(),
                        errors,
                    });
                }
            }
            None => {
                return Err(Shortfall {
                    needed,
                    ok: oks.len(),
                    errors,
                });
            }
        }
    }
    Ok(oks)
    // lab:end
}

/// One round of hinted handoff on this node: for each primary it keeps hints for and that is
/// `up`, send it those hints (`send(primary, hints)`), and forget exactly the hints that were
/// delivered, only once they were. Returns how many writes were handed over.
pub async fn hand_off<S, Fut>(store: &Store, up: impl Fn(&str) -> bool, send: S) -> usize
where
    S: Fn(String, crate::store::Carts) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    // lab:todo For each hinted primary that is up: send its hints, then forget what was sent.
    // store.hinted_primaries(), store.hints_for(primary) (a copy), store.forget_hints(primary,
    // &sent). Forget only after `send` succeeded, and only what you sent: hints that arrive
    // meanwhile must stay for the next round.
    let mut handed = 0;
    for primary in store.hinted_primaries() {
        if !up(&primary) {
            continue;
        }
        let hints = store.hints_for(&primary);
        let count = hints.values().map(Vec::len).sum::<usize>();
        match send(primary.clone(), hints.clone()).await {
            Ok(()) => {
                store.forget_hints(&primary, &hints);
                handed += count;
            }
            Err(why) => tracing::warn!(primary, "handoff failed, will retry: {why}"),
        }
    }
    handed
    // lab:end
}
