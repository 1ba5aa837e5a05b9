//! `tracker.kind: linear`: tickets from a Linear project (by `slugId`) or team (by key).
//!
//! Every read is a paginated `issues` query with a filter (so a tick costs one request
//! per 50 candidates, plus one per 50 running tickets refreshed). Polls are incremental
//! (`crate::tracker::incremental`): after a full read, a poll asks only for the issues
//! in scope updated (or commented by a human) since the last read began (minus an
//! overlap), whatever their state, and merges them into the cached candidates; of
//! those, only the issues that can change the candidates (`narrow`: in a watched
//! column, cached, or a cached ticket's blocker), so an idle daemon does not re-read
//! the tickets a burst just finished. Every
//! issue read also carries the issue's newest human comments (`recent`), so a run's
//! prompt needs no comment read of its own. Workflow states are resolved to ids once
//! and cached for moves; a full comment read (the gate's rework feedback) goes page by
//! page and is sorted by creation time. Rate limits, retries and the key's secrecy live in
//! `transport`; Linear's record shapes become `TicketSnapshot`s in `normalize`.

mod check;
mod combined;
pub mod config;
mod delivery;
mod narrow;
mod normalize;
mod ops;
mod recent;
mod states;
mod transport;

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use self::config::LinearConfig;
use self::ops::{
    AttachLink, CreateComment, IssueComments, ListIssues, MoveIssue, WorkflowStates, list_issues,
};
use self::states::{ColumnState, StateCache, missing_column};
use self::transport::{CallError, Transport};
use crate::domain::{Comment, TicketRef, TicketSnapshot};
use crate::tracker::incremental::{CandidateCache, Plan};
use crate::tracker::{Fetched, Moved, RateBudget, Skipped, Tracker, TrackerCheck, TrackerError};

pub use self::config::{RawLinearTracker, RetryPolicy};

/// The Linear adapter. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct LinearTracker {
    config: LinearConfig,
    transport: Transport,
    /// Workflow states by team; `None` until first needed.
    states: Mutex<Option<StateCache>>,
    /// The candidates of the last poll, for incremental reads (see `fetch_candidates`).
    candidates: CandidateCache,
}

impl std::fmt::Debug for LinearTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearTracker")
            .field("config", &self.config)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl LinearTracker {
    pub fn new(config: LinearConfig) -> Result<LinearTracker, TrackerError> {
        let transport = Transport::new(&config)?;
        Ok(LinearTracker {
            config,
            transport,
            states: Mutex::new(None),
            candidates: CandidateCache::default(),
        })
    }

    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    /// Tickets in the terminal columns updated within `terminal_lookback`: the slow sweep
    /// that finds workspaces to clean up for tickets finished while karajan was down.
    pub async fn terminal_sweep(&self) -> Result<Vec<TicketSnapshot>, TrackerError> {
        if self.config.terminal_columns.is_empty() {
            return Ok(Vec::new());
        }
        let since = Utc::now()
            - chrono::Duration::from_std(self.config.terminal_lookback)
                .unwrap_or(chrono::Duration::days(7));
        let mut filter = self.scope_filter();
        filter.state = Some(state_named(&self.config.terminal_columns));
        filter.updated_at = Some(list_issues::DateComparator {
            gte: Some(normalize::timestamp(since)),
        });
        let fetched = self.list(filter, "terminal sweep").await?;
        Ok(fetched
            .tickets
            .into_iter()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect())
    }

    /// Reloads the teams' workflow states (call on config reload).
    pub async fn refresh_states(&self) -> Result<(), TrackerError> {
        let keys = self.scope_team_keys().await?;
        let cache = self.load_states(&keys).await?;
        *self.lock_states() = Some(cache);
        Ok(())
    }

    fn lock_states(&self) -> std::sync::MutexGuard<'_, Option<StateCache>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The project and/or team restriction every candidate read carries.
    fn scope_filter(&self) -> list_issues::IssueFilter {
        list_issues::IssueFilter {
            project: self
                .config
                .project
                .as_ref()
                .map(|slug| list_issues::NullableProjectFilter {
                    slug_id: Some(eq(slug)),
                }),
            team: self
                .config
                .team
                .as_ref()
                .map(|key| list_issues::TeamFilter { key: Some(eq(key)) }),
            ..Default::default()
        }
    }

    /// Reads every page of issues matching `filter`, in Linear's order. Records that
    /// cannot be read are skipped and reported.
    async fn list(
        &self,
        filter: list_issues::IssueFilter,
        purpose: &str,
    ) -> Result<Fetched, TrackerError> {
        let mut fetched = Fetched::default();
        for node in self.list_nodes(filter).await? {
            let label = normalize::node_label(&node);
            match normalize::issue(node) {
                Ok(ticket) => fetched.tickets.push(std::sync::Arc::new(ticket)),
                Err(error) => {
                    tracing::warn!(issue = %label, %error, purpose, "skipping a Linear issue that cannot be read");
                    fetched.skipped.push(Skipped {
                        source: format!("linear:{label}"),
                        error,
                    });
                }
            }
        }
        Ok(fetched)
    }

    /// Every issue node matching `filter`, undecoded, following `pageInfo`.
    async fn list_nodes(
        &self,
        filter: list_issues::IssueFilter,
    ) -> Result<Vec<Value>, TrackerError> {
        let mut nodes = Vec::new();
        let mut after = None;
        loop {
            let data = self
                .transport
                .call::<ListIssues>(list_issues::Variables {
                    filter: filter.clone(),
                    first: i64::from(self.config.page_size),
                    after: after.take(),
                    recent_comments: recent::COUNT,
                    human_comments: recent::human_comments(),
                })
                .await
                .map_err(|e| e.into_tracker("ListIssues"))?;
            let page = normalize::parse_page(data, "issues").map_err(|message| {
                TrackerError::Malformed {
                    source_name: "Linear ListIssues".to_string(),
                    message,
                }
            })?;
            nodes.extend(page.nodes);
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(nodes),
            }
        }
    }

    /// An incremental poll: every issue in scope updated or given a human comment since
    /// `since` (see `recent`), whatever its state (so one moved out of the watched
    /// columns is seen and leaves), merged into the cached candidates. The changed issues' states also refresh the blockers of
    /// cached tickets, since a blocker's move does not touch the blocked issue's
    /// `updatedAt`.
    async fn changed_candidates(
        &self,
        columns: &[String],
        started: chrono::DateTime<Utc>,
        since: chrono::DateTime<Utc>,
    ) -> Result<Fetched, TrackerError> {
        let mut filter = self.scope_filter();
        filter.or = Some(recent::changed_since(since));
        // Only what can change the candidates (see `narrow`): the same window, fewer
        // issues read again and again after a burst.
        filter.and = narrow::relevant(columns, &self.candidates.listed()).map(|f| vec![f]);
        let nodes = self.list_nodes(filter).await?;
        let mut changed = Vec::new();
        let mut gone = Vec::new();
        let mut skipped = Vec::new();
        let mut state_types: BTreeMap<String, String> = BTreeMap::new();
        for node in nodes {
            let text = |pointer: &str| node.pointer(pointer).and_then(Value::as_str);
            if let (Some(identifier), Some(kind)) = (text("/identifier"), text("/state/type")) {
                state_types.insert(identifier.to_string(), kind.to_string());
            }
            let id = text("/id").map(str::to_string);
            // Only a record that may be a candidate is worth a warning.
            let watched = text("/state/name").is_none_or(|n| columns.iter().any(|c| c == n));
            let label = normalize::node_label(&node);
            match normalize::issue(node) {
                Ok(ticket) => changed.push(ticket),
                Err(error) => {
                    gone.extend(id);
                    if watched {
                        tracing::warn!(issue = %label, %error, "skipping a Linear issue that cannot be read");
                        skipped.push(Skipped {
                            source: format!("linear:{label}"),
                            error,
                        });
                    }
                }
            }
        }
        tracing::debug!(
            changed = changed.len(),
            "incremental read of Linear candidates"
        );
        let tickets = self
            .candidates
            .merge(columns, started, changed, &gone, |ticket| {
                let stale = |b: &crate::domain::Blocker| {
                    state_types
                        .get(&b.identifier)
                        .is_some_and(|kind| normalize::is_finished(kind) != b.resolved)
                };
                // Copied only when a blocker's state changed (the ticket is shared).
                if ticket.blocked_by.iter().any(stale) {
                    for blocker in &mut std::sync::Arc::make_mut(ticket).blocked_by {
                        if let Some(kind) = state_types.get(&blocker.identifier) {
                            blocker.resolved = normalize::is_finished(kind);
                        }
                    }
                }
            });
        Ok(Fetched { tickets, skipped })
    }

    /// The team keys the workflow spans: the configured team and the project's teams.
    async fn scope_team_keys(&self) -> Result<Vec<String>, TrackerError> {
        let mut keys: Vec<String> = self.config.team.iter().cloned().collect();
        if let Some(slug) = &self.config.project {
            match check::project(&self.transport, slug).await? {
                Some(project) => keys.extend(project.teams),
                None => {
                    return Err(TrackerError::Fatal(format!(
                        "Linear project `{slug}` not found (use the slugId at the end of the project's URL)"
                    )));
                }
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Loads the workflow states of `keys`, every page.
    async fn load_states(&self, keys: &[String]) -> Result<StateCache, TrackerError> {
        let mut cache = StateCache::default();
        for key in keys {
            cache.touch(key);
        }
        if keys.is_empty() {
            return Ok(cache);
        }
        let filter = ops::workflow_states::WorkflowStateFilter {
            team: Some(ops::workflow_states::TeamFilter {
                key: Some(ops::workflow_states::StringComparator {
                    in_: Some(keys.to_vec()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let mut after = None;
        loop {
            let data = self
                .transport
                .call::<WorkflowStates>(ops::workflow_states::Variables {
                    filter: filter.clone(),
                    first: i64::from(self.config.page_size),
                    after: after.take(),
                })
                .await
                .map_err(|e| e.into_tracker("WorkflowStates"))?;
            let malformed = |message: String| TrackerError::Malformed {
                source_name: "Linear WorkflowStates".to_string(),
                message,
            };
            let page = normalize::parse_page(data, "workflowStates").map_err(malformed)?;
            for node in page.nodes {
                let state: ops::workflow_states::WorkflowStatesWorkflowStatesNodes =
                    serde_json::from_value(node).map_err(|e| malformed(e.to_string()))?;
                cache.insert(
                    &state.team.key,
                    ColumnState {
                        id: state.id,
                        name: state.name,
                        kind: state.type_,
                        position: state.position,
                    },
                );
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => return Ok(cache),
            }
        }
    }

    /// The id of `column` in the ticket's team, from the cache (loaded on first use; a
    /// team not seen yet is loaded once more before giving up).
    async fn state_id(&self, ticket: &TicketRef, column: &str) -> Result<String, TrackerError> {
        let team = normalize::split_identifier(&ticket.identifier)
            .map(|(team, _)| team.to_string())
            .ok_or_else(|| {
                TrackerError::Fatal(format!(
                    "`{}` is not a Linear identifier",
                    ticket.identifier
                ))
            })?;
        let loaded = self.lock_states().is_some();
        if !loaded {
            self.refresh_states().await?;
        }
        let known = self
            .lock_states()
            .as_ref()
            .is_some_and(|c| c.has_team(&team));
        if !known {
            let extra = self.load_states(std::slice::from_ref(&team)).await?;
            self.lock_states()
                .get_or_insert_with(StateCache::default)
                .merge(extra);
        }
        let guard = self.lock_states();
        let cache = guard.as_ref().ok_or_else(|| {
            TrackerError::Fatal("Linear workflow states are not loaded".to_string())
        })?;
        match cache.find(&team, column) {
            Some(state) => Ok(state.id.clone()),
            None => Err(TrackerError::Fatal(format!(
                "cannot move {}: {}",
                ticket.identifier,
                missing_column(&team, column, cache)
            ))),
        }
    }
}

fn eq(value: &str) -> list_issues::StringComparator {
    list_issues::StringComparator {
        eq: Some(value.to_string()),
        ..Default::default()
    }
}

fn state_named(columns: &[String]) -> list_issues::WorkflowStateFilter {
    list_issues::WorkflowStateFilter {
        name: Some(list_issues::StringComparator {
            in_: Some(columns.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[async_trait]
impl Tracker for LinearTracker {
    fn kind(&self) -> &'static str {
        "linear"
    }

    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        Ok(Fetched {
            tickets: LinearTracker::terminal_sweep(self)
                .await?
                .into_iter()
                .map(std::sync::Arc::new)
                .collect(),
            skipped: Vec::new(),
        })
    }

    fn sweep_every(&self) -> Option<std::time::Duration> {
        Some(self.config.terminal_sweep)
    }

    fn read_delivery(
        &self,
        data: &Value,
        known: &TicketSnapshot,
    ) -> Result<TicketSnapshot, String> {
        delivery::ticket(data, known)
    }

    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        if columns.is_empty() {
            return Ok(Fetched::default());
        }
        let started = Utc::now();
        match self.candidates.plan(columns) {
            Plan::Full => {
                let mut filter = self.scope_filter();
                filter.state = Some(state_named(columns));
                let fetched = self.list(filter, "candidates").await?;
                self.candidates
                    .store_full(columns, started, &fetched.tickets);
                Ok(fetched)
            }
            Plan::Since(since) => self.changed_candidates(columns, started, since).await,
        }
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        // Linear filters issues by team key and number, not by identifier.
        let mut wanted: Vec<(&str, u64, &String)> = Vec::new();
        for identifier in identifiers {
            match normalize::split_identifier(identifier) {
                Some((team, number)) => wanted.push((team, number, identifier)),
                None => tracing::warn!(%identifier, "not a Linear identifier; treated as missing"),
            }
        }
        wanted.sort();
        wanted.dedup();
        let mut found: BTreeMap<String, TicketSnapshot> = BTreeMap::new();
        for batch in wanted.chunks(self.config.refresh_batch.clamp(1, 50)) {
            let mut by_team: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
            for (team, number, _) in batch {
                by_team.entry(team).or_default().push(*number as f64);
            }
            let filter = list_issues::IssueFilter {
                or: Some(
                    by_team
                        .into_iter()
                        .map(|(team, numbers)| list_issues::IssueFilter {
                            team: Some(list_issues::TeamFilter {
                                key: Some(eq(team)),
                            }),
                            number: Some(list_issues::NumberComparator { in_: Some(numbers) }),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            };
            let requested: Vec<&String> = batch.iter().map(|(_, _, id)| *id).collect();
            for node in self.list_nodes(filter).await? {
                let label = normalize::node_label(&node);
                match normalize::issue(node) {
                    Ok(ticket) => {
                        found.insert(ticket.identifier.clone(), ticket);
                    }
                    // A record we asked for must never silently disappear.
                    Err(message) => {
                        return Err(TrackerError::Malformed {
                            source_name: format!("Linear issue {label}"),
                            message,
                        });
                    }
                }
            }
            tracing::debug!(
                requested = requested.len(),
                "refreshed a batch of Linear issues"
            );
        }
        // Each once, in the order asked for; absent ones no longer exist (or moved out
        // of reach).
        Ok(identifiers
            .iter()
            .filter_map(|id| found.remove(id))
            .collect())
    }

    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        let state_id = self.state_id(ticket, column).await?;
        let data = self
            .transport
            .call::<MoveIssue>(ops::move_issue::Variables {
                id: ticket.id.clone(),
                state_id,
            })
            .await
            .map_err(|e| not_found_or(e, ticket, "MoveIssue"))?;
        let success = data
            .pointer("/issueUpdate/success")
            .and_then(Value::as_bool);
        if success != Some(true) {
            return Err(TrackerError::Fatal(format!(
                "Linear did not move {} to `{column}`",
                ticket.identifier
            )));
        }
        tracing::info!(issue = %ticket.identifier, %column, "moved Linear issue");
        Ok(())
    }

    fn attaches_links(&self) -> bool {
        true
    }

    async fn attach_link(
        &self,
        ticket: &TicketRef,
        url: &str,
        title: &str,
    ) -> Result<(), TrackerError> {
        let data = self
            .transport
            .call::<AttachLink>(ops::attach_link::Variables {
                issue_id: ticket.id.clone(),
                url: url.to_string(),
                title: Some(title.to_string()),
            })
            .await
            .map_err(|e| not_found_or(e, ticket, "AttachLink"))?;
        let success = data
            .pointer("/attachmentLinkURL/success")
            .and_then(Value::as_bool);
        if success != Some(true) {
            return Err(TrackerError::Fatal(format!(
                "Linear did not attach {url} to {}",
                ticket.identifier
            )));
        }
        tracing::info!(issue = %ticket.identifier, %url, "attached a link to the Linear issue");
        Ok(())
    }

    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        let data = self
            .transport
            .call::<CreateComment>(ops::create_comment::Variables {
                issue_id: ticket.id.clone(),
                body: body.to_string(),
            })
            .await
            .map_err(|e| not_found_or(e, ticket, "CreateComment"))?;
        let success = data
            .pointer("/commentCreate/success")
            .and_then(Value::as_bool);
        if success != Some(true) {
            return Err(TrackerError::Fatal(format!(
                "Linear did not add the comment to {}",
                ticket.identifier
            )));
        }
        tracing::info!(issue = %ticket.identifier, "commented on Linear issue");
        Ok(())
    }

    async fn move_and_comment(
        &self,
        ticket: &TicketRef,
        column: &str,
        body: &str,
    ) -> (Result<Moved, TrackerError>, Result<(), TrackerError>) {
        combined::move_and_comment(self, ticket, column, body).await
    }

    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let mut data = self
                .transport
                .call::<IssueComments>(ops::issue_comments::Variables {
                    id: ticket.id.clone(),
                    first: i64::from(self.config.page_size),
                    after: after.take(),
                })
                .await
                .map_err(|e| not_found_or(e, ticket, "IssueComments"))?;
            let issue = data
                .get_mut("issue")
                .map(Value::take)
                .filter(|v| !v.is_null())
                .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
            let malformed = |message: String| TrackerError::Malformed {
                source_name: format!("Linear comments of {}", ticket.identifier),
                message,
            };
            let page = normalize::parse_page(issue, "comments").map_err(malformed)?;
            for node in page.nodes {
                all.push(normalize::comment(node).map_err(malformed)?);
            }
            match (page.page_info.has_next_page, page.page_info.end_cursor) {
                (true, Some(cursor)) => after = Some(cursor),
                _ => break,
            }
        }
        normalize::sort_comments(&mut all);
        Ok(all.into_iter().map(|(_, c)| c).collect())
    }

    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        check::run(self, columns).await
    }

    fn rate_budget(&self) -> Option<RateBudget> {
        self.transport.budget()
    }
}

fn not_found_or(e: CallError, ticket: &TicketRef, operation: &str) -> TrackerError {
    if e.is_not_found() {
        TrackerError::NotFound(ticket.identifier.clone())
    } else {
        e.into_tracker(operation)
    }
}
