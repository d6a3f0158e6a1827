//! The `cmap` binary: arguments in, exit code out; everything else is in `cmap::cli`.

/// sled allocates and frees small node copies on every write; with glibc malloc a large
/// sync spends a quarter of its time in the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cmap::cli::main()
}
