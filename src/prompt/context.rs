//! The variables a prompt template sees. This is the whole contract between karajan and
//! prompt authors: `issue`, `state`, `run`, `attempt`, `rework`, `review`,
//! `last_run_at`, `pull_request` — nothing else is defined, and with strict undefined
//! behaviour a typo is an error, not a blank. A value that may be missing
//! (`last_run_at`, `pull_request`, `review`, a finding's `path` and `line`) is always
//! defined, as `none` when missing, so `{% if pull_request %}` is how a template asks.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::TicketSnapshot;

/// Everything a prompt (or the branch template) can refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptContext {
    pub issue: PromptIssue,
    /// The workflow state being run.
    pub state: String,
    /// The run number of this state for this ticket (1 for the first run).
    pub run: u32,
    /// The attempt within this run (1 unless retrying after a failure).
    pub attempt: u32,
    pub rework: ReworkContext,
    /// When this state last ran for this ticket (RFC 3339), if ever.
    pub last_run_at: Option<String>,
    /// The ticket's pull request, once karajan opened (or found) it: `none` before.
    pub pull_request: Option<PromptPullRequest>,
    /// The review that sent this run back (`needs_revision`): `none` otherwise.
    pub review: Option<ReviewContext>,
}

/// A review's request for revision, as the next run's prompt sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewContext {
    pub summary: String,
    pub findings: Vec<PromptFinding>,
    /// Which request for revision of that review state this is (1 for the first).
    pub round: u32,
}

/// One finding, every field defined (`path` and `line` are `none` when not given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptFinding {
    pub path: Option<String>,
    pub line: Option<u32>,
    /// `error`, `warning` or `note`.
    pub severity: String,
    pub text: String,
}

impl ReviewContext {
    pub fn new(v: &crate::domain::Verdict, round: u32) -> Self {
        ReviewContext {
            summary: v.summary.clone(),
            findings: v
                .findings
                .iter()
                .map(|f| PromptFinding {
                    path: f.path.clone(),
                    line: f.line,
                    severity: f.severity.as_str().to_string(),
                    text: f.text.clone(),
                })
                .collect(),
            round,
        }
    }
}

/// The ticket's pull request, as templates see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptPullRequest {
    pub number: u64,
    pub url: String,
}

impl From<&crate::domain::PullRequestRef> for PromptPullRequest {
    fn from(pr: &crate::domain::PullRequestRef) -> Self {
        PromptPullRequest {
            number: pr.number,
            url: pr.url.clone(),
        }
    }
}

/// The ticket, as templates see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptIssue {
    pub identifier: String,
    pub title: String,
    pub description: String,
    pub url: Option<String>,
    pub labels: Vec<String>,
    /// 1 (urgent) .. 4 (low); none when unset.
    pub priority: Option<u8>,
    /// The tracker column the ticket is in.
    pub state: String,
}

/// What the pull request's title and body templates (`forge.pull_request`) see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequestContext {
    pub issue: PromptIssue,
    /// The ticket's branch (the pull request's head).
    pub branch: String,
    /// The state whose run opens or updates it.
    pub state: String,
}

/// Rework requested by a gate: how many rounds so far and the reviewer's words.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReworkContext {
    pub count: u32,
    pub feedback: Option<String>,
}

impl PromptIssue {
    pub fn from_ticket(t: &TicketSnapshot) -> Self {
        PromptIssue {
            identifier: t.identifier.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            url: t.url.clone(),
            labels: t.labels.clone(),
            priority: t.priority,
            state: t.column.clone(),
        }
    }
}

impl PromptContext {
    /// A context for the first attempt of a run with no rework and no previous run;
    /// set the other fields as needed.
    pub fn new(ticket: &TicketSnapshot, state: &str, run: u32, attempt: u32) -> Self {
        PromptContext {
            issue: PromptIssue::from_ticket(ticket),
            state: state.to_string(),
            run,
            attempt,
            rework: ReworkContext::default(),
            last_run_at: None,
            pull_request: None,
            review: None,
        }
    }

    /// Sets the review that sent this run back.
    pub fn with_review(mut self, review: Option<ReviewContext>) -> Self {
        self.review = review;
        self
    }

    /// Sets `last_run_at` from a timestamp.
    pub fn with_last_run_at(mut self, at: DateTime<Utc>) -> Self {
        self.last_run_at = Some(at.to_rfc3339_opts(SecondsFormat::Secs, true));
        self
    }

    /// Sets the ticket's pull request (from its record).
    pub fn with_pull_request(mut self, pr: Option<PromptPullRequest>) -> Self {
        self.pull_request = pr;
        self
    }

    /// Sets the rework round and the reviewer's feedback.
    pub fn with_rework(mut self, count: u32, feedback: Option<String>) -> Self {
        self.rework = ReworkContext { count, feedback };
        self
    }
}

/// The built-in ticket `karajan check` renders every prompt against: every field is
/// filled so that templates using any variable render. The first run has no pull
/// request yet (as on a real first run, so an unguarded `{{ pull_request.url }}` is
/// refused); the rework has one, so a typo inside `{% if pull_request %}` is caught.
pub(crate) fn sample(state: &str, column: &str, reworked: bool) -> PromptContext {
    let base = PromptContext {
        issue: PromptIssue {
            identifier: "SAMPLE-1".into(),
            title: "Sample ticket for `karajan check`".into(),
            description: "A sample description.\n\nWith a second paragraph.".into(),
            url: Some("https://example.invalid/SAMPLE-1".into()),
            labels: vec!["bug".into(), "docs".into()],
            priority: Some(2),
            state: column.into(),
        },
        state: state.into(),
        run: 1,
        attempt: 1,
        rework: ReworkContext::default(),
        last_run_at: None,
        pull_request: None,
        review: None,
    };
    if reworked {
        PromptContext {
            run: 2,
            attempt: 2,
            rework: ReworkContext {
                count: 1,
                feedback: Some("Please add a test for the error path.".into()),
            },
            last_run_at: Some("2025-01-01T12:00:00Z".into()),
            pull_request: Some(PromptPullRequest {
                number: 7,
                url: "https://example.invalid/pull/7".into(),
            }),
            review: Some(ReviewContext {
                summary: "One problem, one suggestion.".into(),
                findings: vec![
                    PromptFinding {
                        path: Some("src/lib.rs".into()),
                        line: Some(12),
                        severity: "error".into(),
                        text: "Panics on empty input.".into(),
                    },
                    PromptFinding {
                        path: None,
                        line: None,
                        severity: "note".into(),
                        text: "Add a test.".into(),
                    },
                ],
                round: 1,
            }),
            ..base
        }
    } else {
        base
    }
}
