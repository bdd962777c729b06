//! `cargo lab demo fuse`: written below.

fn main() {}
