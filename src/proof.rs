//! Readable proof: which signed checkpoint and which tracker anchor vouch for an event,
//! for `karajan history` and the dashboard's ticket page.
//!
//! `karajan verify` is the check; this module only *shows* where the layers of evidence
//! reach, from what karajan holds locally, so a person reading a ticket's history sees
//! which of its events someone outside the database can already vouch for:
//!
//! - **Sealed**: an event is sealed by the first *signed* checkpoint entry at or after
//!   its seq (a `mark` or the `head` of the checkpoint file): that entry's signature
//!   covers the hash at its seq, and the chain links every row below it to that hash.
//!   The entry shown is checked here: its signature against the public key (when one
//!   is known: `valid`, `invalid`, else `unchecked`) and its hash against the row at
//!   its seq (`matches_chain`). Rows after the last signed entry are "not yet sealed"
//!   (a running daemon signs its head within a second of an append).
//! - **Anchored**: karajan's tracker comments carry the chain head when they were
//!   composed (see `tracker::marker`). The store records each comment's body in its
//!   `intent_recorded` event and the write in `intent_completed`, so the highest head
//!   in a comment that was written is known without asking the tracker. Every event at
//!   or below that seq is "anchored in the tracker" when the chain still holds the
//!   anchored hash at that seq. This reads karajan's own record of its comments;
//!   `karajan verify --against-tracker` reads them back from the tracker itself.
//!
//! Only the checkpoint entries that cover the given events are looked up (one row
//! each), and the anchor search walks the comment intents newest first and stops at the
//! first that was written, so a ticket page stays cheap on a long chain.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::store::checkpoint::{self, Checkpoints, Entry};
use crate::store::{Store, StoreError, signing};

/// What a checkpoint entry's signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signature {
    /// Verified with the public key.
    Valid,
    /// Does not verify with the public key: the file was rewritten without the key.
    Invalid,
    /// No public key to check it with.
    Unchecked,
}

/// A signed checkpoint entry that covers events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Seal {
    /// The checkpoint's seq: it vouches for every row up to here.
    pub seq: i64,
    pub hash: String,
    /// When it was signed (RFC 3339, UTC).
    pub at: String,
    pub signature: Signature,
    /// The chain holds `hash` at `seq`.
    pub matches_chain: bool,
}

impl Seal {
    /// The seal vouches for the chain (its signature is not known to be bad and the
    /// chain agrees with it).
    pub fn holds(&self) -> bool {
        self.signature != Signature::Invalid && self.matches_chain
    }
}

/// The highest chain head written into a tracker comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    /// The ticket whose comment carries it.
    pub ticket: Option<String>,
    /// When the comment was written to the tracker.
    pub at: DateTime<Utc>,
    /// The chain holds `hash` at `seq`.
    pub matches_chain: bool,
}

/// Where the evidence reaches, for a set of events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    /// The chain's head seq.
    pub head_seq: i64,
    /// The public key the signatures were checked with (`ed25519 <hex>`), if any.
    pub key: Option<String>,
    /// The signed checkpoints covering the events, ascending by seq.
    pub checkpoints: Vec<Seal>,
    /// The highest seq any signed checkpoint records (0: none).
    pub last_signed_seq: i64,
    /// The highest anchor in a comment karajan wrote, if any.
    pub anchor: Option<Anchor>,
    /// What makes the picture incomplete (no checkpoint file, an unreadable one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Coverage {
    /// The checkpoint that seals the event at `seq`, if one does.
    pub fn seal_for(&self, seq: i64) -> Option<&Seal> {
        let first = self.checkpoints.iter().find(|s| s.seq >= seq)?;
        self.checkpoints
            .iter()
            .filter(|s| s.seq == first.seq)
            .find(|s| s.holds())
            .or(Some(first))
    }

    /// The anchor that covers the event at `seq`, if one does.
    pub fn anchor_for(&self, seq: i64) -> Option<&Anchor> {
        self.anchor
            .as_ref()
            .filter(|a| a.matches_chain && seq <= a.seq)
    }
}

/// What a page of events needs to know about the store to show its proof: the events'
/// seqs (any order) and the public key to check signatures with.
pub async fn coverage(
    store: &Store,
    seqs: &[i64],
    key: Option<&VerifyingKey>,
) -> Result<Coverage, StoreError> {
    let (head_seq, _) = store.head().await?;
    let mut cov = Coverage {
        head_seq,
        key: key.map(signing::public_text),
        ..Coverage::default()
    };
    let entries = match store.checkpoint_file() {
        None => vec![],
        Some(path) => match checkpoint::read(path)? {
            None => {
                if head_seq > 0 {
                    cov.problems.push(format!(
                        "no checkpoint file at {}: nothing outside the database vouches for \
                         the chain",
                        path.display()
                    ));
                }
                vec![]
            }
            Some(text) => match Checkpoints::parse(&text) {
                Ok(cp) => cp.sealed_entries(),
                Err(e) => {
                    cov.problems.push(format!(
                        "checkpoint file {} is unreadable: {e}",
                        path.display()
                    ));
                    vec![]
                }
            },
        },
    };
    let signed: Vec<&Entry> = entries.iter().filter(|e| e.seal.is_some()).collect();
    cov.last_signed_seq = signed.iter().map(|e| e.seq).max().unwrap_or(0);
    // Only the entries that seal one of the events.
    let needed: BTreeSet<i64> = seqs
        .iter()
        .filter_map(|s| signed.iter().find(|e| e.seq >= *s).map(|e| e.seq))
        .collect();
    for entry in signed.into_iter().filter(|e| needed.contains(&e.seq)) {
        let Some(seal) = &entry.seal else { continue };
        let hash = hex::encode(entry.hash);
        let signature = match key {
            Some(k) if signing::check(k, entry.seq, &entry.hash, &seal.at, &seal.sig) => {
                Signature::Valid
            }
            Some(_) => Signature::Invalid,
            None => Signature::Unchecked,
        };
        cov.checkpoints.push(Seal {
            seq: entry.seq,
            matches_chain: row_hash(store, entry.seq).await?.as_deref() == Some(&hash),
            hash,
            at: seal.at.clone(),
            signature,
        });
    }
    cov.anchor = highest_anchor(store).await?;
    if let Some(a) = &mut cov.anchor {
        a.matches_chain = row_hash(store, a.seq).await?.as_deref() == Some(a.hash.as_str());
    }
    Ok(cov)
}

/// The stored hash of the row at `seq`, if the chain has one.
async fn row_hash(store: &Store, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(store
        .events_page(seq - 1, 1)
        .await?
        .into_iter()
        .find(|e| e.seq == seq)
        .map(|e| e.hash))
}

/// Comment intents read per query while looking for the latest written one (nearly
/// always the first or second: only the writes in flight are not completed).
const PAGE: i64 = 200;

/// The head in the newest comment karajan wrote to the tracker: the comment intents,
/// newest first, until one whose write completed. Heads only grow with the chain, so
/// that one carries the highest anchored seq.
async fn highest_anchor(store: &Store) -> Result<Option<Anchor>, StoreError> {
    let mut before = i64::MAX;
    loop {
        let page = store.comment_intents_before(before, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        before = last.seq;
        for e in &page {
            let p = &e.payload;
            if p.get("op").and_then(|v| v.as_str()) != Some("comment") {
                continue;
            }
            let Some((seq, hash)) = p
                .get("body")
                .and_then(|b| b.as_str())
                .and_then(crate::tracker::marker::parse_marker)
                .and_then(|m| head_of(&m))
            else {
                continue;
            };
            let (Some(ticket), Some(intent)) = (&e.issue, p.get("intent_id")) else {
                continue;
            };
            let written = store
                .events_of_kind(ticket, "intent_completed")
                .await?
                .into_iter()
                .find(|c| c.payload.get("intent_id") == Some(intent));
            if let Some(done) = written {
                return Ok(Some(Anchor {
                    seq,
                    hash,
                    ticket: Some(ticket.clone()),
                    at: done.at,
                    matches_chain: false,
                }));
            }
        }
    }
}

/// A marker's `head` (seq 0, an empty chain, anchors nothing).
fn head_of(marker: &serde_json::Value) -> Option<(i64, String)> {
    let head = marker.get("head")?;
    let seq = head.get("seq")?.as_i64().filter(|s| *s > 0)?;
    let hash = head.get("hash")?.as_str()?.to_string();
    Some((seq, hash))
}

/// The first 8 hex digits of a hash, as the history and the ticket page show links.
pub fn short(hash: &str) -> &str {
    &hash[..8.min(hash.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(seq: i64, signature: Signature, matches_chain: bool) -> Seal {
        Seal {
            seq,
            hash: format!("{seq:064x}"),
            at: "2026-12-04T20:00:00Z".into(),
            signature,
            matches_chain,
        }
    }

    #[test]
    fn an_event_is_sealed_by_the_first_signed_checkpoint_at_or_after_it() {
        let cov = Coverage {
            checkpoints: vec![
                seal(1024, Signature::Valid, true),
                seal(1500, Signature::Invalid, true),
                seal(1500, Signature::Valid, true),
            ],
            ..Coverage::default()
        };
        assert_eq!(cov.seal_for(1).map(|s| s.seq), Some(1024));
        assert_eq!(cov.seal_for(1024).map(|s| s.seq), Some(1024));
        // Two entries at one seq (a kept old head and the new one): the one that holds.
        let s = cov.seal_for(1025).expect("sealed");
        assert_eq!((s.seq, s.signature), (1500, Signature::Valid));
        assert_eq!(cov.seal_for(1501), None);
    }

    #[test]
    fn an_anchor_covers_only_what_is_below_it_and_only_when_the_chain_agrees() {
        let mut cov = Coverage {
            anchor: Some(Anchor {
                seq: 10,
                hash: "ab".repeat(32),
                ticket: Some("QS-1".into()),
                at: DateTime::<Utc>::default(),
                matches_chain: true,
            }),
            ..Coverage::default()
        };
        assert!(cov.anchor_for(10).is_some());
        assert!(cov.anchor_for(11).is_none());
        cov.anchor.as_mut().unwrap().matches_chain = false;
        assert!(cov.anchor_for(1).is_none());
        assert_eq!(short(&"ab".repeat(32)), "abababab");
    }

    #[test]
    fn a_marker_head_of_seq_zero_anchors_nothing() {
        let m = serde_json::json!({"head": {"seq": 0, "hash": "00"}});
        assert_eq!(head_of(&m), None);
        let m = serde_json::json!({"head": {"seq": 7, "hash": "ff"}});
        assert_eq!(head_of(&m), Some((7, "ff".into())));
        assert_eq!(head_of(&serde_json::json!({"state": "x"})), None);
    }
}
