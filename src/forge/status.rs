//! The state of a ticket's pull request as a gate reads it: its head, the latest review
//! of each reviewer (with its line comments) and the checks of its last commit (GitHub's
//! `statusCheckRollup`: check runs and commit statuses), in one GraphQL read
//! (`graphql/github/pull_request_status.graphql`) over the forge's HTTP layer, so rate
//! limits and retries follow the tracker's rules. The answer is turned into plain
//! values here; what they mean for the gate is `orchestrator::pr_verdict`'s business.

#![allow(clippy::upper_case_acronyms)]

use graphql_client::GraphQLQuery;

use super::GithubApi;
use crate::tracker::TrackerError;

type DateTime = chrono::DateTime<chrono::Utc>;
type GitObjectID = String;
type URI = String;

const _TRACKED: [&str; 2] = [
    include_str!("../../graphql/github/schema.graphql"),
    include_str!("../../graphql/github/pull_request_status.graphql"),
];

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "graphql/github/schema.graphql",
    query_path = "graphql/github/pull_request_status.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug"
)]
pub(crate) struct PullRequestStatus;

/// A pull request's state, reviews and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PrStatus {
    pub number: u64,
    /// `OPEN`, `CLOSED` or `MERGED`.
    pub state: String,
    pub merged: bool,
    /// The head commit.
    pub head: String,
    /// The latest review of each reviewer.
    pub reviews: Vec<Review>,
    /// The checks of the last commit; `None`: no commit or no check reported at all.
    pub checks: Option<Checks>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// `None`: a deleted account (GitHub's "ghost").
    pub author: Option<String>,
    pub state: ReviewState,
    pub body: String,
    pub submitted_at: Option<DateTime>,
    /// The commit it was made on (the head then).
    pub commit: Option<String>,
    pub comments: Vec<LineComment>,
}

/// A review's comment on a line of the diff.
#[derive(Debug, Clone, PartialEq)]
pub struct LineComment {
    pub path: String,
    /// `None`: the line is outdated (no longer in the diff).
    pub line: Option<u64>,
    pub body: String,
}

/// GitHub's combined state of a commit's checks (`StatusState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    Success,
    Failure,
    Error,
    Pending,
    Expected,
}

/// The checks of one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Checks {
    pub commit: String,
    pub rollup: Rollup,
    pub items: Vec<Check>,
}

/// One check run or commit status.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// Not finished yet (queued, in progress; a status `PENDING` or `EXPECTED`).
    pub pending: bool,
    /// Finished and not a success (a failing conclusion, a status `FAILURE`/`ERROR`).
    pub failed: bool,
    /// The conclusion or status as GitHub says it (`FAILURE`, `TIMED_OUT`, `SUCCESS`…).
    pub conclusion: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
}

impl GithubApi {
    /// The state, reviews and checks of pull request `number` (`NotFound` if it is gone).
    pub async fn pull_request_status(&self, number: u64) -> Result<PrStatus, TrackerError> {
        let vars = pull_request_status::Variables {
            owner: self.owner.clone(),
            name: self.repo.clone(),
            number: i64::try_from(number).unwrap_or(i64::MAX),
        };
        let what = format!("the status of pull request #{number}");
        let data = self
            .http
            .graphql::<PullRequestStatus>(vars, true)
            .await?
            .into_data(&what)?;
        let pr = data
            .repository
            .and_then(|r| r.pull_request)
            .ok_or_else(|| TrackerError::NotFound(what.clone()))?;
        Ok(convert(pr))
    }
}

use pull_request_status as q;

fn convert(pr: q::PullRequestStatusRepositoryPullRequest) -> PrStatus {
    let reviews = pr
        .latest_reviews
        .and_then(|c| c.nodes)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|r| Review {
            author: r.author.map(|a| a.login),
            state: review_state(&r.state),
            body: r.body,
            submitted_at: r.submitted_at,
            commit: r.commit.map(|c| c.oid),
            comments: r
                .comments
                .nodes
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .map(|c| LineComment {
                    path: c.path,
                    line: c.line.and_then(|l| u64::try_from(l).ok()),
                    body: c.body,
                })
                .collect(),
        })
        .collect();
    let commit = pr
        .commits
        .nodes
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .next_back()
        .map(|n| n.commit);
    let checks = commit.and_then(|c| {
        let rollup = c.status_check_rollup?;
        let items = rollup
            .contexts
            .nodes
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .map(check)
            .collect();
        Some(Checks {
            commit: c.oid,
            rollup: rollup_state(&rollup.state),
            items,
        })
    });
    PrStatus {
        number: u64::try_from(pr.number).unwrap_or_default(),
        state: match pr.state {
            q::PullRequestState::OPEN => "OPEN".into(),
            q::PullRequestState::CLOSED => "CLOSED".into(),
            q::PullRequestState::MERGED => "MERGED".into(),
            q::PullRequestState::Other(s) => s,
        },
        merged: pr.merged,
        head: pr.head_ref_oid,
        reviews,
        checks,
    }
}

fn review_state(s: &q::PullRequestReviewState) -> ReviewState {
    match s {
        q::PullRequestReviewState::APPROVED => ReviewState::Approved,
        q::PullRequestReviewState::CHANGES_REQUESTED => ReviewState::ChangesRequested,
        q::PullRequestReviewState::DISMISSED => ReviewState::Dismissed,
        q::PullRequestReviewState::PENDING => ReviewState::Pending,
        _ => ReviewState::Commented,
    }
}

fn rollup_state(s: &q::StatusState) -> Rollup {
    match s {
        q::StatusState::SUCCESS => Rollup::Success,
        q::StatusState::FAILURE => Rollup::Failure,
        q::StatusState::ERROR => Rollup::Error,
        q::StatusState::EXPECTED => Rollup::Expected,
        _ => Rollup::Pending,
    }
}

/// Conclusions that do not fail a check run (GitHub counts them as passing).
const PASSING: [&str; 3] = ["SUCCESS", "NEUTRAL", "SKIPPED"];

fn check(
    node: q::PullRequestStatusRepositoryPullRequestCommitsNodesCommitStatusCheckRollupContextsNodes,
) -> Check {
    use q::PullRequestStatusRepositoryPullRequestCommitsNodesCommitStatusCheckRollupContextsNodes as N;
    match node {
        N::CheckRun(run) => {
            let conclusion = run.conclusion.as_ref().map(wire);
            let pending = !matches!(run.status, q::CheckStatusState::COMPLETED);
            let failed = !pending && conclusion.as_deref().is_some_and(|c| !PASSING.contains(&c));
            Check {
                name: run.name,
                pending,
                failed,
                conclusion: conclusion.unwrap_or_else(|| wire(&run.status)),
                title: run.title,
                summary: run.summary,
                text: run.text,
                url: run.details_url,
            }
        }
        N::StatusContext(status) => {
            let state = wire(&status.state);
            Check {
                name: status.context,
                pending: matches!(
                    status.state,
                    q::StatusState::PENDING | q::StatusState::EXPECTED
                ),
                failed: matches!(
                    status.state,
                    q::StatusState::FAILURE | q::StatusState::ERROR
                ),
                conclusion: state,
                title: None,
                summary: status.description,
                text: None,
                url: status.target_url,
            }
        }
    }
}

/// An enum value as GitHub spells it (`TIMED_OUT`), unknown ones included.
fn wire<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "UNKNOWN".into(),
    }
}
