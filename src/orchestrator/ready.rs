//! A draft pull request marked ready for review when the ticket enters
//! `forge.pull_request.ready_in`: an intent recorded with the transition, performed by
//! reading the pull request first (one that is not a draft any more confirms it), then
//! GitHub's GraphQL `markPullRequestReadyForReview`.

use tracing::info;

use super::effects::ChainCtx;
use super::engine::Engine;
use super::forge_calls::{error_text, failed, github_for};
use super::intents::Intent;
use crate::store::{EventKind, IntentOp, NewEvent};

/// How a failure reads in the log.
const READY: &str = "marking the pull request ready";

impl Engine {
    /// The `ReadyForReview` a ticket entering `state` owes: when it is the forge's
    /// `pull_request.ready_in` and the ticket has a pull request that is not merged.
    pub(crate) fn ready_for_review(
        &self,
        state: &str,
        rec: Option<&crate::domain::IssueRecord>,
    ) -> Option<IntentOp> {
        let github = self.workflow.forge.as_ref()?.github()?;
        if github.pull_request.ready_in.as_deref() != Some(state) {
            return None;
        }
        let pr = rec?.pull_request.as_ref().filter(|p| !p.merged)?;
        Some(IntentOp::ReadyForReview {
            repo: pr.repo.clone(),
            number: pr.number,
        })
    }
}

/// Perform a ready-for-review intent: the pull request is read first; one that is not
/// a draft (any more) confirms it.
pub(crate) async fn perform_ready(ctx: &ChainCtx, intent: &Intent) -> Vec<NewEvent> {
    let IntentOp::ReadyForReview { repo, number } = &intent.op else {
        unreachable!("perform_ready is given ready-for-review intents only")
    };
    let api = match github_for(ctx, repo) {
        Ok(api) => api,
        Err(why) => return failed(intent, READY, why, false),
    };
    let result = async {
        let pr = api.get(*number).await?;
        if !pr.draft || pr.merged || !pr.open {
            return Ok(true);
        }
        api.mark_ready(&pr).await.map(|()| false)
    }
    .await;
    match result {
        Ok(already_done) => {
            info!(ticket = %intent.identifier, number, already_done, "pull request ready for review");
            vec![NewEvent::for_issue(
                &intent.identifier,
                EventKind::IntentCompleted {
                    intent_id: intent.intent_id.clone(),
                    already_done,
                },
            )]
        }
        Err(e) => failed(intent, READY, error_text(ctx, &e), e.is_retryable()),
    }
}
