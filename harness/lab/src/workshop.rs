//! Attendee commands (placeholder).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Exercise number or name; default: the next unfinished one.
    pub exercise: Option<String>,
}
#[derive(Debug, clap::Args)]
pub struct HintArgs {
    /// Exercise number or name; default: the next unfinished one.
    pub exercise: Option<String>,
}
#[derive(Debug, clap::Args)]
pub struct ExerciseArg {
    /// Exercise number or name.
    pub exercise: String,
}

pub fn status() -> ExitCode {
    crate::not_built("status")
}
pub fn check(_: CheckArgs) -> ExitCode {
    crate::not_built("check")
}
pub fn hint(_: HintArgs) -> ExitCode {
    crate::not_built("hint")
}
pub fn reset(_: ExerciseArg) -> ExitCode {
    crate::not_built("reset")
}
pub fn diff(_: ExerciseArg) -> ExitCode {
    crate::not_built("diff")
}
pub fn solve(_: ExerciseArg) -> ExitCode {
    crate::not_built("solve")
}
