//! Helpers for the engine tests, on top of the e2e scratch quickstart.

use std::path::Path;

use crate::e2e::support::Scratch;

/// Replace one exact piece of the scratch workflow (panics if it is not there, so a
/// changed example fails loudly instead of testing nothing).
pub fn edit_workflow(s: &Scratch, from: &str, to: &str) {
    let text = std::fs::read_to_string(s.workflow()).unwrap();
    assert!(text.contains(from), "workflow.yaml has no {from:?}");
    std::fs::write(s.workflow(), text.replacen(from, to, 1)).unwrap();
}

/// Write a local ticket file `<file>.md` (the identifier is `id` when given, else the
/// file name).
pub fn write_ticket(dir: &Path, file: &str, id: Option<&str>, title: &str) {
    let id_line = id.map_or(String::new(), |id| {
        format!("id: {}\n", serde_json::to_string(id).unwrap())
    });
    let text = format!(
        "---\n{id_line}title: {title}\nstate: Todo\npriority: 2\ncreated_at: 2026-11-01T09:00:00Z\n---\nDo {title}.\n"
    );
    std::fs::write(dir.join(format!("{file}.md")), text).unwrap();
}

/// The `state:` line of a ticket file, by path.
pub fn column_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("state:"))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap()
}
