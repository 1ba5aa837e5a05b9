//! Merging the ticket's pull request when a gate with `merge:` is approved.
//!
//! `decide` turns the approval of such a gate into `Action::MergePullRequest` while the
//! record's pull request is not merged; it is recorded as `IntentOp::Merge` with the head
//! karajan last pushed, and the ticket's chain performs it ([`perform_merge`]). The
//! pull request is always read first: found merged (a merge whose answer was lost, a
//! human's merge) it is confirmed, not merged again; closed, or with a head that is not
//! the one karajan pushed (someone pushed since), it is not merged blindly. GitHub's
//! refusal (conflicts, failing required checks, protection rules) is final: the ticket
//! is escalated with the reason, or sent to the gate's rework target with it as
//! feedback (`merge_failure: rework`). Once `PullRequestMerged` is recorded the ticket
//! is decided again and the approval takes effect.

use tracing::info;

use super::effects::ChainCtx;
use super::forge_calls::{error_text, failed, github_for};
use super::intents::Intent;
use crate::forge::{GithubApi, MergeAnswer};
use crate::store::{EventKind, IntentOp, NewEvent};
use crate::tracker::TrackerError;

/// How a merge's failure reads in the log.
const WHAT: &str = "merging the pull request";

/// Perform a merge intent: its outcome event, and `PullRequestMerged` when merged.
pub(crate) async fn perform_merge(ctx: &ChainCtx, intent: &Intent) -> Vec<NewEvent> {
    let IntentOp::Merge {
        repo,
        number,
        head,
        method,
    } = &intent.op
    else {
        unreachable!("perform_merge is given merges only")
    };
    let api = match github_for(ctx, repo) {
        Ok(api) => api,
        Err(why) => return failed(intent, WHAT, why, false),
    };
    match merge(api, *number, head.as_deref(), method).await {
        Ok(Outcome::Merged { sha, already }) => {
            info!(ticket = %intent.identifier, number, %method, already, "pull request merged");
            vec![
                NewEvent::for_issue(
                    &intent.identifier,
                    EventKind::PullRequestMerged {
                        repo: repo.clone(),
                        number: *number,
                        sha,
                    },
                ),
                NewEvent::for_issue(
                    &intent.identifier,
                    EventKind::IntentCompleted {
                        intent_id: intent.intent_id.clone(),
                        already_done: already,
                    },
                ),
            ]
        }
        Ok(Outcome::Refused(why)) => {
            failed(intent, WHAT, ctx.redactor.raw(&why).into_owned(), false)
        }
        Err(e) => failed(intent, WHAT, error_text(ctx, &e), e.is_retryable()),
    }
}

enum Outcome {
    Merged { sha: Option<String>, already: bool },
    Refused(String),
}

async fn merge(
    api: &GithubApi,
    number: u64,
    head: Option<&str>,
    method: &str,
) -> Result<Outcome, TrackerError> {
    let pr = api.get(number).await?;
    if pr.merged {
        return Ok(Outcome::Merged {
            sha: None,
            already: true,
        });
    }
    if !pr.open {
        return Ok(Outcome::Refused(format!(
            "pull request #{number} is closed without being merged; karajan does not reopen it to merge it"
        )));
    }
    if let Some(head) = head
        && pr.head_sha != head
    {
        return Ok(Outcome::Refused(format!(
            "pull request #{number} has commits karajan did not push (its head is {}, karajan last pushed {}); not merging blindly",
            short(&pr.head_sha),
            short(head)
        )));
    }
    let answer = match api.merge(number, method, head).await {
        Ok(a) => a,
        Err(TrackerError::Unconfirmed(reason)) => {
            info!(number, %reason, "the answer to the merge was lost; reading the pull request back");
            if api.get(number).await?.merged {
                return Ok(Outcome::Merged {
                    sha: None,
                    already: true,
                });
            }
            // Not merged: owed still, tried again by the next drain.
            return Err(TrackerError::Transient(reason));
        }
        Err(e) => return Err(e),
    };
    match answer {
        MergeAnswer::Merged(sha) => Ok(Outcome::Merged {
            sha: Some(sha),
            already: false,
        }),
        // A refusal may follow a merge whose answer was lost (a repeated request): the
        // pull request says which.
        MergeAnswer::Refused(why) => {
            if api.get(number).await?.merged {
                return Ok(Outcome::Merged {
                    sha: None,
                    already: true,
                });
            }
            Ok(Outcome::Refused(why))
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
