//! The logic node of exercise 01: it accepts links and answers calls on them.

fn main() -> std::process::ExitCode {
    node_kit::run(
        |_ctx| async move { Ok(node_kit::Routes::new().on_link(remote_calls::callee::serve)) },
    )
}
