//! Linear's records → karajan's normalized `TicketSnapshot` and `Comment`.
//!
//! List reads decode each issue node on its own, so one malformed record is skipped (and
//! reported) instead of hiding the whole page; `parse_page` keeps the raw nodes for that.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::ops::{issue_comments, list_issues};
use crate::domain::{Blocker, Comment, TicketSnapshot};

/// Linear's relation type for "this issue blocks the related one".
const BLOCKS: &str = "blocks";

/// A page of some connection, with its nodes still undecoded.
#[derive(Debug, Deserialize)]
pub(crate) struct RawPage {
    pub nodes: Vec<Value>,
    #[serde(rename = "pageInfo")]
    pub page_info: PageInfo,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageInfo {
    #[serde(rename = "hasNextPage")]
    pub has_next_page: bool,
    #[serde(rename = "endCursor")]
    pub end_cursor: Option<String>,
}

/// Takes the connection at `field` out of an operation's `data`: moved, not copied
/// (a candidate read's page is most of what the daemon parses, issue 11).
pub(crate) fn parse_page(mut data: Value, field: &str) -> Result<RawPage, String> {
    let connection = data
        .get_mut(field)
        .map(Value::take)
        .ok_or_else(|| format!("`data.{field}` is missing"))?;
    RawPage::deserialize(connection).map_err(|e| format!("`data.{field}`: {e}"))
}

/// The identifier of an undecoded issue node, when it has one (for error messages).
pub(crate) fn node_label(node: &Value) -> String {
    node.get("identifier")
        .and_then(Value::as_str)
        .or_else(|| node.get("id").and_then(Value::as_str))
        .unwrap_or("<issue without identifier>")
        .to_string()
}

/// Decodes and normalizes one issue node.
pub(crate) fn issue(node: Value) -> Result<TicketSnapshot, String> {
    let raw: list_issues::IssueFields =
        serde_json::from_value(node).map_err(|e| format!("unexpected shape: {e}"))?;
    if raw.identifier.trim().is_empty() {
        return Err("empty identifier".to_string());
    }
    if raw.state.name.trim().is_empty() {
        return Err("empty state name".to_string());
    }
    let labels = label_set(raw.labels.nodes.iter().map(|l| l.name.as_str()));
    let blocked_by = raw
        .inverse_relations
        .nodes
        .iter()
        .filter(|r| r.type_ == BLOCKS)
        .map(|r| Blocker {
            identifier: r.issue.identifier.clone(),
            resolved: is_finished(&r.issue.state.type_),
        })
        .collect();
    Ok(TicketSnapshot {
        id: raw.id,
        identifier: raw.identifier,
        title: raw.title,
        description: raw.description.unwrap_or_default(),
        url: Some(raw.url).filter(|u| !u.is_empty()),
        labels,
        priority: priority(raw.priority)?,
        column: raw.state.name,
        blocked_by,
        branch_name: Some(raw.branch_name).filter(|b| !b.is_empty()),
        created_at: raw.created_at,
        updated_at: raw.updated_at,
        recent_comments: Some(super::recent::from_read(
            raw.comments_head
                .nodes
                .into_iter()
                .chain(raw.comments_tail.nodes)
                .map(recent_comment)
                .collect(),
        )),
    })
}

/// Label names as karajan compares them: trimmed, lowercase, sorted, once each.
pub(crate) fn label_set<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut labels: Vec<String> = names
        .into_iter()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

/// Linear's state types: `triage`, `backlog`, `unstarted`, `started`, `completed`,
/// `canceled`. A blocker is resolved only when it is finished one way or the other.
pub(crate) fn is_finished(state_type: &str) -> bool {
    matches!(state_type, "completed" | "canceled")
}

/// Linear priority: 0 = none, 1 = urgent, 2 = high, 3 = medium, 4 = low.
pub(crate) fn priority(value: f64) -> Result<Option<u8>, String> {
    if !(0.0..=4.0).contains(&value) || value.fract() != 0.0 {
        return Err(format!("priority {value} is not one of 0..4"));
    }
    // In range and integral: the cast is exact.
    let level = value as u8;
    Ok((level != 0).then_some(level))
}

/// Decodes one comment node.
pub(crate) fn comment(node: Value) -> Result<(String, Comment), String> {
    let raw: issue_comments::IssueCommentsIssueCommentsNodes =
        serde_json::from_value(node).map_err(|e| format!("unexpected comment shape: {e}"))?;
    let user = raw.user.map(|u| (u.name, u.display_name));
    let author = author(user, raw.bot_actor.and_then(|b| b.name));
    Ok((
        raw.id,
        Comment {
            author,
            body: raw.body,
            created_at: raw.created_at,
        },
    ))
}

/// One of the recent comments an issue node carries (decoded with the issue).
fn recent_comment(raw: list_issues::RecentComment) -> (String, Comment) {
    let user = raw.user.map(|u| (u.name, u.display_name));
    let author = author(user, raw.bot_actor.and_then(|b| b.name));
    (
        raw.id,
        Comment {
            author,
            body: raw.body,
            created_at: raw.created_at,
        },
    )
}

/// A comment's author: the user's display name (else their name), else the bot's.
fn author(user: Option<(String, String)>, bot: Option<String>) -> String {
    user.map(|(name, display_name)| {
        if display_name.is_empty() {
            name
        } else {
            display_name
        }
    })
    .or(bot)
    .unwrap_or_else(|| "unknown".to_string())
}

/// Oldest first, whatever order the pages came in; ties broken by id for stability.
pub(crate) fn sort_comments(comments: &mut [(String, Comment)]) {
    comments.sort_by(|a, b| {
        a.1.created_at
            .cmp(&b.1.created_at)
            .then_with(|| a.0.cmp(&b.0))
    });
}

/// `ENG-42` → (`ENG`, 42). Linear identifiers are a team key, a dash and a number.
pub(crate) fn split_identifier(identifier: &str) -> Option<(&str, u64)> {
    let (key, number) = identifier.rsplit_once('-')?;
    if key.is_empty() {
        return None;
    }
    Some((key, number.parse().ok()?))
}

/// RFC 3339 with milliseconds, as Linear writes and accepts timestamps.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Value {
        json!({
            "id": "uuid-1", "identifier": "ENG-1", "title": "Fix login",
            "description": null, "url": "https://linear.app/acme/issue/ENG-1",
            "branchName": "eng-1-fix-login", "priority": 0,
            "createdAt": "2024-05-01T10:00:00.000Z", "updatedAt": "2024-05-02T10:00:00.000Z",
            "state": {"id": "s1", "name": "Todo", "type": "unstarted"},
            "team": {"id": "t1", "key": "ENG"},
            "labels": {"nodes": [{"name": "Backend"}, {"name": "URGENT "}, {"name": "backend"}]},
            "inverseRelations": {"nodes": [
                {"type": "blocks", "issue": {"identifier": "ENG-2", "state": {"name": "Done", "type": "completed"}}},
                {"type": "blocks", "issue": {"identifier": "ENG-3", "state": {"name": "Canceled", "type": "canceled"}}},
                {"type": "blocks", "issue": {"identifier": "ENG-4", "state": {"name": "In Progress", "type": "started"}}},
                {"type": "related", "issue": {"identifier": "ENG-5", "state": {"name": "Todo", "type": "unstarted"}}},
                {"type": "duplicate", "issue": {"identifier": "ENG-6", "state": {"name": "Todo", "type": "unstarted"}}}
            ]},
            "commentsHead": {"nodes": [
                {"id": "c1", "body": "first", "createdAt": "2024-05-01T11:00:00.000Z",
                 "user": {"name": "grace", "displayName": ""}, "botActor": null}
            ]},
            "commentsTail": {"nodes": [
                {"id": "c2", "body": "second", "createdAt": "2024-05-01T12:00:00.000Z",
                 "user": null, "botActor": {"name": "GitHub"}},
                {"id": "c1", "body": "first", "createdAt": "2024-05-01T11:00:00.000Z",
                 "user": {"name": "grace", "displayName": ""}, "botActor": null}
            ]}
        })
    }

    #[test]
    fn normalizes_an_issue() {
        let t = issue(node()).unwrap();
        assert_eq!(t.identifier, "ENG-1");
        assert_eq!(t.description, "");
        assert_eq!(t.labels, vec!["backend", "urgent"]);
        assert_eq!(t.priority, None);
        assert_eq!(t.column, "Todo");
        assert_eq!(t.branch_name.as_deref(), Some("eng-1-fix-login"));
        assert_eq!(
            t.blocked_by,
            vec![
                Blocker {
                    identifier: "ENG-2".into(),
                    resolved: true
                },
                Blocker {
                    identifier: "ENG-3".into(),
                    resolved: true
                },
                Blocker {
                    identifier: "ENG-4".into(),
                    resolved: false
                },
            ]
        );
        assert!(t.is_blocked());
        assert_eq!(timestamp(t.created_at), "2024-05-01T10:00:00.000Z");
        let recent: Vec<(&str, &str)> = t
            .recent_comments
            .iter()
            .flatten()
            .map(|c| (c.author.as_str(), c.body.as_str()))
            .collect();
        assert_eq!(recent, [("grace", "first"), ("GitHub", "second")]);
    }

    #[test]
    fn priorities_map_and_bad_ones_fail() {
        for (raw, want) in [(1.0, Some(1)), (4.0, Some(4)), (0.0, None)] {
            assert_eq!(priority(raw).unwrap(), want);
        }
        assert!(priority(5.0).is_err());
        assert!(priority(1.5).is_err());
    }

    #[test]
    fn malformed_nodes_are_errors() {
        let mut bad = node();
        bad["createdAt"] = json!("yesterday");
        assert!(issue(bad).is_err());
        let mut bad = node();
        bad["state"] = Value::Null;
        assert!(issue(bad).unwrap_err().contains("unexpected shape"));
        assert_eq!(node_label(&json!({"identifier": "ENG-9"})), "ENG-9");
    }

    #[test]
    fn identifiers_split_on_the_last_dash() {
        assert_eq!(split_identifier("ENG-42"), Some(("ENG", 42)));
        assert_eq!(split_identifier("MY-TEAM-7"), Some(("MY-TEAM", 7)));
        assert_eq!(split_identifier("ENG"), None);
        assert_eq!(split_identifier("-4"), None);
        assert_eq!(split_identifier("ENG-x"), None);
    }

    #[test]
    fn comments_sort_oldest_first_whatever_the_input_order() {
        let c = |id: &str, at: &str| {
            comment(json!({"id": id, "body": id, "createdAt": at, "user": null, "botActor": {"name": "bot"}}))
                .unwrap()
        };
        let mut all = vec![
            c("c3", "2024-01-03T00:00:00Z"),
            c("c1", "2024-01-01T00:00:00Z"),
            c("c2", "2024-01-02T00:00:00Z"),
        ];
        sort_comments(&mut all);
        let ids: Vec<_> = all.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2", "c3"]);
        assert_eq!(all[0].1.author, "bot");
    }
}
