//! `lab load` (placeholder).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LoadArgs {}

pub fn run(_: LoadArgs) -> ExitCode {
    crate::not_built("load")
}
