//! The `kiln` binary: hands the process arguments to `kiln_cli::run` and exits with its code.

fn main() -> std::process::ExitCode {
    kiln_cli::run(std::env::args_os())
}
