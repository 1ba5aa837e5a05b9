//! What a run records goes in as few appends as its order allows (issue 11): the
//! workspace's creation with the run's `run_started` when no hook runs between them,
//! and the agent's last output lines with the run's `run_finished`. One append is one
//! transaction, and all of its events carry the same time.

use karajan::store::{Store, StoredEvent};

use super::support::Scratch;

fn stored(db: &std::path::Path) -> Vec<StoredEvent> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open_read_only(db).await.unwrap().unwrap();
        store.events_page(0, 10_000).await.unwrap()
    })
}

/// The events `e` was appended with (same time, adjacent seqs), `e` included.
fn same_append<'a>(all: &'a [StoredEvent], e: &StoredEvent) -> Vec<&'a str> {
    all.iter()
        .filter(|o| o.at == e.at && o.seq.abs_diff(e.seq) < 16)
        .map(|o| o.kind.as_str())
        .collect()
}

#[test]
fn a_workspace_and_the_last_output_lines_share_their_runs_appends() {
    let s = Scratch::quickstart();
    s.once();
    let all = stored(&s.db());
    for id in ["QS-1", "QS-2", "QS-3"] {
        let mine: Vec<&StoredEvent> = all
            .iter()
            .filter(|e| e.issue.as_deref() == Some(id))
            .collect();
        let created = mine
            .iter()
            .find(|e| e.kind == "workspace_created")
            .unwrap_or_else(|| panic!("{id}: no workspace_created"));
        assert_eq!(
            same_append(&all, created),
            vec!["workspace_created", "run_started"],
            "{id}: the workspace is recorded with the run that made it"
        );
        let finished = mine
            .iter()
            .find(|e| e.kind == "run_finished")
            .unwrap_or_else(|| panic!("{id}: no run_finished"));
        let with = same_append(&all, finished);
        assert!(
            with.starts_with(&["agent_event", "agent_event", "run_finished", "run_evidence"]),
            "{id}: the agent's lines (session, result) go first in the run's last append: {with:?}"
        );
    }
    // Nothing of the order a verifier checks changed.
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", super::support::stdout(&out));
}
