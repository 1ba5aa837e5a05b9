//! The checks and reviews of the fake's pull requests, and the GraphQL operation that
//! reads them (`PullRequestStatus`), shaped as GitHub answers it: `repository {
//! pullRequest { number state merged headRefOid latestReviews commits(last: 1) } }`.
//!
//! Checks belong to a commit (a head sha), as on GitHub: a new push starts with none.
//! The commit's `statusCheckRollup` is `null` while no check run or commit status was
//! reported; otherwise its `state` combines them as GitHub does: a status `ERROR` →
//! `ERROR`; a failing check run conclusion (ACTION_REQUIRED, CANCELLED, FAILURE,
//! STARTUP_FAILURE, TIMED_OUT, STALE) or status `FAILURE` → `FAILURE`; anything not
//! finished (a run not `COMPLETED`, a status `PENDING`) → `PENDING`; a status
//! `EXPECTED` → `EXPECTED`; else `SUCCESS`. Contexts carry `__typename` `CheckRun` or
//! `StatusContext` with their own fields. `latestReviews` holds each author's latest
//! review (APPROVED, CHANGES_REQUESTED, COMMENTED…), with the commit it was made on and
//! its line comments.

use super::pulls::tip;
use super::*;

/// One check of a commit: a check run (GitHub Actions, apps) or a commit status.
#[derive(Debug, Clone)]
pub enum FakeCheck {
    Run {
        name: String,
        /// `QUEUED`, `IN_PROGRESS`, `COMPLETED`…
        status: String,
        /// Set once `COMPLETED`: `SUCCESS`, `FAILURE`, `TIMED_OUT`, `NEUTRAL`…
        conclusion: Option<String>,
        title: Option<String>,
        summary: Option<String>,
        text: Option<String>,
    },
    Status {
        context: String,
        /// `PENDING`, `SUCCESS`, `FAILURE`, `ERROR`, `EXPECTED`.
        state: String,
        description: Option<String>,
    },
}

impl FakeCheck {
    /// A finished check run.
    pub fn run(name: &str, conclusion: &str, title: &str, summary: &str) -> FakeCheck {
        FakeCheck::Run {
            name: name.into(),
            status: "COMPLETED".into(),
            conclusion: Some(conclusion.into()),
            title: Some(title.into()),
            summary: Some(summary.into()),
            text: None,
        }
    }

    /// A check run not finished yet.
    pub fn running(name: &str) -> FakeCheck {
        FakeCheck::Run {
            name: name.into(),
            status: "IN_PROGRESS".into(),
            conclusion: None,
            title: None,
            summary: None,
            text: None,
        }
    }

    fn json(&self) -> Value {
        match self {
            FakeCheck::Run {
                name,
                status,
                conclusion,
                title,
                summary,
                text,
            } => json!({
                "__typename": "CheckRun",
                "name": name,
                "status": status,
                "conclusion": conclusion,
                "title": title,
                "summary": summary,
                "text": text,
                "detailsUrl": format!("https://github.com/{OWNER}/{REPO}/runs/1"),
            }),
            FakeCheck::Status {
                context,
                state,
                description,
            } => json!({
                "__typename": "StatusContext",
                "context": context,
                "state": state,
                "description": description,
                "targetUrl": format!("https://ci.example/{context}"),
            }),
        }
    }
}

/// A submitted review with its line comments `(path, line, body)`.
#[derive(Debug, Clone)]
pub struct FakeReview {
    pub author: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`.
    pub state: String,
    pub body: String,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    /// The commit reviewed (the head when it was submitted).
    pub commit: String,
    pub comments: Vec<(String, Option<i64>, String)>,
}

const FAILING: [&str; 6] = [
    "ACTION_REQUIRED",
    "CANCELLED",
    "FAILURE",
    "STARTUP_FAILURE",
    "TIMED_OUT",
    "STALE",
];

/// GitHub's combined state of a commit's checks.
fn rollup(checks: &[FakeCheck]) -> &'static str {
    let mut error = false;
    let mut failure = false;
    let mut pending = false;
    let mut expected = false;
    for c in checks {
        match c {
            FakeCheck::Run {
                status, conclusion, ..
            } => {
                if status != "COMPLETED" {
                    pending = true;
                } else if conclusion.as_deref().is_some_and(|c| FAILING.contains(&c)) {
                    failure = true;
                }
            }
            FakeCheck::Status { state, .. } => match state.as_str() {
                "ERROR" => error = true,
                "FAILURE" => failure = true,
                "PENDING" => pending = true,
                "EXPECTED" => expected = true,
                _ => {}
            },
        }
    }
    if error {
        "ERROR"
    } else if failure {
        "FAILURE"
    } else if pending {
        "PENDING"
    } else if expected {
        "EXPECTED"
    } else {
        "SUCCESS"
    }
}

/// `PullRequestStatus`: one pull request's state, reviews and head checks.
pub(super) fn pull_request_status(s: &FakeState, vars: &Value) -> (Value, Vec<Value>) {
    let number = vars["number"].as_i64().unwrap_or(0);
    if vars["owner"] != json!(OWNER) || vars["name"] != json!(REPO) {
        return (
            json!({"repository": null}),
            vec![json!({"type": "NOT_FOUND", "path": ["repository"],
                "message": format!("Could not resolve to a Repository with the name '{}/{}'.",
                    vars["owner"].as_str().unwrap_or(""), vars["name"].as_str().unwrap_or(""))})],
        );
    }
    let Some(p) = s.pulls.iter().find(|p| p.number == number) else {
        return (
            json!({"repository": {"pullRequest": null}}),
            vec![
                json!({"type": "NOT_FOUND", "path": ["repository", "pullRequest"],
                "message": format!("Could not resolve to a PullRequest with the number of {number}.")}),
            ],
        );
    };
    let head = tip(s, &p.head_ref)
        .map(|o| o.to_string())
        .unwrap_or_default();
    // The latest review of each author, in the order they were submitted.
    let mut latest: Vec<&FakeReview> = vec![];
    for r in &p.reviews {
        latest.retain(|l| l.author != r.author);
        latest.push(r);
    }
    let reviews: Vec<Value> = latest
        .iter()
        .map(|r| {
            json!({
                "author": {"__typename": "User", "login": r.author},
                "state": r.state,
                "body": r.body,
                "submittedAt": stamp(r.submitted_at),
                "commit": {"oid": r.commit},
                "comments": {"nodes": r.comments.iter().map(|(path, line, body)| json!({
                    "path": path, "line": line, "body": body
                })).collect::<Vec<_>>()},
            })
        })
        .collect();
    let checks = p.checks.get(&head).cloned().unwrap_or_default();
    let rollup = if checks.is_empty() {
        Value::Null
    } else {
        json!({
            "state": rollup(&checks),
            "contexts": {"nodes": checks.iter().map(FakeCheck::json).collect::<Vec<_>>()},
        })
    };
    let state = if p.merged {
        "MERGED"
    } else if p.open {
        "OPEN"
    } else {
        "CLOSED"
    };
    (
        json!({"repository": {"pullRequest": {
            "number": p.number,
            "state": state,
            "merged": p.merged,
            "headRefOid": head,
            "latestReviews": {"nodes": reviews},
            "commits": {"nodes": [{"commit": {"oid": head, "statusCheckRollup": rollup}}]},
        }}}),
        vec![],
    )
}
