//! Labels mode: the columns are labels `<prefix><slug>` (see `config`), read and written
//! with REST, so it works in any repository without a project.
//!
//! GitHub ANDs the `labels` filter, so the poll sends one request per column label
//! (`GET /repos/{o}/{r}/issues?labels=<label>&state=open`), following `Link: rel="next"`
//! and dropping pull requests (they carry a `pull_request` key). A move adds the new
//! label first and then removes the others, so a crash in between leaves two state
//! labels, never none. A ticket with two state labels, one of them the column karajan
//! recorded for it, is read as follows: when the other one is a column a human moves a
//! ticket to in order to decide (todo, approved, rework, a terminal column:
//! `GithubConfig::human_columns`), the human added it without removing the old one, so
//! it wins and karajan removes the recorded column's label; otherwise (karajan's own
//! half-done move) the issue is repaired to the recorded column, with a warning. When
//! karajan has no record of the ticket yet, it is reported in `Fetched::skipped` until
//! the engine repairs it with `repair_state_labels`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::GithubTracker;
use super::normalize::{self, IssueFields};
use crate::domain::{TicketRef, TicketSnapshot};
use crate::tracker::{Fetched, Skipped, TrackerError};

/// Percent-encodes one URL component (labels contain `:` and spaces).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A REST issue as GitHub returns it; `None` for a pull request.
pub(crate) fn issue_fields(t: &GithubTracker, v: &Value) -> Result<Option<IssueFields>, String> {
    if v.get("pull_request").is_some_and(|p| !p.is_null()) {
        return Ok(None);
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let date = |k: &str| {
        s(k).and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .ok_or_else(|| format!("missing or invalid `{k}`"))
    };
    let number = v
        .get("number")
        .and_then(Value::as_i64)
        .ok_or("missing `number`")?;
    let labels = v
        .get("labels")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(IssueFields {
        node_id: s("node_id").ok_or("missing `node_id`")?,
        repo: t.config.repo_full_name(),
        number,
        title: s("title").unwrap_or_default(),
        body: s("body").unwrap_or_default(),
        url: s("html_url").unwrap_or_default(),
        labels,
        created_at: date("created_at")?,
        updated_at: date("updated_at")?,
        open: s("state").is_none_or(|state| state != "closed"),
    }))
}

/// The state labels an issue carries (lowercased).
pub(super) fn state_labels(t: &GithubTracker, labels: &[String]) -> Vec<String> {
    labels
        .iter()
        .map(|l| l.to_lowercase())
        .filter(|l| t.config.is_state_label(l))
        .collect()
}

/// Every issue (not pull request) carrying `label`, all pages. Unreadable records come
/// back as `Skipped`.
async fn issues_with_label(
    t: &GithubTracker,
    label: &str,
    state: &str,
) -> Result<Vec<Result<IssueFields, Skipped>>, TrackerError> {
    let url = t.http.rest_url(&format!(
        "/repos/{}/{}/issues?labels={}&state={state}&per_page={}",
        t.config.owner,
        t.config.repo,
        encode(label),
        t.page_size
    ));
    issue_pages(t, url, &format!("issues labelled {label}")).await
}

/// Every issue (not pull request) of the list at `url`, all pages (`Link: rel="next"`).
async fn issue_pages(
    t: &GithubTracker,
    mut url: String,
    what: &str,
) -> Result<Vec<Result<IssueFields, Skipped>>, TrackerError> {
    let mut out = Vec::new();
    let mut pull_requests = 0usize;
    loop {
        let reply = t.http.rest(Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(TrackerError::NotFound(format!(
                "repository {} ({})",
                t.config.repo_full_name(),
                reply.status
            )));
        }
        let Some(items) = reply.body.as_array() else {
            return Err(TrackerError::Malformed {
                source_name: what.to_string(),
                message: "expected a JSON array".to_string(),
            });
        };
        for item in items {
            match issue_fields(t, item) {
                Ok(Some(fields)) => out.push(Ok(fields)),
                Ok(None) => pull_requests += 1,
                Err(error) => out.push(Err(Skipped {
                    source: item
                        .get("html_url")
                        .and_then(Value::as_str)
                        .unwrap_or(what)
                        .to_string(),
                    error,
                })),
            }
        }
        match reply.next {
            Some(next) => url = next,
            None => break,
        }
    }
    if pull_requests > 0 {
        tracing::debug!(
            what,
            pull_requests,
            "skipped pull requests carrying a state label"
        );
    }
    Ok(out)
}

/// The poll: one request (and its pages) per column label.
pub(crate) async fn list(
    t: &GithubTracker,
    columns: &[String],
    state: &str,
) -> Result<Fetched, TrackerError> {
    t.learn_columns(columns).await;
    let mut fetched = Fetched::default();
    // Keyed by number, so an issue carrying two requested labels is seen once.
    let mut seen: BTreeMap<i64, IssueFields> = BTreeMap::new();
    for column in columns {
        let label = t.config.state_label(column);
        for entry in issues_with_label(t, &label, state).await? {
            match entry {
                Ok(fields) => {
                    seen.entry(fields.number).or_insert(fields);
                }
                Err(skipped) => fetched.skipped.push(skipped),
            }
        }
    }
    for (_, fields) in seen {
        let identifier = normalize::identifier(&fields.repo, fields.number);
        let resolved = resolve_column(t, &fields, &identifier)
            .await?
            .map(|c| normalize::effective_column(fields.open, c, &t.config.terminal_columns));
        match resolved {
            Ok(column) if columns.contains(&column) => {
                let priority = normalize::priority_from_labels(&t.config, &lower(&fields.labels));
                fetched.tickets.push(std::sync::Arc::new(t.snapshot(
                    fields,
                    column,
                    priority,
                    Vec::new(),
                )));
            }
            Ok(_) => {}
            Err(skipped) => fetched.skipped.push(skipped),
        }
    }
    Ok(fetched)
}

/// What an incremental poll learnt: the changed issues (open, with their column), the
/// ids of those that are no longer candidates whatever `columns` hold (closed, or
/// unreadable), and the records to report.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub tickets: Vec<TicketSnapshot>,
    pub gone: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// The incremental poll: ONE request (and its pages) for every issue of the repository
/// updated since `since`, open or closed (`state=all`), so a ticket moved out of the
/// watched columns or closed is seen and leaves the cache. Labels and closing both
/// update an issue's `updated_at`.
pub(crate) async fn changed_since(
    t: &GithubTracker,
    columns: &[String],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Changes, TrackerError> {
    t.learn_columns(columns).await;
    let url = t.http.rest_url(&format!(
        "/repos/{}/{}/issues?state=all&since={}&per_page={}",
        t.config.owner,
        t.config.repo,
        encode(&since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        t.page_size
    ));
    let mut changes = Changes::default();
    for entry in issue_pages(t, url, "issues updated since the last poll").await? {
        let fields = match entry {
            Ok(fields) => fields,
            Err(skipped) => {
                changes.skipped.push(skipped);
                continue;
            }
        };
        // The full read asks for open issues only; a closed one is never a candidate.
        if !fields.open {
            changes.gone.push(fields.node_id);
            continue;
        }
        let identifier = normalize::identifier(&fields.repo, fields.number);
        match resolve_column(t, &fields, &identifier).await? {
            Ok(column) => {
                let priority = normalize::priority_from_labels(&t.config, &lower(&fields.labels));
                changes
                    .tickets
                    .push(t.snapshot(fields, column, priority, Vec::new()));
            }
            Err(skipped) => {
                changes.gone.push(fields.node_id);
                changes.skipped.push(skipped);
            }
        }
    }
    Ok(changes)
}

fn lower(labels: &[String]) -> Vec<String> {
    labels.iter().map(|l| l.to_lowercase()).collect()
}

/// The column of an issue from its state labels, repairing two state labels to the
/// recorded column when karajan knows it. `Err(Skipped)` when it cannot decide.
pub(crate) async fn resolve_column(
    t: &GithubTracker,
    fields: &IssueFields,
    identifier: &str,
) -> Result<Result<String, Skipped>, TrackerError> {
    let states = state_labels(t, &fields.labels);
    match states.as_slice() {
        [] => Ok(Ok(normalize::NO_STATE_LABEL.to_string())),
        // A state label the workflow has no column for (a human's own `karajan:blocked`)
        // is reported as that label: the engine sees an unexpected column and holds the
        // ticket, instead of the whole poll failing on it.
        [one] => Ok(Ok(t
            .column_of_label(one)
            .await
            .unwrap_or_else(|| one.clone()))),
        several => {
            let recorded = t.recorded.lock().await.get(identifier).cloned();
            match recorded {
                Some(column) => {
                    let ticket = TicketRef {
                        id: fields.node_id.clone(),
                        identifier: identifier.to_string(),
                    };
                    if let Some(human) = human_move(t, &column, several).await {
                        tracing::info!(
                            ticket = %identifier,
                            labels = %several.join(", "),
                            recorded = %column,
                            column = %human,
                            "a human added a state label without removing the old one; taking it as their move"
                        );
                        set_state_label(t, fields.number, &human, several).await?;
                        return Ok(Ok(human));
                    }
                    repair(t, &ticket, fields.number, &column, several).await?;
                    Ok(Ok(column))
                }
                None => Ok(Err(Skipped {
                    source: identifier.to_string(),
                    error: format!(
                        "two state labels ({}); karajan repairs them to its recorded column (repair_state_labels)",
                        several.join(", ")
                    ),
                })),
            }
        }
    }
}

/// The column a human moved the ticket to by adding its label beside the label of the
/// `recorded` column: the one other state label, when it is a column humans decide with.
async fn human_move(t: &GithubTracker, recorded: &str, labels: &[String]) -> Option<String> {
    let recorded_label = t.config.state_label(recorded);
    if !labels
        .iter()
        .any(|l| l.eq_ignore_ascii_case(&recorded_label))
    {
        return None;
    }
    let others: Vec<&String> = labels
        .iter()
        .filter(|l| !l.eq_ignore_ascii_case(&recorded_label))
        .collect();
    let [other] = others.as_slice() else {
        return None;
    };
    let column = t.column_of_label(other).await?;
    t.config.human_columns.contains(&column).then_some(column)
}

/// Keeps only the label of `column` among `current` state labels, with a warning.
pub(crate) async fn repair(
    t: &GithubTracker,
    ticket: &TicketRef,
    number: i64,
    column: &str,
    current: &[String],
) -> Result<Vec<String>, TrackerError> {
    tracing::warn!(
        ticket = %ticket.identifier,
        labels = %current.join(", "),
        column,
        "ticket carries several state labels; keeping the recorded column's"
    );
    set_state_label(t, number, column, current).await
}

/// Adds the label of `column` (if absent), then removes every other state label in
/// `current`. Returns the labels removed.
async fn set_state_label(
    t: &GithubTracker,
    number: i64,
    column: &str,
    current: &[String],
) -> Result<Vec<String>, TrackerError> {
    let wanted = t.config.state_label(column);
    let base = format!(
        "/repos/{}/{}/issues/{number}/labels",
        t.config.owner, t.config.repo
    );
    if !current.iter().any(|l| l.eq_ignore_ascii_case(&wanted)) {
        let reply = t
            .http
            .rest(
                Method::POST,
                &t.http.rest_url(&base),
                Some(&json!({ "labels": [wanted] })),
            )
            .await?;
        if !reply.status.is_success() {
            return Err(TrackerError::NotFound(format!(
                "{}#{number} ({})",
                t.config.repo_full_name(),
                reply.status
            )));
        }
    }
    let mut removed = Vec::new();
    for old in current.iter().filter(|l| !l.eq_ignore_ascii_case(&wanted)) {
        let url = t.http.rest_url(&format!("{base}/{}", encode(old)));
        // 404: already gone (someone removed it meanwhile) — the goal is reached.
        t.http.rest(Method::DELETE, &url, None).await?;
        removed.push(old.clone());
    }
    Ok(removed)
}

/// One issue by number (`None` when absent, deleted, or a pull request).
pub(crate) async fn get_issue(
    t: &GithubTracker,
    number: i64,
) -> Result<Option<IssueFields>, TrackerError> {
    let url = t.http.rest_url(&format!(
        "/repos/{}/{}/issues/{number}",
        t.config.owner, t.config.repo
    ));
    let reply = t.http.rest(Method::GET, &url, None).await?;
    if !reply.status.is_success() {
        return Ok(None);
    }
    issue_fields(t, &reply.body).map_err(|message| TrackerError::Malformed {
        source_name: format!("{}#{number}", t.config.repo_full_name()),
        message,
    })
}

/// Moves a ticket: new label, then the old ones removed; closes on a terminal column
/// when configured.
pub(crate) async fn move_ticket(
    t: &GithubTracker,
    ticket: &TicketRef,
    column: &str,
) -> Result<Vec<String>, TrackerError> {
    let (_, _, number) = normalize::parse_identifier(&ticket.identifier)
        .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
    let fields = get_issue(t, number)
        .await?
        .ok_or_else(|| TrackerError::NotFound(ticket.identifier.clone()))?;
    if !fields.open && !t.config.terminal_columns.iter().any(|c| c == column) {
        return Err(TrackerError::Closed(ticket.identifier.clone()));
    }
    t.learn_columns(&[column.to_string()]).await;
    let current = state_labels(t, &fields.labels);
    let removed = set_state_label(t, number, column, &current).await?;
    if t.config.close_on_terminal && t.config.terminal_columns.iter().any(|c| c == column) {
        let url = t.http.rest_url(&format!(
            "/repos/{}/{}/issues/{number}",
            t.config.owner, t.config.repo
        ));
        t.http
            .rest(Method::PATCH, &url, Some(&json!({ "state": "closed" })))
            .await?;
    }
    Ok(removed)
}

/// Creates the state labels of `columns`; existing ones (422 `already_exists`) are fine.
/// Returns the labels created.
pub(crate) async fn create(
    t: &GithubTracker,
    columns: &[String],
) -> Result<Vec<String>, TrackerError> {
    let url = t.http.rest_url(&format!(
        "/repos/{}/{}/labels",
        t.config.owner, t.config.repo
    ));
    let mut created = Vec::new();
    for column in columns {
        let name = t.config.state_label(column);
        let body = json!({
            "name": name,
            "color": "5319e7",
            "description": format!("karajan column: {column}"),
        });
        let reply = t.http.rest(Method::POST, &url, Some(&body)).await?;
        match reply.status.as_u16() {
            200..=299 => created.push(name),
            422 if reply.body.to_string().contains("already_exists") => {}
            other => {
                return Err(TrackerError::Fatal(format!(
                    "creating label `{name}` in {}: GitHub answered {other}: {}",
                    t.config.repo_full_name(),
                    reply.body
                )));
            }
        }
    }
    Ok(created)
}

/// Every label of the repository (lowercased), for `check`.
pub(crate) async fn existing(t: &GithubTracker) -> Result<Vec<String>, TrackerError> {
    let mut url = t.http.rest_url(&format!(
        "/repos/{}/{}/labels?per_page=100",
        t.config.owner, t.config.repo
    ));
    let mut out = Vec::new();
    loop {
        let reply = t.http.rest(Method::GET, &url, None).await?;
        if !reply.status.is_success() {
            return Err(TrackerError::NotFound(format!(
                "repository {} ({})",
                t.config.repo_full_name(),
                reply.status
            )));
        }
        out.extend(
            reply
                .body
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.get("name").and_then(Value::as_str))
                .map(str::to_lowercase),
        );
        match reply.next {
            Some(next) => url = next,
            None => break,
        }
    }
    Ok(out)
}
