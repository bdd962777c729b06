//! The shop's edge node of exercise 13: `POST /checkout` through the regulator to a service
//! of known capacity; its flags after `--` (`--workers`, `--service-time-ms`, `--max-queue`,
//! `--max-wait-ms`, `--retry-after-ms`, `--unregulated`).

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: black_friday::node::Flags| async move {
        black_friday::node::routes(&ctx, &flags)
    })
}
