//! A GitHub `issues` delivery as a read of its ticket (labels mode).
//!
//! In labels mode karajan reads a ticket as GitHub's REST issue (`labels::issue_fields`),
//! and an `issues` delivery (`labeled`, `unlabeled`, `edited`) carries that same REST
//! issue after the change, signed by GitHub: number, node id, title, body, state,
//! labels, `updated_at`. So a delivered issue that is open and carries exactly one state
//! label, of a column karajan has used, says what a read would have said at its
//! `updated_at`; its blockers are taken from karajan's last read. Whether it is newer
//! than what karajan knows is the engine's question (`orchestrator::delivered`).
//!
//! What a delivery cannot say is read, as every delivery was before:
//! - a project's item (`projects_v2_item`) names no status, only node ids (project mode
//!   never takes a delivery as a read);
//! - a label swap arrives as two deliveries, each with the labels as they were when it
//!   was sent: none or two state labels, which the poll resolves (a human's move made by
//!   adding a label, karajan's half-done move repaired: `labels::resolve_column`);
//! - a closed issue, a pull request, a label of no column karajan knows.
//!
//! GitHub stamps `updated_at` to the second: a human's change in the same second as
//! karajan's own move is not later than what karajan knows of the ticket, and is read.

use serde_json::Value;

use super::GithubTracker;
use super::config::GithubMode;
use super::{labels, normalize};
use crate::domain::TicketSnapshot;

/// The ticket `known` as the delivered REST issue `issue` shows it, or why the delivery
/// cannot stand for a read.
pub(super) fn ticket(
    t: &GithubTracker,
    issue: &Value,
    known: &TicketSnapshot,
) -> Result<TicketSnapshot, String> {
    if !matches!(t.config.mode, GithubMode::Labels) {
        return Err("a project's status is read, not delivered".into());
    }
    let fields = labels::issue_fields(t, issue)?.ok_or("a pull request")?;
    let identifier = normalize::identifier(&fields.repo, fields.number);
    if fields.node_id != known.id || identifier != known.identifier {
        return Err(format!(
            "the delivery is about {identifier} ({}), not {} ({})",
            fields.node_id, known.identifier, known.id
        ));
    }
    if !fields.open {
        return Err("a closed issue".into());
    }
    let states = labels::state_labels(t, &fields.labels);
    let [state] = states.as_slice() else {
        return Err(format!("{} state labels", states.len()));
    };
    // The columns are learnt by the polls (an async lock): one in use now is read.
    let column = t
        .columns
        .try_lock()
        .map_err(|_| "the known columns are being updated")?
        .iter()
        .find(|c| t.config.state_label(c).eq_ignore_ascii_case(state))
        .cloned()
        .ok_or_else(|| format!("`{state}` is the label of no column karajan knows"))?;
    let mut fresh = t.snapshot(fields, column, known.priority, known.blocked_by.clone());
    fresh.branch_name.clone_from(&known.branch_name);
    fresh.recent_comments.clone_from(&known.recent_comments);
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{Blocker, Comment};
    use crate::tracker::github::config::{GithubConfig, RawGithubConfig};

    fn tracker(mode: &str) -> GithubTracker {
        let raw: RawGithubConfig = yaml_serde::from_str(&format!(
            "repo: acme/app\ntoken: x\nmode: {mode}\n{}",
            if mode == "project" {
                "project: {owner: acme, number: 7}\n"
            } else {
                ""
            }
        ))
        .expect("yaml");
        let config = GithubConfig::from_raw(raw, |s| Ok(s.to_string()))
            .expect("valid")
            .with_columns(vec![
                "Todo".into(),
                "Human Review".into(),
                "Approved".into(),
            ]);
        GithubTracker::new(config).expect("tracker")
    }

    fn known() -> TicketSnapshot {
        TicketSnapshot {
            id: "I_node7".into(),
            identifier: "acme/app#7".into(),
            title: "Old title".into(),
            description: "old".into(),
            url: Some("https://github.com/acme/app/issues/7".into()),
            labels: vec!["backend".into()],
            priority: None,
            column: "Human Review".into(),
            blocked_by: vec![Blocker {
                identifier: "acme/app#3".into(),
                resolved: true,
            }],
            branch_name: Some("karajan/7".into()),
            created_at: "2026-12-01T09:00:00Z".parse().unwrap(),
            updated_at: "2026-12-03T10:00:00Z".parse().unwrap(),
            recent_comments: Some(vec![Comment {
                author: "ada".into(),
                body: "please keep it short".into(),
                created_at: "2026-12-02T09:00:00Z".parse().unwrap(),
            }]),
        }
    }

    /// `issue` of an `issues` delivery as GitHub sends it (the REST issue; many more
    /// fields are sent and ignored).
    fn issue(labels: &[&str], state: &str) -> Value {
        json!({
            "url": "https://api.github.com/repos/acme/app/issues/7",
            "html_url": "https://github.com/acme/app/issues/7",
            "id": 1_347_007, "node_id": "I_node7", "number": 7,
            "title": "Add a friendly greeting", "body": "Say hello.",
            "user": {"login": "ada", "id": 1},
            "labels": labels.iter().map(|l| json!({"id": 1, "name": l, "color": "ededed", "default": false})).collect::<Vec<_>>(),
            "state": state, "locked": false, "assignees": [], "comments": 2,
            "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-03T10:00:02Z",
            "closed_at": null, "author_association": "OWNER", "state_reason": null
        })
    }

    #[test]
    fn a_delivered_issue_with_one_state_label_reads_as_the_ticket() {
        let t = tracker("labels");
        let fresh = ticket(
            &t,
            &issue(&["karajan:approved", "Backend"], "open"),
            &known(),
        )
        .expect("a read");
        assert_eq!(fresh.column, "Approved");
        assert_eq!(fresh.title, "Add a friendly greeting");
        assert_eq!(fresh.description, "Say hello.");
        assert_eq!(fresh.labels, vec!["backend".to_string()]);
        assert_eq!(fresh.updated_at.to_rfc3339(), "2026-12-03T10:00:02+00:00");
        // What the delivery lacks is karajan's last read of it.
        assert_eq!(fresh.blocked_by, known().blocked_by);
        assert_eq!(fresh.branch_name, known().branch_name);
        assert_eq!(fresh.recent_comments, known().recent_comments);
    }

    #[test]
    fn what_a_delivery_cannot_say_is_read() {
        let t = tracker("labels");
        let why = |v: Value| ticket(&t, &v, &known()).expect_err("read instead");
        // Half a label swap: none, or two, state labels.
        assert!(why(issue(&["Backend"], "open")).contains("0 state labels"));
        assert!(
            why(issue(&["karajan:human-review", "karajan:approved"], "open"))
                .contains("2 state labels")
        );
        assert!(why(issue(&["karajan:approved"], "closed")).contains("closed"));
        assert!(why(issue(&["karajan:blocked"], "open")).contains("no column"));
        let mut pr = issue(&["karajan:approved"], "open");
        pr["pull_request"] = json!({"url": "https://api.github.com/repos/acme/app/pulls/7"});
        assert!(why(pr).contains("pull request"));
        let mut other = issue(&["karajan:approved"], "open");
        other["number"] = json!(8);
        assert!(why(other).contains("acme/app#8"));
        let mut shapeless = issue(&["karajan:approved"], "open");
        shapeless["updated_at"] = json!("yesterday");
        assert!(why(shapeless).contains("updated_at"));
        // A project's item names no status.
        let p = tracker("project");
        assert!(
            ticket(&p, &issue(&["karajan:approved"], "open"), &known())
                .expect_err("read")
                .contains("project")
        );
    }
}
