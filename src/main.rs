//! Thin entry point: everything lives in the library.
fn main() -> std::process::ExitCode {
    cf_halo_bridge::cli::main()
}
