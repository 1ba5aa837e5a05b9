//! `verify`: re-hash every row and compare the chain with the checkpoints.
//!
//! Nothing stored is trusted: each row's hash is recomputed from its fields (with the
//! payload canonicalized) and compared with the stored one, and each row's `prev_hash`
//! must equal the stored hash of the row before (genesis for seq 1). Rows are streamed
//! in chunks of [`CHUNK`], so memory stays flat however long the chain is.
//!
//! Every break is reported with its seq, and only once per seq (several problems at one
//! seq are joined):
//! - an edited field (`at`, `issue`, `kind`, `payload`, `prev_hash` or `hash`): the row's
//!   recomputed hash differs -> that seq;
//! - a deleted row: a gap in seq -> the missing seq (a run of more than
//!   [`GAP_DETAIL`] missing rows is one break at its first seq naming the range);
//! - a reordered row (two rows' contents swapped): each moved row's hash no longer
//!   covers its seq -> both seqs;
//! - a truncated tail or a fully recomputed chain: a checkpoint that names a seq beyond
//!   the end, or a different hash at its seq -> that checkpoint's seq. `chain_head`
//!   disagreeing with the last row is reported at the head's seq too, except when the
//!   head's own row is there: a writer appended after the walk's last read (the daemon
//!   verifying itself, `verify` beside a running daemon), and those rows are the next
//!   verification's.
//!
//! - an edited row whose own hash was recomputed: its hash verifies, but the next row
//!   was chained to the old hash -> the edited row's seq (not the next one). When the
//!   next row's link holds but its own incoming link does not, that next row's
//!   `prev_hash` is the changed field (edited and re-hashed) -> that row's seq.
//!
//! After a break the walk resynchronizes on the broken row's *stored* hash, so a single
//! edited row reports exactly its own seq and later independent breaks are still
//! reported one by one. A link mismatch directly after a broken row or a gap is the
//! consequence of that break and is not reported again.
//!
//! Checkpoint problems that concern the file itself (missing while the chain is not
//! empty, unreadable) are reported at seq 0, which stands for the chain as a whole.
//!
//! # Signatures
//!
//! With a public key ([`Trust::key`]), every signed entry's signature is checked; one
//! that does not verify is a break at its seq naming the entry (the file was rewritten
//! without the key). Policy for entries without a signature:
//! - an unsigned **head** is a break: the daemon signs the head on every write (and at
//!   once when it first gets a key), so an unsigned head with a key in place means the
//!   file was rewritten, or the store never ran with its key;
//! - unsigned **marks** are a note, not a break: marks written before signing stay
//!   unsigned forever, and the signed head vouches for every row below it anyway (the
//!   chain links each row to the next);
//! - rows **after the signed head** are a break ("appended after the last signed
//!   checkpoint"): an event forged at the end with a correct hash is caught here. While
//!   a daemon holds the store ([`Trust::writer_running`]) its last second of appends is
//!   not signed yet, so they are only a note then.
//!
//! Without a key, signed entries cannot be checked: a file with signatures is then a
//! break at seq 0 (give `--public-key`), an unsigned one a note.

use std::collections::BTreeMap;
use std::path::Path;

use super::backend::{DbRow, Pool, on_pool};

use ed25519_dalek::VerifyingKey;

use super::chain::{GENESIS, Hash, Link, event_hash};
use super::checkpoint::{self, Checkpoints, Entry};
use super::{Break, StoreError, VerifyReport, signing};

/// What `verify` trusts for the signatures.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The public key the checkpoints must be signed with (`None`: unknown).
    pub key: Option<VerifyingKey>,
    /// Where the key came from, or where it was looked for (for the verdict lines).
    pub source: String,
    /// A daemon is writing the store now: its latest appends may not be signed yet.
    pub writer_running: bool,
}

/// Rows fetched per query.
pub const CHUNK: i64 = 2000;

/// Gaps up to this many rows are reported seq by seq.
pub const GAP_DETAIL: i64 = 32;

#[derive(Default)]
struct Breaks(BTreeMap<i64, Vec<String>>);

impl Breaks {
    fn add(&mut self, seq: i64, problem: impl Into<String>) {
        self.0.entry(seq).or_default().push(problem.into());
    }

    fn has(&self, seq: i64) -> bool {
        self.0.contains_key(&seq)
    }

    fn into_vec(self) -> Vec<Break> {
        self.0
            .into_iter()
            .map(|(seq, problems)| Break {
                seq,
                problem: problems.join("; "),
            })
            .collect()
    }
}

/// The walk's state between rows.
struct Walk {
    expected: i64,
    prev: Hash,
    prev_broken: bool,
    /// A self-consistent row whose `prev_hash` is not the previous row's hash. Either the
    /// previous row was edited and its hash recomputed (then the chain goes on unbroken
    /// from this row), or this row's `prev_hash` was edited and its hash recomputed (then
    /// the next row's link breaks too). The next row, or the head, decides.
    suspect: Option<i64>,
    events: u64,
    last: (i64, Hash),
}

/// Verify the chain in `pool`; `checkpoints` is the checkpoint file, when known.
pub async fn verify(
    pool: &Pool,
    checkpoints: Option<&Path>,
    trust: &Trust,
) -> Result<VerifyReport, StoreError> {
    let mut breaks = Breaks::default();
    let mut notes = Vec::new();
    // Read the file before the rows: it can only be behind what we then read.
    let mut sealed = vec![];
    let (entries, file_missing) = match checkpoints {
        None => (vec![], None),
        Some(path) => match checkpoint::read(path)? {
            None => (vec![], Some(path)),
            Some(text) => match Checkpoints::parse(&text) {
                Ok(cp) => {
                    sealed = cp.sealed_entries();
                    (cp.entries(), None)
                }
                Err(e) => {
                    breaks.add(
                        0,
                        format!("checkpoint file {} is unreadable: {e}", path.display()),
                    );
                    (vec![], None)
                }
            },
        },
    };
    let mut pending = entries.into_iter().peekable();

    let mut walk = Walk {
        expected: 1,
        prev: GENESIS,
        prev_broken: false,
        suspect: None,
        events: 0,
        last: (0, GENESIS),
    };
    loop {
        let full = on_pool!(pool, |p| {
            let rows = sqlx::query(
                "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(walk.last.0)
            .bind(CHUNK)
            .fetch_all(p)
            .await?;
            for row in &rows {
                visit(&mut walk, &mut breaks, &mut pending, row)?;
            }
            i64::try_from(rows.len()).unwrap_or(i64::MAX) >= CHUNK
        });
        if !full {
            break;
        }
    }

    let end = walk.last.0;
    for (cp_seq, cp_hash) in pending {
        breaks.add(
            cp_seq,
            format!(
                "a checkpoint records seq {cp_seq} (hash {}) but the chain ends at seq {end}: \
                 the tail {}..={cp_seq} was deleted",
                hex::encode(cp_hash),
                end + 1
            ),
        );
    }
    check_head(pool, &walk, &mut breaks).await?;
    // The last row was the suspect: a problem at the head (chain_head or a checkpoint
    // disagreeing with its hash) says it was changed itself.
    if let Some(s) = walk.suspect.take() {
        if breaks.has(s) {
            rechained(&mut breaks, s);
        } else {
            edited_before(&mut breaks, s);
        }
    }
    check_seals(&sealed, trust, walk.last.0, &mut breaks, &mut notes);
    if let Some(path) = file_missing.filter(|_| walk.events > 0) {
        breaks.add(
            0,
            format!(
                "checkpoint file {} is missing: nothing outside the database vouches for \
                 the head, so a deleted tail or a recomputed chain would go unnoticed",
                path.display()
            ),
        );
    }
    Ok(VerifyReport {
        events: walk.events,
        head_seq: walk.last.0,
        head_hash: hex::encode(walk.last.1),
        breaks: breaks.into_vec(),
        notes,
    })
}

/// One row of the walk: the checkpoints it passes, then the row itself.
fn visit(
    walk: &mut Walk,
    breaks: &mut Breaks,
    pending: &mut std::iter::Peekable<std::vec::IntoIter<(i64, Hash)>>,
    row: &impl DbRow,
) -> Result<(), StoreError> {
    let seq: i64 = row.col("seq")?;
    while let Some((cp_seq, _)) = pending.next_if(|(s, _)| *s < seq) {
        if !breaks.has(cp_seq) {
            breaks.add(
                cp_seq,
                "a checkpoint records this seq but its row is missing",
            );
        }
    }
    check_row(walk, breaks, row, seq);
    if let Some((cp_seq, cp_hash)) = pending.next_if(|(s, _)| *s == seq) {
        if cp_hash != walk.last.1 {
            breaks.add(
                cp_seq,
                format!(
                    "the checkpoint records hash {} here but the row holds {} \
                         (the chain was rewritten from here or earlier)",
                    hex::encode(cp_hash),
                    hex::encode(walk.last.1)
                ),
            );
        }
        // A second entry at the same seq (a kept old head) is checked too.
        while let Some((s, h)) = pending.next_if(|(s, _)| *s == seq) {
            if h != walk.last.1 {
                breaks.add(s, "an older checkpoint records another hash here");
            }
        }
    }
    Ok(())
}

/// The signature checks (see the module docs' policy); `end` is the chain's last seq.
fn check_seals(
    sealed: &[Entry],
    trust: &Trust,
    end: i64,
    breaks: &mut Breaks,
    notes: &mut Vec<String>,
) {
    let name = |e: &Entry| {
        let what = if e.is_head { "head" } else { "mark" };
        match &e.seal {
            Some(s) => format!("the {what} checkpoint at seq {} (signed {})", e.seq, s.at),
            None => format!("the {what} checkpoint at seq {}", e.seq),
        }
    };
    let Some(key) = &trust.key else {
        if sealed.iter().any(|e| e.seal.is_some()) {
            breaks.add(
                0,
                format!(
                    "the checkpoints are signed but no public key was found ({}): their                      signatures cannot be checked; give --public-key FILE",
                    trust.source
                ),
            );
        } else if !sealed.is_empty() {
            notes.push(format!(
                "the checkpoints are unsigned and no key was found ({}): signatures not checked",
                trust.source
            ));
        }
        return;
    };
    let shown = signing::public_text(key);
    let mut unsigned_marks = 0;
    for e in sealed {
        match &e.seal {
            Some(seal) if !signing::check(key, e.seq, &e.hash, &seal.at, &seal.sig) => {
                breaks.add(
                    e.seq,
                    format!(
                        "{}: its signature does not verify with the public key {shown}: \
                         the checkpoint file was rewritten without the key",
                        name(e)
                    ),
                );
            }
            Some(_) => {}
            None if e.is_head => breaks.add(
                e.seq,
                format!(
                    "{} is unsigned although the store has a key ({}): the checkpoint file \
                     was rewritten without the key, or the store never ran with its key",
                    name(e),
                    trust.source
                ),
            ),
            None => unsigned_marks += 1,
        }
    }
    if unsigned_marks > 0 {
        notes.push(format!(
            "{unsigned_marks} checkpoint mark(s) unsigned (written before signing): compared \
             with the chain, but only the signed head vouches for the rows below it"
        ));
    }
    let Some(head) = sealed.iter().find(|e| e.is_head) else {
        return;
    };
    let signed = head
        .seal
        .as_ref()
        .is_some_and(|s| signing::check(key, head.seq, &head.hash, &s.at, &s.sig));
    if signed && end > head.seq {
        let (first, rows) = (head.seq + 1, end - head.seq);
        if trust.writer_running {
            notes.push(format!(
                "seq {first}..={end} ({rows} row(s)) not signed yet: a daemon is writing \
                 this store and signs them within a second"
            ));
        } else {
            breaks.add(
                first,
                format!(
                    "seq {first}..={end} ({rows} row(s)) come after the last signed checkpoint \
                     (seq {}): nothing vouches for them (events forged at the end of the \
                     chain, or karajan stopped before signing its last second of appends)",
                    head.seq
                ),
            );
        }
    }
}

fn check_row(walk: &mut Walk, breaks: &mut Breaks, row: &impl DbRow, seq: i64) {
    walk.events += 1;
    let gap_before = seq > walk.expected;
    if gap_before {
        let (first, last) = (walk.expected, seq - 1);
        if last - first < GAP_DETAIL {
            for missing in first..=last {
                breaks.add(missing, "row missing (deleted)");
            }
        } else {
            breaks.add(
                first,
                format!(
                    "rows {first}..={last} missing ({} rows deleted)",
                    last - first + 1
                ),
            );
        }
    }
    let mut problems = Vec::new();
    let decoded = decode(row);
    let stored_hash = match &decoded {
        Ok(fields) => {
            let link_broken = fields.prev_hash != walk.prev && !gap_before && !walk.prev_broken;
            let recomputed = event_hash(&Link {
                prev_hash: &fields.prev_hash,
                seq,
                at: &fields.at,
                issue: fields.issue.as_deref(),
                kind: &fields.kind,
                payload: &fields.payload,
            });
            let self_ok = recomputed == fields.hash;
            // The row before had a broken incoming link although its own hash held:
            // this row's link decides which row was changed.
            let consequence = match walk.suspect.take() {
                Some(s) if link_broken => {
                    rechained(breaks, s);
                    true
                }
                Some(s) => {
                    edited_before(breaks, s);
                    false
                }
                None => false,
            };
            if link_broken && !consequence {
                if self_ok {
                    // Decided by the next row (or the head), see `Walk::suspect`.
                    walk.suspect = Some(seq);
                } else {
                    problems.push(link_problem(seq));
                }
            }
            if !self_ok {
                problems
                    .push("hash mismatch: the row's content differs from what was hashed".into());
            }
            fields.hash
        }
        Err(e) => {
            if let Some(s) = walk.suspect.take() {
                edited_before(breaks, s);
            }
            problems.push(format!("row is unreadable: {e}"));
            GENESIS
        }
    };
    walk.prev_broken = !problems.is_empty();
    for p in problems {
        breaks.add(seq, p);
    }
    walk.prev = stored_hash;
    walk.expected = seq + 1;
    walk.last = (seq, stored_hash);
}

fn link_problem(seq: i64) -> String {
    if seq == 1 {
        "prev_hash is not the genesis hash".to_string()
    } else {
        format!("prev_hash does not match the hash of seq {}", seq - 1)
    }
}

/// Row `s` (self-consistent) and the row after it both have a broken link: row `s`'s
/// `prev_hash` was changed and its hash recomputed.
fn rechained(breaks: &mut Breaks, s: i64) {
    breaks.add(
        s,
        format!(
            "{}, and seq {} was not chained to this row's hash: this row's prev_hash was \
             edited and its hash recomputed (or seq {} and this row were both edited)",
            link_problem(s),
            s + 1,
            s - 1
        ),
    );
}

/// Row `s` (self-consistent) is not chained to the row before, and the chain goes on
/// from `s` unbroken: the row before was edited and its own hash recomputed.
fn edited_before(breaks: &mut Breaks, s: i64) {
    if s == 1 {
        breaks.add(1, link_problem(1));
        return;
    }
    breaks.add(
        s - 1,
        format!(
            "this row was edited and its hash recomputed: seq {s} was chained to another \
             hash (or seq {s}'s prev_hash was edited)"
        ),
    );
}

struct Fields {
    at: String,
    issue: Option<String>,
    kind: String,
    payload: serde_json::Value,
    prev_hash: Hash,
    hash: Hash,
}

fn decode(row: &impl DbRow) -> Result<Fields, String> {
    let get_hash = |column: &str| -> Result<Hash, String> {
        let bytes: Vec<u8> = row.col(column).map_err(|e| e.to_string())?;
        bytes
            .try_into()
            .map_err(|_| format!("{column} is not 32 bytes"))
    };
    let payload: String = row.col("payload").map_err(|e| e.to_string())?;
    Ok(Fields {
        at: row.col("at").map_err(|e| e.to_string())?,
        issue: row.col("issue").map_err(|e| e.to_string())?,
        kind: row.col("kind").map_err(|e| e.to_string())?,
        payload: serde_json::from_str(&payload).map_err(|e| format!("payload is not JSON: {e}"))?,
        prev_hash: get_hash("prev_hash")?,
        hash: get_hash("hash")?,
    })
}

/// `chain_head` must name the last row.
/// Whether the row at `seq` exists with `hash`.
async fn appended_since(pool: &Pool, seq: i64, hash: &[u8]) -> Result<bool, StoreError> {
    let row: Option<(Vec<u8>,)> = on_pool!(pool, |p| {
        sqlx::query_as("SELECT hash FROM events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(p)
            .await?
    });
    Ok(row.is_some_and(|(h,)| h.as_slice() == hash))
}

async fn check_head(pool: &Pool, walk: &Walk, breaks: &mut Breaks) -> Result<(), StoreError> {
    let row: Option<(i64, Vec<u8>)> = on_pool!(pool, |p| {
        sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_optional(p)
            .await?
    });
    let Some((head_seq, head_hash)) = row else {
        breaks.add(walk.last.0, "the chain_head row is missing");
        return Ok(());
    };
    let (last_seq, last_hash) = walk.last;
    if head_seq > last_seq && appended_since(pool, head_seq, &head_hash).await? {
        // A writer appended after the walk's last read (a daemon verifying itself, or
        // `verify` beside a running daemon): the head's row is there. The new rows are
        // for the next verification.
        return Ok(());
    }
    if head_seq > last_seq {
        breaks.add(
            head_seq,
            format!(
                "chain_head records seq {head_seq} but the last row is seq {last_seq}: \
                 the tail was deleted"
            ),
        );
    } else if head_seq < last_seq {
        breaks.add(
            head_seq + 1,
            format!("rows after chain_head's seq {head_seq} were added outside an append"),
        );
    } else if head_hash.as_slice() != last_hash.as_slice() {
        breaks.add(
            head_seq,
            "chain_head's hash differs from the last row's hash",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, NewEvent, Store};

    async fn store_with(n: usize) -> (tempfile::TempDir, Store, Vec<(i64, Hash)>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.db"), &dir.path().join("s.cp"))
            .await
            .expect("store");
        let rows = store
            .append(
                (0..n)
                    .map(|i| {
                        NewEvent::global(EventKind::TrackerError {
                            error: format!("e{i}"),
                        })
                    })
                    .collect(),
            )
            .await
            .expect("append");
        let hashes = rows
            .iter()
            .map(|e| {
                (
                    e.seq,
                    super::super::chain::parse_hash(&e.hash).expect("hex"),
                )
            })
            .collect();
        (dir, store, hashes)
    }

    fn walked_to(last: (i64, Hash)) -> Walk {
        Walk {
            expected: last.0 + 1,
            prev: last.1,
            prev_broken: false,
            suspect: None,
            events: u64::try_from(last.0).unwrap_or(0),
            last,
        }
    }

    /// A daemon appends while `verify` walks: the head it reads at the end is past the
    /// last row it walked, and those rows are there. Not a deleted tail.
    #[tokio::test]
    async fn rows_appended_during_the_walk_are_not_a_deleted_tail() {
        let (_dir, store, rows) = store_with(3).await;
        let mut breaks = Breaks::default();
        check_head(&store.readers, &walked_to(rows[1]), &mut breaks)
            .await
            .expect("checks");
        assert!(breaks.0.is_empty(), "{:?}", breaks.0);
    }

    #[tokio::test]
    async fn a_head_past_the_last_row_is_a_deleted_tail() {
        let (_dir, store, rows) = store_with(3).await;
        {
            use sqlx::ConnectOptions;
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(_dir.path().join("s.db"))
                .connect()
                .await
                .expect("raw");
            sqlx::query("UPDATE chain_head SET seq = 5 WHERE id = 1")
                .execute(&mut conn)
                .await
                .expect("moved");
        }
        let mut breaks = Breaks::default();
        check_head(&store.readers, &walked_to(rows[2]), &mut breaks)
            .await
            .expect("checks");
        let found: Vec<i64> = breaks.0.keys().copied().collect();
        assert_eq!(found, vec![5]);
        assert!(breaks.0[&5][0].contains("the tail was deleted"));
    }
}
