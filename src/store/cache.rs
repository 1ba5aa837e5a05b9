//! The ticket records in memory, kept exact by the append path: what the daemon reads
//! on every poll without asking SQLite.
//!
//! A poll needs the record of every candidate ticket (to decide), and the records of
//! every ticket not done (the tickets karajan is responsible for that left the watched
//! columns, the tracker's recorded columns, the read model). Reading them from the
//! database on every poll cost a full `tickets` scan three times a tick, growing with
//! the board (issue 11). A writable store is the only writer of its database (the store
//! lock), and every write goes through one append transaction that already folds the
//! records it touches in memory, so the store keeps them here instead:
//!
//! - `active`: every record whose phase is not `done`, with `pending_intents` counted.
//!   Loaded once when the store opens (before any append), then replaced, record by
//!   record, with what each committed append left (see `append::append_tracked`),
//!   under the store's append lock, so the map follows the commit order exactly.
//! - `settled`: what is known of tickets outside `active` that were asked about: their
//!   `done` record, or `None` when the store has no record of them. Filled from the
//!   database the first time a ticket is asked about, updated by appends like `active`,
//!   and pruned by the poll to the tickets it still sees, so nothing here grows with
//!   history: finished tickets cost memory only while they are still on the board.
//!
//! An append that changes a ticket moves it between the two maps as its phase says.
//! A database read for `settled` can race with an append of the same ticket: the
//! append's answer is always newer, so a read never replaces what an append put there.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::domain::{IssueRecord, Phase};

#[derive(Default)]
pub(super) struct RecordCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    active: HashMap<String, Arc<IssueRecord>>,
    /// `active` in identifier order, as last listed; `None` once an append changed
    /// it. The poll and the read model list every active record on every tick, and
    /// sorting thousands of them each time was a good part of a tick (issue 11).
    sorted: Option<Vec<Arc<IssueRecord>>>,
    settled: HashMap<String, Option<Arc<IssueRecord>>>,
}

impl RecordCache {
    /// A cache holding `active` (every record not done, as the database holds them).
    pub fn new(active: Vec<IssueRecord>) -> RecordCache {
        let active = active
            .into_iter()
            .map(|r| (r.identifier.clone(), Arc::new(r)))
            .collect();
        RecordCache {
            inner: Mutex::new(Inner {
                active,
                settled: HashMap::new(),
                sorted: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a committed append left of the tickets it touched (`None`: no record).
    pub fn apply(&self, changed: Vec<(String, Option<IssueRecord>)>) {
        let mut inner = self.lock();
        if !changed.is_empty() {
            inner.sorted = None;
        }
        for (id, rec) in changed {
            match rec {
                Some(rec) if !matches!(rec.phase, Phase::Done) => {
                    inner.settled.remove(&id);
                    inner.active.insert(id, Arc::new(rec));
                }
                other => {
                    inner.active.remove(&id);
                    inner.settled.insert(id, other.map(Arc::new));
                }
            }
        }
    }

    /// Every record not done, in identifier order (shared, not copied).
    pub fn active(&self) -> Vec<Arc<IssueRecord>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner
            .sorted
            .get_or_insert_with(|| {
                let mut all: Vec<Arc<IssueRecord>> = inner.active.values().cloned().collect();
                all.sort_by(|a, b| a.identifier.cmp(&b.identifier));
                all
            })
            .clone()
    }

    /// The identifiers of every record not done, in order.
    pub fn active_identifiers(&self) -> Vec<String> {
        self.active().iter().map(|r| r.identifier.clone()).collect()
    }

    /// The records of `ids` the cache knows, and the ids it knows nothing of (to be
    /// read from the database and handed to [`RecordCache::fill`]).
    pub fn lookup<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> (HashMap<String, Arc<IssueRecord>>, Vec<String>) {
        let inner = self.lock();
        let mut found = HashMap::new();
        let mut unknown = vec![];
        for id in ids.iter().map(AsRef::as_ref) {
            if let Some(rec) = inner.active.get(id) {
                found.insert(id.to_string(), rec.clone());
            } else {
                match inner.settled.get(id) {
                    Some(Some(rec)) => {
                        found.insert(id.to_string(), rec.clone());
                    }
                    Some(None) => {}
                    None => unknown.push(id.to_string()),
                }
            }
        }
        (found, unknown)
    }

    /// What the cache knows of one ticket, for an append about to fold it: `None` when
    /// it knows nothing (read the database), `Some(None)` when the ticket has no
    /// record, else its record with `pending_intents` counted. Exact under the
    /// store's append lock: every committed append has been applied.
    pub fn known(&self, id: &str) -> Option<Option<Arc<IssueRecord>>> {
        let inner = self.lock();
        match inner.active.get(id) {
            Some(rec) => Some(Some(rec.clone())),
            None => inner.settled.get(id).cloned(),
        }
    }

    /// What the database said of tickets the cache did not know (`read` holds the
    /// records found; the other `asked` have none). Never overrides an append's
    /// answer that arrived meanwhile. Returns the records of `asked` now known.
    pub fn fill(
        &self,
        asked: &[String],
        read: Vec<IssueRecord>,
    ) -> HashMap<String, Arc<IssueRecord>> {
        let mut inner = self.lock();
        let mut read: HashMap<String, Arc<IssueRecord>> = read
            .into_iter()
            .map(|r| (r.identifier.clone(), Arc::new(r)))
            .collect();
        let mut found = HashMap::new();
        for id in asked {
            if let Some(rec) = inner.active.get(id) {
                found.insert(id.clone(), rec.clone());
                continue;
            }
            let known = inner
                .settled
                .entry(id.clone())
                .or_insert_with(|| read.remove(id));
            if let Some(rec) = known {
                found.insert(id.clone(), rec.clone());
            }
        }
        found
    }

    /// Forget what is known of finished or unknown tickets other than `keep` (the
    /// tickets the latest full poll saw) once it outgrows them: what is remembered
    /// stays under twice the board, without a pass over it at every poll.
    pub fn retain_settled<S: AsRef<str>>(&self, keep: &[S]) {
        let mut inner = self.lock();
        if inner.settled.len() <= keep.len() {
            return;
        }
        let keep: HashSet<&str> = keep.iter().map(AsRef::as_ref).collect();
        inner.settled.retain(|id, _| keep.contains(id.as_str()));
    }

    /// How many tickets outside `active` the cache remembers (tests).
    #[cfg(test)]
    pub fn settled_len(&self) -> usize {
        self.lock().settled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn rec(id: &str, phase: Phase) -> IssueRecord {
        let mut r = IssueRecord::new(id, "t", "code", Utc::now());
        r.phase = phase;
        r
    }

    #[test]
    fn appends_move_records_between_active_and_settled_and_reads_never_override_them() {
        let cache = RecordCache::new(vec![rec("A", Phase::Ready)]);
        let ids: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        let (found, unknown) = cache.lookup(&ids);
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["A"]);
        assert_eq!(unknown, vec!["B".to_string(), "C".to_string()]);
        // An append finished B while the database was being read (which still saw
        // nothing of B): the append's answer stands.
        cache.apply(vec![("B".into(), Some(rec("B", Phase::Done)))]);
        let found = cache.fill(&unknown, vec![]);
        assert!(matches!(found["B"].phase, Phase::Done));
        assert!(!found.contains_key("C"));
        // C is now known to have no record: no database read next time.
        let (_, unknown) = cache.lookup(&ids);
        assert!(unknown.is_empty());
        // The sorted list is remembered between polls, and forgotten by an append.
        assert_eq!(cache.active().len(), 1);
        // A finishes: it leaves the active set; C gets a record and enters it.
        cache.apply(vec![
            ("A".into(), Some(rec("A", Phase::Done))),
            ("C".into(), Some(rec("C", Phase::Ready))),
        ]);
        let active: Vec<String> = cache
            .active()
            .into_iter()
            .map(|r| r.identifier.clone())
            .collect();
        assert_eq!(active, vec!["C".to_string()]);
        // Pruning keeps only what the poll still sees, once there is more to forget
        // than the poll saw.
        cache.retain_settled(&["A".to_string(), "B".to_string()]);
        assert_eq!(cache.settled_len(), 2, "no more than the poll saw: kept");
        cache.retain_settled(&["A".to_string()]);
        assert_eq!(cache.settled_len(), 1);
        let (found, unknown) = cache.lookup(&ids);
        assert!(matches!(found["A"].phase, Phase::Done));
        assert_eq!(unknown, vec!["B".to_string()]);
    }
}
