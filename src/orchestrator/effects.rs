//! Effects: the slow work the owner hands to tasks instead of awaiting it.
//!
//! The owner records an intent (or decides a hook or a workspace removal), then hands
//! the effect to a *chain*: one task per ticket that performs that ticket's effects one
//! after another and sends each outcome back as a [`TaskMsg`]. The owner records the
//! outcome when the message arrives. So a hung tracker, a slow clone or a hook running
//! to its timeout delays only its own ticket's chain: the owner goes on receiving
//! approvals, run completions and ticks, and other tickets' chains run beside it.
//!
//! Order: a ticket has at most one chain in flight (`chains`); effects decided while it
//! runs queue behind it in the owner, so a ticket's own writes are never reordered. A
//! write that fails and stays owed (a retryable failure) blocks the writes after it in
//! its chain: they stay pending in the outbox and the next tick's drain retries them
//! all, oldest first.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::hooks::hook_event;
use super::inbox::{MoveLanded, TaskMsg};
use super::intents::Intent;
use crate::domain::TicketRef;
use crate::redact::Redactor;
use crate::store::{EventKind, IntentOp, NewEvent};
use crate::tracker::{Tracker, TrackerError};
use crate::workspace::{Workspaces, run_hook};

/// A hook to run in a ticket's workspace, with everything it needs resolved.
#[derive(Debug, Clone)]
pub(crate) struct HookSpec {
    pub name: String,
    pub state: Option<String>,
    pub script: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

impl HookSpec {
    /// Run it and return the event that records it.
    pub(crate) async fn run(&self, identifier: &str) -> (bool, NewEvent) {
        let r = run_hook(&self.name, &self.script, &self.cwd, &self.env, self.timeout).await;
        if !r.ok {
            warn!(ticket = %identifier, hook = %self.name, exit = ?r.exit_code, timed_out = r.timed_out, "hook failed");
        }
        let event = NewEvent::for_issue(
            identifier,
            hook_event(&self.name, self.state.as_deref(), &r),
        );
        (r.ok, event)
    }
}

/// One piece of slow work for a ticket.
pub(crate) enum Effect {
    /// A recorded tracker write. `retry`: ask the tracker first whether it happened.
    Write { intent: Intent, retry: bool },
    /// A write another node already made (a cluster node pushed the branch of the run it
    /// ran: the holder's host does not have the commits): its outcome, reported in the
    /// chain's order, as a performed write's would be.
    Made(Box<NewEvent>),
    /// A hook that runs only when the workspace exists (`on_stage_enter`).
    Hook(HookSpec),
    /// `before_remove` (recorded, not fatal), then the workspace goes.
    Clean {
        path: PathBuf,
        before_remove: Option<HookSpec>,
        workspaces: Workspaces,
    },
}

impl Effect {
    pub(crate) fn is_write(&self) -> bool {
        matches!(self, Effect::Write { .. })
    }
}

/// What a chain needs from the owner: the tracker it writes to and the redactor that
/// blanks secrets from comment bodies.
#[derive(Clone)]
pub(crate) struct ChainCtx {
    pub tracker: Arc<dyn Tracker>,
    pub redactor: Arc<Redactor>,
    /// Made durable before the first write leaves: an intent a power loss could take
    /// back must never have been acted on (see the store's durability notes).
    pub store: crate::store::Store,
    /// Where `IntentOp::Push` goes, and the check before a workspace is removed; `None`
    /// without a `forge:` section.
    pub forge: Option<crate::forge::Forge>,
    /// Where each ticket's workspace is (pushes are made from it).
    pub workspaces: Workspaces,
}

/// The body of a ticket's chain: perform `effects` in order, report each outcome, then
/// report the end (and whether a write stayed owed, which held the later ones back).
pub(crate) async fn run_chain(
    ctx: ChainCtx,
    identifier: String,
    effects: Vec<Effect>,
    tx: mpsc::UnboundedSender<TaskMsg>,
) {
    let mut blocked = false;
    if effects.iter().any(Effect::is_write)
        && let Err(e) = ctx.store.sync().await
    {
        // Not durable: no write leaves; the intents stay pending for the next drain.
        warn!(ticket = %identifier, error = %e, "could not make the intents durable; their writes wait");
        blocked = true;
    }
    let mut effects = effects.into_iter().peekable();
    while let Some(effect) = effects.next() {
        match effect {
            Effect::Write { intent, retry } => {
                if blocked {
                    continue;
                }
                // A fresh move followed by its comment goes in one request where the
                // tracker allows it.
                let paired = !retry
                    && matches!(intent.op, IntentOp::Move { .. })
                    && matches!(
                        effects.peek(),
                        Some(Effect::Write {
                            intent: next,
                            retry: false,
                        }) if matches!(next.op, IntentOp::Comment { .. })
                    );
                let mut stamp = None;
                let outcomes = if paired {
                    let Some(Effect::Write {
                        intent: comment, ..
                    }) = effects.next()
                    else {
                        unreachable!("peeked a write")
                    };
                    let (outcomes, moved) = perform_pair(&ctx, &intent, &comment).await;
                    stamp = moved;
                    outcomes
                        .into_iter()
                        .map(|(intent, event)| (intent, vec![event]))
                        .collect()
                } else {
                    vec![(intent.clone(), perform(&ctx, &intent, retry).await)]
                };
                for (intent, events) in outcomes {
                    let owed = |e: &NewEvent| {
                        matches!(
                            e.kind,
                            EventKind::IntentFailed {
                                retryable: true,
                                ..
                            }
                        )
                    };
                    blocked |= events.iter().any(owed);
                    let landed = events
                        .iter()
                        .any(|e| matches!(e.kind, EventKind::IntentCompleted { .. }));
                    let moved_to = match &intent.op {
                        IntentOp::Move { column, .. } if landed => Some(MoveLanded {
                            column: column.clone(),
                            updated_at: stamp,
                        }),
                        _ => None,
                    };
                    let _ = tx.send(TaskMsg::Effect {
                        identifier: identifier.clone(),
                        events,
                        moved_to,
                    });
                }
            }
            Effect::Made(event) => {
                let _ = tx.send(TaskMsg::Effect {
                    identifier: identifier.clone(),
                    events: vec![*event],
                    moved_to: None,
                });
            }
            Effect::Hook(spec) => {
                if spec.cwd.is_dir() {
                    let (_, event) = spec.run(&identifier).await;
                    let _ = tx.send(TaskMsg::Effect {
                        identifier: identifier.clone(),
                        events: vec![event],
                        moved_to: None,
                    });
                }
            }
            Effect::Clean {
                path,
                before_remove,
                workspaces,
            } => {
                let events = match super::push::kept(&ctx, &identifier, &path).await {
                    Some(kept) => vec![kept],
                    None => clean(&identifier, &path, before_remove, &workspaces).await,
                };
                let _ = tx.send(TaskMsg::Effect {
                    identifier: identifier.clone(),
                    events,
                    moved_to: None,
                });
            }
        }
    }
    let _ = tx.send(TaskMsg::ChainEnded {
        identifier,
        blocked,
    });
}

async fn clean(
    identifier: &str,
    path: &std::path::Path,
    before_remove: Option<HookSpec>,
    workspaces: &Workspaces,
) -> Vec<NewEvent> {
    let mut events = vec![];
    if !path.is_dir() {
        return events;
    }
    if let Some(hook) = before_remove {
        events.push(hook.run(identifier).await.1);
    }
    match workspaces.remove(identifier).await {
        Ok(_) => {
            info!(ticket = %identifier, path = %path.display(), "workspace removed");
            events.push(NewEvent::for_issue(
                identifier,
                EventKind::WorkspaceRemoved {
                    path: path.display().to_string(),
                },
            ));
        }
        Err(e) => warn!(ticket = %identifier, error = %e, "could not remove workspace"),
    }
    events
}

/// A fresh move and the comment after it, in one request where the tracker allows it;
/// each part's answer is its own outcome. The comment never lands ahead of its move:
/// when the move did not land, a comment that was not confirmed stays owed behind it.
/// Also returns what the tracker's answer said of the move (see `Moved`).
async fn perform_pair(
    ctx: &ChainCtx,
    mv: &Intent,
    comment: &Intent,
) -> (
    Vec<(Intent, NewEvent)>,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    let (IntentOp::Move { column, .. }, IntentOp::Comment { body, .. }) = (&mv.op, &comment.op)
    else {
        return (vec![], None);
    };
    let body = ctx.redactor.raw(body);
    let (moved, commented) = ctx
        .tracker
        .move_and_comment(&ticket_of(mv), column, &body)
        .await;
    let move_answered = moved.is_ok();
    let stamp = moved.as_ref().ok().and_then(|m| m.updated_at);
    let mv_event = settle(ctx, mv, moved.map(|_| ())).await;
    let move_landed = matches!(mv_event.kind, EventKind::IntentCompleted { .. });
    let move_owed = matches!(
        mv_event.kind,
        EventKind::IntentFailed {
            retryable: true,
            ..
        }
    );
    let c_event = match commented {
        Ok(()) => Some(outcome_event(comment, Ok(false))),
        // The move did not land and stays owed: the comment waits behind it (pending,
        // retried in order by the next drain).
        Err(_) if !move_answered && move_owed => None,
        // The comment was provably not sent (the move before it failed): send it now
        // that the move has landed.
        Err(TrackerError::NotAttempted(_)) if move_landed => {
            Some(perform_tracker_write(ctx, comment, false).await)
        }
        // The move's answer was lost or refused first: whether the comment went with it
        // is unknown, so read it back before sending.
        Err(_) if !move_answered || !move_landed => {
            Some(perform_tracker_write(ctx, comment, true).await)
        }
        Err(e) => Some(settle(ctx, comment, Err(e)).await),
    };
    let mut out = vec![(mv.clone(), mv_event)];
    out.extend(c_event.map(|e| (comment.clone(), e)));
    (out, stamp)
}

/// The outcome of one part: an unconfirmed answer is read back (and written once more
/// only if it did not happen).
async fn settle(ctx: &ChainCtx, intent: &Intent, first: Result<(), TrackerError>) -> NewEvent {
    let result = match first {
        Ok(()) => Ok(false),
        Err(TrackerError::Unconfirmed(reason)) => {
            info!(ticket = %intent.identifier, intent = %intent.intent_id, %reason, "tracker write unconfirmed; reading the tracker back before trying again");
            try_perform(ctx, intent, true).await
        }
        Err(e) => Err(e),
    };
    outcome_event(intent, result)
}

fn ticket_of(intent: &Intent) -> TicketRef {
    let id = match &intent.op {
        IntentOp::Move { tracker_id, .. }
        | IntentOp::Comment { tracker_id, .. }
        | IntentOp::Attach { tracker_id, .. } => tracker_id,
        IntentOp::Push { .. }
        | IntentOp::PullRequest { .. }
        | IntentOp::Merge { .. }
        | IntentOp::ReadyForReview { .. }
        | IntentOp::PostReview { .. } => "",
    };
    TicketRef {
        id: id.to_string(),
        identifier: intent.identifier.clone(),
    }
}

/// Perform one intent and return its events: the outcome, and what it established
/// (a pull request). `retry` asks first whether the write already happened.
pub(crate) async fn perform(ctx: &ChainCtx, intent: &Intent, retry: bool) -> Vec<NewEvent> {
    match intent.op {
        IntentOp::Push { .. } => vec![super::push::perform_push(ctx, intent, retry).await],
        // Always looks for the ticket's pull request first, retry or not.
        IntentOp::PullRequest { .. } => super::pull::perform_pull_request(ctx, intent).await,
        // Always reads the pull request first: merged already, or moved on by someone.
        IntentOp::Merge { .. } => super::merge::perform_merge(ctx, intent).await,
        IntentOp::ReadyForReview { .. } => super::ready::perform_ready(ctx, intent).await,
        // Always reads the reviews first: the verdict's marker may be there already.
        IntentOp::PostReview { .. } => super::review_post::perform_post_review(ctx, intent).await,
        IntentOp::Move { .. } | IntentOp::Comment { .. } | IntentOp::Attach { .. } => {
            vec![perform_tracker_write(ctx, intent, retry).await]
        }
    }
}

async fn perform_tracker_write(ctx: &ChainCtx, intent: &Intent, retry: bool) -> NewEvent {
    let mut result = try_perform(ctx, intent, retry).await;
    if let Err(TrackerError::Unconfirmed(reason)) = &result {
        info!(ticket = %intent.identifier, intent = %intent.intent_id, %reason, "tracker write unconfirmed; reading the tracker back before trying again");
        result = try_perform(ctx, intent, true).await;
    }
    outcome_event(intent, result)
}

fn outcome_event(intent: &Intent, result: Result<bool, TrackerError>) -> NewEvent {
    let kind = match result {
        Ok(already_done) => EventKind::IntentCompleted {
            intent_id: intent.intent_id.clone(),
            already_done,
        },
        Err(e) => {
            let retryable = match (&intent.op, &e) {
                (_, TrackerError::NotFound(_) | TrackerError::Closed(_)) => false,
                // karajan owes this move: it stays in the outbox until it lands.
                (IntentOp::Move { .. }, _) => true,
                _ => e.is_retryable(),
            };
            warn!(ticket = %intent.identifier, intent = %intent.intent_id, retryable, error = %e, "tracker write failed");
            EventKind::IntentFailed {
                intent_id: intent.intent_id.clone(),
                error: e.to_string(),
                retryable,
            }
        }
    };
    NewEvent::for_issue(&intent.identifier, kind)
}

async fn try_perform(ctx: &ChainCtx, intent: &Intent, retry: bool) -> Result<bool, TrackerError> {
    let ticket = ticket_of(intent);
    match &intent.op {
        IntentOp::Move { column, .. } => {
            if retry {
                let now = ctx
                    .tracker
                    .fetch_by_identifiers(std::slice::from_ref(&intent.identifier))
                    .await?;
                if now.first().is_some_and(|t| &t.column == column) {
                    return Ok(true);
                }
            }
            ctx.tracker.move_ticket(&ticket, column).await?;
            info!(ticket = %intent.identifier, column = %column, "moved ticket");
            Ok(false)
        }
        IntentOp::Comment { body, .. } => {
            if retry {
                let needle = format!("\"intent\":\"{}\"", intent.intent_id);
                let existing = ctx.tracker.comments(&ticket).await?;
                if existing.iter().any(|c| c.body.contains(&needle)) {
                    return Ok(true);
                }
            }
            // Blank secrets a comment may quote (a failure reason, an agent's summary)
            // before it leaves for the tracker.
            let body = ctx.redactor.raw(body);
            ctx.tracker.comment(&ticket, &body).await?;
            Ok(false)
        }
        // Setting a value: attaching again is harmless, so no read-back is needed.
        IntentOp::Attach { url, title, .. } => {
            ctx.tracker.attach_link(&ticket, url, title).await?;
            Ok(false)
        }
        IntentOp::Push { .. }
        | IntentOp::PullRequest { .. }
        | IntentOp::Merge { .. }
        | IntentOp::ReadyForReview { .. }
        | IntentOp::PostReview { .. } => Err(TrackerError::NotAttempted(
            "a forge write is not a tracker write".into(),
        )),
    }
}
