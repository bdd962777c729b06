fn main() -> std::process::ExitCode {
    lab::main()
}
