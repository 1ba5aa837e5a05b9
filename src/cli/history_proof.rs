//! The proof part of `karajan history`: one line of hashes per event (the link from the
//! previous row's hash to this row's, and what vouches for it) and a footer that says
//! how far the signed checkpoints and the tracker anchors reach (see `proof`).
//!
//! The text stays compact on purpose: one short line per event, the details (which
//! checkpoint, signed when, checked with which key, anchored by which comment) once in
//! the footer. `--json` carries the same as fields (README, "Machine-readable output").

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};

use crate::proof::{self, Coverage, Signature};
use crate::store::{StoredEvent, signing};

/// The key to check signatures with: `--public-key FILE` (an unreadable file is a
/// usage error), else the store's own key file, as `verify` does. A store key that
/// cannot be read leaves the signatures unchecked, said in the footer.
pub(crate) fn public_key(
    workflow: &Path,
    given: Option<&Path>,
) -> Result<(Option<VerifyingKey>, Option<String>), super::Exit> {
    if let Some(file) = given {
        return match signing::read_public(file) {
            Ok(k) => Ok((Some(k), None)),
            Err(e) => {
                eprintln!("karajan: {e}");
                Err(super::Exit::Usage)
            }
        };
    }
    let paths = super::store_paths(workflow);
    Ok(match signing::load(&paths.signing_key) {
        Ok(key) => (key.map(|k| k.public()), None),
        Err(e) => (None, Some(format!("signatures not checked: {e}"))),
    })
}

/// The coverage of `events`, signatures checked with `key` (and why not, if unknown).
pub(crate) async fn load(
    store: &crate::store::Store,
    events: &[StoredEvent],
    (key, key_problem): (Option<VerifyingKey>, Option<String>),
) -> Result<Coverage, crate::store::StoreError> {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let mut cov = proof::coverage(store, &seqs, key.as_ref()).await?;
    cov.problems.extend(key_problem);
    Ok(cov)
}

/// `prev 9f8e7d6c → hash a1b2c3d4 · sealed #41 · anchored`.
pub(crate) fn event_line(cov: &Coverage, e: &StoredEvent) -> String {
    let sealed = match cov.seal_for(e.seq) {
        Some(s) if !s.holds() => format!("checkpoint #{} DISAGREES (run karajan verify)", s.seq),
        Some(s) if s.signature == Signature::Unchecked => {
            format!("sealed #{} (signature unchecked)", s.seq)
        }
        Some(s) => format!("sealed #{}", s.seq),
        None => "not yet sealed".into(),
    };
    let anchored = if cov.anchor_for(e.seq).is_some() {
        "anchored"
    } else {
        "not anchored"
    };
    format!(
        "prev {} → hash {} · {sealed} · {anchored}",
        proof::short(&e.prev_hash),
        proof::short(&e.hash)
    )
}

fn signature_words(s: Signature) -> &'static str {
    match s {
        Signature::Valid => "signed, signature valid",
        Signature::Invalid => "signed, but the signature does NOT verify",
        Signature::Unchecked => "signed, signature not checked: no key",
    }
}

/// `seq 3` or `seq 3–41`.
fn range(seqs: &[i64]) -> String {
    match (seqs.first(), seqs.last()) {
        (Some(a), Some(b)) if a != b => format!("seq {a}–{b}"),
        (Some(a), _) => format!("seq {a}"),
        _ => String::new(),
    }
}

fn events_word(n: usize) -> String {
    format!("{n} event{}", if n == 1 { "" } else { "s" })
}

/// The footer: what covers the ticket's events, checkpoint by checkpoint, then the
/// anchor, then what neither covers yet.
pub(crate) fn footer(cov: &Coverage, events: &[StoredEvent]) -> Vec<String> {
    let total = events.len();
    let sealed_n = events
        .iter()
        .filter(|e| cov.seal_for(e.seq).is_some_and(|s| s.holds()))
        .count();
    let anchored: Vec<i64> = events
        .iter()
        .filter(|e| cov.anchor_for(e.seq).is_some())
        .map(|e| e.seq)
        .collect();
    let mut out = vec![format!(
        "proof: {sealed_n} of {total} events sealed by a signed checkpoint, {} anchored in the tracker",
        anchored.len()
    )];
    for s in &cov.checkpoints {
        let seqs: Vec<i64> = events
            .iter()
            .filter(|e| cov.seal_for(e.seq) == Some(s))
            .map(|e| e.seq)
            .collect();
        if seqs.is_empty() {
            continue;
        }
        let chain = if s.matches_chain {
            String::new()
        } else {
            format!(
                "; the chain does NOT hold its hash {} at seq {}",
                proof::short(&s.hash),
                s.seq
            )
        };
        out.push(format!(
            "  sealed by checkpoint #{} at {} ({}{chain}): {} ({})",
            s.seq,
            s.at,
            signature_words(s.signature),
            range(&seqs),
            events_word(seqs.len())
        ));
    }
    let unsealed: Vec<i64> = events
        .iter()
        .filter(|e| cov.seal_for(e.seq).is_none())
        .map(|e| e.seq)
        .collect();
    if !unsealed.is_empty() {
        out.push(format!(
            "  not yet sealed: {} ({}) after the last signed checkpoint #{} (a running daemon \
             signs its head within a second)",
            range(&unsealed),
            events_word(unsealed.len()),
            cov.last_signed_seq
        ));
    }
    match &cov.anchor {
        Some(a) if a.matches_chain => out.push(format!(
            "  anchored in the tracker up to seq {} (hash {} in karajan's comment on {} at {}): {}",
            a.seq,
            proof::short(&a.hash),
            a.ticket.as_deref().unwrap_or("?"),
            a.at.format("%Y-%m-%dT%H:%M:%SZ"),
            if anchored.is_empty() {
                "none of these events".to_string()
            } else {
                format!("{} ({})", range(&anchored), events_word(anchored.len()))
            }
        )),
        Some(a) => out.push(format!(
            "  the tracker anchor at seq {} (hash {}, in karajan's comment on {}) does NOT \
             match the chain: run karajan verify --against-tracker",
            a.seq,
            proof::short(&a.hash),
            a.ticket.as_deref().unwrap_or("?")
        )),
        None => out.push("  no karajan comment has anchored the chain in the tracker yet".into()),
    }
    let unanchored: Vec<i64> = events
        .iter()
        .filter(|e| cov.anchor_for(e.seq).is_none())
        .map(|e| e.seq)
        .collect();
    if !unanchored.is_empty() && cov.anchor.as_ref().is_some_and(|a| a.matches_chain) {
        out.push(format!(
            "  not anchored yet: {} ({}; karajan's next tracker comment anchors them)",
            range(&unanchored),
            events_word(unanchored.len())
        ));
    }
    if let Some(key) = &cov.key {
        out.push(format!("  signatures checked with {key}"));
    }
    for p in &cov.problems {
        out.push(format!("  note: {p}"));
    }
    out.push("  this reads karajan's record; to check it: karajan verify --against-tracker".into());
    out
}

/// The proof fields of one event in `history --json`.
pub(crate) fn event_json(cov: &Coverage, e: &StoredEvent) -> Value {
    json!({
        "sealed_by": cov.seal_for(e.seq),
        "anchored_by": cov.anchor_for(e.seq),
    })
}

/// The `coverage` object of `history --json`.
pub(crate) fn coverage_json(cov: &Coverage, events: &[StoredEvent]) -> Value {
    let count = |f: &dyn Fn(&StoredEvent) -> bool| events.iter().filter(|e| f(e)).count();
    json!({
        "head_seq": cov.head_seq,
        "public_key": cov.key,
        "checkpoints": cov.checkpoints,
        "last_signed_seq": cov.last_signed_seq,
        "anchor": cov.anchor,
        "sealed_events": count(&|e| cov.seal_for(e.seq).is_some_and(|s| s.holds())),
        "unsealed_events": count(&|e| cov.seal_for(e.seq).is_none()),
        "anchored_events": count(&|e| cov.anchor_for(e.seq).is_some()),
        "problems": cov.problems,
    })
}
