//! The `Tracker` seam: where tickets come from and where karajan writes back.
//!
//! Adapters (local folder, Linear, GitHub) normalize their records into
//! `TicketSnapshot`s. Every adapter must pass the shared conformance suite in
//! `tests/conformance/` (`tracker.rs`), so the orchestrator can treat them alike.

pub mod github;
pub mod http;
pub(crate) mod incremental;
pub mod linear;
pub mod local;
pub mod marker;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{Comment, TicketRef, TicketSnapshot};

/// A record the adapter could not read. Reported, never fatal for the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Where it came from (a file path, a tracker id).
    pub source: String,
    pub error: String,
}

/// The result of a list read: the tickets, and the records that were skipped.
///
/// The tickets are shared (`Arc`), not owned: a tracker that keeps its candidates
/// between polls (the incremental reads) hands out the same snapshots poll after poll,
/// and the engine keeps them as they are, so a poll of 10,000 unchanged tickets copies
/// and frees none of them (issue 11: copying and dropping every snapshot was most of
/// a tick).
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub tickets: Vec<std::sync::Arc<TicketSnapshot>>,
    pub skipped: Vec<Skipped>,
}

/// What the tracker said of a move that landed: the ticket's own last-change time
/// after it (Linear's `updatedAt` in the mutation's answer), where the answer carries
/// one. A read that shows the ticket with a later time was made after the move, so
/// what it shows is the later word (see `orchestrator::chains::Landed`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moved {
    pub updated_at: Option<DateTime<Utc>>,
}

/// The tracker's remaining request budget, where it reports one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RateBudget {
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    pub resets_at: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
}

/// What `check`/`--dry-run` learn about the tracker without writing.
#[derive(Debug, Clone, Default)]
pub struct TrackerCheck {
    /// Human-readable facts (who we are, which project).
    pub facts: Vec<String>,
    /// Problems that make the workflow unusable (missing columns...).
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("tracker is rate limited until {until}")]
    RateLimited { until: DateTime<Utc> },
    #[error("tracker request failed (will retry): {0}")]
    Transient(String),
    /// A write was sent but its answer was lost (timeout, cut-off body, server error
    /// after the request arrived): it may or may not have happened. Never repeated
    /// blindly; the engine reads the tracker back first (see `orchestrator::intents`).
    #[error("tracker write outcome unknown (checked before any retry): {0}")]
    Unconfirmed(String),
    #[error("ticket {0} not found in the tracker")]
    NotFound(String),
    /// The ticket was closed by hand; karajan never moves it on (GitHub).
    #[error("{0} is closed; karajan does not move a closed issue on")]
    Closed(String),
    #[error("tracker returned a malformed record from {source_name}: {message}")]
    Malformed {
        source_name: String,
        message: String,
    },
    #[error("tracker error: {0}")]
    Fatal(String),
    /// The second part of a combined write was not carried out because the first
    /// failed (see `Tracker::move_and_comment`): safe to perform again.
    #[error("not attempted: {0}")]
    NotAttempted(String),
}

impl TrackerError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TrackerError::RateLimited { .. }
                | TrackerError::Transient(_)
                | TrackerError::Unconfirmed(_)
                | TrackerError::NotAttempted(_)
        )
    }

    /// The error of a write left out because `first` failed before it.
    pub fn not_attempted(first: &TrackerError) -> TrackerError {
        TrackerError::NotAttempted(format!("the write before it failed: {first}"))
    }

    /// The same error again, for a failure that hit several parts of one request.
    pub fn duplicate(&self) -> TrackerError {
        match self {
            TrackerError::RateLimited { until } => TrackerError::RateLimited { until: *until },
            TrackerError::Transient(m) => TrackerError::Transient(m.clone()),
            TrackerError::Unconfirmed(m) => TrackerError::Unconfirmed(m.clone()),
            TrackerError::NotFound(m) => TrackerError::NotFound(m.clone()),
            TrackerError::Closed(m) => TrackerError::Closed(m.clone()),
            TrackerError::Malformed {
                source_name,
                message,
            } => TrackerError::Malformed {
                source_name: source_name.clone(),
                message: message.clone(),
            },
            TrackerError::Fatal(m) => TrackerError::Fatal(m.clone()),
            TrackerError::NotAttempted(m) => TrackerError::NotAttempted(m.clone()),
        }
    }
}

#[async_trait]
pub trait Tracker: Send + Sync {
    /// `local`, `linear`, `github`.
    fn kind(&self) -> &'static str;

    /// The GitHub HTTP layer, for a GitHub tracker: a forge on the same API with the
    /// same token shares it, so both spend one rate-limit budget.
    fn github_http(&self) -> Option<std::sync::Arc<github::http::GithubHttp>> {
        None
    }

    /// Whether tickets can carry link attachments (Linear): the ticket's pull request is
    /// then attached to it.
    fn attaches_links(&self) -> bool {
        false
    }

    /// Attach `url` to the ticket under `title`. Setting a value: attaching the same URL
    /// again updates the attachment, so a retry is harmless.
    async fn attach_link(
        &self,
        ticket: &TicketRef,
        url: &str,
        title: &str,
    ) -> Result<(), TrackerError> {
        let _ = (url, title);
        Err(TrackerError::Fatal(format!(
            "the {} tracker has no link attachments ({})",
            self.kind(),
            ticket.identifier
        )))
    }

    /// Tickets currently in any of `columns`, in the tracker's order.
    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError>;

    /// Fresh snapshots of the given tickets (by identifier), whatever their column.
    /// A ticket that no longer exists is absent from the result; a requested record
    /// that cannot be read is an error, never silently missing.
    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError>;

    /// Move the ticket to `column`.
    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError>;

    /// Add a comment to the ticket.
    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError>;

    /// Move the ticket to `column`, then comment on it, in one request where the tracker
    /// allows it. The two outcomes come back apart (move, comment), so a partial failure
    /// or a lost answer is handled per part. Like two mutations of one GraphQL document,
    /// the comment is attempted only once the move succeeded; otherwise it fails with
    /// [`TrackerError::NotAttempted`]. By default: `move_ticket`, then `comment`, and
    /// nothing said of the move ([`Moved::default`]).
    async fn move_and_comment(
        &self,
        ticket: &TicketRef,
        column: &str,
        body: &str,
    ) -> (Result<Moved, TrackerError>, Result<(), TrackerError>) {
        let moved = self.move_ticket(ticket, column).await;
        let commented = match &moved {
            Ok(()) => self.comment(ticket, body).await,
            Err(e) => Err(TrackerError::not_attempted(e)),
        };
        (moved.map(|()| Moved::default()), commented)
    }

    /// The ticket `known` as a verified webhook delivery's `data` shows it (the
    /// tracker's own payload of a ticket change), with what the delivery does not carry
    /// taken from `known`; `Err` (why) where the delivery cannot stand for a read of the
    /// ticket, and by default: the engine then reads the ticket.
    fn read_delivery(
        &self,
        data: &serde_json::Value,
        known: &TicketSnapshot,
    ) -> Result<TicketSnapshot, String> {
        let _ = (data, known);
        Err(format!(
            "the {} tracker reads its deliveries' tickets",
            self.kind()
        ))
    }

    /// All comments of the ticket, oldest first.
    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError>;

    /// Validate the configured columns against the tracker without writing anything.
    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError>;

    /// The node id of the board whose items are this tracker's tickets (a GitHub
    /// project), once known: deliveries about other boards' items are ignored.
    fn board_id(&self) -> Option<String> {
        None
    }

    /// The last known request budget, if the tracker reports one.
    fn rate_budget(&self) -> Option<RateBudget> {
        None
    }

    /// Tickets in the terminal columns, including those the candidate read leaves out
    /// (a closed GitHub issue, a Linear ticket in a completed state), so the engine can
    /// finish what it is responsible for and clean its workspace. Called at a slower
    /// cadence than the poll. Trackers whose candidate read sees everything need none.
    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        Ok(Fetched::default())
    }

    /// How often the terminal sweep should run, when the tracker's settings say
    /// (`None`: the engine's default, every few polls).
    fn sweep_every(&self) -> Option<std::time::Duration> {
        None
    }

    /// The column karajan recorded for a ticket (the engine tells the adapter from its
    /// store), for adapters that repair an ambiguous tracker record to it.
    async fn note_recorded_column(&self, _identifier: &str, _column: &str) {}

    /// Whether [`Tracker::note_recorded_column`] does anything (the engine skips the
    /// pass over every ticket's record after each poll otherwise).
    fn wants_recorded_columns(&self) -> bool {
        false
    }
}

/// Build the tracker a workflow asks for.
pub fn from_config(
    wf: &crate::config::Workflow,
) -> Result<std::sync::Arc<dyn Tracker>, TrackerError> {
    let terminal = wf.machine.columns.terminal_all();
    let section = &wf.tracker;
    if let Some(local) = section.get::<local::config::LocalTrackerConfig>() {
        return Ok(std::sync::Arc::new(local::LocalTracker::new(
            local.dir.clone(),
            terminal,
        )));
    }
    if let Some(config) = section.get::<linear::config::LinearConfig>() {
        let config = config.clone().with_terminal_columns(terminal);
        return Ok(std::sync::Arc::new(linear::LinearTracker::new(config)?));
    }
    let Some(gh) = section.get::<github::GithubConfig>() else {
        return Err(TrackerError::Fatal(format!(
            "no tracker adapter for kind `{}`",
            section.kind()
        )));
    };
    let cols = &wf.machine.columns;
    let mut columns = cols.watched();
    columns.extend(terminal.iter().cloned());
    let mut human = vec![
        cols.todo.clone(),
        cols.approved.clone(),
        cols.rework.clone(),
    ];
    human.extend(terminal.iter().cloned());
    let config = gh
        .clone()
        .with_terminal_columns(terminal)
        .with_columns(columns)
        .with_human_columns(human);
    Ok(std::sync::Arc::new(github::GithubTracker::new(config)?))
}
