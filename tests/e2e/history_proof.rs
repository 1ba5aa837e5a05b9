//! Readable proof with the real binary (issue 16 item 5): after a quickstart run,
//! `karajan history` shows each event's hash link and whether a signed checkpoint seals
//! it and a tracker anchor covers it, in text and in `--json`; an event appended behind
//! karajan's back (with a correct hash) is "not yet sealed", and the anchor is the
//! highest head the local tracker's comment markers carry.

use karajan::store::chain::{Hash, Link, event_hash};
use serde_json::Value;
use sqlx::{ConnectOptions, Row};

use super::support::{Scratch, stderr, stdout};

async fn raw(db: &std::path::Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap()
}

/// Change one row's payload with plain SQL, as an attacker with file access would
/// (the append-only triggers stop honest mistakes, not an attacker: dropped).
pub(crate) async fn tamper_payload(db: &std::path::Path, seq: i64) {
    let mut conn = raw(db).await;
    sqlx::raw_sql("DROP TRIGGER IF EXISTS events_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    let n =
        sqlx::query("UPDATE events SET payload = json_set(payload, '$.tampered', 1) WHERE seq = ?")
            .bind(seq)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected();
    assert_eq!(n, 1);
}

/// Append a row for `issue` with a correct hash behind karajan's back and move the
/// chain head: only the signed checkpoint can tell. Returns its seq.
async fn forge_append(db: &std::path::Path, issue: &str) -> i64 {
    let mut conn = raw(db).await;
    let last = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let seq: i64 = last.get::<i64, _>("seq") + 1;
    let prev: Hash = last.get::<Vec<u8>, _>("hash").try_into().unwrap();
    let payload = serde_json::json!({ "hook": "after_run", "ok": true });
    let at = "2026-12-04T20:00:00.000000Z";
    let hash = event_hash(&Link {
        prev_hash: &prev,
        seq,
        at,
        issue: Some(issue),
        kind: "hook_ran",
        payload: &payload,
    });
    sqlx::query(
        "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
         VALUES (?, ?, ?, 'hook_ran', ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(issue)
    .bind(payload.to_string())
    .bind(&prev[..])
    .bind(&hash[..])
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE chain_head SET seq = ?, hash = ?")
        .bind(seq)
        .bind(&hash[..])
        .execute(&mut conn)
        .await
        .unwrap();
    seq
}

/// The highest chain head the local tracker's ticket files carry in karajan's markers.
fn highest_marker_head(s: &Scratch) -> (i64, String) {
    let mut best = (0, String::new());
    for entry in std::fs::read_dir(s.path().join("tickets"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for part in text.split("\"head\":").skip(1) {
            let head: Value = serde_json::Deserializer::from_str(part)
                .into_iter::<Value>()
                .next()
                .unwrap()
                .unwrap();
            let seq = head["seq"].as_i64().unwrap();
            if seq > best.0 {
                best = (seq, head["hash"].as_str().unwrap().to_string());
            }
        }
    }
    best
}

fn history_json(s: &Scratch) -> Value {
    let out = s.karajan(&["history", "QS-1", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn history_shows_hash_links_seals_and_anchors() {
    let s = Scratch::quickstart();
    s.once();
    let (anchor_seq, anchor_hash) = highest_marker_head(&s);
    assert!(anchor_seq > 0, "the tracker's comments carry heads");

    // --json: every event sealed by a valid signed checkpoint at or after it, anchored
    // exactly when at or below the highest head in the tracker's comments.
    let h = history_json(&s);
    let cov = &h["coverage"];
    assert_eq!(cov["anchor"]["seq"], anchor_seq, "{cov:#}");
    assert_eq!(cov["anchor"]["hash"], anchor_hash.as_str());
    assert_eq!(cov["anchor"]["matches_chain"], true);
    assert!(cov["public_key"].as_str().unwrap().starts_with("ed25519 "));
    let events = h["events"].as_array().unwrap();
    let (mut anchored, mut unanchored) = (0, 0);
    for e in events {
        let seq = e["seq"].as_i64().unwrap();
        let seal = &e["sealed_by"];
        assert!(seal["seq"].as_i64().unwrap() >= seq, "{e:#}");
        assert_eq!(seal["signature"], "valid", "{e:#}");
        assert_eq!(seal["matches_chain"], true, "{e:#}");
        if seq <= anchor_seq {
            assert_eq!(e["anchored_by"]["seq"], anchor_seq, "{e:#}");
            anchored += 1;
        } else {
            assert!(e["anchored_by"].is_null(), "{e:#}");
            unanchored += 1;
        }
    }
    assert!(anchored > 0, "{h:#}");
    assert_eq!(cov["anchored_events"], anchored);
    assert_eq!(cov["sealed_events"], events.len());
    assert_eq!(cov["unsealed_events"], 0);

    // Text: one hash line per event, then the footer.
    let out = s.karajan(&["history", "QS-1"]);
    let text = stdout(&out);
    for e in events {
        let line = format!(
            "prev {} → hash {} · sealed #",
            &e["prev_hash"].as_str().unwrap()[..8],
            &e["hash"].as_str().unwrap()[..8]
        );
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    assert_eq!(text.matches(" · anchored\n").count(), anchored, "{text}");
    assert_eq!(
        text.matches(" · not anchored\n").count(),
        unanchored,
        "{text}"
    );
    let seal_seq = events[0]["sealed_by"]["seq"].as_i64().unwrap();
    assert!(
        text.contains(&format!(
            "sealed by checkpoint #{seal_seq} at {} (signed, signature valid)",
            events[0]["sealed_by"]["at"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "anchored in the tracker up to seq {anchor_seq} (hash {}",
            &anchor_hash[..8]
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "proof: {} of {} events sealed by a signed checkpoint, {anchored} anchored",
        events.len(),
        events.len()
    )));

    // Someone without the private key: the public one `karajan key` prints checks the
    // signatures; another store's key finds them all invalid.
    let public = stdout(&s.karajan(&["key", "workflow.yaml"]))
        .trim()
        .to_string();
    std::fs::write(s.path().join("public.key"), &public).unwrap();
    let out = s.karajan(&["history", "QS-1", "--json", "--public-key", "public.key"]);
    let h: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(h["coverage"]["public_key"], public.as_str());
    assert_eq!(h["events"][0]["sealed_by"]["signature"], "valid");
    let other = "ed25519 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    std::fs::write(s.path().join("other.key"), other).unwrap();
    let out = s.karajan(&["history", "QS-1", "--public-key", "other.key"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("signed, but the signature does NOT verify"),
        "{text}"
    );
    assert!(
        text.contains(&format!("signatures checked with {other}")),
        "{text}"
    );
    assert!(text.contains("proof: 0 of "), "{text}");
    let out = s.karajan(&["history", "QS-1", "--public-key", "missing.key"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // An event appended behind karajan's back: no signed checkpoint covers it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let forged = rt.block_on(forge_append(&s.db(), "QS-1"));
    let h = history_json(&s);
    let last = h["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["seq"], forged);
    assert!(last["sealed_by"].is_null(), "{last:#}");
    assert!(last["anchored_by"].is_null(), "{last:#}");
    assert_eq!(h["coverage"]["unsealed_events"], 1);
    assert_eq!(h["coverage"]["last_signed_seq"], forged - 1);
    let text = stdout(&s.karajan(&["history", "QS-1"]));
    assert!(
        text.contains(" · not yet sealed · not anchored\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "not yet sealed: seq {forged} (1 event) after the last signed checkpoint #{}",
            forged - 1
        )),
        "{text}"
    );
    // verify agrees: the forged row is past the signed head.
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
}

#[test]
fn a_checkpoint_file_rewritten_without_the_key_shows_as_disagreeing() {
    let s = Scratch::quickstart();
    s.once();
    // Flip the head's signature: the file parses, the signature no longer verifies.
    let cp = s.path().join(".karajan/checkpoints");
    let text = std::fs::read_to_string(&cp).unwrap();
    let head = text.lines().find(|l| l.starts_with("head ")).unwrap();
    let mut fields: Vec<String> = head.split(' ').map(str::to_string).collect();
    let sig = fields.last_mut().unwrap();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, flipped);
    std::fs::write(&cp, text.replace(head, &fields.join(" "))).unwrap();

    let h = history_json(&s);
    let e = &h["events"][0];
    assert_eq!(e["sealed_by"]["signature"], "invalid", "{e:#}");
    assert_eq!(h["coverage"]["sealed_events"], 0);
    let text = stdout(&s.karajan(&["history", "QS-1"]));
    assert!(text.contains("DISAGREES (run karajan verify)"), "{text}");
    assert!(
        text.contains("signed, but the signature does NOT verify"),
        "{text}"
    );
}
