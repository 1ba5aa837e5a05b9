//! `karajan recover`: with the store lost, the tickets' places (and per-gate rework
//! counts) are rebuilt from the hidden markers of karajan's comments, and the workflow
//! carries on from there.

use super::support::{Scratch, stderr, stdout};

#[test]
fn a_lost_store_is_rebuilt_from_comment_markers() {
    let s = Scratch::quickstart();
    s.once();
    s.human_comment("QS-2", "bob", "Please also handle the logout redirect.");
    s.set_column("QS-2", "Rework");
    s.once(); // QS-2: rework #1, back at the gate
    let refuse = s.karajan(&["recover", "workflow.yaml"]);
    assert_eq!(refuse.status.code(), Some(1), "never over a live store");
    assert!(stderr(&refuse).contains("lost store"));

    std::fs::remove_dir_all(s.path().join(".karajan")).unwrap(); // the store is lost
    let out = s.karajan(&["recover", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("recovered 3 ticket(s)"),
        "{}",
        stdout(&out)
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let records = rt.block_on(async {
        let store = karajan::store::Store::open_read_only(&s.db())
            .await
            .unwrap()
            .unwrap();
        store.records().await.unwrap()
    });
    let qs2 = records.iter().find(|r| r.identifier == "QS-2").unwrap();
    assert_eq!(qs2.state, "review");
    assert_eq!(qs2.phase, karajan::domain::Phase::Waiting);
    assert_eq!(
        qs2.rework_count("review"),
        1,
        "per-gate rework count survives"
    );
    assert_eq!(qs2.runs.get("implement"), Some(&2));

    // The workflow carries on: an approval finishes the ticket.
    s.set_column("QS-2", "Approved");
    s.once();
    assert_eq!(s.column("QS-2"), "Done");
    assert_eq!(
        s.column("QS-1"),
        "Human Review",
        "untouched tickets keep waiting"
    );
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stdout(&out));
}
