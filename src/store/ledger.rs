//! What the read model shows of the whole history, kept in memory by the append path:
//! the run totals (overall and today's) and the latest transitions.
//!
//! The daemon rebuilds its read model after every burst of work and every finished run.
//! Asking SQLite each time cost three queries a publish, one of them a sum over every
//! run ever recorded, a query that grows with history (issue 11). A writable store is
//! the only writer of its database (see `cache`), so it reads these once when it opens
//! and folds each committed append into them, under the append lock, in commit order:
//!
//! - `run_started` counts a run (today's too when the run started today, UTC) and
//!   remembers the run's day until it finishes;
//! - `run_finished` adds the run's tokens and cost (the `runs` row takes them once);
//! - `transition` joins the latest transitions.
//!
//! Whatever the ledger cannot follow exactly is read again from the database at the next
//! question instead: a run that finishes without a start this store saw (started before
//! it opened, or finished twice), a run started without a ticket (no `runs` row), and a
//! new UTC day.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};

use super::event::{EventKind, NewEvent};
use super::{StoredEvent, Totals};

/// How many of the latest transitions the read model shows.
pub const RECENT_TRANSITIONS: usize = 20;

#[derive(Default)]
pub(super) struct Ledger {
    inner: Mutex<Option<Inner>>,
}

struct Inner {
    totals: Totals,
    day: NaiveDate,
    today: Totals,
    /// Runs started since the store opened and not finished yet, by id: whether each
    /// started on `day`.
    open: HashMap<String, bool>,
    /// Newest first.
    transitions: VecDeque<Arc<StoredEvent>>,
}

/// What the read model asks of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryView {
    pub totals: Totals,
    pub today: Totals,
    /// The latest transitions, newest first (shared with the ledger: the read model asks
    /// for them at every publish, and a copy of each payload cost about 2 % of the
    /// daemon's instructions on the drain benchmark, issue 11).
    pub transitions: Vec<Arc<StoredEvent>>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, Option<Inner>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the ledger holds, when it is exact for `day` (`None`: read the database and
    /// [`Ledger::reset`]).
    pub fn view(&self, day: NaiveDate) -> Option<HistoryView> {
        let inner = self.lock();
        let inner = inner.as_ref().filter(|i| i.day == day)?;
        Some(HistoryView {
            totals: inner.totals.clone(),
            today: inner.today.clone(),
            transitions: inner.transitions.iter().cloned().collect(),
        })
    }

    /// Start again from what the database says for `day`. Only called between appends
    /// (under the append lock), so no commit falls between the read and this.
    pub fn reset(&self, day: NaiveDate, view: HistoryView) {
        *self.lock() = Some(Inner {
            totals: view.totals,
            day,
            today: view.today,
            open: HashMap::new(),
            transitions: view.transitions.into_iter().collect(),
        });
    }

    /// Fold a committed append (`events` as given, `stored` as committed).
    pub fn apply(&self, events: &[NewEvent], stored: &[StoredEvent]) {
        let mut guard = self.lock();
        let Some(inner) = guard.as_mut() else {
            return;
        };
        let mut exact = true;
        for (event, row) in events.iter().zip(stored) {
            exact &= inner.fold(event, row);
        }
        if !exact {
            *guard = None;
        }
    }
}

impl Inner {
    /// Fold one event; `false` when the ledger can no longer follow the database.
    fn fold(&mut self, event: &NewEvent, row: &StoredEvent) -> bool {
        match &event.kind {
            EventKind::RunStarted { run_id, .. } => {
                if event.issue.is_none() {
                    return false;
                }
                let today = day_of(row.at) == self.day;
                self.totals.runs += 1;
                if today {
                    self.today.runs += 1;
                }
                self.open.insert(run_id.clone(), today);
            }
            EventKind::RunFinished {
                run_id,
                tokens,
                cost_usd,
                ..
            } => {
                let Some(today) = self.open.remove(run_id) else {
                    return false;
                };
                let cost = cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
                self.totals.tokens.add(tokens);
                self.totals.cost_usd += cost;
                if today {
                    self.today.tokens.add(tokens);
                    self.today.cost_usd += cost;
                }
            }
            EventKind::Transition { .. } => {
                self.transitions.push_front(Arc::new(row.clone()));
                self.transitions.truncate(RECENT_TRANSITIONS);
            }
            _ => {}
        }
        true
    }
}

/// The UTC day of a time, as `runs.started_at` keys it.
pub fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}
