fn main() -> std::process::ExitCode {
    radgate::cli::main()
}
