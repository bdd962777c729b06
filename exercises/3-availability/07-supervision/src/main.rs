//! The logic node of exercise 07: four services under a supervisor, `GET /children` to see
//! their generations, `POST /call/{child}` to use one, and internal routes to crash them.

use supervision::node::{self, Flags};

fn main() -> std::process::ExitCode {
    node_kit::run_with(|ctx, flags: Flags| async move { node::start(&ctx, &flags) })
}
