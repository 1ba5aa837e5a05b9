//! The ticket's pull request, as an outbox intent.
//!
//! A state with `pull_request: open` whose run succeeded and moved the branch owes a
//! push and, behind it in the same transaction (any state, once the ticket has a pull
//! request that is not merged), `IntentRecorded { PullRequest }` with
//! the title and body rendered then ([`Engine::pull_request_intent`]). The ticket's chain
//! performs them in order, so the pull request is opened only once its branch is on the
//! forge. [`perform_pull_request`] always looks for the ticket's pull request first (by
//! its head branch): an open one is updated (title, body), a closed unmerged one is
//! reopened, a merged one is left alone; only when the branch has none is one opened.
//! So a retry, a restart after a crash, a rework or an answer to `create` that was lost
//! never opens a second one. A refusal (no commits between the branches, a base that
//! does not exist, a token without the right) is final: the ticket is escalated with
//! GitHub's reason, like a push that failed for good.

use tracing::{info, warn};

use super::effects::ChainCtx;
use super::engine::Engine;
use super::forge_calls::{error_text, failed, github_for};
use super::intents::Intent;
use crate::config::GithubForge;
use crate::domain::TicketSnapshot;
use crate::forge::{GithubApi, PullRequest, PullRequestDraft};
use crate::store::{EventKind, IntentOp, NewEvent};
use crate::tracker::TrackerError;

impl Engine {
    /// The pull request a state with `pull_request: open` owes after a run whose push is
    /// owed: its `IntentRecorded` event (recorded after the push's), or `None` when the
    /// state does not open one or the forge is not GitHub. A template that fails to
    /// render (it was checked at load) falls back to the defaults, with a warning.
    /// A ticket that has a pull request (not merged) updates it after any push, so the
    /// record keeps the head karajan pushed last (the merge guard).
    pub(crate) fn pull_request_intent(
        &self,
        rec: &crate::domain::IssueRecord,
        snap: &TicketSnapshot,
        branch: &str,
    ) -> Option<(NewEvent, Intent)> {
        let state = rec.state.as_str();
        let agent = self.workflow.agent_state(state)?;
        let github = self.workflow.forge.as_ref()?.github()?;
        let has_one = rec.pull_request.as_ref().is_some_and(|p| !p.merged);
        if !(agent.pull_request || has_one) {
            return None;
        }
        let (title, body) = render(github, snap, branch, state);
        let op = IntentOp::PullRequest {
            repo: format!("{}/{}", github.owner, github.repo),
            branch: branch.to_string(),
            base: github.pull_request.base.clone(),
            title,
            body,
            draft: github.pull_request.draft,
        };
        let intent_id = super::ids::new_id("i");
        let event = NewEvent::for_issue(
            &snap.identifier,
            EventKind::IntentRecorded {
                intent_id: intent_id.clone(),
                op: op.clone(),
            },
        );
        Some((
            event,
            Intent {
                intent_id,
                identifier: snap.identifier.clone(),
                op,
            },
        ))
    }
}

/// The title and body for the ticket's pull request: the templates, then the line that
/// links the ticket (`Closes #N` when the tracker is this repository's issues).
pub(crate) fn render(
    github: &GithubForge,
    snap: &TicketSnapshot,
    branch: &str,
    state: &str,
) -> (String, String) {
    let ctx = crate::prompt::PullRequestContext {
        issue: crate::prompt::PromptIssue::from_ticket(snap),
        branch: branch.to_string(),
        state: state.to_string(),
    };
    let pr = &github.pull_request;
    let one = |key: &str, template: &str, default: &str| {
        crate::prompt::env::render(key, template, &ctx)
            .or_else(|e| {
                warn!(ticket = %snap.identifier, template = key, error = %e, "pull request template does not render; using the default");
                crate::prompt::env::render(key, default, &ctx)
            })
            .unwrap_or_default()
    };
    let title = one(
        "forge.pull_request.title",
        &pr.title,
        crate::config::DEFAULT_PR_TITLE,
    );
    let title = title.trim().to_string();
    let body = one(
        "forge.pull_request.body",
        &pr.body,
        crate::config::DEFAULT_PR_BODY,
    );
    let link = link_line(github, snap);
    (title, format!("{}\n\n{link}\n", body.trim_end()))
}

/// `Closes #N` for an issue of the forge's own repository, `Closes owner/name#N` for an
/// issue of another GitHub repository (the tracker's), else the ticket's identifier and
/// link (a Linear issue, a local ticket).
fn link_line(github: &GithubForge, snap: &TicketSnapshot) -> String {
    let own = format!("{}/{}", github.owner, github.repo);
    if let Some(tracker_repo) = &github.tracker_repo
        && let Some((repo, number)) = snap.identifier.rsplit_once('#')
        && repo == tracker_repo
    {
        return if *repo == own {
            format!("Closes #{number}")
        } else {
            format!("Closes {repo}#{number}")
        };
    }
    match &snap.url {
        Some(url) => format!("Ticket: [{}]({url})", snap.identifier),
        None => format!("Ticket: {}", snap.identifier),
    }
}

/// How failures read in the log.
const OPEN: &str = "opening the pull request";

/// Perform a pull-request intent: its outcome event, and `PullRequestOpened` when the
/// ticket's pull request exists.
pub(crate) async fn perform_pull_request(ctx: &ChainCtx, intent: &Intent) -> Vec<NewEvent> {
    let IntentOp::PullRequest {
        repo,
        branch,
        base,
        title,
        body,
        draft,
    } = &intent.op
    else {
        unreachable!("perform_pull_request is given pull requests only")
    };
    let api = match github_for(ctx, repo) {
        Ok(api) => api,
        Err(why) => return failed(intent, OPEN, why, false),
    };
    let body = ctx.redactor.raw(body).into_owned();
    let title = ctx.redactor.raw(title).into_owned();
    let draft_pr = PullRequestDraft {
        branch,
        base: base.as_deref(),
        title: &title,
        body: &body,
        draft: *draft,
    };
    match open_or_update(api, &draft_pr).await {
        Ok((pr, created)) => {
            info!(ticket = %intent.identifier, number = pr.number, url = %pr.url, created, "pull request ready");
            vec![
                NewEvent::for_issue(
                    &intent.identifier,
                    EventKind::PullRequestOpened {
                        repo: repo.clone(),
                        number: pr.number,
                        url: pr.url.clone(),
                        branch: branch.clone(),
                        created,
                        head: (!pr.head_sha.is_empty()).then(|| pr.head_sha.clone()),
                    },
                ),
                NewEvent::for_issue(
                    &intent.identifier,
                    EventKind::IntentCompleted {
                        intent_id: intent.intent_id.clone(),
                        already_done: !created,
                    },
                ),
            ]
        }
        Err(e) => failed(intent, OPEN, error_text(ctx, &e), e.is_retryable()),
    }
}

/// The ticket's pull request after this call, and whether it was opened by it. Found
/// first, always: an answer to `create` that was lost is then found, not repeated.
async fn open_or_update(
    api: &GithubApi,
    pr: &PullRequestDraft<'_>,
) -> Result<(PullRequest, bool), TrackerError> {
    if let Some(existing) = api.find(pr.branch).await? {
        return update(api, existing, pr).await.map(|p| (p, false));
    }
    let base = match pr.base {
        Some(b) => b.to_string(),
        None => api.default_branch().await?,
    };
    match api.create(pr, &base).await {
        Ok(created) => Ok((created, true)),
        Err(TrackerError::Unconfirmed(reason)) => {
            info!(branch = %pr.branch, %reason, "the answer to opening the pull request was lost; looking for it before trying again");
            match api.find(pr.branch).await? {
                Some(found) => Ok((found, true)),
                None => api.create(pr, &base).await.map(|p| (p, true)),
            }
        }
        Err(e) => Err(e),
    }
}

async fn update(
    api: &GithubApi,
    existing: PullRequest,
    pr: &PullRequestDraft<'_>,
) -> Result<PullRequest, TrackerError> {
    if existing.merged {
        return Ok(existing); // its work has landed; nothing to update
    }
    let reopen = !existing.open;
    if !reopen && existing.title == pr.title && existing.body == pr.body {
        return Ok(existing);
    }
    api.update(existing.number, pr.title, pr.body, reopen).await
}
