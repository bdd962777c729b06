//! The shop's edge node of exercise 14: `POST /checkout` through an adaptive concurrency
//! limit to a service of known capacity; its flags after `--` (`--workers`,
//! `--service-time-ms`, `--target-ms`, `--initial-limit`, `--fixed-limit`).

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: adaptive_limits::node::Flags| async move {
        adaptive_limits::node::routes(&ctx, &flags)
    })
}
