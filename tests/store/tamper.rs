//! `verify` against a tampered SQLite file: every case asserts the exact seqs reported.

use karajan::store::chain::{GENESIS, Hash, Link, event_hash};
use karajan::store::{Store, VerifyReport};
use sqlx::{Row, SqliteConnection};

use super::*;

/// A store with `n` events: notes, with a few ticket events among them.
async fn chain_of(n: u32) -> Fixture {
    let f = Fixture::new().await;
    let mut batch = vec![];
    for i in 1..=n {
        batch.push(if i % 4 == 0 {
            intent("ENG-1", &format!("i-{i}"), "Todo")
        } else {
            note(i)
        });
    }
    f.append(batch).await;
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "untampered chain must verify: {report:?}");
    f
}

/// Run raw SQL with the append-only triggers dropped (as an editor would).
pub(super) async fn edit(f: &Fixture, sql: &str) {
    let mut conn = f.raw().await;
    sqlx::raw_sql(
        "DROP TRIGGER IF EXISTS events_no_update; DROP TRIGGER IF EXISTS events_no_delete;",
    )
    .execute(&mut conn)
    .await
    .expect("drop triggers");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .expect("tamper sql");
}

async fn verify(f: &Fixture) -> VerifyReport {
    f.store.verify().await.expect("verify runs")
}

fn seqs(report: &VerifyReport) -> Vec<i64> {
    report.breaks.iter().map(|b| b.seq).collect()
}

/// Recompute every hash from `from` on, and the head, as a careful forger would.
pub(super) async fn rehash_from(conn: &mut SqliteConnection, from: i64) {
    let rows = sqlx::query("SELECT seq, at, issue, kind, payload, hash FROM events ORDER BY seq")
        .fetch_all(&mut *conn)
        .await
        .expect("rows");
    let mut prev: Hash = GENESIS;
    for row in rows {
        let seq: i64 = row.get("seq");
        if seq < from {
            prev = row.get::<Vec<u8>, _>("hash").try_into().expect("32 bytes");
            continue;
        }
        let payload: serde_json::Value =
            serde_json::from_str(&row.get::<String, _>("payload")).expect("json");
        let at: String = row.get("at");
        let issue: Option<String> = row.get("issue");
        let kind: String = row.get("kind");
        let hash = event_hash(&Link {
            prev_hash: &prev,
            seq,
            at: &at,
            issue: issue.as_deref(),
            kind: &kind,
            payload: &payload,
        });
        sqlx::query("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&prev[..])
            .bind(&hash[..])
            .bind(seq)
            .execute(&mut *conn)
            .await
            .expect("update");
        prev = hash;
    }
    sqlx::query("UPDATE chain_head SET seq = (SELECT max(seq) FROM events), hash = ?")
        .bind(&prev[..])
        .execute(&mut *conn)
        .await
        .expect("head");
}

#[tokio::test]
async fn an_untampered_chain_verifies_and_reports_its_head() {
    let f = chain_of(10).await;
    let report = verify(&f).await;
    assert_eq!(report.events, 10);
    assert_eq!(report.head_seq, 10);
    assert_eq!(
        (report.head_seq, report.head_hash.clone()),
        f.store.head().await.expect("head")
    );
    let empty = Fixture::new().await;
    let report = verify(&empty).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.events, report.head_seq), (0, 0));
}

#[tokio::test]
async fn each_edited_field_is_reported_at_exactly_its_seq() {
    let edits = [
        "UPDATE events SET payload = '{\"error\":\"note 99\"}' WHERE seq = 5",
        "UPDATE events SET payload = ' {\"error\" : \"note 5\", \"x\": 1}' WHERE seq = 5",
        "UPDATE events SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 5",
        "UPDATE events SET issue = 'ENG-9' WHERE seq = 5",
        "UPDATE events SET issue = NULL WHERE seq = 8",
        "UPDATE events SET kind = 'daemon_stopped' WHERE seq = 5",
        "UPDATE events SET prev_hash = randomblob(32) WHERE seq = 5",
        "UPDATE events SET hash = randomblob(32) WHERE seq = 5",
        "UPDATE events SET payload = 'not json' WHERE seq = 5",
    ];
    for sql in edits {
        let f = chain_of(10).await;
        edit(&f, sql).await;
        let report = verify(&f).await;
        let want = if sql.contains("seq = 8") { 8 } else { 5 };
        assert_eq!(seqs(&report), vec![want], "{sql}: {report:?}");
    }
}

/// Recompute the hash of row `seq` alone (keeping its stored `prev_hash`), as a forger
/// who edits one row and makes it consistent with itself would.
async fn rehash_row(conn: &mut SqliteConnection, seq: i64) {
    let row = sqlx::query("SELECT at, issue, kind, payload, prev_hash FROM events WHERE seq = ?")
        .bind(seq)
        .fetch_one(&mut *conn)
        .await
        .expect("row");
    let payload: serde_json::Value =
        serde_json::from_str(&row.get::<String, _>("payload")).expect("json");
    let prev: Hash = row
        .get::<Vec<u8>, _>("prev_hash")
        .try_into()
        .expect("32 bytes");
    let hash = event_hash(&Link {
        prev_hash: &prev,
        seq,
        at: &row.get::<String, _>("at"),
        issue: row.get::<Option<String>, _>("issue").as_deref(),
        kind: &row.get::<String, _>("kind"),
        payload: &payload,
    });
    sqlx::query("UPDATE events SET hash = ? WHERE seq = ?")
        .bind(&hash[..])
        .bind(seq)
        .execute(&mut *conn)
        .await
        .expect("update");
}

#[tokio::test]
async fn an_edited_row_with_its_own_hash_recomputed_is_reported_at_its_seq() {
    for (edits, want) in [
        (vec![5], vec![5]),
        (vec![1], vec![1]),
        (vec![3, 7], vec![3, 7]),
        // Two adjacent edits look like row 5's prev_hash changed: row 5 is named.
        (vec![4, 5], vec![5]),
    ] {
        let f = chain_of(10).await;
        let mut conn = f.raw().await;
        for seq in &edits {
            edit(
                &f,
                &format!(
                    "UPDATE events SET payload = '{{\"error\":\"forged\"}}' WHERE seq = {seq}"
                ),
            )
            .await;
            rehash_row(&mut conn, *seq).await;
        }
        let report = verify(&f).await;
        assert_eq!(seqs(&report), want, "edited {edits:?}: {report:?}");
        for b in &report.breaks {
            assert!(
                b.problem.contains("edited") && b.problem.contains(&format!("seq {}", b.seq + 1))
                    || b.seq == 1,
                "the problem names the edit and the row chained to it: {b:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_rechained_prev_hash_names_the_changed_row() {
    // The forger changes row 5's prev_hash and recomputes its hash: the links 4->5 and
    // 5->6 break while rows 4 and 6 verify: row 5 is the changed one. Also at the head.
    let f = chain_of(10).await;
    let mut conn = f.raw().await;
    edit(
        &f,
        "UPDATE events SET prev_hash = randomblob(32) WHERE seq = 5",
    )
    .await;
    rehash_row(&mut conn, 5).await;
    let report = verify(&f).await;
    assert_eq!(seqs(&report), vec![5], "{report:?}");
    assert!(
        report.breaks[0].problem.contains("prev_hash was edited"),
        "{report:?}"
    );
    let f = chain_of(10).await;
    let mut conn = f.raw().await;
    edit(
        &f,
        "UPDATE events SET prev_hash = randomblob(32) WHERE seq = 10",
    )
    .await;
    rehash_row(&mut conn, 10).await;
    assert_eq!(seqs(&verify(&f).await), vec![10]);
}

#[tokio::test]
async fn a_reformatted_but_equal_payload_is_not_a_break() {
    let f = chain_of(10).await;
    edit(
        &f,
        "UPDATE events SET payload = ' { \"error\" : \"note 5\" } ' WHERE seq = 5",
    )
    .await;
    let report = verify(&f).await;
    assert!(
        report.is_ok(),
        "canonical JSON is what is hashed: {report:?}"
    );
}

#[tokio::test]
async fn independent_edits_are_each_reported_once() {
    let f = chain_of(12).await;
    edit(
        &f,
        "UPDATE events SET payload = '{\"error\":\"x\"}' WHERE seq = 3; \
         UPDATE events SET hash = randomblob(32) WHERE seq = 9;",
    )
    .await;
    assert_eq!(seqs(&verify(&f).await), vec![3, 9]);
}

#[tokio::test]
async fn deleted_rows_are_reported_at_the_missing_seqs() {
    let f = chain_of(10).await;
    edit(&f, "DELETE FROM events WHERE seq = 4").await;
    let report = verify(&f).await;
    assert_eq!(seqs(&report), vec![4], "{report:?}");
    assert!(report.breaks[0].problem.contains("missing"));

    let f = chain_of(10).await;
    edit(&f, "DELETE FROM events WHERE seq IN (1, 6, 7)").await;
    assert_eq!(seqs(&verify(&f).await), vec![1, 6, 7]);
}

#[tokio::test]
async fn swapped_rows_are_both_reported() {
    for (a, b) in [(3, 7), (4, 5)] {
        let f = chain_of(10).await;
        // Swap every field but seq, through a copy (seq is the primary key).
        let sql = format!(
            "CREATE TEMP TABLE t AS SELECT * FROM events WHERE seq IN ({a}, {b}); \
             DELETE FROM events WHERE seq IN ({a}, {b}); \
             INSERT INTO events SELECT CASE seq WHEN {a} THEN {b} ELSE {a} END, \
             at, issue, kind, payload, prev_hash, hash FROM t;"
        );
        edit(&f, &sql).await;
        let report = verify(&f).await;
        assert_eq!(seqs(&report), vec![a, b], "swap {a}<->{b}: {report:?}");
    }
}

#[tokio::test]
async fn a_truncated_tail_is_caught_by_the_checkpoint() {
    // A careless truncation leaves chain_head behind; a careful one rewinds it too.
    for rewind_head in [false, true] {
        let f = chain_of(10).await;
        let mut sql = "DELETE FROM events WHERE seq > 7;".to_string();
        if rewind_head {
            sql.push_str(
                "UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM events WHERE seq = 7);",
            );
        }
        edit(&f, &sql).await;
        let report = verify(&f).await;
        assert_eq!(seqs(&report), vec![10], "rewind={rewind_head}: {report:?}");
        assert!(report.breaks[0].problem.contains("8..=10"), "{report:?}");
        assert_eq!(report.head_seq, 7);
    }
}

#[tokio::test]
async fn a_truncated_tail_stays_caught_after_new_appends() {
    let f = chain_of(10).await;
    edit(
        &f,
        "DELETE FROM events WHERE seq > 7; \
         UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM events WHERE seq = 7);",
    )
    .await;
    f.store.close().await;
    // The daemon restarts and appends three new rows over the deleted ones.
    let store = f.reopen().await;
    store
        .append(vec![note(100), note(101), note(102)])
        .await
        .expect("append");
    let report = store.verify().await.expect("verify");
    assert_eq!(seqs(&report), vec![10], "{report:?}");
}

#[tokio::test]
async fn a_fully_recomputed_chain_is_caught_by_the_checkpoint() {
    let f = chain_of(10).await;
    edit(
        &f,
        "UPDATE events SET payload = '{\"error\":\"forged\"}' WHERE seq = 4",
    )
    .await;
    let mut conn = f.raw().await;
    rehash_from(&mut conn, 4).await;
    let report = verify(&f).await;
    assert_eq!(seqs(&report), vec![10], "{report:?}");
    assert!(report.breaks[0].problem.contains("rewritten"));
}

#[tokio::test]
async fn sparse_marks_catch_a_rewrite_older_than_the_head() {
    let f = Fixture::new().await;
    f.append((1..=1100).map(note).collect()).await;
    let text = std::fs::read_to_string(f.checkpoints()).expect("checkpoint file");
    assert!(text.contains("\nmark 1024 "), "{text}");
    // Forge from 500 on, then put the true head hash back where the head checkpoint looks.
    let mut conn = f.raw().await;
    let true_head: Vec<u8> = sqlx::query_scalar("SELECT hash FROM events WHERE seq = 1100")
        .fetch_one(&mut conn)
        .await
        .expect("head hash");
    edit(
        &f,
        "UPDATE events SET payload = '{\"error\":\"forged\"}' WHERE seq = 500",
    )
    .await;
    rehash_from(&mut conn, 500).await;
    sqlx::query("UPDATE events SET hash = ? WHERE seq = 1100")
        .bind(&true_head)
        .execute(&mut conn)
        .await
        .expect("restore head hash");
    sqlx::query("UPDATE chain_head SET hash = ?")
        .bind(&true_head)
        .execute(&mut conn)
        .await
        .expect("restore chain_head");
    let report = verify(&f).await;
    // 1024: the mark disagrees; 1100: its own hash no longer matches its content.
    assert_eq!(seqs(&report), vec![1024, 1100], "{report:?}");
}

#[tokio::test]
async fn a_missing_or_unreadable_checkpoint_file_is_reported_at_seq_zero() {
    let f = chain_of(5).await;
    std::fs::remove_file(f.checkpoints()).expect("remove");
    let report = verify(&f).await;
    assert_eq!(seqs(&report), vec![0], "{report:?}");
    assert!(report.breaks[0].problem.contains("missing"));

    std::fs::write(f.checkpoints(), "karajan checkpoints v1\nhead x y\n").expect("write");
    let report = verify(&f).await;
    assert_eq!(seqs(&report), vec![0], "{report:?}");
    assert!(report.breaks[0].problem.contains("line 2"));
    // An unreadable file is evidence: a writer refuses to overwrite it.
    assert!(Store::open(&f.db(), &f.checkpoints()).await.is_err());

    // No checkpoint file and no events is fine.
    let empty = Fixture::new().await;
    assert!(verify(&empty).await.is_ok());
}

#[tokio::test]
async fn verify_streams_past_one_chunk() {
    let f = Fixture::new().await;
    let n = u32::try_from(karajan::store::verify::CHUNK).expect("small") * 2 + 17;
    f.append((1..=n).map(note).collect()).await;
    edit(
        &f,
        "UPDATE events SET payload = '{\"error\":\"x\"}' WHERE seq = 2001",
    )
    .await;
    let report = verify(&f).await;
    assert_eq!(report.events, u64::from(n));
    assert_eq!(seqs(&report), vec![2001]);
}

#[tokio::test]
async fn the_checkpoint_file_follows_appends_without_a_flush() {
    let f = Fixture::new().await;
    f.store
        .append((1..=5).map(note).collect())
        .await
        .expect("append");
    // The background writer persists the head shortly after the append.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(f.checkpoints()).unwrap_or_default();
        if text.contains("head 5 ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(text.contains("head 5 "), "{text}");
}
