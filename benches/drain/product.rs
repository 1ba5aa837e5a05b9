//! The binary the drain measures by default: `karajan` as users build it (`cargo build
//! --release`, `cargo install`), not the one `cargo bench` builds beside this bench.
//!
//! A bench is built with the package's dev-dependencies, and cargo unifies their
//! features into every crate of that build: tokio gets `test-util`, hashbrown and
//! regex-automata more features. The `karajan` binary built for the bench is another
//! binary than the product, down to its functions' names (their hashes cover the
//! crates' features), so the symbol order made from one does not lay out the other
//! (`link/README.md`): until 2026-12-07 the order was made from, and the figures measured
//! on, the bench's build, and a `cargo build --release` binary ran with its code
//! unordered (peak RSS about 15 MB where the bench showed 10).
//!
//! So the bench builds the product itself, with the profile it was built with, into a
//! target folder of its own (`product/` under the target folder), so that the two builds
//! never overwrite each other's `karajan`.

use std::path::PathBuf;
use std::process::Command;

/// Build `karajan` as users do; its path.
pub fn build() -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("product");
    let (profile, folder) = if cfg!(debug_assertions) {
        ("dev", "debug")
    } else {
        ("release", "release")
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building karajan as users do (cargo build --profile {profile}) in {}",
        target.display()
    );
    let status = Command::new(cargo)
        .args(["build", "--bin", "karajan", "--profile", profile])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of karajan failed: {status}"));
    }
    Ok(target.join(folder).join("karajan"))
}
