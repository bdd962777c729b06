//! A logic node of exercise 10: a member of a cluster with one leader, which stops taking
//! writes when it finds itself on the minority side of a partition.
//!
//! `split-brain-solution --id n1 --peers n2=127.0.0.1:4002,n3=... -- --stable-after-ms 1000`

use std::process::ExitCode;

use failure_detection_solution::answer_ticks;
use node_kit::Routes;
use split_brain_solution::{Flags, Node};

fn main() -> ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move {
        let (node, monitor) = Node::start(&ctx, &flags);
        Ok(Routes::new()
            .public(node.router().merge(monitor.router()))
            .on_link(answer_ticks))
    })
}
