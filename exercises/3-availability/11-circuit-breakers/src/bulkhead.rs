//! The bulkhead: a fixed number of workers for one dependency, and no waiting for them. Part
//! of it is yours.
//!
//! A ship's hull is split into watertight compartments, so one breach floods one of them and
//! the ship stays afloat. A front-end that calls every dependency from one shared pool of
//! workers (connections, threads, slots) is one compartment: a dependency that hangs keeps
//! each worker it gets for a whole timeout, takes them all, and every other dependency's
//! callers wait behind it. A [`Bulkhead`] gives each dependency its own `limit` workers, and
//! a caller who finds them all busy is refused at once ([`Bulkhead::try_acquire`] says
//! `None`) instead of queueing: the hung dependency floods its own compartment only.
//!
//! A [`Worker`] is held for the length of one call and goes back when it is dropped, however
//! the call ended (an answer, a timeout, a panic, a cancelled request).
//!
//! Where it comes from: Michael Nygard, *Release It!* (2007): "Bulkheads"; Hystrix's
//! semaphore isolation; in Erlang, a pool of workers per resource (`poolboy`), and a process
//! per request so that nothing else is shared.
// Until the todo!()s are written, some of what they will use is unused. Delete this line
// once they are, and the compiler will point at anything you left unused.
#![allow(dead_code, unused_imports, unused_variables)]

use std::sync::Arc;

use node_kit::sync::Mutex;
use serde::{Deserialize, Serialize};

/// A dependency's workers: at most `limit` calls at once.
#[derive(Debug, Clone)]
pub struct Bulkhead {
    /// How many calls may be in flight at once.
    limit: usize,
    /// Shared with every [`Worker`] it handed out, which gives itself back on drop.
    state: Arc<Mutex<Compartment>>,
}

#[derive(Debug, Default)]
struct Compartment {
    /// Workers handed out and not yet back.
    busy: usize,
    /// The most ever busy at once.
    peak: usize,
    /// Workers handed out, ever.
    granted: u64,
    /// Callers refused because every worker was busy.
    refused: u64,
}

/// One worker, held for one call; dropping it gives it back.
#[derive(Debug)]
pub struct Worker {
    state: Arc<Mutex<Compartment>>,
}

/// What a bulkhead has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkheadStats {
    pub limit: usize,
    pub busy: usize,
    pub peak: usize,
    pub granted: u64,
    pub refused: u64,
}

impl Bulkhead {
    /// A bulkhead of `limit` workers, all free.
    ///
    /// # Panics
    /// On a limit of 0: no call could ever go.
    pub fn new(limit: usize) -> Bulkhead {
        assert!(limit > 0, "a bulkhead needs at least one worker");
        Bulkhead {
            limit,
            state: Arc::default(),
        }
    }

    /// A worker for one call if one is free, or `None` at once if every one is busy.
    pub fn try_acquire(&self) -> Option<Worker> {
        // Under the lock: count it in `busy`, `peak` and `granted`, or the refusal in
        // `refused`. A `Worker` holds a clone of `self.state`, and gives itself back on drop.
        todo!("Hand out a worker if fewer than `limit` are busy; else refuse at once.")
    }

    pub fn stats(&self) -> BulkheadStats {
        let state = self.state.lock();
        BulkheadStats {
            limit: self.limit,
            busy: state.busy,
            peak: state.peak,
            granted: state.granted,
            refused: state.refused,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.state.lock().busy -= 1;
    }
}
