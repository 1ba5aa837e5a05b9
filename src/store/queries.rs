//! The questions a `Store` answers, and where each answer comes from.
//!
//! A writable store answers what it can from memory kept exact by its appends (`cache`
//! for the ticket records, `outbox` for the pending intents, `ledger` for the read
//! model's history); the daemon's other reads go to [`Store::own`]'s connection; the
//! queries that grow with history (a ticket's whole history, pages of events, totals
//! over every run, daily figures) go to the reader connections, which the daemon opens
//! only when the dashboard or the API asks for them. A read-only store (the CLI, a dry
//! run) reads everything from its readers.

use std::sync::Arc;

use super::backend::Pool;
use super::{
    DayFigures, Grouping, HistoryView, IssueRecord, PendingIntent, RunHistory, RunRow, Store,
    StoreError, StoredEvent, Totals, daily, ledger, read,
};

impl Store {
    /// Where the daemon's own reads go (a ticket's latest transition, runs and session
    /// before a run, pending intents, records memory has not seen, the chain's
    /// verification): on a writable SQLite store, its one writer connection. Its page
    /// cache already holds what its appends wrote, where a reader connection finds its
    /// cache stale after every commit and reads the pages again; and the daemon then
    /// opens no reader connection at all unless the dashboard or the API asks for
    /// history (each is a worker thread, a page cache, its prepared statements and
    /// parsed schema: about 0.2 MB, issue 11). These reads are short and indexed, and
    /// verification reads the chain a chunk of [`super::verify::CHUNK`] rows per
    /// query, hashing it after the connection is back, so an append waits at most one
    /// such query, and such a read at most one append (as the owner's own appends
    /// already queue behind other tasks' on the append lock). Elsewhere (a read-only
    /// store, Postgres), the readers.
    pub(super) fn own(&self) -> &Pool {
        match (&self.pool, &self.writer) {
            (Pool::Sqlite(_), Some(_)) => &self.pool,
            _ => &self.readers,
        }
    }

    /// Every ticket record, with `pending_intents` counted.
    pub async fn records(&self) -> Result<Vec<IssueRecord>, StoreError> {
        read::records(&self.readers, false).await
    }

    /// The records of the tickets not done (phase other than `done`), with
    /// `pending_intents` counted: what the orchestrator needs per poll, without the
    /// history of finished tickets (index `tickets_active`).
    /// A writable store answers from memory (see `cache`).
    pub async fn active_records(&self) -> Result<Vec<IssueRecord>, StoreError> {
        match &self.cache {
            Some(cache) => Ok(cache.active().iter().map(|r| (**r).clone()).collect()),
            None => read::records(self.own(), true).await,
        }
    }

    /// [`Store::active_records`], shared rather than copied (the read model and the
    /// poll use it on every tick).
    pub async fn active_shared(&self) -> Result<Vec<Arc<IssueRecord>>, StoreError> {
        match &self.cache {
            Some(cache) => Ok(cache.active()),
            None => Ok(read::records(self.own(), true)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect()),
        }
    }

    /// The identifiers of the tickets not done (what [`Store::active_records`] would
    /// list, without copying the records).
    pub async fn active_identifiers(&self) -> Result<Vec<String>, StoreError> {
        match &self.cache {
            Some(cache) => Ok(cache.active_identifiers()),
            None => Ok(read::records(self.own(), true)
                .await?
                .into_iter()
                .map(|r| r.identifier)
                .collect()),
        }
    }

    /// The records of the tickets in `ids` that have one, by identifier. A writable
    /// store reads the database only for tickets it was never asked about.
    pub async fn records_for<S: AsRef<str>>(
        &self,
        ids: &[S],
    ) -> Result<std::collections::HashMap<String, Arc<IssueRecord>>, StoreError> {
        let Some(cache) = &self.cache else {
            let ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
            return Ok(read::records_of(self.own(), &ids)
                .await?
                .into_iter()
                .map(|r| (r.identifier.clone(), Arc::new(r)))
                .collect());
        };
        let (mut found, unknown) = cache.lookup(ids);
        if !unknown.is_empty() {
            let read = read::records_of(self.own(), &unknown).await?;
            found.extend(cache.fill(&unknown, read));
        }
        Ok(found)
    }

    /// Forget what the store remembers of finished or unrecorded tickets other than
    /// `keep` (the tickets a whole poll saw), so memory does not grow with history.
    pub fn retain_known<S: AsRef<str>>(&self, keep: &[S]) {
        if let Some(cache) = &self.cache {
            cache.retain_settled(keep);
        }
    }

    /// A writable store answers from memory when it can (see `cache`).
    pub async fn record(&self, identifier: &str) -> Result<Option<IssueRecord>, StoreError> {
        if self.cache.is_some() {
            return Ok(self
                .records_for(&[identifier.to_string()])
                .await?
                .remove(identifier)
                .map(Arc::unwrap_or_clone));
        }
        read::record(self.own(), identifier).await
    }

    /// Runs that started and never finished.
    pub async fn open_runs(&self) -> Result<Vec<RunRow>, StoreError> {
        read::open_runs(self.own()).await
    }

    pub async fn runs_for(&self, identifier: &str) -> Result<Vec<RunRow>, StoreError> {
        read::runs_for(self.own(), identifier).await
    }

    /// The latest `limit` runs over every ticket, oldest first (`karajan runs`).
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        read::recent_runs(&self.readers, limit).await
    }

    /// Unconfirmed tracker writes, oldest first.
    /// A writable SQLite store answers from memory (see `outbox`).
    pub async fn pending_intents(&self) -> Result<Vec<PendingIntent>, StoreError> {
        if let Some(outbox) = &self.outbox {
            return Ok(outbox.pending());
        }
        read::pending_intents(self.own()).await
    }

    /// What planning a run reads of the ticket's history, in one query: its latest
    /// transition, the end of its latest finished run, and (when `runner` is given)
    /// that runner kind's latest session on it.
    pub async fn run_history(
        &self,
        identifier: &str,
        runner: Option<&str>,
    ) -> Result<RunHistory, StoreError> {
        super::run_history::run_history(self.own(), identifier, runner).await
    }

    /// The latest session id recorded by a run of `runner` kind on this ticket.
    pub async fn latest_session(
        &self,
        identifier: &str,
        runner: &str,
    ) -> Result<Option<String>, StoreError> {
        read::latest_session(self.own(), identifier, runner).await
    }

    /// The ticket's events, in seq order.
    pub async fn events_for(&self, identifier: &str) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_for(&self.readers, identifier).await
    }

    /// The ticket's events of one `kind` (e.g. `transition`, `run_finished`), in seq
    /// order, without reading its other events (agent output lines included).
    pub async fn events_of_kind(
        &self,
        identifier: &str,
        kind: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_of_kind(self.own(), identifier, kind, false).await
    }

    /// The ticket's latest event of one `kind`, reading that one row only.
    pub async fn latest_of_kind(
        &self,
        identifier: &str,
        kind: &str,
    ) -> Result<Option<StoredEvent>, StoreError> {
        Ok(read::events_of_kind(self.own(), identifier, kind, true)
            .await?
            .pop())
    }

    /// Up to `limit` events with seq greater than `after_seq`, in seq order.
    pub async fn events_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_page(&self.readers, after_seq, limit).await
    }

    /// Run totals per state or per UTC day, overall or for one ticket.
    pub async fn totals_by(
        &self,
        by: Grouping,
        identifier: Option<&str>,
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        read::totals_by(&self.readers, by, identifier).await
    }

    /// Runs, cost and finished tickets per UTC day, for the `days` days ending with
    /// `last`, oldest first, days without figures included (see `daily`).
    pub async fn daily(
        &self,
        last: chrono::NaiveDate,
        days: u32,
    ) -> Result<Vec<DayFigures>, StoreError> {
        daily::daily(&self.readers, last, days).await
    }

    /// The totals of the runs started on `day` (UTC).
    pub async fn totals_on(&self, day: chrono::NaiveDate) -> Result<Totals, StoreError> {
        read::totals_on(self.own(), day).await
    }

    /// The latest `limit` events of one kind, newest first (for the dashboard).
    pub async fn recent_of_kind(
        &self,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::recent_of_kind(self.own(), kind, limit).await
    }

    /// Up to `limit` of karajan's comment intents with seq below `before`, newest first
    /// (a walk back to the latest tracker anchor, see `proof`).
    pub async fn comment_intents_before(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::comment_intents_before(&self.readers, before, limit).await
    }

    /// What the read model shows of the whole history on UTC day `day`: the run
    /// totals, that day's, and the latest transitions. A writable store answers from
    /// memory (see `ledger`), reading the database only when the ledger cannot follow it.
    pub async fn history(&self, day: chrono::NaiveDate) -> Result<HistoryView, StoreError> {
        let (Some(ledger), Some(writer)) = (&self.ledger, &self.writer) else {
            return self.read_history(day).await;
        };
        if let Some(view) = ledger.view(day) {
            return Ok(view);
        }
        // No append commits between the read and the reset.
        let _appends = writer.state.lock().await;
        let view = self.read_history(day).await?;
        ledger.reset(day, view.clone());
        Ok(view)
    }

    async fn read_history(&self, day: chrono::NaiveDate) -> Result<HistoryView, StoreError> {
        let recent = i64::try_from(ledger::RECENT_TRANSITIONS).unwrap_or(i64::MAX);
        Ok(HistoryView {
            totals: read::totals(self.own(), None).await?,
            today: self.totals_on(day).await?,
            transitions: self
                .recent_of_kind("transition", recent)
                .await?
                .into_iter()
                .map(std::sync::Arc::new)
                .collect(),
        })
    }

    /// The chain head committed so far: from memory on a writable store (the only
    /// writer of its database, so its last append is the head), else read.
    pub async fn committed_head(&self) -> Result<(i64, String), StoreError> {
        match &self.committed {
            Some(c) => Ok(c
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()),
            None => self.head().await,
        }
    }

    /// The chain head `(seq, hex hash)`; `(0, 64 zeros)` when empty.
    pub async fn head(&self) -> Result<(i64, String), StoreError> {
        read::head(self.own()).await
    }

    /// Runs, tokens and cost over every run.
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        read::totals(&self.readers, None).await
    }

    /// Runs, tokens and cost of one ticket's runs.
    pub async fn totals_for(&self, identifier: &str) -> Result<Totals, StoreError> {
        read::totals(&self.readers, Some(identifier)).await
    }
}
