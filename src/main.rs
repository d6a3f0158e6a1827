//! The `cmap` binary: arguments in, exit code out; everything else is in `cmap::cli`.

fn main() -> std::process::ExitCode {
    cmap::cli::main()
}
