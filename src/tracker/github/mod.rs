//! `tracker.kind: github`: GitHub issues as tickets, in two modes (see `config`):
//! columns are the options of a Projects v2 single-select field (`project.rs`), or
//! state labels with a prefix (`labels.rs`). Both normalize into the same snapshot
//! (`normalize.rs`) and share one HTTP layer that honours GitHub's rate limits
//! (`http.rs`).
//!
//! Reads are lean: `fetch_candidates` (the poll) reads only what dispatch needs;
//! `fetch_by_identifiers` reads each ticket in full (assignees, board item, blockers) and
//! is what the engine calls for tickets it is about to dispatch or is running.
//!
//! **Blockers** come from GitHub issue dependencies (`Issue.blockedBy`, first 20 per
//! issue; a blocker is resolved when its issue is closed), which only the newer GitHub
//! schema has (`graphql/github/issue_blockers_NEWER_SCHEMA_ONLY.graphql`). They are read
//! in one batched query per 100 tickets, for the candidates of a poll (so dispatch sees
//! blocker state) and for detail reads. A server that rejects the field (older GitHub
//! Enterprise Server) is remembered and tickets report no blockers — the documented
//! fallback.
//!
//! **Cost of a poll** (GitHub's formula: each connection costs one request per parent,
//! the sum divided by 100 and rounded, minimum 1 point): project mode reads 100 board
//! items a page with their first 20 labels (1 point a page), then the blockers of the
//! candidates (1 point per 100 candidates, none without candidates). Measured by
//! `tests/github/cost.rs` with every item a candidate: 2 points per tick for 10 and 100
//! items, 20 for 1,000. Labels mode reads issues with REST — one request per column label
//! and page (3 requests for 10 or 100 items over 3 columns, 12 for 1,000) — plus the same
//! blockers query (1 point per 100 candidates).
//!
//! **Incremental polls** (labels mode, `crate::tracker::incremental`): after a full read,
//! a poll makes one REST request for the issues updated since the last read began (minus
//! an overlap), open or closed, and merges them into the cached candidates; one poll in
//! `FULL_READ_EVERY` (and any poll after one that skipped a record) reads in full again.
//! Projects v2 has no updated-since filter for project items, so project mode always
//! reads the board in full.

mod combined;
pub mod config;
mod delivery;
pub mod http;
mod labels;
mod normalize;
mod project;
mod queries;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::{Mutex, RwLock};

pub use config::{GithubConfig, GithubMode, PrioritySource, RawGithubConfig};

use self::http::GithubHttp;
use self::normalize::IssueFields;
use self::queries::{
    AddComment, IssueBlockers, IssueComments, add_comment, issue_blockers, issue_comments,
};
use crate::config::Secret;
use crate::domain::{Blocker, Comment, TicketRef, TicketSnapshot};
use crate::tracker::incremental::{CandidateCache, Plan};
use crate::tracker::{Fetched, Moved, RateBudget, Tracker, TrackerCheck, TrackerError};

/// The GitHub adapter. Holds only caches (board, item ids, known columns), never the
/// engine's state.
pub struct GithubTracker {
    config: GithubConfig,
    /// Shared with the forge on the same API and token: one rate-limit budget.
    http: std::sync::Arc<GithubHttp>,
    page_size: i64,
    board: RwLock<Option<project::Board>>,
    /// Issue node id → project item id (project mode).
    item_ids: Mutex<HashMap<String, String>>,
    /// Every column name karajan has used with this tracker, to map labels back.
    columns: Mutex<Vec<String>>,
    /// identifier → the column karajan last recorded for it (labels-mode repair).
    recorded: Mutex<HashMap<String, String>>,
    blockers_supported: AtomicBool,
    /// The candidates of the last poll, for incremental reads (labels mode).
    candidates: CandidateCache,
    /// Tickets already reported (WARN) as having no column, so a held ticket is not
    /// reported again at every poll.
    columnless: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for GithubTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubTracker")
            .field("config", &self.config)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl GithubTracker {
    pub fn new(config: GithubConfig) -> Result<Self, TrackerError> {
        let http = std::sync::Arc::new(GithubHttp::new(
            config.token.clone(),
            config.api.clone(),
            config.http.clone(),
        )?);
        let mut columns = config.terminal_columns.clone();
        for c in &config.columns {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
        Ok(GithubTracker {
            config,
            http,
            page_size: 100,
            board: RwLock::new(None),
            item_ids: Mutex::new(HashMap::new()),
            columns: Mutex::new(columns),
            recorded: Mutex::new(HashMap::new()),
            blockers_supported: AtomicBool::new(true),
            columnless: Mutex::new(std::collections::HashSet::new()),
            candidates: CandidateCache::default(),
        })
    }

    /// Page size of list reads (100, GitHub's maximum); tests lower it to paginate.
    pub fn with_page_size(mut self, size: i64) -> Self {
        self.page_size = size.clamp(1, 100);
        self
    }

    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    /// Project mode: resolve (again) the project, status field and options, and cache
    /// them. Call at start and on reload. Returns human-readable facts.
    pub async fn reload(&self) -> Result<Vec<String>, TrackerError> {
        match self.config.mode {
            GithubMode::Project { .. } => {
                let b = project::resolve(self).await?;
                Ok(board_facts(&b))
            }
            GithubMode::Labels => Ok(vec![format!(
                "labels mode on {} (prefix `{}`)",
                self.config.repo_full_name(),
                self.config.label_prefix
            )]),
        }
    }

    /// Tickets in the terminal columns (`GithubConfig::terminal_columns`), closed ones
    /// included, so workspaces of tickets that left the candidate filter get cleaned.
    pub async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        let columns = self.config.terminal_columns.clone();
        if columns.is_empty() {
            return Ok(Fetched::default());
        }
        match self.config.mode {
            GithubMode::Project { .. } => project::list(self, &columns, true).await,
            GithubMode::Labels => labels::list(self, &columns, "all").await,
        }
    }

    /// `karajan init --github-labels`: creates the state labels of `columns`; labels
    /// that exist already are left alone. Returns the labels created.
    pub async fn create_state_labels(
        &self,
        columns: &[String],
    ) -> Result<Vec<String>, TrackerError> {
        labels::create(self, columns).await
    }

    /// Labels mode: keeps only `recorded_column`'s state label on the ticket (logging a
    /// warning) and remembers the column. Returns the labels removed.
    pub async fn repair_state_labels(
        &self,
        ticket: &TicketRef,
        recorded_column: &str,
    ) -> Result<Vec<String>, TrackerError> {
        self.note_recorded_column(&ticket.identifier, recorded_column)
            .await;
        let (_, _, number) = normalize::parse_identifier(&ticket.identifier)
            .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
        let fields = labels::get_issue(self, number)
            .await?
            .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
        let current: Vec<String> = fields
            .labels
            .iter()
            .map(|l| l.to_lowercase())
            .filter(|l| self.config.is_state_label(l))
            .collect();
        labels::repair(self, ticket, number, recorded_column, &current).await
    }

    /// Tells the adapter the column karajan recorded for a ticket (the engine calls it at
    /// start from its store); a ticket found with two state labels is then repaired to it
    /// during the poll instead of being skipped.
    pub async fn note_recorded_column(&self, identifier: &str, column: &str) {
        self.learn_columns(&[column.to_string()]).await;
        self.recorded
            .lock()
            .await
            .insert(identifier.to_string(), column.to_string());
    }

    /// The environment agents get from this tracker: `GITHUB_TOKEN` only when
    /// `pass_token_to_agents: true`.
    pub fn agent_env(&self) -> Vec<(String, Secret)> {
        if self.config.pass_token_to_agents {
            vec![("GITHUB_TOKEN".to_string(), self.http.token().clone())]
        } else {
            Vec::new()
        }
    }

    /// GraphQL points GitHub reported spending for this adapter's queries.
    pub fn graphql_points_spent(&self) -> u64 {
        self.http.graphql_points()
    }

    /// HTTP requests sent (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
    }

    async fn learn_columns(&self, columns: &[String]) {
        let mut known = self.columns.lock().await;
        for c in columns {
            if !known.contains(c) {
                known.push(c.clone());
            }
        }
    }

    async fn column_of_label(&self, label: &str) -> Option<String> {
        self.columns
            .lock()
            .await
            .iter()
            .find(|c| self.config.state_label(c).eq_ignore_ascii_case(label))
            .cloned()
    }

    fn snapshot(
        &self,
        fields: IssueFields,
        column: String,
        field_priority: Option<u8>,
        blocked_by: Vec<Blocker>,
    ) -> TicketSnapshot {
        let lowered: Vec<String> = fields.labels.iter().map(|l| l.to_lowercase()).collect();
        let priority = match &self.config.priority {
            Some(PrioritySource::LabelPrefix(_)) => {
                normalize::priority_from_labels(&self.config, &lowered)
            }
            Some(PrioritySource::ProjectField(_)) => field_priority,
            None => None,
        };
        TicketSnapshot {
            id: fields.node_id,
            identifier: normalize::identifier(&fields.repo, fields.number),
            title: fields.title,
            description: fields.body,
            url: Some(fields.url).filter(|u| !u.is_empty()),
            labels: normalize::visible_labels(&self.config, &lowered),
            priority,
            column,
            blocked_by,
            branch_name: None,
            created_at: fields.created_at,
            updated_at: fields.updated_at,
            recent_comments: None,
        }
    }

    /// Labels-mode candidates (without blockers): a full read (one request per column
    /// label) on the first poll, one in every `FULL_READ_EVERY`, when `columns` change
    /// and after any poll that skipped a record; otherwise one `since` request merged
    /// into the cached candidates.
    async fn label_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        let started = chrono::Utc::now();
        match self.candidates.plan(columns) {
            Plan::Full => {
                let fetched = labels::list(self, columns, "open").await?;
                // A skipped ticket (two state labels) may become readable without
                // changing (karajan records its column): read in full until none is.
                if fetched.skipped.is_empty() {
                    self.candidates
                        .store_full(columns, started, &fetched.tickets);
                } else {
                    self.candidates.clear();
                }
                Ok(fetched)
            }
            Plan::Since(since) => {
                let changes = labels::changed_since(self, columns, since).await?;
                tracing::debug!(
                    changed = changes.tickets.len(),
                    "incremental read of GitHub candidates"
                );
                let tickets =
                    self.candidates
                        .merge(columns, started, changes.tickets, &changes.gone, |_| {});
                if !changes.skipped.is_empty() {
                    self.candidates.clear();
                }
                Ok(Fetched {
                    tickets,
                    skipped: changes.skipped,
                })
            }
        }
    }

    /// Fills `blocked_by` from GitHub issue dependencies, one query per 100 tickets;
    /// leaves them empty where the server lacks the field (remembered).
    async fn attach_blockers(
        &self,
        tickets: &mut [std::sync::Arc<TicketSnapshot>],
    ) -> Result<(), TrackerError> {
        for chunk in tickets.chunks_mut(100) {
            if !self.blockers_supported.load(Ordering::Relaxed) {
                return Ok(());
            }
            let vars = issue_blockers::Variables {
                ids: chunk.iter().map(|t| t.id.clone()).collect(),
            };
            let reply = self.http.graphql::<IssueBlockers>(vars, true).await?;
            if reply.errors.iter().any(|e| e.is_undefined_field()) {
                tracing::info!(
                    "this GitHub server has no issue dependencies (blockedBy); tickets report no blockers"
                );
                self.blockers_supported.store(false, Ordering::Relaxed);
                return Ok(());
            }
            let data = reply.into_data("IssueBlockers")?;
            let mut by_id: HashMap<String, Vec<Blocker>> = HashMap::new();
            for node in data.nodes.into_iter().flatten() {
                let issue_blockers::IssueBlockersNodes::Issue(issue) = node else {
                    continue;
                };
                let blockers = issue
                    .blocked_by
                    .nodes
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|b| Blocker {
                        identifier: normalize::identifier(&b.repository.name_with_owner, b.number),
                        resolved: b.state != issue_blockers::IssueState::OPEN,
                    })
                    .collect();
                by_id.insert(issue.id, blockers);
            }
            for ticket in chunk.iter_mut() {
                let blockers = by_id.remove(&ticket.id).unwrap_or_default();
                // Copied only when its blockers changed (the ticket may be shared).
                if ticket.blocked_by != blockers {
                    std::sync::Arc::make_mut(ticket).blocked_by = blockers;
                }
            }
        }
        Ok(())
    }

    async fn detail(&self, identifier: &str) -> Result<Option<TicketSnapshot>, TrackerError> {
        let Some((owner, name, number)) = normalize::parse_identifier(identifier) else {
            return Err(TrackerError::Malformed {
                source_name: identifier.to_string(),
                message: "expected `owner/repo#N`".to_string(),
            });
        };
        let (fields, column, priority) = match self.config.mode {
            GithubMode::Project { .. } => {
                let Some(found) = project::detail(self, &owner, &name, number).await? else {
                    return Ok(None);
                };
                found
            }
            GithubMode::Labels => {
                if !format!("{owner}/{name}").eq_ignore_ascii_case(&self.config.repo_full_name()) {
                    return Ok(None);
                }
                let Some(fields) = labels::get_issue(self, number).await? else {
                    return Ok(None);
                };
                let column = match labels::resolve_column(self, &fields, identifier).await? {
                    Ok(c) => c,
                    Err(skipped) => {
                        return Err(TrackerError::Malformed {
                            source_name: skipped.source,
                            message: skipped.error,
                        });
                    }
                };
                // Label priorities are read by `snapshot`.
                (fields, column, None)
            }
        };
        self.report_columnless(identifier, fields.open, &column)
            .await;
        let column =
            normalize::effective_column(fields.open, column, &self.config.terminal_columns);
        Ok(Some(self.snapshot(fields, column, priority, Vec::new())))
    }

    /// A WARN, once per ticket, for an open issue that has no column (deleted project
    /// item, empty status field, no state label); again if it loses its column later.
    async fn report_columnless(&self, identifier: &str, open: bool, column: &str) {
        let mut reported = self.columnless.lock().await;
        let columnless = [
            normalize::NOT_ON_PROJECT,
            normalize::NO_STATUS,
            normalize::NO_STATE_LABEL,
        ]
        .contains(&column);
        if !columnless || !open {
            reported.remove(identifier);
        } else if reported.insert(identifier.to_string()) {
            tracing::warn!(
                ticket = %identifier,
                column,
                "GitHub issue has no column (a deleted project item, an empty status field, or no state label); karajan holds it until it has one"
            );
        }
    }
}

fn board_facts(b: &project::Board) -> Vec<String> {
    vec![
        format!("project `{}` ({})", b.title, b.url),
        format!(
            "field `{}` options: {}",
            b.field_name,
            b.options
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ]
}

#[async_trait]
impl Tracker for GithubTracker {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn github_http(&self) -> Option<std::sync::Arc<GithubHttp>> {
        Some(self.http.clone())
    }

    fn board_id(&self) -> Option<String> {
        // Resolved by the first poll, and again after a reload; `None` meanwhile.
        let board = self.board.try_read().ok()?;
        board.as_ref().map(|b| b.project_id.clone())
    }

    fn read_delivery(
        &self,
        data: &serde_json::Value,
        known: &TicketSnapshot,
    ) -> Result<TicketSnapshot, String> {
        delivery::ticket(self, data, known)
    }

    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        let mut fetched = match self.config.mode {
            // Projects v2 items have no updated-since filter: always a full read.
            GithubMode::Project { .. } => project::list(self, columns, false).await?,
            GithubMode::Labels => self.label_candidates(columns).await?,
        };
        self.attach_blockers(&mut fetched.tickets).await?;
        Ok(fetched)
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        let mut out = Vec::new();
        let mut asked = std::collections::HashSet::new();
        // Each requested ticket once, however often it was asked for.
        for identifier in identifiers.iter().filter(|i| asked.insert(i.as_str())) {
            if let Some(snapshot) = self.detail(identifier).await? {
                out.push(snapshot);
            }
        }
        let mut out: Vec<std::sync::Arc<TicketSnapshot>> =
            out.into_iter().map(std::sync::Arc::new).collect();
        self.attach_blockers(&mut out).await?;
        Ok(out
            .into_iter()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect())
    }

    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        match self.config.mode {
            GithubMode::Project { .. } => project::move_ticket(self, ticket, column).await?,
            GithubMode::Labels => {
                labels::move_ticket(self, ticket, column).await?;
            }
        }
        self.recorded
            .lock()
            .await
            .insert(ticket.identifier.clone(), column.to_string());
        Ok(())
    }

    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        let vars = add_comment::Variables {
            subject_id: ticket.id.clone(),
            body: body.to_string(),
        };
        // Not retried on 5xx: GitHub may have posted it; the engine's intent decides.
        self.http
            .graphql::<AddComment>(vars, false)
            .await?
            .into_data(&format!("commenting on {}", ticket.identifier))?;
        Ok(())
    }

    async fn move_and_comment(
        &self,
        ticket: &TicketRef,
        column: &str,
        body: &str,
    ) -> (Result<Moved, TrackerError>, Result<(), TrackerError>) {
        let (moved, commented) = match self.config.mode {
            GithubMode::Project { .. } => {
                combined::move_and_comment(self, ticket, column, body).await
            }
            // Labels mode: REST, one call each (the trait's default way).
            GithubMode::Labels => {
                let moved = labels::move_ticket(self, ticket, column).await;
                let commented = match &moved {
                    Ok(_) => self.comment(ticket, body).await,
                    Err(e) => Err(TrackerError::not_attempted(e)),
                };
                (moved.map(|_| Moved::default()), commented)
            }
        };
        if moved.is_ok() {
            self.recorded
                .lock()
                .await
                .insert(ticket.identifier.clone(), column.to_string());
        }
        (moved, commented)
    }

    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let vars = issue_comments::Variables {
                id: ticket.id.clone(),
                first: self.page_size,
                after: after.clone(),
            };
            let data = self
                .http
                .graphql::<IssueComments>(vars, true)
                .await?
                .into_data(&format!("comments of {}", ticket.identifier))?;
            let Some(issue_comments::IssueCommentsNode::Issue(issue)) = data.node else {
                return Err(TrackerError::NotFound(ticket.identifier.clone()));
            };
            for c in issue.comments.nodes.into_iter().flatten().flatten() {
                out.push(Comment {
                    author: c
                        .author
                        .map(|a| a.login)
                        .unwrap_or_else(|| "ghost".to_string()),
                    body: c.body,
                    created_at: c.created_at,
                });
            }
            match (
                issue.comments.page_info.has_next_page,
                issue.comments.page_info.end_cursor,
            ) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        out.sort_by_key(|c| c.created_at);
        Ok(out)
    }

    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        let mut check = TrackerCheck::default();
        match self.config.mode {
            GithubMode::Project { .. } => {
                let board = project::resolve(self).await?;
                check.facts.extend(board_facts(&board));
                if let Some(msg) = board.missing_columns(columns) {
                    check.errors.push(msg);
                }
            }
            GithubMode::Labels => {
                self.learn_columns(columns).await;
                let existing = labels::existing(self).await?;
                check.facts.push(format!(
                    "repository {}: {} labels, state prefix `{}`",
                    self.config.repo_full_name(),
                    existing.len(),
                    self.config.label_prefix
                ));
                let mut by_label: HashMap<String, &String> = HashMap::new();
                for column in columns {
                    let label = self.config.state_label(column);
                    if let Some(other) = by_label.insert(label.clone(), column) {
                        check.errors.push(format!(
                            "columns `{other}` and `{column}` both map to label `{label}`"
                        ));
                    }
                    if !existing.contains(&label) {
                        check.errors.push(format!(
                            "label `{label}` (column `{column}`) is missing in {}; create it with `karajan init --github-labels`",
                            self.config.repo_full_name()
                        ));
                    }
                }
            }
        }
        Ok(check)
    }

    fn rate_budget(&self) -> Option<RateBudget> {
        self.http.budget()
    }

    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        GithubTracker::terminal_sweep(self).await
    }

    async fn note_recorded_column(&self, identifier: &str, column: &str) {
        GithubTracker::note_recorded_column(self, identifier, column).await
    }

    fn wants_recorded_columns(&self) -> bool {
        true
    }
}
