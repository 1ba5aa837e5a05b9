//! Signed checkpoints: each tamper class against a store whose checkpoint file is signed,
//! with the verdict of each layer (re-hashing, the checkpoint, its signature).

use ed25519_dalek::VerifyingKey;
use karajan::store::chain::{Hash, Link, event_hash};
use karajan::store::signing;
use karajan::store::verify::Trust;
use karajan::store::{EventKind, NewEvent, VerifyReport};
use sqlx::Row;

use super::tamper::{edit, rehash_from};
use super::*;

/// A signed store with `n` events; its public key.
async fn signed_chain(n: u32) -> (Fixture, VerifyingKey) {
    let f = Fixture::new().await;
    let key = signing::load_or_create(&f.dir.path().join("keys/k.key")).expect("key");
    let public = key.public();
    f.store.set_signing_key(key).await.expect("armed");
    f.append((1..=n).map(note).collect()).await;
    let report = check(&f, &public).await;
    assert!(
        report.is_ok(),
        "untampered signed chain must verify: {report:?}"
    );
    assert!(report.notes.is_empty(), "{report:?}");
    (f, public)
}

fn trust(key: Option<VerifyingKey>) -> Trust {
    Trust {
        key,
        source: "test key".into(),
        writer_running: false,
    }
}

async fn check(f: &Fixture, key: &VerifyingKey) -> VerifyReport {
    f.store
        .verify_trusting(&trust(Some(*key)))
        .await
        .expect("verify runs")
}

fn seqs(report: &VerifyReport) -> Vec<i64> {
    report.breaks.iter().map(|b| b.seq).collect()
}

fn problems(report: &VerifyReport) -> String {
    report
        .breaks
        .iter()
        .map(|b| format!("{}: {}", b.seq, b.problem))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_file_is_v2_with_a_signed_head_that_binds_seq_hash_and_time() {
    let (f, public) = signed_chain(5).await;
    let text = std::fs::read_to_string(f.checkpoints()).expect("file");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("karajan checkpoints v2"));
    let head: Vec<&str> = lines.next().expect("head").split(' ').collect();
    assert_eq!(head.len(), 5, "{text}");
    assert_eq!(head[..2], ["head", "5"]);
    let hash: Hash = hex::decode(head[2]).expect("hex").try_into().expect("32");
    let sig: [u8; 64] = hex::decode(head[4]).expect("hex").try_into().expect("64");
    assert!(signing::check(&public, 5, &hash, head[3], &sig));
}

#[tokio::test]
async fn valid_text_is_never_a_false_alarm() {
    let (f, public) = signed_chain(1).await;
    let texts = [
        "café déjà vu, naïve Ærøskøbing".to_string(),
        "emoji 🚀🔥 and ZWJ 👩‍💻".to_string(),
        "<script>alert('x')</script> & \"quotes\" \\ backslash".to_string(),
        "long ".repeat(20_000),
        "tabs\tnewlines\n\r\u{0}nul".to_string(),
    ];
    for text in texts {
        f.append(vec![NewEvent::global(EventKind::TrackerError {
            error: text,
        })])
        .await;
    }
    let report = check(&f, &public).await;
    assert!(report.is_ok(), "{}", problems(&report));
    assert_eq!(report.events, 6);
}

#[tokio::test]
async fn the_checkpoint_file_rewritten_without_the_key_is_caught_by_its_signature() {
    // The whole chain recomputed from seq 4 with an edited row, and the file rewritten
    // to its new head: re-hashing sees nothing, the checkpoint agrees, the signature not.
    let (f, public) = signed_chain(10).await;
    edit(
        &f,
        "UPDATE events SET payload = '{\"error\":\"forged\"}' WHERE seq = 4",
    )
    .await;
    let mut conn = f.raw().await;
    rehash_from(&mut conn, 1).await;
    let new_head: Vec<u8> = sqlx::query("SELECT hash FROM events WHERE seq = 10")
        .fetch_one(&mut conn)
        .await
        .expect("head")
        .get("hash");
    let text = std::fs::read_to_string(f.checkpoints()).expect("file");
    let head_line = text.lines().nth(1).expect("head line");
    let parts: Vec<&str> = head_line.split(' ').collect();
    // Keep the old signature and time (a careful forger), or drop them, or sign with
    // another key: every way fails.
    let other = signing::load_or_create(&f.dir.path().join("keys/other.key")).expect("key");
    let at = parts[3];
    let other_sig = hex::encode(other.sign(10, &new_head.clone().try_into().expect("32"), at));
    for (what, line) in [
        (
            "old signature",
            format!("head 10 {} {at} {}", hex::encode(&new_head), parts[4]),
        ),
        ("unsigned", format!("head 10 {}", hex::encode(&new_head))),
        (
            "another key",
            format!("head 10 {} {at} {other_sig}", hex::encode(&new_head)),
        ),
    ] {
        std::fs::write(f.checkpoints(), format!("karajan checkpoints v2\n{line}\n"))
            .expect("rewrite");
        // Without a signature check the forgery passes: the layer below is blind to it.
        let blind = f.store.verify_trusting(&trust(None)).await.expect("verify");
        assert!(
            seqs(&blind).iter().all(|s| *s == 0),
            "{what}: only the missing key is reported: {}",
            problems(&blind)
        );
        let report = check(&f, &public).await;
        assert_eq!(seqs(&report), vec![10], "{what}: {}", problems(&report));
        let problem = &report.breaks[0].problem;
        assert!(
            problem.contains("head checkpoint at seq 10"),
            "{what}: {problem}"
        );
        assert!(
            problem.contains("rewritten without the key"),
            "{what}: {problem}"
        );
    }
}

/// Append a row with a correct hash behind the store's back, and move `chain_head`.
async fn forge_append(f: &Fixture, text: &str) -> i64 {
    let mut conn = f.raw().await;
    let last = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .expect("last");
    let seq: i64 = last.get::<i64, _>("seq") + 1;
    let prev: Hash = last.get::<Vec<u8>, _>("hash").try_into().expect("32");
    let payload = serde_json::json!({ "error": text });
    let at = "2026-12-04T20:00:00.000000Z";
    let hash = event_hash(&Link {
        prev_hash: &prev,
        seq,
        at,
        issue: None,
        kind: "tracker_error",
        payload: &payload,
    });
    sqlx::query(
        "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
         VALUES (?, ?, NULL, 'tracker_error', ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(payload.to_string())
    .bind(&prev[..])
    .bind(&hash[..])
    .execute(&mut conn)
    .await
    .expect("forged insert");
    sqlx::query("UPDATE chain_head SET seq = ?, hash = ?")
        .bind(seq)
        .bind(&hash[..])
        .execute(&mut conn)
        .await
        .expect("head");
    seq
}

#[tokio::test]
async fn a_forged_event_appended_with_a_correct_hash_is_caught_by_the_signed_head() {
    let (f, public) = signed_chain(6).await;
    let seq = forge_append(&f, "approved by the CTO").await;
    assert_eq!(seq, 7);
    // Re-hashing and the unsigned layer see a valid chain that merely runs on.
    let report = check(&f, &public).await;
    assert_eq!(seqs(&report), vec![7], "{}", problems(&report));
    assert!(
        report.breaks[0]
            .problem
            .contains("after the last signed checkpoint (seq 6)"),
        "{}",
        problems(&report)
    );
    // While a daemon holds the store, the same rows are its last unsigned second: a note.
    let running = Trust {
        writer_running: true,
        ..trust(Some(public))
    };
    let report = f.store.verify_trusting(&running).await.expect("verify");
    assert!(report.is_ok(), "{}", problems(&report));
    assert!(
        report.notes[0].contains("not signed yet"),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn the_other_tamper_classes_are_still_caught_with_a_key() {
    let cases: [(&str, Vec<i64>); 5] = [
        (
            "UPDATE events SET payload = '{\"error\":\"x\"}' WHERE seq = 3",
            vec![3],
        ),
        ("DELETE FROM events WHERE seq = 4", vec![4]),
        (
            "DELETE FROM events WHERE seq > 6; \
             UPDATE chain_head SET seq = 6, hash = (SELECT hash FROM events WHERE seq = 6);",
            vec![8],
        ),
        (
            "DELETE FROM events; UPDATE chain_head SET seq = 0, hash = zeroblob(32);",
            vec![8],
        ),
        (
            "CREATE TEMP TABLE t AS SELECT * FROM events WHERE seq IN (2, 5); \
             DELETE FROM events WHERE seq IN (2, 5); \
             INSERT INTO events SELECT CASE seq WHEN 2 THEN 5 ELSE 2 END, \
             at, issue, kind, payload, prev_hash, hash FROM t;",
            vec![2, 5],
        ),
    ];
    for (sql, want) in cases {
        let (f, public) = signed_chain(8).await;
        edit(&f, sql).await;
        let report = check(&f, &public).await;
        assert_eq!(seqs(&report), want, "{sql}: {}", problems(&report));
    }
}

#[tokio::test]
async fn a_wrong_public_key_fails_every_signed_entry() {
    let (f, _) = signed_chain(3).await;
    let stranger = signing::load_or_create(&f.dir.path().join("keys/s.key")).expect("key");
    let report = check(&f, &stranger.public()).await;
    assert_eq!(seqs(&report), vec![3], "{}", problems(&report));
    assert!(report.breaks[0].problem.contains("does not verify"));
}

#[tokio::test]
async fn unsigned_files_read_as_unsigned_and_signed_ones_need_a_key() {
    // A store from before signing: v1 file; no key anywhere is a note, not a break.
    let f = Fixture::new().await;
    f.append((1..=3).map(note).collect()).await;
    let text = std::fs::read_to_string(f.checkpoints()).expect("file");
    assert!(text.starts_with("karajan checkpoints v1\n"), "{text}");
    let report = f.store.verify_trusting(&trust(None)).await.expect("verify");
    assert!(report.is_ok(), "{}", problems(&report));
    assert!(report.notes[0].contains("unsigned"), "{:?}", report.notes);
    // With a key in place, the unsigned head is a break.
    let key = signing::load_or_create(&f.dir.path().join("k.key")).expect("key");
    let report = check(&f, &key.public()).await;
    assert_eq!(seqs(&report), vec![3], "{}", problems(&report));
    assert!(report.breaks[0].problem.contains("unsigned"));
    // The first start with the key signs the head at once, without a new event.
    f.store.set_signing_key(key).await.expect("armed");
    let public = signing::load(&f.dir.path().join("k.key"))
        .expect("loads")
        .expect("exists")
        .public();
    let report = check(&f, &public).await;
    assert!(report.is_ok(), "{}", problems(&report));
    // A signed file with no key to check it is a break at seq 0.
    let report = f.store.verify_trusting(&trust(None)).await.expect("verify");
    assert_eq!(seqs(&report), vec![0], "{}", problems(&report));
    assert!(report.breaks[0].problem.contains("--public-key"));
}

#[tokio::test]
async fn the_secret_key_is_in_no_store_file() {
    let (f, _) = signed_chain(4).await;
    let secret = std::fs::read_to_string(f.dir.path().join("keys/k.key")).expect("key");
    let seed = secret.split_whitespace().nth(1).expect("seed").to_string();
    f.store.close().await;
    for entry in std::fs::read_dir(f.dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&seed), "{} holds the secret", path.display());
            let raw = hex::decode(&seed).expect("hex");
            assert!(
                !bytes.windows(32).any(|w| w == raw.as_slice()),
                "{} holds the raw secret",
                path.display()
            );
        }
    }
}
