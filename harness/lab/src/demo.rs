//! `lab demo` (placeholder).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_: DemoArgs) -> ExitCode {
    crate::not_built("demo")
}
