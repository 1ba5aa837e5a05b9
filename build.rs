//! Rebuild when a migration is added or edited: `sqlx::migrate!` embeds the
//! `migrations/` folder at compile time, and cargo does not track that folder by itself.
//!
//! Release builds of the `karajan` binary are also linked to keep less of the file
//! resident (see `link/README.md`): its code laid out in the order of
//! `link/symbol-order.txt` and `link/native-only.txt`, the functions a daemon runs
//! together and first, and its relative relocations packed (`DT_RELR`), which the
//! dynamic loader otherwise reads as a 700 KB table at every start.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    lean_link();
}

/// Release builds for x86_64 Linux linked by LLD (Rust's own linker there since 1.90)
/// only; `KARAJAN_LEAN_LINK=0` turns it off (for another linker, or to measure
/// without it).
fn lean_link() {
    println!("cargo:rerun-if-env-changed=KARAJAN_LEAN_LINK");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("KARAJAN_LEAN_LINK") == "0"
        || !links_with_lld(&var)
    {
        return;
    }
    symbol_order(&var);
    // glibc reads packed relocations from 2.36 on; an older one refuses the binary.
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bin=karajan=-Wl,-z,pack-relative-relocs");
    }
}

/// `--symbol-ordering-file`: the drain's functions first.
fn symbol_order(var: &dyn Fn(&str) -> String) {
    const FILES: [&str; 3] = [
        "link/symbol-order.txt",
        "link/native-only.txt",
        "link/startup-order.txt",
    ];
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    // The linker takes one file: the running daemon's functions, then those only a
    // native run reaches, then start-up's (see link/README.md). A name listed twice
    // keeps its first place (a start-up function a native run also reaches once
    // started is listed in `native-only.txt`).
    let dir = std::path::PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let mut order = String::new();
    let mut seen = std::collections::HashSet::new();
    for file in FILES {
        match std::fs::read_to_string(dir.join(file)) {
            Ok(text) => {
                for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if seen.insert(name.to_string()) {
                        order.push_str(name);
                        order.push('\n');
                    }
                }
            }
            Err(_) => println!("cargo:warning={file} is missing: the code is not ordered"),
        }
    }
    let out = std::path::PathBuf::from(var("OUT_DIR")).join("symbol-order.txt");
    if let Err(e) = std::fs::write(&out, order) {
        println!("cargo:warning=the symbol order could not be written: {e}");
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=karajan=-Wl,--symbol-ordering-file={}",
        out.display()
    );
    // Functions the files name that this build does not have are skipped silently.
    println!("cargo:rustc-link-arg-bin=karajan=-Wl,--no-warn-symbol-ordering");
}

/// Rust links x86_64 Linux binaries with its own LLD from 1.90 on; before, with the
/// system's linker, which may not know the option. A linker chosen in the environment
/// or the flags is left alone too.
fn links_with_lld(var: &dyn Fn(&str) -> String) -> bool {
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    if !var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty() {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let release = text
        .lines()
        .find_map(|l| l.strip_prefix("release: "))
        .unwrap_or("");
    version_at_least(release, 1, 90)
}

/// The C library of the machine that builds (the one that will run a native build):
/// `getconf GNU_LIBC_VERSION` prints `glibc 2.36`.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    version_at_least(version, major, minor)
}

/// `1.95.0` or `2.36` against a major and minor version.
fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}
