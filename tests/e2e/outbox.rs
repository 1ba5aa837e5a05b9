//! The outbox after a crash: intents recorded but never confirmed are retried on the
//! next start. A write that already reached the tracker is confirmed without being
//! repeated; one that did not is performed once.

use karajan::store::{EventKind, IntentOp, NewEvent, Store};

use super::support::{Scratch, events};

fn marker(intent: &str) -> String {
    format!(
        "<!-- karajan:{{\"intent\":\"{intent}\",\"rework\":0,\"run\":1,\"state\":\"review\"}} -->"
    )
}

#[test]
fn pending_intents_are_retried_once_and_never_doubled() {
    let s = Scratch::quickstart();
    s.once();
    let done_body = format!("karajan: written before the crash.\n\n{}", marker("i-done"));
    let lost_body = format!("karajan: lost in the crash.\n\n{}", marker("i-lost"));
    // The daemon recorded these intents and died: the first comment had reached the
    // tracker, the second had not, and the move had already happened.
    s.human_comment("QS-1", "karajan", &done_body);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&s.db(), &s.path().join(".karajan/checkpoints"))
            .await
            .unwrap();
        let intent = |id: &str, issue: &str, op: IntentOp| {
            NewEvent::for_issue(
                issue,
                EventKind::IntentRecorded {
                    intent_id: id.into(),
                    op,
                },
            )
        };
        store
            .append(vec![
                intent(
                    "i-done",
                    "QS-1",
                    IntentOp::Comment {
                        tracker_id: "QS-1".into(),
                        body: done_body.clone(),
                    },
                ),
                intent(
                    "i-lost",
                    "QS-3",
                    IntentOp::Comment {
                        tracker_id: "QS-3".into(),
                        body: lost_body.clone(),
                    },
                ),
                intent(
                    "i-moved",
                    "QS-2",
                    IntentOp::Move {
                        tracker_id: "QS-2".into(),
                        column: "Human Review".into(),
                    },
                ),
            ])
            .await
            .unwrap();
        store.close().await;
    });

    s.once();

    let count = |id: &str, needle: &str| s.read_ticket(id).matches(needle).count();
    assert_eq!(count("QS-1", "\"intent\":\"i-done\""), 1, "not repeated");
    assert_eq!(count("QS-3", "\"intent\":\"i-lost\""), 1, "performed once");
    assert_eq!(s.column("QS-2"), "Human Review");
    // Different tickets' writes run side by side: each is done once, in any order.
    let mut completed: Vec<(String, bool)> = events(&s.db())
        .into_iter()
        .filter(|(k, _, _)| k == "intent_completed")
        .filter_map(|(_, _, p)| {
            let id = p["intent_id"].as_str()?.to_string();
            id.starts_with("i-")
                .then(|| (id, p["already_done"].as_bool().unwrap()))
        })
        .filter(|(id, _)| ["i-done", "i-lost", "i-moved"].contains(&id.as_str()))
        .collect();
    completed.sort();
    assert_eq!(
        completed,
        vec![
            ("i-done".to_string(), true),
            ("i-lost".to_string(), false),
            ("i-moved".to_string(), true),
        ]
    );
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success());
}
