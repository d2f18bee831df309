//! The randomized fault test (CONTRACT §13), CI-sized: the real executable's `chaos` command for
//! three seeds, each two handler processes on one Azurite with faults, kills and a poison
//! incident, then every invariant checked. `cargo run --release -- chaos --seeds 1-50` runs more.

use std::process::Command;

#[test]
fn three_chaos_seeds_keep_every_invariant() {
    let azurite = std::env::var("AZURITE_BLOB_BIN")
        .unwrap_or_else(|_| ".azurite/node_modules/.bin/azurite-blob".into());
    assert!(
        std::path::Path::new(&azurite).exists(),
        "Azurite is not installed at {azurite}: run ./scripts/test (it installs azurite@3.35 with npm)"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_cf-halo-bridge"))
        .args(["chaos", "--seeds", "1-3"])
        .env("AZURITE_BLOB_BIN", &azurite)
        .env_remove("RUST_LOG")
        .output()
        .expect("the executable runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let rows = stdout.lines().filter(|l| l.ends_with("| ok |")).count();
    assert_eq!(rows, 3, "{stdout}");
    assert!(
        stdout.contains("every seed kept every invariant"),
        "{stdout}"
    );
}
