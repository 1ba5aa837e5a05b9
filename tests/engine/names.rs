//! Point 10: any ticket name works (valid branch, own workspace, bounded file names),
//! and two tickets never share a workspace.

use super::support::{column_of, edit_workflow, write_ticket};
use crate::e2e::support::{Scratch, events, stderr};

/// (file name without `.md`, `id:` when the identifier is not the file name)
fn fuzzed() -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = [
        ("fix login", None),
        ("colon", Some("a:b")),
        ("dotdot", Some("x..y")),
        ("tilde", Some("t~1")),
        ("caret", Some("c^2")),
        ("dash", Some("-lead")),
        ("dot", Some(".")),
        ("dots", Some("..")),
        ("lock", Some("end.lock")),
        ("trail", Some("trail.")),
        ("at", Some("a@{b}")),
        ("glob", Some("a*b?[c]")),
        ("backslash", Some("a\\b")),
        ("unicode", Some("ünï cödé")),
        ("slash", Some("x/y")),
        // The sanitized key of `x/y`, itself already clean: must not share its workspace.
        ("lookalike", Some("x_y-bd3c9047d6816c31")),
    ]
    .into_iter()
    .map(|(f, id)| (f.to_string(), id.map(str::to_string)))
    .collect();
    // A 240-character file name (its temp file must still fit in 255 bytes) and a
    // 250-character identifier that needs a hash suffix.
    v.push(("a".repeat(240), None));
    v.push(("long".into(), Some(format!("q {}", "z".repeat(248)))));
    v
}

#[test]
fn fuzzed_identifiers_all_reach_the_gate_each_in_its_own_workspace() {
    let s = Scratch::quickstart();
    let tickets = s.path().join("tickets");
    for f in ["QS-1", "QS-2", "QS-3"] {
        std::fs::remove_file(tickets.join(format!("{f}.md"))).unwrap();
    }
    let all = fuzzed();
    for (i, (file, id)) in all.iter().enumerate() {
        write_ticket(&tickets, file, id.as_deref(), &format!("fuzz {i}"));
    }
    edit_workflow(&s, "max_concurrent: 3", "max_concurrent: 30");
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    for (file, id) in &all {
        let col = column_of(&tickets.join(format!("{file}.md")));
        assert_eq!(
            col,
            "Human Review",
            "{:?} reaches the gate\n{log}",
            id.as_deref().unwrap_or(file)
        );
    }
    let evs = events(&s.db());
    let escalated: Vec<_> = evs.iter().filter(|(k, _, _)| k == "escalated").collect();
    assert!(escalated.is_empty(), "nothing escalates: {escalated:?}");
    let failed: Vec<_> = evs
        .iter()
        .filter(|(k, _, p)| k == "run_finished" && p["status"] != "succeeded")
        .collect();
    assert!(failed.is_empty(), "no run fails: {failed:?}");
    // One workspace per ticket: every created workspace path is distinct, and each is
    // a directory of its own under the root.
    let mut paths: Vec<String> = evs
        .iter()
        .filter(|(k, _, _)| k == "workspace_created")
        .map(|(_, _, p)| p["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), all.len(), "one workspace created per ticket");
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), all.len(), "no two tickets share a workspace");
    let root = s.path().join(".karajan/workspaces");
    let dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".mirrors") // the repository's mirror, shared by the clones
        .collect();
    assert_eq!(
        dirs.len(),
        all.len(),
        "no temporary clone is left: {dirs:?}"
    );
    for d in &dirs {
        assert!(d.len() <= 255 && !d.starts_with('.'), "{d}");
    }
    // No temporary ticket file is left beside the tickets.
    let hidden: Vec<_> = std::fs::read_dir(&tickets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn check_warns_when_the_branch_template_renders_invalid_names() {
    let s = Scratch::quickstart();
    // The default template: awkward identifiers are repaired, which `check` notes in
    // one line; nothing to warn about.
    let out = s.karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("branches: ")
            && stdout.contains("`karajan/fix login` → `karajan/fix-login-"),
        "{stdout}"
    );
    // A template that breaks ordinary tickets' names (a title with spaces) is warned.
    edit_workflow(
        &s,
        "branch: \"karajan/{{ issue.identifier }}\"",
        "branch: \"karajan/{{ issue.title }}\"",
    );
    let out = s.karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("for an ordinary ticket `ENG-42`"),
        "{err}"
    );
    // A template that slugs the identifier itself draws neither.
    edit_workflow(
        &s,
        "branch: \"karajan/{{ issue.title }}\"",
        "branch: \"karajan/ticket\"",
    );
    let out = s.karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("branches: "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
