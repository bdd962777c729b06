//! Fault coverage: did each fault touch the traffic at all?
//!
//! A fault that nothing was sent through proves nothing: a store killed while no request
//! reached it has "lost no acknowledged write" trivially. Such a run is *inconclusive*, never
//! a pass. A fault touched an operation when the operation went to one of the fault's nodes
//! (for a link, either end; for a partition, any node) and was in flight at some moment of the
//! fault: sent before it ended, and not finished before it began. An operation goes to the
//! node it was sent to and, when a redirect took it on (a backup naming its primary), to the
//! node that served it: a primary killed while every client talks to a backup is touched.

use crate::history::Operation;
use crate::report::Span;

/// Why the run is inconclusive (every fault that touched nothing, in one line), or `None`.
pub(super) fn untouched(spans: &[Span], ops: &[Operation]) -> Option<String> {
    let idle: Vec<String> = spans
        .iter()
        .filter(|span| !span.nodes.is_empty())
        .filter(|span| !ops.iter().any(|op| touches(span, op)))
        .map(|span| {
            format!(
                "{} ({:.1}-{:.1} s) touched no operation: nothing was sent to {} while it lasted",
                span.label,
                span.start.as_secs_f64(),
                span.end.as_secs_f64(),
                span.nodes.join(" or ")
            )
        })
        .collect();
    (!idle.is_empty()).then(|| idle.join("; "))
}

fn touches(span: &Span, op: &Operation) -> bool {
    let finished_before = op.end.as_ref().is_some_and(|end| end.at < span.start);
    let went_to =
        |node: &String| node == &op.node || Some(node.as_str()) == op.served_by.as_deref();
    span.nodes.iter().any(went_to) && op.invoked <= span.end && !finished_before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Action;
    use crate::history::{Completion, End};
    use std::time::Duration;

    fn op(node: &str, sent: u64, done: Option<u64>) -> Operation {
        Operation {
            id: sent,
            node: node.into(),
            action: Action::Request {
                name: "GET /".into(),
            },
            invoked: Duration::from_millis(sent),
            end: done.map(|at| End {
                at: Duration::from_millis(at),
                outcome: Completion::Ok(None),
            }),
            served_by: None,
        }
    }

    fn kill(node: &str, from: u64, to: u64) -> Span {
        Span {
            label: format!("kill {node}"),
            start: Duration::from_millis(from),
            end: Duration::from_millis(to),
            nodes: vec![node.into()],
        }
    }

    #[test]
    fn a_fault_on_a_node_nobody_called_is_inconclusive() {
        let ops = [op("n1", 1000, Some(1010)), op("n1", 2500, Some(2510))];
        let why = untouched(&[kill("n3", 2000, 3000)], &ops).expect("inconclusive");
        assert!(
            why.contains("kill n3 (2.0-3.0 s) touched no operation"),
            "{why}"
        );
        assert!(why.contains("nothing was sent to n3"), "{why}");
    }

    #[test]
    fn an_operation_in_flight_at_any_moment_of_the_fault_counts() {
        let span = kill("n2", 2000, 3000);
        // Sent before, still waiting when it struck; sent during; never finished.
        for touching in [
            op("n2", 1500, Some(2100)),
            op("n2", 2500, Some(2510)),
            op("n2", 1000, None),
        ] {
            assert_eq!(
                untouched(std::slice::from_ref(&span), std::slice::from_ref(&touching)),
                None,
                "{touching:?}"
            );
        }
        // Done before it began, sent after it ended, or sent to another node.
        for missing in [
            op("n2", 1000, Some(1990)),
            op("n2", 3001, Some(3010)),
            op("n1", 2500, Some(2510)),
        ] {
            assert!(
                untouched(std::slice::from_ref(&span), std::slice::from_ref(&missing)).is_some(),
                "{missing:?}"
            );
        }
    }

    #[test]
    fn the_node_that_served_an_operation_counts_not_only_the_one_it_was_sent_to() {
        // Every client talks to the backup n3, which redirects to the primary n1.
        let redirected = Operation {
            served_by: Some("n1".into()),
            ..op("n3", 2500, Some(2510))
        };
        let ops = std::slice::from_ref(&redirected);
        assert_eq!(untouched(&[kill("n1", 2000, 3000)], ops), None);
        assert_eq!(untouched(&[kill("n3", 2000, 3000)], ops), None);
        assert!(untouched(&[kill("n2", 2000, 3000)], ops).is_some());
    }

    #[test]
    fn no_fault_is_nothing_to_cover() {
        assert_eq!(untouched(&[], &[op("n1", 0, Some(1))]), None);
    }
}
