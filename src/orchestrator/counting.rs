//! A `Tracker` decorator that counts calls and errors for `/metrics`. The counters are
//! the wrapper's own; the actor reads them when it publishes the read model.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::domain::{Comment, TicketRef, TicketSnapshot};
use crate::tracker::{Fetched, Moved, RateBudget, Tracker, TrackerCheck, TrackerError};

pub(crate) struct CountingTracker {
    inner: Arc<dyn Tracker>,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl CountingTracker {
    pub fn new(inner: Arc<dyn Tracker>, calls: u64, errors: u64) -> Self {
        CountingTracker {
            inner,
            calls: AtomicU64::new(calls),
            errors: AtomicU64::new(errors),
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }

    fn count<T>(&self, r: Result<T, TrackerError>) -> Result<T, TrackerError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if r.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

#[async_trait]
impl Tracker for CountingTracker {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read_delivery(
        &self,
        data: &serde_json::Value,
        known: &TicketSnapshot,
    ) -> Result<TicketSnapshot, String> {
        self.inner.read_delivery(data, known)
    }

    fn github_http(&self) -> Option<Arc<crate::tracker::github::http::GithubHttp>> {
        self.inner.github_http()
    }

    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        self.count(self.inner.fetch_candidates(columns).await)
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        self.count(self.inner.fetch_by_identifiers(identifiers).await)
    }

    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        self.count(self.inner.move_ticket(ticket, column).await)
    }

    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        self.count(self.inner.comment(ticket, body).await)
    }

    fn attaches_links(&self) -> bool {
        self.inner.attaches_links()
    }

    async fn attach_link(
        &self,
        ticket: &TicketRef,
        url: &str,
        title: &str,
    ) -> Result<(), TrackerError> {
        self.count(self.inner.attach_link(ticket, url, title).await)
    }

    async fn move_and_comment(
        &self,
        ticket: &TicketRef,
        column: &str,
        body: &str,
    ) -> (Result<Moved, TrackerError>, Result<(), TrackerError>) {
        let (moved, commented) = self.inner.move_and_comment(ticket, column, body).await;
        let both = moved
            .as_ref()
            .and(commented.as_ref())
            .map(|_| ())
            .map_err(|_| ());
        self.calls.fetch_add(1, Ordering::Relaxed);
        if both.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        (moved, commented)
    }

    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        self.count(self.inner.comments(ticket).await)
    }

    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        self.count(self.inner.check(columns).await)
    }

    fn sweep_every(&self) -> Option<std::time::Duration> {
        self.inner.sweep_every()
    }

    fn board_id(&self) -> Option<String> {
        self.inner.board_id()
    }

    fn rate_budget(&self) -> Option<RateBudget> {
        self.inner.rate_budget()
    }

    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        self.count(self.inner.terminal_sweep().await)
    }

    async fn note_recorded_column(&self, identifier: &str, column: &str) {
        self.inner.note_recorded_column(identifier, column).await
    }

    fn wants_recorded_columns(&self) -> bool {
        self.inner.wants_recorded_columns()
    }
}
