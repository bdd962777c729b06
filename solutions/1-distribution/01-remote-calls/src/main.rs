//! The logic node of exercise 01: it accepts links and answers calls on them.

use remote_calls_solution::callee::{self, AtWork};

fn main() -> std::process::ExitCode {
    node_kit::run(|ctx| async move {
        let at_work = AtWork::new(ctx.metrics.clone());
        Ok(node_kit::Routes::new().on_link(move |link| callee::serve(link, at_work.clone())))
    })
}
