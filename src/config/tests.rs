//! Config flows one way: `config` validates the document and the sections that belong to
//! no adapter, and asks the adapters (through `Adapters`) for the rest. This test fails
//! as soon as a file of `config` imports an adapter again.

use std::path::Path;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The adapter paths a line names, ignoring comments (docs may mention an adapter).
fn adapter_imports(text: &str) -> Vec<String> {
    const ADAPTERS: [&str; 4] = [
        "crate::tracker",
        "crate::agent",
        "crate::prompt",
        "crate::workflow_load",
    ];
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let code: String = code.split_whitespace().collect();
        for a in ADAPTERS {
            // `crate::tracker`, `crate::{tracker, ...}` and `karajan::tracker` alike.
            let name = a.trim_start_matches("crate::");
            let hit = code.contains(a)
                || code.contains(&format!("karajan::{name}"))
                || (code.contains("crate::{") && code.contains(name));
            if hit {
                found.push(format!("line {}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn config_never_imports_an_adapter() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() > 5, "found only {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            adapter_imports(&text)
                .into_iter()
                .map(move |hit| format!("{}: {hit}", f.display()))
        })
        .filter(|hit| !hit.contains("src/config/tests.rs"))
        .collect();
    assert!(
        offenders.is_empty(),
        "config must not import an adapter (let the adapter own its section):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_naming_an_adapter() {
    for line in [
        "use crate::tracker::linear::config::LinearConfig;",
        "use crate::{agent, domain};",
        "    let problems = crate::prompt::render_errors(&wf);",
        "use crate::workflow_load::load;",
        "Linear(Box<crate :: tracker::linear::config::LinearConfig>),",
    ] {
        assert_eq!(adapter_imports(line).len(), 1, "{line}");
    }
    for line in [
        "use crate::domain::Machine;",
        "use crate::settings::Secret;",
        "//! validated by the tracker adapter (`crate::tracker`)",
    ] {
        assert!(adapter_imports(line).is_empty(), "{line}");
    }
}
