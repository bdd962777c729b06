//! The node of exercise 12: the kit's pool of known capacity and nothing else, so that every
//! figure a test or the demo measures can be held to c / s. Its flags after `--`:
//! `--workers <c>` (default 4) and `--service-time-ms <s>` (default 25).

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: node_kit::capacity::CapacityFlags| async move {
        capacity::node::routes(&ctx, &flags)
    })
}
