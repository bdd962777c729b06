//! The logic node of exercise 06: sessions and carts, copied to the peers as its policy says.
//!
//! `sharing --id n1 --peers n2=127.0.0.1:4002,n3=127.0.0.1:4003 -- --share something`

use std::process::ExitCode;

use sharing::{Merge, Policy};

/// The node's own flags, after the kit's and a `--`.
#[derive(Debug, clap::Args)]
struct Flags {
    /// Which data classes are copied to the peers: nothing, something (sessions) or
    /// everything (sessions and carts).
    #[arg(long, value_enum, default_value_t = Policy::Everything)]
    share: Policy,
    /// How copies of a cart merge: union (every add of every copy) or lww (the copy written
    /// last wins whole: the naive control).
    #[arg(long, value_enum, default_value_t = Merge::Union)]
    merge: Merge,
}

fn main() -> ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move {
        tracing::info!(share = ?flags.share, merge = ?flags.merge, "sharing");
        Ok(sharing::node::routes(&ctx, flags.share, flags.merge))
    })
}
