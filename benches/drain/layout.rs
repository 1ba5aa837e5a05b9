//! Whether the measured binary is laid out by the symbol order (`link/`): how many of
//! the names `link/symbol-order.txt` and `link/native-only.txt` list the binary defines.
//!
//! The names are mangled with a hash of the crate's metadata, which covers its
//! dependencies: adding or upgrading a dependency renames every function of the crates
//! that depend on it, karajan's included, and the linker then skips those names without
//! a word (`--no-warn-symbol-ordering`). The binary works as before, but its code is
//! spread out again: a drain's resident code went from 4.2 to 8.7 MB when `libc` became
//! a direct dependency. The bench prints the share found, so a stale file shows where
//! the memory figure does.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// Below this share of the listed names found, the file needs regenerating.
const STALE_BELOW: f64 = 0.9;

/// Whether `found` of `listed` names says the order files are stale for the binary.
pub fn is_stale(found: usize, listed: usize) -> bool {
    (found as f64) < STALE_BELOW * listed as f64
}

/// The order files, as `build.rs` concatenates them.
pub const FILES: [&str; 3] = [
    "link/symbol-order.txt",
    "link/native-only.txt",
    "link/startup-order.txt",
];

/// `(found, listed)`: the names of `order` (one per line) that `nm` output (`address
/// type name` per line) defines.
pub fn coverage(order: &str, nm: &str) -> (usize, usize) {
    let defined: HashSet<&str> = nm
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let listed: Vec<&str> = order
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let found = listed.iter().filter(|n| defined.contains(*n)).count();
    (found, listed.len())
}

/// [`coverage`] of the package's order files in `bin` (`None`: `nm` could not read it,
/// as with a wrapper script, or the files are missing).
pub fn of_binary(bin: &Path) -> Option<(usize, usize)> {
    let out = Command::new("nm")
        .arg("--defined-only")
        .arg(bin)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let nm = String::from_utf8_lossy(&out.stdout);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut order = String::new();
    for file in FILES {
        order.push_str(&std::fs::read_to_string(root.join(file)).ok()?);
        order.push('\n');
    }
    Some(coverage(&order, &nm))
}
