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
    /// Each node and its state.
    pub nodes: Vec<(String, NodeState)>,
}

pub(super) fn live(
    deployment: &dyn Deployment,
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
        nodes: deployment
            .ids()
            .into_iter()
            .map(|id| {
                let s = deployment.state(&id);
                (id, s)
            })
            .collect(),
    }
}
