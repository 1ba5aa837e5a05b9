//! The candidate cache behind incremental reads.
//!
//! The orchestrator asks `fetch_candidates` for the FULL set of candidate tickets at
//! every poll. Trackers that can filter by "updated since" (Linear `updatedAt`, GitHub
//! REST `since`) read everything only now and then, and in between ask only for what
//! changed since the last read began (minus a safety overlap, for clock skew and
//! writes in flight), merging the answer into this cache. A full read happens on the
//! first poll, every `FULL_READ_EVERY`-th poll (it catches deletions, transfers and
//! anything an incremental read missed) and whenever the columns asked for change.
//! A tracker may narrow an incremental read to the issues that can change this cache
//! ([`CandidateCache::listed`] and the watched columns; see `linear::narrow`); the
//! window itself is never narrowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::TicketSnapshot;

/// One read in this many is full: polls 1, 11, 21... (at the default 30 s poll, every
/// 5 minutes).
pub const FULL_READ_EVERY: u32 = 10;

/// How far before the last read's start an incremental read reaches back.
pub const OVERLAP: Duration = Duration::from_secs(60);

/// What the next read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Read every candidate; replace the cache.
    Full,
    /// Read what changed at or after this instant; merge it in.
    Since(DateTime<Utc>),
}

#[derive(Debug)]
struct Cached {
    columns: Vec<String>,
    /// By ticket id (the tracker's stable id, not the identifier); shared with the
    /// answers handed out, so an unchanged ticket is never copied.
    tickets: HashMap<String, Arc<TicketSnapshot>>,
    /// When the latest read that was merged began.
    read_started: DateTime<Utc>,
    /// Reads since (and including) the last full one.
    reads: u32,
}

/// The candidates of the last read and when it began. Cheap to share; all methods
/// take `&self`.
#[derive(Debug, Default)]
pub struct CandidateCache {
    state: Mutex<Option<Cached>>,
}

impl CandidateCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The read to make for `columns` now.
    pub fn plan(&self, columns: &[String]) -> Plan {
        match self.lock().as_ref() {
            Some(c) if c.columns == columns && c.reads < FULL_READ_EVERY => {
                let overlap = chrono::Duration::from_std(OVERLAP).unwrap_or_default();
                Plan::Since(c.read_started - overlap)
            }
            _ => Plan::Full,
        }
    }

    /// The identifiers a read must see whatever their column (see
    /// `linear::narrow`): every cached candidate and every blocker of one, sorted,
    /// each once. Empty when nothing is cached.
    pub fn listed(&self) -> Vec<String> {
        let guard = self.lock();
        let Some(cached) = guard.as_ref() else {
            return Vec::new();
        };
        let mut all: Vec<String> = cached
            .tickets
            .values()
            .flat_map(|t| {
                std::iter::once(t.identifier.clone())
                    .chain(t.blocked_by.iter().map(|b| b.identifier.clone()))
            })
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Forgets the cache: the next read is full (e.g. a record was skipped that a
    /// later poll must read again even if it does not change).
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Replaces the cache with the answer of a full read that began at `started`.
    pub fn store_full(
        &self,
        columns: &[String],
        started: DateTime<Utc>,
        tickets: &[Arc<TicketSnapshot>],
    ) {
        *self.lock() = Some(Cached {
            columns: columns.to_vec(),
            tickets: tickets.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            read_started: started,
            reads: 1,
        });
    }

    /// Merges the answer of an incremental read that began at `started`: a changed
    /// ticket in a watched column replaces (or joins) its cached version, one now in
    /// another column leaves; `gone` ids (records seen but unreadable) leave too.
    /// `patch` then runs on every cached ticket (e.g. to refresh blocker states from
    /// the changed records); it copies a shared ticket (`Arc::make_mut`) only when it
    /// changes it. Returns the full candidate set, oldest first.
    pub fn merge(
        &self,
        columns: &[String],
        started: DateTime<Utc>,
        changed: Vec<TicketSnapshot>,
        gone: &[String],
        mut patch: impl FnMut(&mut Arc<TicketSnapshot>),
    ) -> Vec<Arc<TicketSnapshot>> {
        let mut guard = self.lock();
        let Some(cached) = guard.as_mut() else {
            return Vec::new();
        };
        for id in gone {
            cached.tickets.remove(id);
        }
        for ticket in changed {
            if columns.contains(&ticket.column) {
                cached.tickets.insert(ticket.id.clone(), Arc::new(ticket));
            } else {
                cached.tickets.remove(&ticket.id);
            }
        }
        cached.tickets.values_mut().for_each(&mut patch);
        cached.read_started = cached.read_started.max(started);
        cached.reads += 1;
        let mut all: Vec<Arc<TicketSnapshot>> = cached.tickets.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.identifier).cmp(&(b.created_at, &b.identifier)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, column: &str, minute: i64) -> TicketSnapshot {
        let at = DateTime::parse_from_rfc3339("2024-05-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute);
        TicketSnapshot {
            id: id.into(),
            identifier: format!("T-{id}"),
            title: id.into(),
            description: String::new(),
            url: None,
            labels: vec![],
            priority: None,
            column: column.into(),
            blocked_by: vec![],
            branch_name: None,
            created_at: at,
            updated_at: at,
            recent_comments: None,
        }
    }

    fn cols() -> Vec<String> {
        vec!["Todo".into(), "Review".into()]
    }

    #[test]
    fn first_read_is_full_then_since_last_start_minus_overlap() {
        let cache = CandidateCache::default();
        assert_eq!(cache.plan(&cols()), Plan::Full);
        let t0 = Utc::now();
        cache.store_full(&cols(), t0, &[Arc::new(ticket("a", "Todo", 1))]);
        assert_eq!(
            cache.plan(&cols()),
            Plan::Since(t0 - chrono::Duration::seconds(60))
        );
        assert_eq!(cache.plan(&["Todo".to_string()]), Plan::Full);
    }

    #[test]
    fn merge_replaces_adds_and_drops_then_full_read_comes_back() {
        let cache = CandidateCache::default();
        let t0 = Utc::now();
        cache.store_full(
            &cols(),
            t0,
            &[
                Arc::new(ticket("a", "Todo", 2)),
                Arc::new(ticket("b", "Todo", 3)),
            ],
        );
        let t1 = t0 + chrono::Duration::seconds(30);
        let all = cache.merge(
            &cols(),
            t1,
            vec![
                ticket("a", "Review", 2),
                ticket("b", "Done", 3),
                ticket("c", "Todo", 1),
            ],
            &[],
            |_| {},
        );
        let got: Vec<_> = all
            .iter()
            .map(|t| (t.id.as_str(), t.column.as_str()))
            .collect();
        assert_eq!(got, vec![("c", "Todo"), ("a", "Review")]);
        assert_eq!(
            cache.plan(&cols()),
            Plan::Since(t1 - chrono::Duration::seconds(60))
        );
        for _ in 2..FULL_READ_EVERY {
            cache.merge(&cols(), t1, vec![], &["c".to_string()], |_| {});
        }
        assert_eq!(cache.plan(&cols()), Plan::Full);
    }
}
