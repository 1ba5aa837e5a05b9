//! `check` / `--dry-run` against Linear: key, project, team and columns; no writes.

use karajan::tracker::Tracker;
use karajan::tracker::linear::LinearTracker;

use super::fake::FakeLinear;
use super::{columns, config, tracker};

const WRITES: &[&str] = &["MoveIssue", "CreateComment"];

#[tokio::test]
async fn check_passes_and_reports_what_it_found() {
    let fake = FakeLinear::start().await;
    let mut c = config(&fake);
    c.team = Some("ENG".into());
    let t = LinearTracker::new(c).unwrap();
    let check = t
        .check(&columns(&["Todo", "In Progress", "Human Review", "Done"]))
        .await
        .unwrap();
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    let facts = check.facts.join("\n");
    assert!(
        facts.contains("Ada Lovelace <ada@example.com> in workspace Acme"),
        "{facts}"
    );
    assert!(facts.contains("Karajan pilot"), "{facts}");
    assert!(facts.contains("Linear team ENG (Engineering)"), "{facts}");
    assert!(facts.contains("rate budget"), "{facts}");
    assert_eq!(fake.count("Viewer"), 1);
    for op in WRITES {
        assert_eq!(fake.count(op), 0, "check wrote via {op}");
    }
}

#[tokio::test]
async fn a_missing_column_lists_the_teams_real_columns() {
    let fake = FakeLinear::start().await;
    let check = tracker(&fake)
        .check(&columns(&["Todo", "In Review", "Done"]))
        .await
        .unwrap();
    assert_eq!(
        check.errors,
        vec![
            "column `In Review` does not exist in Linear team ENG; its columns are: Backlog, Todo, In Progress, Human Review, Gate Approved, Rework, Done, Canceled"
                .to_string()
        ]
    );
}

#[tokio::test]
async fn a_missing_project_or_team_is_reported() {
    let fake = FakeLinear::start().await;
    let mut c = config(&fake);
    c.project = Some("nope".into());
    c.team = Some("XYZ".into());
    let check = LinearTracker::new(c)
        .unwrap()
        .check(&columns(&["Todo"]))
        .await
        .unwrap();
    let errors = check.errors.join("\n");
    assert!(
        errors.contains("Linear project `nope` not found"),
        "{errors}"
    );
    assert!(
        errors.contains("Linear team with key `XYZ` not found"),
        "{errors}"
    );
}

#[tokio::test]
async fn a_rejected_key_is_a_check_error() {
    let fake = FakeLinear::start().await;
    let mut c = config(&fake);
    c.api_key = karajan::config::Secret::new("lin_api_wrong");
    let check = LinearTracker::new(c)
        .unwrap()
        .check(&columns(&["Todo"]))
        .await
        .unwrap();
    assert_eq!(
        check.errors,
        vec!["Linear rejected the API key (authentication failed)".to_string()]
    );
    assert_eq!(
        fake.total_requests(),
        1,
        "nothing else is tried with a bad key"
    );
}
