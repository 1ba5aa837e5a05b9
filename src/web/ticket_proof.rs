//! The proof on the ticket page: beside each timeline event its hash link (the previous
//! row's hash → its own) and what vouches for it (a signed checkpoint, a tracker
//! anchor), and under the timeline a footer saying how far each reaches. The same
//! picture as `karajan history` (see `proof`), for the events the page shows.
//!
//! Signatures are checked with the daemon's own public key (the store's signer).

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::ApiError;
use crate::proof::{self, Anchor, Coverage, Seal};
use crate::store::{Store, StoredEvent};

/// One event's marks.
#[derive(Debug, Serialize)]
pub(crate) struct Mark {
    pub prev: String,
    pub hash: String,
    pub seal: Option<Seal>,
    pub anchored: bool,
}

/// A checkpoint and the range of the page's events it seals.
#[derive(Debug, Serialize)]
pub(crate) struct Sealed {
    pub seal: Seal,
    pub first: i64,
    pub last: i64,
    pub count: usize,
}

/// What the ticket page shows of the proof.
#[derive(Debug, Serialize)]
pub(crate) struct TicketProof {
    /// By seq (as text: template maps are keyed by strings).
    pub events: BTreeMap<String, Mark>,
    pub total: usize,
    pub sealed: usize,
    pub anchored: usize,
    pub by_checkpoint: Vec<Sealed>,
    /// Events after the last signed checkpoint.
    pub unsealed: usize,
    pub last_signed_seq: i64,
    pub anchor: Option<Anchor>,
    pub key: Option<String>,
    pub problems: Vec<String>,
}

pub(crate) async fn build(store: &Store, events: &[StoredEvent]) -> Result<TicketProof, ApiError> {
    let key = store.signing_public();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let cov = proof::coverage(store, &seqs, key.as_ref()).await?;
    Ok(summarize(&cov, events))
}

fn summarize(cov: &Coverage, events: &[StoredEvent]) -> TicketProof {
    let mut marks = BTreeMap::new();
    let mut by_checkpoint: Vec<Sealed> = vec![];
    let (mut sealed, mut anchored, mut unsealed) = (0, 0, 0);
    for e in events {
        let seal = cov.seal_for(e.seq).cloned();
        match &seal {
            Some(s) => {
                if s.holds() {
                    sealed += 1;
                }
                match by_checkpoint.iter_mut().find(|c| c.seal == *s) {
                    Some(c) => {
                        c.first = c.first.min(e.seq);
                        c.last = c.last.max(e.seq);
                        c.count += 1;
                    }
                    None => by_checkpoint.push(Sealed {
                        seal: s.clone(),
                        first: e.seq,
                        last: e.seq,
                        count: 1,
                    }),
                }
            }
            None => unsealed += 1,
        }
        let is_anchored = cov.anchor_for(e.seq).is_some();
        anchored += usize::from(is_anchored);
        marks.insert(
            e.seq.to_string(),
            Mark {
                prev: proof::short(&e.prev_hash).to_string(),
                hash: proof::short(&e.hash).to_string(),
                seal,
                anchored: is_anchored,
            },
        );
    }
    by_checkpoint.sort_by_key(|c| c.seal.seq);
    TicketProof {
        events: marks,
        total: events.len(),
        sealed,
        anchored,
        by_checkpoint,
        unsealed,
        last_signed_seq: cov.last_signed_seq,
        anchor: cov.anchor.clone(),
        key: cov.key.clone(),
        problems: cov.problems.clone(),
    }
}
