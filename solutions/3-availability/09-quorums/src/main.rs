//! A data node of exercise 09: carts on N nodes of their preference list, written at W and
//! read at R, with hinted handoff.
//!
//! `quorums-solution --id n1 --peers n2=...,n3=... -- --n 3 --r 2 --w 2`

use std::process::ExitCode;

use failure_detection_solution::answer_ticks;
use node_kit::Routes;
use quorums_solution::{Flags, Node};

fn main() -> ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move {
        if flags.r > flags.n || flags.w > flags.n {
            return Err(format!(
                "R ({}) and W ({}) cannot exceed N ({})",
                flags.r, flags.w, flags.n
            ));
        }
        let node = Node::start(&ctx, flags);
        let (public, internal) = node.routes();
        Ok(Routes::new()
            .public(public)
            .internal(internal)
            .on_link(answer_ticks))
    })
}
