//! One node's copies: the carts it holds as a primary (or as a returned primary, after a
//! handoff), and the hints it keeps as a fallback for primaries that are down. Given.
//!
//! A cart's copy is a grow-only set of adds, one per request id, so copies merge by union
//! ([`merge`]) and a write that arrives twice (a retry, a handoff that repeats) counts once.

use std::collections::BTreeMap;
use std::sync::Arc;

use node_kit::cart::AddItem;
use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};

/// Carts by id, each a list of adds (at most one per request id).
pub type Carts = BTreeMap<String, Vec<AddItem>>;

/// What `GET /internal/store` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreView {
    pub carts: Carts,
    /// Hints by the primary they are for.
    pub hints: BTreeMap<String, Carts>,
}

/// A node's copies; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Store(Arc<Mutex<StoreView>>);

impl Store {
    /// Keeps `add` in `cart`: as this node's own copy, or as a hint for `hint`. Returns the
    /// copy as it now is.
    pub fn put(&self, cart: &str, add: &AddItem, hint: Option<&str>) -> Vec<AddItem> {
        let mut view = self.0.lock();
        let carts = match hint {
            Some(primary) => view.hints.entry(primary.to_string()).or_default(),
            None => &mut view.carts,
        };
        let copy = carts.entry(cart.to_string()).or_default();
        if !copy.iter().any(|a| a.request_id == add.request_id) {
            copy.push(add.clone());
        }
        copy.clone()
    }

    /// This node's own copy of `cart` (hints are not read: they are somebody else's).
    pub fn read(&self, cart: &str) -> Vec<AddItem> {
        self.0.lock().carts.get(cart).cloned().unwrap_or_default()
    }

    /// Takes in the copies a fallback kept for this node.
    pub fn absorb(&self, handed: &Carts) {
        let mut view = self.0.lock();
        for (cart, adds) in handed {
            let copy = view.carts.entry(cart.clone()).or_default();
            for add in adds {
                if !copy.iter().any(|a| a.request_id == add.request_id) {
                    copy.push(add.clone());
                }
            }
        }
    }

    /// The primaries this node keeps hints for.
    pub fn hinted_primaries(&self) -> Vec<String> {
        self.0.lock().hints.keys().cloned().collect()
    }

    /// A copy of the hints kept for `primary`.
    pub fn hints_for(&self, primary: &str) -> Carts {
        self.0
            .lock()
            .hints
            .get(primary)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets the hints in `sent` (by request id) kept for `primary`; hints that arrived
    /// since stay.
    pub fn forget_hints(&self, primary: &str, sent: &Carts) {
        let mut view = self.0.lock();
        let Some(hints) = view.hints.get_mut(primary) else {
            return;
        };
        for (cart, adds) in sent {
            if let Some(kept) = hints.get_mut(cart) {
                kept.retain(|a| !adds.iter().any(|s| s.request_id == a.request_id));
                if kept.is_empty() {
                    hints.remove(cart);
                }
            }
        }
        if hints.is_empty() {
            view.hints.remove(primary);
        }
    }

    pub fn view(&self) -> StoreView {
        self.0.lock().clone()
    }
}

/// Copies of one cart merged: every add of any copy, once, in the order first met.
pub fn merge(copies: impl IntoIterator<Item = Vec<AddItem>>) -> Vec<AddItem> {
    let mut merged: Vec<AddItem> = Vec::new();
    for copy in copies {
        for add in copy {
            if !merged.iter().any(|a| a.request_id == add.request_id) {
                merged.push(add);
            }
        }
    }
    merged
}
