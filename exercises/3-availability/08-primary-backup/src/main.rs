//! The replicated cart node of exercise 08.
//!
//! `primary-backup --id n1 --peers n2=127.0.0.1:4002,n3=127.0.0.1:4003 -- --w 2`

use std::process::ExitCode;
use std::time::Duration;

use primary_backup::node::{self, Config};

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, clap::Args)]
struct Flags {
    /// W: copies of a write, the primary's own included, before it is acknowledged (1 to the
    /// cluster's size). 1 is the naive primary that answers before any backup has the write.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=9))]
    w: u64,
    /// T of the failure detector: a hung primary is declared down between 0.75 T and 1.25 T
    /// after it went quiet; a killed one as soon as its connections close.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    tick_time_ms: u64,
}

fn main() -> ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move {
        let config = Config {
            w: flags.w as usize,
            tick_time: Duration::from_millis(flags.tick_time_ms),
        };
        node::start(&ctx, config).await
    })
}
