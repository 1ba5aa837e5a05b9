//! Checkpoints: the chain head written *outside* the database, so that a deleted tail or
//! a fully recomputed chain (which re-hashing alone cannot see) is still caught.
//!
//! After committed appends (at most once a second, see `writer`) the store atomically
//! rewrites (temp file, `fsync`, rename) a small text file next to the database. Its format, line by line:
//!
//! ```text
//! karajan checkpoints v2
//! head <seq> <hash> <time> <signature>
//! mark <seq> <hash> <time> <signature>
//! mark <seq> <hash>
//! ```
//!
//! - line 1 is exactly `karajan checkpoints v2`, or `karajan checkpoints v1` for a file
//!   with no signed entry (what karajan wrote before signing; still read);
//! - an entry is signed when it carries `<time>` (RFC 3339, UTC, seconds) and
//!   `<signature>` (128 hex digits: ed25519 over `signing::statement(seq, hash, time)`);
//!   an entry with three fields is unsigned (written before signing, or by a store
//!   without a key). The writer signs the head on every write and each mark once, when
//!   it first writes it; `verify` checks them (see `verify` and `signing`);
//! - exactly one `head` line: the latest committed `(seq, hash)`; `hash` is 64 lowercase
//!   hex digits; an empty chain is `head 0 000…000`;
//! - any number of `mark` lines, ascending by seq: the sparse history, one for every
//!   seq that is a multiple of [`MARK_EVERY`] (1024), so about a thousand lines per
//!   million events. Marks are never rewritten or dropped. When the database has gone
//!   *backwards* (its head is at or below the recorded head when new rows are appended,
//!   e.g. after a truncated tail), the old head is kept as a mark, so the evidence
//!   survives the next append.
//!
//! `verify` checks every recorded `(seq, hash)`: the row must exist with that stored
//! hash; a recorded seq beyond the chain's end is a truncated tail, reported at that
//! seq. A missing file while the chain is non-empty is reported as a break at seq 0
//! ("the chain as a whole"): nothing outside the database vouches for it.
//!
//! The file is written after the database commit and after an `fsync` of the WAL (the
//! commit is durable by then, see the `store` module's durability section), so a crash
//! can leave it *behind* the database, never ahead of it. A failed checkpoint write
//! does not fail the append (the events are committed); it is logged and the next
//! append rewrites the whole file. One writer process per store is
//! assumed for the file, and enforced by the daemon's lock (see `lock`); at start the
//! store is compared with the file (see `reset`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;
use super::chain::{GENESIS, Hash, parse_hash};

/// One mark per this many seqs.
pub const MARK_EVERY: i64 = 1024;

const HEADER_V1: &str = "karajan checkpoints v1";
const HEADER: &str = "karajan checkpoints v2";

/// An entry's signature and the time it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub at: String,
    pub sig: [u8; 64],
}

/// One recorded `(seq, hash)`, with its seal when signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub hash: Hash,
    pub seal: Option<Seal>,
    /// The file's `head` line (else a mark).
    pub is_head: bool,
}

/// The content of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    pub head: (i64, Hash),
    pub marks: BTreeMap<i64, Hash>,
    /// The head's seal (`None`: unsigned).
    pub head_seal: Option<Seal>,
    /// The marks' seals, by seq (a mark without one is unsigned).
    pub mark_seals: BTreeMap<i64, Seal>,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Checkpoints {
            head: (0, GENESIS),
            marks: BTreeMap::new(),
            head_seal: None,
            mark_seals: BTreeMap::new(),
        }
    }
}

fn parse_seal(number: usize, at: &str, sig: &str) -> Result<Seal, String> {
    if chrono::DateTime::parse_from_rfc3339(at).is_err() {
        return Err(format!("line {number}: `{at}` is not an RFC 3339 time"));
    }
    let sig: [u8; 64] = hex::decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("line {number}: the signature is not 128 hex digits"))?;
    Ok(Seal {
        at: at.to_string(),
        sig,
    })
}

impl Checkpoints {
    /// Parse the file format; the error names the line.
    pub fn parse(text: &str) -> Result<Checkpoints, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, HEADER | HEADER_V1)) => {}
            Some((_, other)) => {
                return Err(format!("line 1: expected `{HEADER}`, found `{other}`"));
            }
            None => return Err("the file is empty".into()),
        }
        let mut head = None;
        let mut marks = BTreeMap::new();
        let (mut head_seal, mut mark_seals) = (None, BTreeMap::new());
        for (index, line) in lines {
            let number = index + 1;
            let parts: Vec<&str> = line.split(' ').collect();
            let (tag, seq, hash, seal) = match parts.as_slice() {
                [tag, seq, hash] => (tag, seq, hash, None),
                [tag, seq, hash, at, sig] => (tag, seq, hash, Some(parse_seal(number, at, sig)?)),
                _ => {
                    return Err(format!(
                        "line {number}: expected `<head|mark> <seq> <hash> [<time> <signature>]`"
                    ));
                }
            };
            let seq: i64 = seq
                .parse()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| format!("line {number}: `{seq}` is not a seq"))?;
            let hash = parse_hash(hash)
                .ok_or_else(|| format!("line {number}: `{hash}` is not a 64-digit hex hash"))?;
            match *tag {
                "head" if head.is_none() => {
                    head = Some((seq, hash));
                    head_seal = seal;
                }
                "head" => return Err(format!("line {number}: a second `head` line")),
                "mark" => {
                    if marks.insert(seq, hash).is_some() {
                        return Err(format!("line {number}: a second mark for seq {seq}"));
                    }
                    if let Some(seal) = seal {
                        mark_seals.insert(seq, seal);
                    }
                }
                other => return Err(format!("line {number}: unknown entry `{other}`")),
            }
        }
        let head = head.ok_or("no `head` line")?;
        Ok(Checkpoints {
            head,
            marks,
            head_seal,
            mark_seals,
        })
    }

    pub fn render(&self) -> String {
        let signed = self.head_seal.is_some() || !self.mark_seals.is_empty();
        let line = |tag: &str, seq: i64, hash: &Hash, seal: Option<&Seal>| match seal {
            Some(s) => format!(
                "{tag} {seq} {} {} {}\n",
                hex::encode(hash),
                s.at,
                hex::encode(s.sig)
            ),
            None => format!("{tag} {seq} {}\n", hex::encode(hash)),
        };
        let mut out = format!("{}\n", if signed { HEADER } else { HEADER_V1 });
        out.push_str(&line(
            "head",
            self.head.0,
            &self.head.1,
            self.head_seal.as_ref(),
        ));
        for (seq, hash) in &self.marks {
            out.push_str(&line("mark", *seq, hash, self.mark_seals.get(seq)));
        }
        out
    }

    /// Sign what is not signed yet: the head (when it moved since its last signature)
    /// and every new mark, all with the time `at`.
    pub fn seal(&mut self, key: &super::signing::CheckpointKey, at: &str) {
        if self.head_seal.is_none() && self.head.0 > 0 {
            let (seq, hash) = self.head;
            self.head_seal = Some(Seal {
                at: at.to_string(),
                sig: key.sign(seq, &hash, at),
            });
        }
        for (seq, hash) in &self.marks {
            self.mark_seals.entry(*seq).or_insert_with(|| Seal {
                at: at.to_string(),
                sig: key.sign(*seq, hash, at),
            });
        }
    }

    /// Every recorded entry with its seal, ascending by seq (a mark before the head at
    /// the same seq); seq 0 is skipped.
    pub fn sealed_entries(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .marks
            .iter()
            .map(|(seq, hash)| Entry {
                seq: *seq,
                hash: *hash,
                seal: self.mark_seals.get(seq).cloned(),
                is_head: false,
            })
            .collect();
        if self.head.0 > 0 {
            all.push(Entry {
                seq: self.head.0,
                hash: self.head.1,
                seal: self.head_seal.clone(),
                is_head: true,
            });
        }
        all.sort_by_key(|e| (e.seq, e.is_head));
        all
    }

    /// Record freshly committed rows (ascending seqs, at least one).
    pub fn advance(&mut self, appended: &[(i64, Hash)]) {
        let (Some(first), Some(last)) = (appended.first(), appended.last()) else {
            return;
        };
        let (old_seq, old_hash) = self.head;
        if old_seq >= first.0 && old_seq > 0 {
            // The database went backwards: keep what we had vouched for, signature too.
            if let std::collections::btree_map::Entry::Vacant(slot) = self.marks.entry(old_seq) {
                slot.insert(old_hash);
                if let Some(seal) = self.head_seal.clone() {
                    self.mark_seals.insert(old_seq, seal);
                }
            }
        }
        for (seq, hash) in appended {
            if seq % MARK_EVERY == 0 {
                self.marks.entry(*seq).or_insert(*hash);
            }
        }
        if self.head != *last {
            self.head_seal = None;
        }
        self.head = *last;
    }

    /// Every recorded `(seq, hash)`, marks and head, ascending; seq 0 is skipped.
    pub fn entries(&self) -> Vec<(i64, Hash)> {
        let mut all: Vec<(i64, Hash)> = self.marks.iter().map(|(s, h)| (*s, *h)).collect();
        if self.head.0 > 0 && self.marks.get(&self.head.0) != Some(&self.head.1) {
            all.push(self.head);
        }
        all.sort_by_key(|(seq, _)| *seq);
        all
    }
}

/// The default checkpoint path for a database: `store.db` -> `store.db.checkpoints`.
pub fn default_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".checkpoints");
    PathBuf::from(name)
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The file's text, or `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Load the checkpoints for a writer: a missing file is an empty history; an unreadable
/// one is an error (it is evidence and must not be overwritten).
pub fn load(path: &Path) -> Result<Checkpoints, StoreError> {
    match read(path)? {
        None => Ok(Checkpoints::default()),
        Some(text) => Checkpoints::parse(&text).map_err(|e| {
            StoreError::Corrupt(format!(
                "checkpoint file {} is unreadable ({e}); move it aside to start a new one",
                path.display()
            ))
        }),
    }
}

/// Replace the file atomically: write a sibling temp file, flush it to disk, rename.
pub fn write(path: &Path, checkpoints: &Checkpoints) -> Result<(), StoreError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(checkpoints.render().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        [n; 32]
    }

    #[test]
    fn render_and_parse_roundtrip() {
        let mut cp = Checkpoints::default();
        let rows: Vec<(i64, Hash)> = (1..=2100).map(|s| (s, h((s % 251) as u8))).collect();
        cp.advance(&rows);
        assert_eq!(cp.head, (2100, h((2100 % 251) as u8)));
        assert_eq!(
            cp.marks.keys().copied().collect::<Vec<_>>(),
            vec![1024, 2048]
        );
        let text = cp.render();
        assert!(text.starts_with("karajan checkpoints v1\nhead 2100 "));
        assert_eq!(Checkpoints::parse(&text), Ok(cp));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let bad = format!(
            "{HEADER}\nhead 3 {}\nmark x {}\n",
            "0".repeat(64),
            "0".repeat(64)
        );
        assert_eq!(
            Checkpoints::parse(&bad),
            Err("line 3: `x` is not a seq".to_string())
        );
        assert!(Checkpoints::parse("nope\n").is_err());
        assert!(Checkpoints::parse(&format!("{HEADER}\n")).is_err());
        let two_heads = format!("{HEADER}\nhead 1 {0}\nhead 2 {0}\n", "0".repeat(64));
        assert_eq!(
            Checkpoints::parse(&two_heads),
            Err("line 3: a second `head` line".to_string())
        );
    }

    #[test]
    fn going_backwards_keeps_the_old_head_as_a_mark() {
        let mut cp = Checkpoints::default();
        cp.advance(&[(1, h(1)), (2, h(2)), (3, h(3))]);
        // The tail 3 was deleted and a new row 3 appended.
        cp.advance(&[(3, h(9))]);
        assert_eq!(cp.head, (3, h(9)));
        assert_eq!(cp.marks.get(&3), Some(&h(3)));
        assert_eq!(cp.entries(), vec![(3, h(3)), (3, h(9))]);
        // Normal progress keeps no extra marks.
        let mut fresh = Checkpoints::default();
        fresh.advance(&[(1, h(1))]);
        fresh.advance(&[(2, h(2))]);
        assert!(fresh.marks.is_empty());
        assert_eq!(fresh.entries(), vec![(2, h(2))]);
    }

    #[test]
    fn write_replaces_atomically_and_read_sees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.db.checkpoints");
        assert_eq!(read(&path).expect("reads"), None);
        assert_eq!(load(&path).expect("loads"), Checkpoints::default());
        let mut cp = Checkpoints::default();
        cp.advance(&[(1, h(1))]);
        write(&path, &cp).expect("writes");
        cp.advance(&[(2, h(2))]);
        write(&path, &cp).expect("writes again");
        assert_eq!(load(&path).expect("loads"), cp);
        assert!(!dir.path().join("store.db.checkpoints.tmp").exists());
        std::fs::write(&path, "garbage").expect("write");
        assert!(matches!(load(&path), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn signed_entries_roundtrip_and_a_kept_head_keeps_its_signature() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = super::super::signing::load_or_create(&dir.path().join("k")).expect("key");
        let mut cp = Checkpoints::default();
        cp.advance(&[(1, h(1)), (2, h(2)), (3, h(3))]);
        cp.seal(&key, "2026-12-04T20:00:00Z");
        let text = cp.render();
        assert!(
            text.starts_with("karajan checkpoints v2\nhead 3 "),
            "{text}"
        );
        assert_eq!(Checkpoints::parse(&text), Ok(cp.clone()));
        let sealed = cp.head_seal.clone().expect("signed");
        // The database went back: the old head becomes a mark with its signature, and
        // the new head is unsigned until the next seal.
        cp.advance(&[(3, h(9))]);
        assert_eq!(cp.mark_seals.get(&3), Some(&sealed));
        assert_eq!(cp.head_seal, None);
        let entries = cp.sealed_entries();
        assert_eq!(
            entries
                .iter()
                .map(|e| (e.seq, e.is_head))
                .collect::<Vec<_>>(),
            vec![(3, false), (3, true)]
        );
        // A malformed signature names its line.
        let bad = text.replace(&hex::encode(sealed.sig), "zz");
        assert_eq!(
            Checkpoints::parse(&bad),
            Err("line 2: the signature is not 128 hex digits".to_string())
        );
    }

    #[test]
    fn default_path_appends_a_suffix() {
        assert_eq!(
            default_path(Path::new("/x/.karajan/store.db")),
            PathBuf::from("/x/.karajan/store.db.checkpoints")
        );
    }
}
