fn main() -> std::process::ExitCode {
    node_kit::run(|_ctx| async move { Ok(node_kit::Routes::new()) })
}
