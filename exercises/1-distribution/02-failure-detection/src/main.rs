//! A node that watches its peers: `GET /cluster` shows what it thinks of each.
//!
//! `failure-detection --id n1 --peers n2=127.0.0.1:4002 -- --tick-time-ms 1000`

use std::process::ExitCode;
use std::time::Duration;

use failure_detection::{Monitor, answer_ticks};
use node_kit::Routes;

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, clap::Args)]
struct Flags {
    /// T: a silent peer is declared down between 0.75 T and 1.25 T after it went quiet.
    /// Erlang's `net_ticktime` defaults to 60 s; a lab demo wants to see it happen.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    tick_time_ms: u64,
}

fn main() -> ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move {
        let monitor = Monitor::start(&ctx, Duration::from_millis(flags.tick_time_ms));
        Ok(Routes::new().public(monitor.router()).on_link(answer_ticks))
    })
}
