//! Pushing a ticket's branch, as an outbox intent, and keeping a workspace that holds
//! unpushed work.
//!
//! After an agent run that succeeded and moved the workspace's HEAD, `finish_run`
//! records `IntentRecorded { Push { branch, remote, commit } }` in the same transaction
//! as `RunFinished` ([`Engine::push_intent`]). The pending intent freezes the ticket's
//! decisions (`decide` takes none while a write is owed), so the ticket's next tracker
//! move is made only once the push is settled. The ticket's chain performs it
//! ([`perform_push`]): completed, or failed with git's reason. A rejection (someone
//! pushed to the branch meanwhile) is final, never forced and not retried, and so is a
//! refused token: the ticket is then escalated with the reason (`forge_failures`)
//! instead of moving on as if its work had landed. A transient failure stays owed and
//! the next tick's drain retries it. A retried push (after a
//! crash, or a transient failure) reads the remote first: when the branch there is
//! already the recorded commit, the intent is confirmed (`already_done`) without a push.
//!
//! A workspace due for removal is kept ([`kept`], a `WorkspaceKept` event) while its
//! branch has commits that are on neither the forge nor the repository it was cloned
//! from. Without a forge nothing changes: nothing is pushed and removal is as before.

use std::path::Path;

use tracing::{info, warn};

use super::effects::{ChainCtx, Effect};
use super::engine::Engine;
use super::intents::Intent;
use crate::store::{EventKind, IntentOp, NewEvent};

impl Engine {
    /// The push a successful run owes, when the workflow has a forge and the run moved
    /// the workspace's HEAD: its `IntentRecorded` event (to record with `RunFinished`)
    /// and the effect that performs it.
    pub(crate) fn push_intent(
        &self,
        identifier: &str,
        branch: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Option<(NewEvent, Effect)> {
        let forge = self.workflow.forge.as_ref()?;
        let (branch, commit) = (branch?, after?);
        if before == Some(commit) {
            return None; // nothing new to push
        }
        let op = IntentOp::Push {
            branch: branch.to_string(),
            remote: forge.remote.clone(),
            commit: commit.to_string(),
        };
        let intent_id = super::ids::new_id("i");
        let event = NewEvent::for_issue(
            identifier,
            EventKind::IntentRecorded {
                intent_id: intent_id.clone(),
                op: op.clone(),
            },
        );
        let intent = Intent {
            intent_id,
            identifier: identifier.to_string(),
            op,
        };
        Some((
            event,
            Effect::Write {
                intent,
                retry: false,
            },
        ))
    }
}

/// Perform a push intent and return its outcome event. `retry`: read the remote back
/// first, so a push that already landed is confirmed rather than repeated.
pub(crate) async fn perform_push(ctx: &ChainCtx, intent: &Intent, retry: bool) -> NewEvent {
    let IntentOp::Push {
        branch,
        remote,
        commit,
    } = &intent.op
    else {
        unreachable!("perform_push is given pushes only")
    };
    let workspace = ctx.workspaces.path_for(&intent.identifier);
    let result = match &ctx.forge {
        None => Err(crate::forge::PushError::Fatal(
            "the workflow no longer has a `forge` section".into(),
        )),
        Some(forge) => {
            let landed = if retry {
                forge
                    .remote_tip(&workspace, remote, branch)
                    .await
                    .map(|tip| tip.as_deref() == Some(commit.as_str()))
            } else {
                Ok(false)
            };
            match landed {
                Ok(true) => Ok(true),
                Ok(false) => forge
                    .push(&workspace, remote, branch, commit)
                    .await
                    .map(|()| false),
                Err(e) => Err(e),
            }
        }
    };
    let kind = match result {
        Ok(already_done) => {
            info!(ticket = %intent.identifier, %branch, %commit, already_done, "pushed the ticket's branch");
            EventKind::IntentCompleted {
                intent_id: intent.intent_id.clone(),
                already_done,
            }
        }
        Err(e) => {
            let retryable = e.is_retryable();
            // git's message names the remote; blank any secret before it is logged.
            let error = ctx.redactor.raw(&e.to_string()).into_owned();
            warn!(ticket = %intent.identifier, %branch, retryable, %error, "push failed");
            EventKind::IntentFailed {
                intent_id: intent.intent_id.clone(),
                error,
                retryable,
            }
        }
    };
    NewEvent::for_issue(&intent.identifier, kind)
}

/// The event that keeps a workspace due for removal, when its branch holds commits
/// that are not pushed (or that could not be checked); `None`: it can go.
pub(crate) async fn kept(ctx: &ChainCtx, identifier: &str, path: &Path) -> Option<NewEvent> {
    let forge = ctx.forge.as_ref()?;
    if !path.is_dir() {
        return None;
    }
    let (branch, head, reason) = match forge.unpushed(path).await {
        Ok(None) => return None,
        Ok(Some(u)) => (
            u.branch,
            u.head,
            format!("its branch has commits that are not on {}", forge.remote()),
        ),
        Err(e) => (
            String::new(),
            String::new(),
            format!("whether its branch is pushed could not be checked: {e}"),
        ),
    };
    let reason = ctx.redactor.raw(&reason).into_owned();
    warn!(ticket = %identifier, path = %path.display(), %branch, %reason, "workspace kept: nothing an agent committed is deleted unpushed");
    Some(NewEvent::for_issue(
        identifier,
        EventKind::WorkspaceKept {
            path: path.display().to_string(),
            branch,
            head,
            reason,
        },
    ))
}
