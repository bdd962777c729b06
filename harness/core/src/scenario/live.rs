//! What a run shows while it goes: the figures of each second and the fault narration, for
//! a progress bar or a demo's live table.

use std::ops::Range;
use std::time::Duration;

use crate::deployment::{Deployment, NodeState};
use crate::history::History;
use crate::load;

/// What a run shows while it goes: a progress bar, or a demo's live figures and narration.
/// Every method has a default that does nothing.
pub trait Observer: Send + Sync {
    /// About once a second during the load phase.
    fn second(&self, _live: &Live) {}
    /// A fault fired at `at`: its label (`kill n2`) and the scenario's narration for it.
    fn fault(&self, _at: Duration, _label: &str, _say: Option<&str>) {}
    /// The run moved on: `healing and recovering`, `final reads`, `checks`.
    fn phase(&self, _what: &str) {}
}

/// The figures of the last second, for live display.
#[derive(Debug, Clone)]
pub struct Live {
    pub elapsed: Duration,
    pub total: Duration,
    /// Operations sent so far.
    pub sent: u64,
    /// In the last second: operations that ended ok, and that ended otherwise.
    pub ok: u64,
    pub errors: u64,
    /// The last second's p99 latency, if anything ended in it.
    pub p99: Option<Duration>,
    /// Each node and its worst state during the second (down, then paused, then up).
    pub nodes: Vec<(String, NodeState)>,
}

/// Each node's worst state over a stretch of time, sampled.
pub(super) struct States(Vec<(String, NodeState)>);

impl States {
    pub(super) fn now(deployment: &dyn Deployment) -> States {
        States(
            deployment
                .ids()
                .into_iter()
                .map(|id| {
                    let state = deployment.state(&id);
                    (id, state)
                })
                .collect(),
        )
    }

    /// Keeps the worse of each node's state so far and its state now.
    pub(super) fn sample(&mut self, deployment: &dyn Deployment) {
        for (id, worst) in &mut self.0 {
            let now = deployment.state(id);
            if rank(now) > rank(*worst) {
                *worst = now;
            }
        }
    }
}

fn rank(state: NodeState) -> u8 {
    match state {
        NodeState::Up => 0,
        NodeState::Paused => 1,
        NodeState::Down => 2,
    }
}

pub(super) fn live(
    states: &States,
    history: &History,
    progress: &load::Progress,
    window: Range<Duration>,
    total: Duration,
) -> Live {
    let mut waits = Vec::new();
    let (mut ok, mut errors) = (0, 0);
    for op in history.operations() {
        let Some(end) = &op.end else { continue };
        if !window.contains(&end.at) {
            continue;
        }
        if op.is_ok() {
            ok += 1;
        } else {
            errors += 1;
        }
        waits.extend(op.latency());
    }
    waits.sort();
    let p99 = (!waits.is_empty()).then(|| waits[(waits.len() * 99 / 100).min(waits.len() - 1)]);
    Live {
        elapsed: window.end,
        total,
        sent: progress.sent(),
        ok,
        errors,
        p99,
        nodes: states.0.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::Path;

    use node_kit::sync::Mutex;

    use super::*;
    use crate::fault::{Fault, Hit};

    /// One node whose state the test sets.
    struct OneNode(Mutex<NodeState>);

    impl Deployment for OneNode {
        fn ids(&self) -> Vec<String> {
            vec!["n1".into()]
        }
        fn addr(&self, _: &str) -> SocketAddr {
            "127.0.0.1:9".parse().unwrap()
        }
        fn apply(&self, _: &Fault, _: &Hit) -> Result<(), String> {
            Ok(())
        }
        fn recover(&self) -> Result<(), String> {
            Ok(())
        }
        fn collect_logs(&self, _: &Path) {}
        fn state(&self, _: &str) -> NodeState {
            *self.0.lock()
        }
    }

    #[test]
    fn a_row_shows_the_worst_state_its_second_saw() {
        let node = OneNode(Mutex::new(NodeState::Up));
        let mut states = States::now(&node);
        *node.0.lock() = NodeState::Down; // killed ...
        states.sample(&node);
        *node.0.lock() = NodeState::Up; // ... and restarted within the second
        states.sample(&node);
        assert_eq!(states.0, [("n1".to_string(), NodeState::Down)]);
        *node.0.lock() = NodeState::Paused;
        let mut next = States::now(&node);
        next.sample(&node);
        assert_eq!(next.0, [("n1".to_string(), NodeState::Paused)]);
    }
}
