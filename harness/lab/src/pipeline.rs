//! Maintainer commands (placeholder).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

pub fn generate(_: GenerateArgs) -> ExitCode {
    crate::not_built("generate")
}
pub fn verify(_: VerifyArgs) -> ExitCode {
    crate::not_built("verify")
}
