//! Project mode: the columns are the options of a Projects v2 single-select field.
//!
//! The board (project id, field id, option ids, the priority field) is resolved once at
//! start and on reload and cached in `Board`; a configured column without an option is
//! an error naming the options that exist, so a renamed column stops karajan loudly
//! instead of silently starving dispatch.
//!
//! The poll (`list`) pages through the board's items 100 at a time with only what
//! dispatch needs; `detail` reads one issue in full (assignees, its board item) for a
//! ticket about to be dispatched. Items of other repositories, pull requests, drafts and
//! archived items are skipped, with one log line per poll that counts them.

use std::collections::HashMap;

use super::GithubTracker;
use super::config::{GithubMode, PrioritySource};
use super::http::errors_to_tracker;
use super::normalize::{self, IssueFields};
use super::queries::{
    CloseIssue, IssueDetail, ProjectItems, ResolveProject, UpdateItemStatus, close_issue,
    issue_detail, project_items, resolve_project, update_item_status,
};
use crate::domain::TicketRef;
use crate::tracker::{Fetched, TrackerError};

/// The resolved board, cached between reloads.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub project_id: String,
    pub title: String,
    pub url: String,
    pub field_id: String,
    pub field_name: String,
    /// Options of the status field: (option id, name), in board order.
    pub options: Vec<(String, String)>,
    /// Option ids of a single-select priority field, in board order.
    pub priority_options: Vec<String>,
}

impl Board {
    fn option_id(&self, column: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(_, name)| name == column)
            .map(|(id, _)| id.as_str())
    }

    /// The error for columns that have no option, naming the options that exist.
    pub fn missing_columns(&self, columns: &[String]) -> Option<String> {
        let missing: Vec<&str> = columns
            .iter()
            .filter(|c| self.option_id(c).is_none())
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return None;
        }
        let existing: Vec<&str> = self.options.iter().map(|(_, n)| n.as_str()).collect();
        Some(format!(
            "column(s) {} have no option in field `{}` of project `{}`; existing options: {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            self.field_name,
            self.title,
            existing.join(", ")
        ))
    }

    fn priority_of_option(&self, option_id: &str) -> Option<u8> {
        self.priority_options
            .iter()
            .position(|id| id == option_id)
            .map(normalize::priority_from_option_index)
    }
}

fn project_settings(t: &GithubTracker) -> Result<(&str, u64, &str), TrackerError> {
    match &t.config.mode {
        GithubMode::Project {
            owner,
            number,
            status_field,
        } => Ok((owner, *number, status_field)),
        GithubMode::Labels => Err(TrackerError::Fatal(
            "project operation in labels mode".to_string(),
        )),
    }
}

fn priority_field(t: &GithubTracker) -> String {
    match &t.config.priority {
        Some(PrioritySource::ProjectField(f)) => f.clone(),
        // Asking for a field that does not exist costs nothing and answers null.
        _ => String::new(),
    }
}

/// Resolves the project, its status field and options; caches and returns the board.
pub(crate) async fn resolve(t: &GithubTracker) -> Result<Board, TrackerError> {
    let (owner, number, status_field) = project_settings(t)?;
    let vars = resolve_project::Variables {
        owner: owner.to_string(),
        number: number as i64,
        status_field: status_field.to_string(),
        priority_field: priority_field(t),
    };
    let reply = t.http.graphql::<ResolveProject>(vars, true).await?;
    let what = format!("project {owner}#{number}");
    // The owner is either a user or an organization: the other lookup answers NOT_FOUND.
    let project = reply.data.as_ref().and_then(|d| {
        d.organization
            .as_ref()
            .and_then(|o| o.project_v2.clone())
            .or_else(|| d.user.as_ref().and_then(|u| u.project_v2.clone()))
    });
    let Some(project) = project else {
        let real: Vec<_> = reply
            .errors
            .iter()
            .filter(|e| !e.is_not_found())
            .cloned()
            .collect();
        if !real.is_empty() {
            return Err(errors_to_tracker(&what, &real));
        }
        return Err(TrackerError::Fatal(format!(
            "{what} not found: no user or organization `{owner}` has a project number {number} the token can see (the token needs the `project` scope)"
        )));
    };
    use resolve_project::{ProjectShapePriority as P, ProjectShapeStatus as S};
    let (field_id, field_name, options) = match project.status {
        Some(S::ProjectV2SingleSelectField(f)) => (
            f.id,
            f.name,
            f.options.into_iter().map(|o| (o.id, o.name)).collect(),
        ),
        Some(_) => {
            return Err(TrackerError::Fatal(format!(
                "field `{status_field}` of project `{}` is not a single-select field",
                project.title
            )));
        }
        None => {
            return Err(TrackerError::Fatal(format!(
                "project `{}` has no field `{status_field}` (tracker.status_field)",
                project.title
            )));
        }
    };
    let priority_options = match project.priority {
        Some(P::ProjectV2SingleSelectField(f)) => f.options.into_iter().map(|o| o.id).collect(),
        _ => Vec::new(),
    };
    let board = Board {
        project_id: project.id,
        title: project.title,
        url: project.url,
        field_id,
        field_name,
        options,
        priority_options,
    };
    *t.board.write().await = Some(board.clone());
    Ok(board)
}

/// The cached board, resolving it on first use.
pub(crate) async fn board(t: &GithubTracker) -> Result<Board, TrackerError> {
    if let Some(b) = t.board.read().await.clone() {
        return Ok(b);
    }
    resolve(t).await
}

/// Counts of items a poll skipped, logged once per poll.
#[derive(Default)]
struct SkipCounts {
    pull_requests: usize,
    drafts: usize,
    archived: usize,
    other_repos: usize,
}

/// Pages through the board; keeps open issues (or, with `include_closed`, all issues)
/// of the configured repository whose status is one of `columns`.
pub(crate) async fn list(
    t: &GithubTracker,
    columns: &[String],
    include_closed: bool,
) -> Result<Fetched, TrackerError> {
    let board = board(t).await?;
    if let Some(msg) = board.missing_columns(columns) {
        return Err(TrackerError::Fatal(msg));
    }
    let (_, _, status_field) = project_settings(t)?;
    let repo = t.config.repo_full_name().to_lowercase();
    let mut fetched = Fetched::default();
    let mut skips = SkipCounts::default();
    let mut item_ids = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let vars = project_items::Variables {
            project_id: board.project_id.clone(),
            first: t.page_size,
            after: after.clone(),
            status_field: status_field.to_string(),
            priority_field: priority_field(t),
            labels_first: 20,
        };
        let data = t
            .http
            .graphql::<ProjectItems>(vars, true)
            .await?
            .into_data("ProjectItems")?;
        let Some(project_items::ProjectItemsNode::ProjectV2(project)) = data.node else {
            return Err(TrackerError::NotFound(format!(
                "project `{}` ({})",
                board.title, board.project_id
            )));
        };
        let page = project.items;
        for item in page.nodes.into_iter().flatten().flatten() {
            use project_items::ProjectItemsNodeOnProjectV2ItemsNodesContent as C;
            if item.is_archived {
                skips.archived += 1;
                continue;
            }
            let issue = match item.content {
                Some(C::Issue(issue)) => issue,
                Some(C::PullRequest(_)) => {
                    skips.pull_requests += 1;
                    continue;
                }
                _ => {
                    skips.drafts += 1;
                    continue;
                }
            };
            let core = issue.issue_core;
            if core.repository.name_with_owner.to_lowercase() != repo {
                skips.other_repos += 1;
                continue;
            }
            item_ids.insert(core.id.clone(), item.id.clone());
            use project_items::ProjectItemsNodeOnProjectV2ItemsNodesStatus as St;
            let column = match item.status {
                Some(St::ProjectV2ItemFieldSingleSelectValue(v)) => v.name.unwrap_or_default(),
                _ => String::new(),
            };
            let open = core.state == project_items::IssueState::OPEN;
            // A closed issue is finished, whatever its card says.
            let column = normalize::effective_column(open, column, &t.config.terminal_columns);
            if !columns.contains(&column) || !(open || include_closed) {
                continue;
            }
            use project_items::ProjectItemsNodeOnProjectV2ItemsNodesPriority as Pr;
            let field_priority = match item.priority {
                Some(Pr::ProjectV2ItemFieldSingleSelectValue(v)) => {
                    v.option_id.and_then(|id| board.priority_of_option(&id))
                }
                Some(Pr::ProjectV2ItemFieldNumberValue(v)) => {
                    v.number.and_then(normalize::priority_from_number)
                }
                _ => None,
            };
            let labels = issue
                .labels
                .and_then(|l| l.nodes)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .map(|l| l.name)
                .collect();
            let fields = IssueFields {
                node_id: core.id,
                repo: core.repository.name_with_owner,
                number: core.number,
                title: core.title,
                body: core.body,
                url: core.url,
                labels,
                created_at: core.created_at,
                updated_at: core.updated_at,
                open,
            };
            fetched.tickets.push(std::sync::Arc::new(t.snapshot(
                fields,
                column,
                field_priority,
                Vec::new(),
            )));
        }
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(cursor)) => after = Some(cursor),
            _ => break,
        }
    }
    if skips.pull_requests + skips.drafts + skips.archived + skips.other_repos > 0 {
        tracing::info!(
            project = %board.title,
            pull_requests = skips.pull_requests,
            drafts = skips.drafts,
            archived = skips.archived,
            other_repositories = skips.other_repos,
            "skipped board items that are not open issues of {repo}"
        );
    }
    t.item_ids.lock().await.extend(item_ids);
    Ok(fetched)
}

/// One issue in full (project mode column read from its item on our board). `None`
/// when the issue does not exist.
pub(crate) async fn detail(
    t: &GithubTracker,
    owner: &str,
    name: &str,
    number: i64,
) -> Result<Option<(IssueFields, String, Option<u8>)>, TrackerError> {
    let board = board(t).await?;
    let (_, _, status_field) = project_settings(t)?;
    let vars = issue_detail::Variables {
        owner: owner.to_string(),
        name: name.to_string(),
        number,
        status_field: status_field.to_string(),
        priority_field: priority_field(t),
    };
    let reply = t.http.graphql::<IssueDetail>(vars, true).await?;
    if reply.errors.iter().all(|e| e.is_not_found()) && !reply.errors.is_empty() {
        return Ok(None);
    }
    let data = reply.into_data("IssueDetail")?;
    let Some(issue) = data.repository.and_then(|r| r.issue) else {
        return Ok(None);
    };
    let mut column = normalize::NOT_ON_PROJECT.to_string();
    let mut priority = None;
    for item in issue.project_items.nodes.into_iter().flatten().flatten() {
        if item.project.id != board.project_id || item.is_archived {
            continue;
        }
        column = normalize::NO_STATUS.to_string();
        use issue_detail::IssueDetailRepositoryIssueProjectItemsNodesPriority as Pr;
        use issue_detail::IssueDetailRepositoryIssueProjectItemsNodesStatus as St;
        if let Some(St::ProjectV2ItemFieldSingleSelectValue(v)) = item.status {
            column = v.name.unwrap_or_default();
        }
        priority = match item.priority {
            Some(Pr::ProjectV2ItemFieldSingleSelectValue(v)) => {
                v.option_id.and_then(|id| board.priority_of_option(&id))
            }
            Some(Pr::ProjectV2ItemFieldNumberValue(v)) => {
                v.number.and_then(normalize::priority_from_number)
            }
            _ => None,
        };
        t.item_ids
            .lock()
            .await
            .insert(issue.issue_core.id.clone(), item.id);
    }
    let core = issue.issue_core;
    let labels = issue
        .labels
        .and_then(|l| l.nodes)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|l| l.name)
        .collect();
    let fields = IssueFields {
        node_id: core.id,
        repo: core.repository.name_with_owner,
        number: core.number,
        title: core.title,
        body: core.body,
        url: core.url,
        labels,
        created_at: core.created_at,
        updated_at: core.updated_at,
        open: core.state == issue_detail::IssueState::OPEN,
    };
    Ok(Some((fields, column, priority)))
}

/// Sets the card's status option; closes the issue on a terminal column when configured.
pub(crate) async fn move_ticket(
    t: &GithubTracker,
    ticket: &TicketRef,
    column: &str,
) -> Result<(), TrackerError> {
    let vars = prepare_move(t, ticket, column).await?;
    t.http
        .graphql::<UpdateItemStatus>(vars, true)
        .await?
        .into_data(&format!("moving {} to `{column}`", ticket.identifier))?;
    after_move(t, ticket, column).await
}

/// Closes the issue after a move to a terminal column, when configured.
pub(crate) async fn after_move(
    t: &GithubTracker,
    ticket: &TicketRef,
    column: &str,
) -> Result<(), TrackerError> {
    if t.config.close_on_terminal && t.config.terminal_columns.iter().any(|c| c == column) {
        close(t, ticket).await?;
    }
    Ok(())
}

/// What a move needs (the card, the field, the option), after the checks that refuse
/// it (unknown column, closed issue, card not on the board).
pub(crate) async fn prepare_move(
    t: &GithubTracker,
    ticket: &TicketRef,
    column: &str,
) -> Result<update_item_status::Variables, TrackerError> {
    let board = board(t).await?;
    let Some(option_id) = board.option_id(column).map(str::to_string) else {
        return Err(TrackerError::Fatal(
            board
                .missing_columns(&[column.to_string()])
                .unwrap_or_default(),
        ));
    };
    let (owner, name, number) = normalize::parse_identifier(&ticket.identifier)
        .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
    if !t.config.terminal_columns.iter().any(|c| c == column) {
        // Never move a closed issue on: a human closed it, it is finished.
        let found = detail(t, &owner, &name, number)
            .await?
            .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
        if !found.0.open {
            return Err(TrackerError::Closed(ticket.identifier.clone()));
        }
    }
    let cached = t.item_ids.lock().await.get(&ticket.id).cloned();
    let item_id = match cached {
        Some(id) => id,
        None => {
            detail(t, &owner, &name, number).await?;
            t.item_ids
                .lock()
                .await
                .get(&ticket.id)
                .cloned()
                .ok_or_else(|| {
                    TrackerError::NotFound(format!(
                        "{} is not on project `{}`",
                        ticket.identifier, board.title
                    ))
                })?
        }
    };
    Ok(update_item_status::Variables {
        project_id: board.project_id.clone(),
        item_id,
        field_id: board.field_id.clone(),
        option_id,
    })
}

/// Closes the issue (GraphQL `closeIssue`).
pub(crate) async fn close(t: &GithubTracker, ticket: &TicketRef) -> Result<(), TrackerError> {
    let vars = close_issue::Variables {
        issue_id: ticket.id.clone(),
    };
    t.http
        .graphql::<CloseIssue>(vars, true)
        .await?
        .into_data(&format!("closing {}", ticket.identifier))?;
    Ok(())
}
