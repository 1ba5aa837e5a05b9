//! What a verified delivery is about: the tickets it names, in the identifiers the
//! tracker adapters use (Linear `ENG-123`; GitHub `owner/repo#N`, as
//! `tracker::github::normalize` spells them), or nothing karajan cares about.
//!
//! Only a few fields are read, leniently (every other field of these large payloads is
//! ignored), so a payload shape change upstream degrades to "reconcile everything", not
//! to a refused delivery.

use serde_json::Value;

/// What to do with a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// Reconcile these tickets now; empty when the delivery concerns a ticket but does
    /// not say which (a Linear comment without its issue's identifier, a GitHub project
    /// item without its content's node id).
    Tickets(Vec<String>),
    /// A GitHub project's item that is an issue, named by node ids only: the issue's
    /// (`content_node_id`) and its project's (`project_node_id`, when given). The
    /// orchestrator knows which ticket (if any) has that id, and which project is its
    /// board.
    ProjectItem {
        issue: String,
        project: Option<String>,
    },
    /// Read these pull requests now (by number, or by a head commit: a commit
    /// status names only its commit): a check run or suite, a status, a review.
    PullRequests {
        numbers: Vec<u64>,
        shas: Vec<String>,
    },
    /// Accepted and ignored: another resource type, a `ping`, another repository.
    Ignored(&'static str),
}

/// What a pull-request event of GitHub names: the pull requests' numbers and the
/// commit it is about (`None`: not such an event).
fn pull_request_news(event: &str, body: &Value) -> Option<(Vec<u64>, Vec<String>)> {
    let numbers_at = |key: &str| -> Vec<u64> {
        body.get(key)
            .and_then(|o| o.get("pull_requests"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("number").and_then(Value::as_u64))
            .collect()
    };
    let sha_at = |path: &[&str]| str_at(body, path).map(str::to_string).into_iter().collect();
    match event {
        "check_run" | "check_suite" => Some((numbers_at(event), sha_at(&[event, "head_sha"]))),
        "status" => Some((vec![], sha_at(&["sha"]))),
        "pull_request" | "pull_request_review" | "pull_request_review_comment" => Some((
            body.get("pull_request")
                .and_then(|p| p.get("number"))
                .and_then(Value::as_u64)
                .into_iter()
                .collect(),
            sha_at(&["pull_request", "head", "sha"]),
        )),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A Linear delivery: `type` `Issue` (its `data.identifier`) or `Comment` (its
/// `data.issue.identifier` when present, else the issue named in the comment's `url`,
/// `https://linear.app/<org>/issue/ENG-7/<slug>#comment-…`).
pub(crate) fn linear(body: &Value) -> Meaning {
    match body.get("type").and_then(Value::as_str) {
        Some("Issue") => match str_at(body, &["data", "identifier"]) {
            Some(id) => Meaning::Tickets(vec![id.to_string()]),
            None => Meaning::Tickets(Vec::new()),
        },
        Some("Comment") => match str_at(body, &["data", "issue", "identifier"])
            .map(str::to_string)
            .or_else(|| str_at(body, &["url"]).and_then(identifier_in_url))
        {
            Some(id) => Meaning::Tickets(vec![id]),
            None => Meaning::Tickets(Vec::new()),
        },
        _ => Meaning::Ignored("not an issue or comment"),
    }
}

/// The issue an `Issue` update delivery carries (`data`, the issue after the change),
/// which the tracker may take as a read of the ticket (`Tracker::read_delivery`).
/// Creations and removals are read instead.
pub(crate) fn linear_issue_data(body: &Value) -> Option<&Value> {
    let update = body.get("type").and_then(Value::as_str) == Some("Issue")
        && body.get("action").and_then(Value::as_str) == Some("update");
    update
        .then(|| body.get("data"))
        .flatten()
        .filter(|d| d.is_object())
}

/// The issue a GitHub `issues` delivery that changed its labels or text carries
/// (`issue`, the REST issue after the change), which the tracker may take as a read of
/// the ticket (`Tracker::read_delivery`). Openings, closings, deletions, transfers and
/// comments are read instead.
pub(crate) fn github_issue_data<'a>(event: &str, body: &'a Value) -> Option<&'a Value> {
    let change = event == "issues"
        && matches!(
            body.get("action").and_then(Value::as_str),
            Some("labeled" | "unlabeled" | "edited")
        );
    change
        .then(|| body.get("issue"))
        .flatten()
        .filter(|i| i.is_object())
}

/// `ENG-7` from `https://linear.app/acme/issue/ENG-7/some-title#comment-1`.
fn identifier_in_url(url: &str) -> Option<String> {
    let rest = url.split("/issue/").nth(1)?;
    let id = rest.split(['/', '#', '?']).next()?;
    let (team, number) = id.rsplit_once('-')?;
    let ok = !team.is_empty()
        && team.chars().all(|c| c.is_ascii_alphanumeric())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit());
    ok.then(|| id.to_string())
}

/// A GitHub delivery of event `event` (`X-GitHub-Event`). `repo` is the tracker's
/// `owner/name`: deliveries about other repositories are ignored.
pub(crate) fn github(event: &str, body: &Value, repo: Option<&str>) -> Meaning {
    match event {
        "issues" | "issue_comment" => {
            let Some(full) = str_at(body, &["repository", "full_name"]) else {
                return Meaning::Ignored("no repository");
            };
            if repo.is_some_and(|r| !r.eq_ignore_ascii_case(full)) {
                return Meaning::Ignored("another repository");
            }
            match body
                .get("issue")
                .and_then(|i| i.get("number"))
                .and_then(Value::as_i64)
            {
                // `owner/repo#N`, as `tracker::github::normalize::identifier` spells it.
                Some(n) if n > 0 => Meaning::Tickets(vec![format!("{full}#{n}")]),
                _ => Meaning::Ignored("no issue number"),
            }
        }
        // Project items name their content by node id only (and carry no repository:
        // an organization's hook delivers every project's items).
        "projects_v2_item" => {
            let at = |key: &str| str_at(body, &["projects_v2_item", key]);
            match (at("content_type"), at("content_node_id")) {
                (Some("Issue") | None, Some(issue)) => Meaning::ProjectItem {
                    issue: issue.to_string(),
                    project: at("project_node_id").map(str::to_string),
                },
                (Some("Issue") | None, None) => Meaning::Tickets(Vec::new()),
                (Some(_), _) => Meaning::Ignored("a project item that is not an issue"),
            }
        }
        "ping" => Meaning::Ignored("ping"),
        _ => match pull_request_news(event, body) {
            Some(_)
                if repo.is_some_and(|r| {
                    str_at(body, &["repository", "full_name"])
                        .is_none_or(|full| !r.eq_ignore_ascii_case(full))
                }) =>
            {
                Meaning::Ignored("another repository")
            }
            Some((numbers, shas)) if numbers.is_empty() && shas.is_empty() => {
                Meaning::Ignored("no pull request or commit named")
            }
            Some((numbers, shas)) => Meaning::PullRequests { numbers, shas },
            None => Meaning::Ignored("an event karajan does not use"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn linear_issues_and_comments_name_their_ticket() {
        let issue = json!({"action": "update", "type": "Issue",
            "data": {"id": "uuid-1", "identifier": "ENG-7", "title": "t"},
            "webhookTimestamp": 1});
        assert_eq!(linear(&issue), Meaning::Tickets(vec!["ENG-7".into()]));
        let comment = json!({"action": "create", "type": "Comment",
            "data": {"id": "c", "body": "ok", "issueId": "uuid-1",
                     "issue": {"id": "uuid-1", "identifier": "ENG-7", "title": "t"}}});
        assert_eq!(linear(&comment), Meaning::Tickets(vec!["ENG-7".into()]));
        let by_url = json!({"type": "Comment", "data": {"issueId": "uuid-1"},
            "url": "https://linear.app/acme/issue/ENG-12/add-a-greeting#comment-9f2"});
        assert_eq!(linear(&by_url), Meaning::Tickets(vec!["ENG-12".into()]));
        let bare = json!({"type": "Comment", "data": {"issueId": "uuid-1"},
            "url": "https://linear.app/acme/project/x"});
        assert_eq!(linear(&bare), Meaning::Tickets(vec![]));
        let cycle = json!({"type": "Cycle", "data": {"id": "x"}});
        assert!(matches!(linear(&cycle), Meaning::Ignored(_)));
        assert_eq!(linear_issue_data(&issue), Some(&issue["data"]));
        assert_eq!(linear_issue_data(&comment), None);
        let created = json!({"action": "create", "type": "Issue", "data": {"identifier": "ENG-7"}});
        assert_eq!(linear_issue_data(&created), None);
    }

    #[test]
    fn github_label_and_text_changes_carry_their_issue() {
        let with = |action: &str| {
            json!({"action": action, "issue": {"number": 12, "title": "t"},
                "repository": {"full_name": "acme/app", "name": "app"}})
        };
        for action in ["labeled", "unlabeled", "edited"] {
            let body = with(action);
            assert_eq!(github_issue_data("issues", &body), Some(&body["issue"]));
        }
        for action in ["opened", "closed", "reopened", "deleted", "transferred"] {
            assert_eq!(github_issue_data("issues", &with(action)), None, "{action}");
        }
        assert_eq!(github_issue_data("issue_comment", &with("created")), None);
        assert_eq!(
            github_issue_data("issues", &json!({"action": "labeled"})),
            None
        );
    }

    #[test]
    fn github_issue_events_name_owner_repo_number() {
        let body = json!({"action": "labeled", "issue": {"number": 12, "title": "t"},
            "repository": {"full_name": "acme/app", "name": "app"}});
        assert_eq!(
            github("issues", &body, Some("acme/app")),
            Meaning::Tickets(vec!["acme/app#12".into()])
        );
        assert_eq!(
            github("issue_comment", &body, Some("Acme/App")),
            Meaning::Tickets(vec!["acme/app#12".into()])
        );
        assert!(matches!(
            github("issues", &body, Some("acme/other")),
            Meaning::Ignored(_)
        ));
        let item = json!({"action": "edited", "projects_v2_item":
            {"content_node_id": "I_kw", "content_type": "Issue", "project_node_id": "PVT_kw"}});
        assert_eq!(
            github("projects_v2_item", &item, Some("acme/app")),
            Meaning::ProjectItem {
                issue: "I_kw".into(),
                project: Some("PVT_kw".into())
            }
        );
        let unnamed = json!({"action": "edited", "projects_v2_item": {"content_type": "Issue"}});
        assert_eq!(
            github("projects_v2_item", &unnamed, Some("acme/app")),
            Meaning::Tickets(vec![])
        );
        let draft = json!({"projects_v2_item": {"content_type": "DraftIssue"}});
        assert!(matches!(
            github("projects_v2_item", &draft, None),
            Meaning::Ignored(_)
        ));
        assert!(matches!(
            github("ping", &json!({"zen": "z"}), None),
            Meaning::Ignored(_)
        ));
        assert!(matches!(github("push", &body, None), Meaning::Ignored(_)));
    }

    /// The fields GitHub's webhook payloads carry for these events (docs: "Webhook
    /// events and payloads": check_run, check_suite, status, pull_request_review).
    #[test]
    fn github_pull_request_events_name_their_pull_requests_or_commit() {
        let repo = json!({"full_name": "acme/app"});
        let run = json!({"action": "completed", "repository": repo,
            "check_run": {"id": 4, "head_sha": "ce587453", "status": "completed",
                "conclusion": "success", "pull_requests": [{"number": 7, "id": 1}]}});
        assert_eq!(
            github("check_run", &run, Some("acme/app")),
            Meaning::PullRequests {
                numbers: vec![7],
                shas: vec!["ce587453".into()]
            }
        );
        let suite = json!({"action": "completed", "repository": repo,
            "check_suite": {"head_sha": "ab12", "pull_requests": [{"number": 7}, {"number": 9}]}});
        assert_eq!(
            github("check_suite", &suite, Some("acme/app")),
            Meaning::PullRequests {
                numbers: vec![7, 9],
                shas: vec!["ab12".into()]
            }
        );
        let status = json!({"sha": "ffee", "state": "failure", "context": "ci/build",
            "repository": repo});
        assert_eq!(
            github("status", &status, Some("acme/app")),
            Meaning::PullRequests {
                numbers: vec![],
                shas: vec!["ffee".into()]
            }
        );
        let review = json!({"action": "submitted", "repository": repo,
            "review": {"state": "changes_requested"},
            "pull_request": {"number": 7, "head": {"sha": "ab12"}}});
        assert_eq!(
            github("pull_request_review", &review, Some("acme/app")),
            Meaning::PullRequests {
                numbers: vec![7],
                shas: vec!["ab12".into()]
            }
        );
        assert!(matches!(
            github("pull_request_review", &review, Some("acme/other")),
            Meaning::Ignored(_)
        ));
        let bare = json!({"repository": repo, "check_run": {"pull_requests": []}});
        assert!(matches!(
            github("check_run", &bare, Some("acme/app")),
            Meaning::Ignored(_)
        ));
    }
}
