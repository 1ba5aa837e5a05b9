//! A cluster leader's tracker: every write first checks that the node's term is still
//! valid by its own clock (see `term`), and is refused, unsent, once it is not.
//!
//! The store's fencing (`store::fence`) already keeps a stale node from recording an
//! intent, so it never *starts* a tracker write after losing its lease. This closes
//! most of the rest: a write already recorded and handed to a ticket's chain when the
//! node was paused is not sent when the node resumes past its lease (the new holder
//! performs it, reading the tracker first). What no client can close is a pause
//! between this check and the request leaving: that window is the time of one
//! function call, not a lease.
//!
//! A refused write is `Transient`: the intent stays owed in the outbox, for whoever
//! holds the lease next.

use std::sync::Arc;

use async_trait::async_trait;

use super::term::Term;
use crate::domain::{Comment, TicketRef, TicketSnapshot};
use crate::tracker::{Fetched, Moved, RateBudget, Tracker, TrackerCheck, TrackerError};

pub struct FencedTracker {
    inner: Arc<dyn Tracker>,
    term: Term,
}

impl FencedTracker {
    pub fn wrap(inner: Arc<dyn Tracker>, term: Term) -> Arc<dyn Tracker> {
        Arc::new(FencedTracker { inner, term })
    }

    fn may_write(&self, ticket: &TicketRef) -> Result<(), TrackerError> {
        if self.term.valid() {
            return Ok(());
        }
        Err(TrackerError::Transient(format!(
            "not sent for {}: this node's tracker lease (token {}) is lost",
            ticket.identifier, self.term.token
        )))
    }
}

#[async_trait]
impl Tracker for FencedTracker {
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

    fn attaches_links(&self) -> bool {
        self.inner.attaches_links()
    }

    async fn attach_link(
        &self,
        ticket: &TicketRef,
        url: &str,
        title: &str,
    ) -> Result<(), TrackerError> {
        self.may_write(ticket)?;
        self.inner.attach_link(ticket, url, title).await
    }

    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        self.inner.fetch_candidates(columns).await
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        self.inner.fetch_by_identifiers(identifiers).await
    }

    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        self.may_write(ticket)?;
        self.inner.move_ticket(ticket, column).await
    }

    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        self.may_write(ticket)?;
        self.inner.comment(ticket, body).await
    }

    async fn move_and_comment(
        &self,
        ticket: &TicketRef,
        column: &str,
        body: &str,
    ) -> (Result<Moved, TrackerError>, Result<(), TrackerError>) {
        if let Err(e) = self.may_write(ticket) {
            let not = TrackerError::not_attempted(&e);
            return (Err(e), Err(not));
        }
        self.inner.move_and_comment(ticket, column, body).await
    }

    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        self.inner.comments(ticket).await
    }

    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        self.inner.check(columns).await
    }

    fn board_id(&self) -> Option<String> {
        self.inner.board_id()
    }

    fn rate_budget(&self) -> Option<RateBudget> {
        self.inner.rate_budget()
    }

    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        self.inner.terminal_sweep().await
    }

    fn sweep_every(&self) -> Option<std::time::Duration> {
        self.inner.sweep_every()
    }

    async fn note_recorded_column(&self, identifier: &str, column: &str) {
        self.inner.note_recorded_column(identifier, column).await;
    }

    fn wants_recorded_columns(&self) -> bool {
        self.inner.wants_recorded_columns()
    }
}
