//! `karajan check` / `run --dry-run` against Linear: prove the key works (`viewer`), that
//! the project and team exist, and that every configured column exists in each team.
//! Reads only; a missing column is reported with the team's actual columns.

use super::LinearTracker;
use super::ops::{self, ProjectBySlug, TeamByKey, Viewer};
use super::states::missing_column;
use super::transport::{CallError, Transport};
use crate::tracker::{TrackerCheck, TrackerError};

/// A project as `check` and the state loader need it.
pub(crate) struct ProjectInfo {
    pub name: String,
    pub url: String,
    /// Keys of the teams the project spans.
    pub teams: Vec<String>,
}

/// The project with slugId `slug`, or `None` when Linear has none.
pub(crate) async fn project(
    transport: &Transport,
    slug: &str,
) -> Result<Option<ProjectInfo>, TrackerError> {
    let data = transport
        .call::<ProjectBySlug>(ops::project_by_slug::Variables {
            slug_id: slug.to_string(),
        })
        .await
        .map_err(|e| e.into_tracker("ProjectBySlug"))?;
    let response: ops::project_by_slug::ResponseData =
        serde_json::from_value(data).map_err(|e| TrackerError::Malformed {
            source_name: "Linear ProjectBySlug".to_string(),
            message: e.to_string(),
        })?;
    Ok(response
        .projects
        .nodes
        .into_iter()
        .next()
        .map(|p| ProjectInfo {
            name: p.name,
            url: p.url,
            teams: p.teams.nodes.into_iter().map(|t| t.key).collect(),
        }))
}

async fn team_exists(transport: &Transport, key: &str) -> Result<Option<String>, TrackerError> {
    let data = transport
        .call::<TeamByKey>(ops::team_by_key::Variables {
            key: key.to_string(),
        })
        .await
        .map_err(|e| e.into_tracker("TeamByKey"))?;
    let response: ops::team_by_key::ResponseData =
        serde_json::from_value(data).map_err(|e| TrackerError::Malformed {
            source_name: "Linear TeamByKey".to_string(),
            message: e.to_string(),
        })?;
    Ok(response.teams.nodes.into_iter().next().map(|t| t.name))
}

pub(crate) async fn run(
    tracker: &LinearTracker,
    columns: &[String],
) -> Result<TrackerCheck, TrackerError> {
    let mut check = TrackerCheck::default();
    let transport = &tracker.transport;
    match transport.call::<Viewer>(ops::viewer::Variables).await {
        Ok(data) => match serde_json::from_value::<ops::viewer::ResponseData>(data) {
            Ok(v) => check.facts.push(format!(
                "Linear key belongs to {} <{}> in workspace {} ({})",
                v.viewer.name, v.viewer.email, v.organization.name, v.organization.url_key
            )),
            Err(e) => {
                return Err(TrackerError::Malformed {
                    source_name: "Linear Viewer".to_string(),
                    message: e.to_string(),
                });
            }
        },
        Err(CallError::Tracker(TrackerError::Fatal(message))) => {
            check.errors.push(message);
            return Ok(check);
        }
        Err(e) => return Err(e.into_tracker("Viewer")),
    }

    let mut teams: Vec<String> = Vec::new();
    let config = tracker.config();
    if let Some(slug) = &config.project {
        match project(transport, slug).await? {
            Some(p) => {
                check.facts.push(format!(
                    "Linear project {} ({}) spans team(s) {}",
                    p.name,
                    p.url,
                    p.teams.join(", ")
                ));
                teams.extend(p.teams);
            }
            None => check.errors.push(format!(
                "Linear project `{slug}` not found (use the slugId at the end of the project's URL)"
            )),
        }
    }
    if let Some(key) = &config.team {
        match team_exists(transport, key).await? {
            Some(name) => {
                check.facts.push(format!("Linear team {key} ({name})"));
                teams.push(key.clone());
            }
            None => check
                .errors
                .push(format!("Linear team with key `{key}` not found")),
        }
    }
    teams.sort();
    teams.dedup();

    let cache = tracker.load_states(&teams).await?;
    for team in &teams {
        for column in columns {
            if cache.find(team, column).is_none() {
                check.errors.push(missing_column(team, column, &cache));
            }
        }
    }
    let known: Vec<&str> = cache.team_keys().collect();
    if !known.is_empty() {
        tracing::debug!(teams = ?known, "Linear workflow states loaded by check");
    }
    *tracker.lock_states() = Some(cache);
    if let Some(budget) = tracker.transport.budget() {
        check.facts.push(format!(
            "Linear rate budget: {} of {} left",
            budget.remaining.map_or("?".to_string(), |r| r.to_string()),
            budget.limit.map_or("?".to_string(), |l| l.to_string())
        ));
    }
    Ok(check)
}
