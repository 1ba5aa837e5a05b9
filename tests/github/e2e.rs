//! End to end on the fake GitHub, once per mode: the real binary with a scripted agent
//! takes two issues from `Todo` through `In Progress` to the gate (`Human Review`); the
//! test approves on GitHub the way a human would (board status / state label); the next
//! run finishes them in `Done`, with karajan's comments (hidden markers included) on
//! the issues and the issue closed where `close_on_terminal` is set. The token never
//! reaches an agent's environment, karajan's logs, or the store.

use super::fake::TOKEN;
use super::scratch::{COLUMNS, GhScratch, files, label};
use karajan::domain::ticket::COMMENT_MARKER_PREFIX;
use karajan::workspace::sanitize_key;

fn comments(s: &GhScratch, number: i64) -> Vec<String> {
    s.fake
        .issue(number)
        .comments
        .into_iter()
        .map(|(_, body, _)| body)
        .collect()
}

/// The columns karajan moved issue `number` to, in order.
fn moves(s: &GhScratch, number: i64) -> Vec<String> {
    let moves = s.fake.lock().moves.clone();
    moves
        .into_iter()
        .filter(|(n, _)| *n == number)
        .map(|(_, to)| {
            COLUMNS
                .iter()
                .find(|c| **c == to || label(c) == to)
                .map(|c| c.to_string())
                .unwrap_or(to)
        })
        .collect()
}

fn workspace(s: &GhScratch, number: i64) -> std::path::PathBuf {
    s.path()
        .join(".karajan/workspaces")
        .join(sanitize_key(&format!("acme/app#{number}")))
}

fn full_flow(mode: &'static str, close_on_terminal: bool) {
    let s = GhScratch::new(mode, &format!("  close_on_terminal: {close_on_terminal}"));
    s.add_issue(1, "Add a greeting", "Todo");
    s.add_issue(2, "Fix the typo", "Todo");
    s.add_issue(3, "Not yet", "Canceled");
    s.fake.edit(3, |i| i.open = false);

    let first = s.once();
    for n in [1, 2] {
        assert_eq!(s.column(n), "Human Review", "#{n} waits at the gate");
        let said = comments(&s, n);
        assert!(
            said.iter().any(|c| c.contains("an agent is starting")),
            "#{n}: {said:?}"
        );
        assert!(
            said.iter().any(|c| c.contains("waiting at gate `review`")),
            "#{n}: {said:?}"
        );
        assert!(
            said.iter().all(|c| c.contains(COMMENT_MARKER_PREFIX)),
            "every karajan comment carries its hidden marker: {said:?}"
        );
        assert!(s.fake.issue(n).open);
        let ws = workspace(&s, n);
        assert!(ws.is_dir(), "{} exists", ws.display());
    }
    // The agent ran while the issue was `In Progress`: karajan moved it there first.
    for n in [1, 2] {
        assert_eq!(moves(&s, n), ["In Progress", "Human Review"], "#{n}");
    }
    assert_eq!(
        s.column(3),
        "Canceled",
        "a ticket in a terminal column is left alone"
    );
    assert!(comments(&s, 3).is_empty());

    // A human approves #1 on GitHub; #2 stays at the gate.
    s.human_move(1, "Approved");
    let second = s.once();
    assert_eq!(s.column(1), "Done");
    assert_eq!(
        moves(&s, 1),
        ["In Progress", "Human Review", "In Progress", "Done"],
        "finalize ran in `In Progress`, then the ticket was finished"
    );
    assert_eq!(moves(&s, 2), ["In Progress", "Human Review"]);
    assert_eq!(s.column(2), "Human Review");
    let said = comments(&s, 1);
    assert!(
        said.iter()
            .any(|c| c.contains("the ticket is finished (`done`)")),
        "{said:?}"
    );
    assert!(said.iter().all(|c| c.contains(COMMENT_MARKER_PREFIX)));
    assert_eq!(
        !s.fake.issue(1).open,
        close_on_terminal,
        "closed exactly where close_on_terminal is set"
    );
    assert!(s.fake.issue(2).open);
    assert!(
        !workspace(&s, 1).exists(),
        "the finished ticket's workspace is removed"
    );

    // The token: set only in karajan's environment, never handed on or written.
    let envs: Vec<String> = files(&s.path().join(".karajan/logs"))
        .into_iter()
        .filter(|p| p.ends_with("agent-env.txt"))
        .map(|p| std::fs::read_to_string(p).expect("env"))
        .collect();
    assert_eq!(
        envs.len(),
        3,
        "implement ×2 and finalize ×1 recorded their env"
    );
    for env in &envs {
        assert!(env.contains("KARAJAN_ISSUE=acme/app#"), "{env}");
        assert!(!env.contains(TOKEN), "the token reached an agent: {env}");
        assert!(!env.contains(super::scratch::TOKEN_VAR), "{env}");
        assert!(!env.contains("GITHUB_TOKEN"), "{env}");
    }
    for out in [&first, &second] {
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(
            logs.contains("acme/app#1"),
            "debug logs were written: {logs}"
        );
        assert!(!logs.contains(TOKEN), "the token is in karajan's logs");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
    }
    for file in files(&s.path().join(".karajan")) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {}",
            file.display()
        );
    }
    assert_eq!(s.fake.lock().auth_failures, 0);

    let verify = s.karajan(&["verify", "workflow.yaml"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn project_mode_todo_to_gate_to_done_closing_the_issue() {
    full_flow("project", true);
}

#[test]
fn labels_mode_todo_to_gate_to_done_leaving_the_issue_open() {
    full_flow("labels", false);
}

/// A crash between adding the new state label and removing the old one leaves two;
/// the engine tells the adapter the column it recorded, and the next poll repairs the
/// issue to it (with a warning) instead of skipping it or running anything again.
#[test]
fn labels_mode_two_state_labels_are_repaired_to_the_recorded_column() {
    let s = GhScratch::new("labels", "");
    s.add_issue(1, "Add a greeting", "Todo");
    s.once();
    assert_eq!(s.column(1), "Human Review");
    s.fake.edit(1, |i| i.labels.push(label("In Progress")));

    let out = s.once();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("several state labels"), "{logs}");
    assert!(!logs.contains("tracker read failed"), "{logs}");
    assert_eq!(
        s.column(1),
        "Human Review",
        "one state label, the recorded one"
    );
    let runs = files(&s.path().join(".karajan/logs"))
        .into_iter()
        .filter(|p| p.ends_with("agent-env.txt"))
        .count();
    assert_eq!(runs, 1, "nothing ran again");
}
