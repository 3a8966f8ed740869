//! The `unicat` binary: parse the command line, run, exit with a
//! sysexits-style code. Everything else is in the library.

fn main() -> std::process::ExitCode {
    unicat::cli::main()
}
