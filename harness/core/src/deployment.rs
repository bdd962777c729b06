//! Where a run's nodes live: local processes ([`Cluster`]) or containers
//! ([`ComposeCluster`]). A scenario, a demo or a test drives either through [`Deployment`];
//! only the way a fault is applied differs, and what one of them cannot do is refused before
//! the run starts ([`Deployment::refusal`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use crate::cluster::Cluster;
use crate::compose::ComposeCluster;
use crate::fault::{self, Fault, Hit};

/// What a node is doing, as a deployment sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Running and not paused.
    Up,
    /// Stopped with SIGSTOP (or frozen): alive, sockets open, answering nothing.
    Paused,
    /// Killed, stopped, or exited by itself.
    Down,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "up",
            NodeState::Paused => "paused",
            NodeState::Down => "down",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A cluster a scenario can play on.
pub trait Deployment: Send + Sync {
    /// The node ids, in order (`n1`, `n2`, ...).
    fn ids(&self) -> Vec<String>;
    /// Where clients reach node `id`.
    fn addr(&self, id: &str) -> SocketAddr;
    /// Why this deployment cannot do `fault` on `hit`, or `None` if it can. Asked of every
    /// scheduled fault before a run starts.
    fn refusal(&self, _fault: &Fault, _hit: &Hit) -> Option<String> {
        None
    }
    /// Applies one fault.
    fn apply(&self, fault: &Fault, hit: &Hit) -> Result<(), String>;
    /// Heals every network fault and brings every node back up.
    fn recover(&self) -> Result<(), String>;
    /// Copies the node logs into `dir`, as `<id>.log`.
    fn collect_logs(&self, dir: &Path);
    fn state(&self, id: &str) -> NodeState;
    /// A node that ended itself with a panic (the kit's panic rule: status 101), with its
    /// panic line: a bug in the node, not a fault the run injected, so a run stops at once.
    fn panicked(&self) -> Option<String> {
        None
    }
}

impl Deployment for Cluster {
    fn ids(&self) -> Vec<String> {
        Cluster::ids(self)
    }

    fn addr(&self, id: &str) -> SocketAddr {
        Cluster::addr(self, id)
    }

    fn apply(&self, fault: &Fault, hit: &Hit) -> Result<(), String> {
        fault::local::apply(self, fault, hit).map_err(|e| e.to_string())
    }

    fn recover(&self) -> Result<(), String> {
        self.clear_faults();
        for id in self.ids() {
            if !self.is_running(&id) {
                self.restart(&id).map_err(|e| e.to_string())?;
            } else {
                let _ = self.resume(&id);
            }
        }
        Ok(())
    }

    fn collect_logs(&self, dir: &Path) {
        for id in self.ids() {
            let _ = std::fs::copy(self.log_path(&id), dir.join(format!("{id}.log")));
        }
    }

    fn state(&self, id: &str) -> NodeState {
        Cluster::state(self, id)
    }

    fn panicked(&self) -> Option<String> {
        Cluster::panicked(self)
    }
}

impl Deployment for ComposeCluster {
    fn ids(&self) -> Vec<String> {
        ComposeCluster::ids(self)
    }

    fn addr(&self, id: &str) -> SocketAddr {
        ComposeCluster::addr(self, id)
    }

    fn refusal(&self, fault: &Fault, hit: &Hit) -> Option<String> {
        fault::containers::plan(fault, hit, &self.ids()).err()
    }

    fn apply(&self, fault: &Fault, hit: &Hit) -> Result<(), String> {
        for step in fault::containers::plan(fault, hit, &self.ids())? {
            self.perform(&step).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn recover(&self) -> Result<(), String> {
        self.heal().map_err(|e| e.to_string())?;
        for id in self.ids() {
            let done = match ComposeCluster::state(self, &id) {
                NodeState::Down => self.restart(&id),
                NodeState::Paused => self.resume(&id),
                NodeState::Up => Ok(()),
            };
            done.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn collect_logs(&self, dir: &Path) {
        for log in self.save_logs() {
            if let Some(name) = log.file_name() {
                let _ = std::fs::copy(&log, dir.join(name));
            }
        }
    }

    fn state(&self, id: &str) -> NodeState {
        ComposeCluster::state(self, id)
    }
}
