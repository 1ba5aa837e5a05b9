//! A Linear `Issue` data-change delivery as a read of its ticket.
//!
//! A delivery's `data` is the issue after the change (Linear's `IssueWebhookPayload`:
//! id, identifier, title, description, url, priority, createdAt, updatedAt, the state
//! with its name and type, the labels with their names), signed by Linear, so it says
//! what a read of that issue would have said at its `updatedAt`. Acting on it saves the
//! read a delivery used to trigger, and the wait for it (behind the reads and writes
//! already in flight). What a delivery does not carry is taken from the ticket as
//! karajan last read it: its blockers (another issue's state), its branch name and its
//! recent human comments (a new comment arrives as a `Comment` delivery, which is
//! read). Whether the delivery is newer than what karajan knows is the engine's
//! question (`orchestrator::delivered`); this module only decodes.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::normalize::{label_set, priority};
use crate::domain::TicketSnapshot;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Issue {
    id: String,
    identifier: String,
    title: String,
    description: Option<String>,
    url: String,
    priority: f64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    state: State,
    labels: Vec<Label>,
    #[serde(default)]
    archived_at: Option<String>,
    #[serde(default)]
    trashed: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct State {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Label {
    name: String,
}

/// The ticket `known` as the delivered issue `data` shows it, or why the delivery
/// cannot stand for a read (another issue, a missing field, an archived or trashed
/// issue, which a read leaves out).
pub(crate) fn ticket(data: &Value, known: &TicketSnapshot) -> Result<TicketSnapshot, String> {
    let raw = Issue::deserialize(data).map_err(|e| format!("unexpected shape: {e}"))?;
    if raw.id != known.id || raw.identifier != known.identifier {
        return Err(format!(
            "the delivery is about {} ({}), not {} ({})",
            raw.identifier, raw.id, known.identifier, known.id
        ));
    }
    if raw.archived_at.is_some() || raw.trashed == Some(true) {
        return Err("the issue is archived or trashed".into());
    }
    if raw.state.name.trim().is_empty() {
        return Err("empty state name".into());
    }
    Ok(TicketSnapshot {
        id: raw.id,
        identifier: raw.identifier,
        title: raw.title,
        description: raw.description.unwrap_or_default(),
        url: Some(raw.url).filter(|u| !u.is_empty()),
        labels: label_set(raw.labels.iter().map(|l| l.name.as_str())),
        priority: priority(raw.priority)?,
        column: raw.state.name,
        blocked_by: known.blocked_by.clone(),
        branch_name: known.branch_name.clone(),
        created_at: raw.created_at,
        updated_at: raw.updated_at,
        recent_comments: known.recent_comments.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{Blocker, Comment};

    fn known() -> TicketSnapshot {
        TicketSnapshot {
            id: "3f1c-uuid".into(),
            identifier: "ENG-7".into(),
            title: "Old title".into(),
            description: "old".into(),
            url: Some("https://linear.app/acme/issue/ENG-7".into()),
            labels: vec!["backend".into()],
            priority: None,
            column: "Human Review".into(),
            blocked_by: vec![Blocker {
                identifier: "ENG-3".into(),
                resolved: true,
            }],
            branch_name: Some("ada/eng-7".into()),
            created_at: "2026-12-01T09:00:00Z".parse().unwrap(),
            updated_at: "2026-12-03T10:00:00.100Z".parse().unwrap(),
            recent_comments: Some(vec![Comment {
                author: "Ada".into(),
                body: "please keep it short".into(),
                created_at: "2026-12-02T09:00:00Z".parse().unwrap(),
            }]),
        }
    }

    /// `data` of an `Issue` update as Linear delivers it (the fields of
    /// `IssueWebhookPayload` in Linear's public schema; many more are sent and ignored).
    fn data() -> Value {
        json!({
            "id": "3f1c-uuid", "identifier": "ENG-7", "number": 7,
            "title": "Add a friendly greeting", "description": "Say hello.",
            "url": "https://linear.app/acme/issue/ENG-7/add-a-friendly-greeting",
            "priority": 2, "priorityLabel": "High",
            "createdAt": "2026-12-01T09:00:00.000Z", "updatedAt": "2026-12-03T10:00:02.345Z",
            "stateId": "state-approved",
            "state": {"id": "state-approved", "name": "Approved", "type": "started", "color": "#f2c94c"},
            "teamId": "team-eng", "team": {"id": "team-eng", "key": "ENG", "name": "Engineering"},
            "labelIds": ["l1", "l2"],
            "labels": [{"id": "l1", "name": "Backend ", "color": "#fff"}, {"id": "l2", "name": "ux", "color": "#000"}],
            "subscriberIds": [], "previousIdentifiers": [], "sortOrder": 1.0,
            "prioritySortOrder": 1.0, "reactionData": {}
        })
    }

    #[test]
    fn a_delivered_issue_reads_as_the_ticket_with_what_it_lacks_kept() {
        let t = ticket(&data(), &known()).unwrap();
        assert_eq!(t.column, "Approved");
        assert_eq!(t.title, "Add a friendly greeting");
        assert_eq!(t.description, "Say hello.");
        assert_eq!(t.labels, vec!["backend", "ux"]);
        assert_eq!(t.priority, Some(2));
        assert_eq!(
            t.updated_at,
            "2026-12-03T10:00:02.345Z".parse::<DateTime<Utc>>().unwrap()
        );
        // Not in a delivery: as karajan last read them.
        assert_eq!(t.blocked_by, known().blocked_by);
        assert_eq!(t.branch_name, known().branch_name);
        assert_eq!(t.recent_comments, known().recent_comments);
    }

    #[test]
    fn a_delivery_that_cannot_stand_for_a_read_says_why() {
        let mut other = data();
        other["identifier"] = json!("ENG-8");
        assert!(ticket(&other, &known()).unwrap_err().contains("ENG-8"));
        let mut archived = data();
        archived["archivedAt"] = json!("2026-12-03T10:00:02.345Z");
        assert!(ticket(&archived, &known()).is_err());
        let mut trashed = data();
        trashed["trashed"] = json!(true);
        assert!(ticket(&trashed, &known()).is_err());
        let mut bare = data();
        bare.as_object_mut().unwrap().remove("updatedAt");
        assert!(ticket(&bare, &known()).unwrap_err().contains("updatedAt"));
        let mut odd = data();
        odd["priority"] = json!(9);
        assert!(ticket(&odd, &known()).is_err());
    }
}
