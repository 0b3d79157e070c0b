use std::process::ExitCode;

fn main() -> ExitCode {
    account_migration::cli::main()
}
