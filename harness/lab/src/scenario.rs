//! `lab scenario` (placeholder).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {}

pub fn run(_: ScenarioArgs) -> ExitCode {
    crate::not_built("scenario")
}
