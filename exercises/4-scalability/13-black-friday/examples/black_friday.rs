//! `cargo lab demo black-friday` (being written).

fn main() -> std::process::ExitCode {
    eprintln!("lab: the black-friday demo is not written yet");
    std::process::ExitCode::from(2)
}
