//! The whole loop on the quickstart: agent → gate → rework → agent → gate → approve →
//! agent → terminal, then `verify`, `history`, and a tampered row caught by `verify`.

use super::support::{Scratch, count, events, stdout};

fn transitions(db: &std::path::Path, id: &str) -> Vec<String> {
    events(db)
        .into_iter()
        .filter(|(k, i, _)| k == "transition" && i.as_deref() == Some(id))
        .map(|(_, _, p)| p["to"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn quickstart_runs_through_gate_rework_and_approval_to_done() {
    let s = Scratch::quickstart();
    s.once();
    for id in ["QS-1", "QS-2", "QS-3"] {
        assert_eq!(s.column(id), "Human Review", "{id} waits at the gate");
        assert!(
            s.read_ticket(id).contains("waiting at gate `review`"),
            "{id} has the gate comment"
        );
        let ws = s.path().join(".karajan/workspaces").join(id);
        let repo = git2::Repository::open(&ws).unwrap();
        let head = repo.head().unwrap();
        assert_eq!(head.shorthand().unwrap(), format!("karajan/{id}"));
        let msg = head
            .peel_to_commit()
            .unwrap()
            .message()
            .unwrap()
            .to_string();
        assert!(msg.starts_with("implement:"), "the agent committed: {msg}");
    }
    let db = s.db();
    assert_eq!(transitions(&db, "QS-1"), vec!["implement", "review"]);

    // A human asks for rework on QS-1 with a comment.
    s.human_comment("QS-1", "alice", "Please mention the contributor guide.");
    s.set_column("QS-1", "Rework");
    s.once();
    assert_eq!(s.column("QS-1"), "Human Review");
    assert_eq!(
        transitions(&db, "QS-1"),
        vec!["implement", "review", "implement", "review"]
    );
    let all = events(&db);
    let rework = all
        .iter()
        .find(|(k, i, p)| {
            k == "transition" && i.as_deref() == Some("QS-1") && p["cause"] == "rework"
        })
        .expect("rework transition");
    assert_eq!(rework.2["count"], 1);
    assert_eq!(rework.2["actor"], "tracker");
    assert!(
        rework.2["feedback"]
            .as_str()
            .unwrap()
            .contains("contributor guide")
    );
    // The rework run's prompt carried the feedback.
    let prompts: Vec<String> = walk(&s.path().join(".karajan/logs"))
        .into_iter()
        .filter(|p| p.ends_with("prompt.md"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        prompts
            .iter()
            .any(|p| p.contains("rework #1") && p.contains("contributor guide"))
    );

    // Approve everything: the finalize agent runs and the tickets end Done.
    for id in ["QS-1", "QS-2", "QS-3"] {
        s.set_column(id, "Approved");
    }
    s.once();
    for id in ["QS-1", "QS-2", "QS-3"] {
        assert_eq!(s.column(id), "Done", "{id} is done");
        assert!(
            !s.path().join(".karajan/workspaces").join(id).exists(),
            "{id}'s workspace was removed"
        );
    }
    assert_eq!(
        transitions(&db, "QS-1"),
        vec![
            "implement",
            "review",
            "implement",
            "review",
            "finalize",
            "done"
        ]
    );
    let all = events(&db);
    assert_eq!(count(&all, "run_started", "QS-1"), 3); // implement, implement (rework), finalize
    assert_eq!(count(&all, "run_started", "QS-2"), 2);
    let finished: Vec<_> = all.iter().filter(|(k, _, _)| k == "run_finished").collect();
    assert!(
        finished.iter().all(|(_, _, p)| p["status"] == "succeeded"),
        "{finished:?}"
    );
    // Every run recorded the config digest and its prompt's digest.
    for (_, _, p) in all.iter().filter(|(k, _, _)| k == "run_started") {
        assert_eq!(p["config_digest"].as_str().unwrap().len(), 64);
        assert_eq!(p["prompt_digest"].as_str().unwrap().len(), 64);
    }
    // No intent left behind.
    let recorded = all
        .iter()
        .filter(|(k, _, _)| k == "intent_recorded")
        .count();
    let completed = all
        .iter()
        .filter(|(k, _, _)| k == "intent_completed")
        .count();
    assert_eq!(recorded, completed);

    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("ok:"));
    let out = s.karajan(&["history", "QS-1"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("review → implement (rework"), "{text}");
    assert!(text.contains("hash "), "{text}");

    // Edit one event row behind karajan's back: verify names that row.
    let seq = tamper_payload(&db, 7);
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains(&format!("BROKEN seq {seq}:")),
        "{}",
        stdout(&out)
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Change one row's payload with plain SQL, as an attacker with file access would.
fn tamper_payload(db: &std::path::Path, seq: i64) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .connect()
            .await
            .unwrap();
        // The append-only triggers stop honest mistakes, not an attacker: drop them.
        sqlx::raw_sql("DROP TRIGGER IF EXISTS events_no_update")
            .execute(&mut conn)
            .await
            .unwrap();
        let n = sqlx::query(
            "UPDATE events SET payload = json_set(payload, '$.tampered', 1) WHERE seq = ?",
        )
        .bind(seq)
        .execute(&mut conn)
        .await
        .unwrap()
        .rows_affected();
        assert_eq!(n, 1);
        seq
    })
}
