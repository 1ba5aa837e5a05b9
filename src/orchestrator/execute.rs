//! Executing `decide`'s actions for one ticket: events first, then side effects, then
//! their outcomes.

use tracing::{info, warn};

use super::engine::Engine;
use super::ids::new_id;
use super::intents::{Intent, comment_marker};
use crate::domain::{Action, Cause, IssueRecord, StateSpec, TicketSnapshot};
use crate::store::{EventKind, IntentOp, NewEvent, StoreError};

/// A run that `decide` wants started; dispatch applies caps and order.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    pub snapshot: TicketSnapshot,
    pub state: String,
    pub attempt: u32,
    /// When karajan decided it (dispatch latency is measured from here).
    pub observed_at: chrono::DateTime<chrono::Utc>,
    /// The same decision entered `state`: the run's preparation runs the state's
    /// `on_stage_enter` hook (before `before_run`, in the workspace it makes sure of),
    /// rather than a chain beside it, which could run it a second time once the run's
    /// preparation created the workspace.
    pub entered: bool,
}

/// Who a decision came from, when not from the tracker itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    /// `dashboard:<who>`; `None` means a human moved the ticket in the tracker.
    pub actor: Option<String>,
    /// Rework feedback given with the decision (instead of the ticket's comments).
    pub feedback: Option<String>,
    /// The ticket's comments were already read for this decision's rework feedback
    /// (by a feedback task): what they said.
    pub tracker_feedback: Option<Option<String>>,
}

/// Who caused a transition.
fn actor_of(cause: &Cause, actor: Option<&str>) -> String {
    match cause {
        Cause::Picked | Cause::AgentFinished { .. } => "karajan".into(),
        _ => actor.unwrap_or("tracker").to_string(),
    }
}

/// The state of the run `actions` start, when the same actions (before any stop, whose
/// continuation is executed apart) also enter it and ask for its entry hook.
fn entered_run_state(actions: &[Action]) -> Option<String> {
    let segment = actions
        .iter()
        .take_while(|a| !matches!(a, Action::StopRun { .. }));
    let mut hooked = None;
    for a in segment {
        match a {
            Action::StageEnterHook { state } => hooked = Some(state),
            Action::StartRun { state, .. } if hooked == Some(state) => {
                return Some(state.clone());
            }
            _ => {}
        }
    }
    None
}

impl Engine {
    /// Execute the actions for one ticket. `origin` names a human operator when the
    /// decision came from the dashboard rather than the tracker.
    pub(crate) async fn execute(
        &mut self,
        snap: &TicketSnapshot,
        rec: Option<&IssueRecord>,
        actions: Vec<Action>,
        origin: &Origin,
    ) -> Result<Option<Wanted>, StoreError> {
        let actor = origin.actor.as_deref();
        let mut pending_feedback = origin.feedback.clone();
        let id = snap.identifier.clone();
        // The workflow as it is now (shared: a reload meanwhile swaps the Arc).
        let workflow = self.workflow.clone();
        let machine = &workflow.machine;
        let mut state = rec.map_or(machine.entry.clone(), |r| r.state.clone());
        // The record as it will be once this batch is folded: comment markers carry it,
        // so a lost store can be rebuilt from the tracker (`karajan recover`).
        let mut projected = rec.cloned();
        let mut batch: Vec<NewEvent> = vec![];
        let mut intents: Vec<Intent> = vec![];
        let mut deferred: Vec<super::effects::Effect> = vec![];
        let mut wanted = None;
        // Rework feedback is read before anything is recorded: a rework never runs
        // without it, so when the comments cannot be read it waits for the next poll.
        let mut rework_feedback = None;
        let rework = actions.iter().any(|a| {
            matches!(
                a,
                Action::Enter {
                    cause: Cause::Rework { .. },
                    ..
                }
            )
        });
        // A review's request for revision carries its own feedback (the verdict's
        // summary and findings): nothing to read from the tracker.
        let verdict = match rec.map(|r| &r.phase) {
            Some(crate::domain::Phase::Succeeded {
                verdict: Some(v), ..
            }) => Some(v),
            _ => None,
        };
        let verdict_feedback = verdict.map(crate::domain::verdict::Verdict::feedback);
        if rework && origin.feedback.is_none() && verdict_feedback.is_none() {
            match &origin.tracker_feedback {
                Some(feedback) => rework_feedback = feedback.clone(),
                None => {
                    // Read by a task; the decision is taken again when it answers.
                    self.read_feedback(snap, rec);
                    return Ok(None);
                }
            }
        }
        // A run this decision starts (before any stop, which defers the rest) and
        // whether the decision also entered its state: then the run runs the entry hook.
        let run_state = entered_run_state(&actions);
        let mut actions = actions.into_iter();
        while let Some(action) = actions.next() {
            match action {
                Action::StopRun { run_id, reason } => {
                    self.record(std::mem::take(&mut batch)).await?;
                    // The rest of the decision waits until the run has ended.
                    let then = super::engine::AfterStop {
                        snapshot: snap.clone(),
                        actions: actions.collect(),
                        origin: Origin {
                            tracker_feedback: Some(rework_feedback.clone()),
                            ..origin.clone()
                        },
                    };
                    self.stop_run(&id, &run_id, &reason.to_string(), Some(then))
                        .await?;
                    return Ok(None);
                }
                Action::Enter { to, cause } => {
                    let Some(spec) = machine.state(&to) else {
                        continue;
                    };
                    let (feedback, review) = match &cause {
                        Cause::Rework { .. } if origin.feedback.is_some() => {
                            (origin.feedback.clone(), None)
                        }
                        Cause::Rework { .. } if verdict.is_some() => {
                            (verdict_feedback.clone(), verdict.cloned())
                        }
                        Cause::Rework { .. } => (rework_feedback.clone(), None),
                        _ => (None, None),
                    };
                    let now = self.now();
                    projected
                        .get_or_insert_with(|| IssueRecord::new(&id, &snap.id, &to, now))
                        .apply_enter(&to, spec.kind(), &cause, now);
                    let from = if rec.is_some() { state.as_str() } else { "-" };
                    info!(ticket = %id, from = %from, to = %to, cause = %cause, "transition");
                    batch.push(NewEvent::for_issue(
                        &id,
                        EventKind::Transition {
                            tracker_id: snap.id.clone(),
                            from: rec.map(|_| state.clone()),
                            to: to.clone(),
                            to_kind: spec.kind(),
                            actor: actor_of(&cause, actor),
                            cause,
                            feedback,
                            review,
                        },
                    ));
                    // Entering `forge.pull_request.ready_in` takes the ticket's draft out
                    // of draft.
                    if let Some(op) = self.ready_for_review(&to, projected.as_ref()) {
                        intents.push(self.intent(&id, op, &mut batch));
                    }
                    state = to;
                }
                Action::StageEnterHook { state } => {
                    if run_state.as_deref() != Some(state.as_str()) {
                        deferred.extend(self.stage_enter_effect(&id, &state));
                    }
                }
                Action::Move { column } => {
                    let op = IntentOp::Move {
                        tracker_id: snap.id.clone(),
                        column,
                    };
                    intents.push(self.intent(&id, op, &mut batch));
                }
                Action::Comment { mut body } => {
                    // Feedback given on the dashboard is made visible in the tracker.
                    if let Some(fb) = pending_feedback.take() {
                        body = format!(
                            "{body}\n\nFeedback from {}:\n\n{fb}",
                            actor.unwrap_or("a human")
                        );
                    }
                    let intent_id = new_id("i");
                    // The head committed so far (this batch is not yet): an anchor.
                    let head = self.store.committed_head().await?;
                    let marker = comment_marker(&intent_id, &state, projected.as_ref(), &head);
                    let op = IntentOp::Comment {
                        tracker_id: snap.id.clone(),
                        body: format!("{body}\n\n{marker}"),
                    };
                    batch.push(NewEvent::for_issue(
                        &id,
                        EventKind::IntentRecorded {
                            intent_id: intent_id.clone(),
                            op: op.clone(),
                        },
                    ));
                    intents.push(Intent {
                        intent_id,
                        identifier: id.clone(),
                        op,
                    });
                }
                Action::CleanWorkspace => {
                    deferred.push(self.clean_effect(&id));
                    self.announce_removal(&id);
                }
                Action::Hold { column } => {
                    warn!(ticket = %id, state = %state, column = %column, "ticket is in an unexpected column; holding it");
                    batch.push(NewEvent::for_issue(&id, EventKind::Held { column }));
                }
                Action::Resume => {
                    let kind = machine.state(&state).map(StateSpec::kind);
                    if let Some(state_kind) = kind {
                        batch.push(NewEvent::for_issue(&id, EventKind::Resumed { state_kind }));
                    }
                }
                Action::Escalate { reason } => {
                    warn!(ticket = %id, state = %state, %reason, "escalating to a human");
                    batch.push(NewEvent::for_issue(&id, EventKind::Escalated { reason }));
                }
                Action::MergePullRequest { method } => {
                    match projected.as_ref().and_then(|r| r.pull_request.as_ref()) {
                        Some(pr) => {
                            info!(ticket = %id, number = pr.number, %method, "merging the ticket's pull request before the approval takes effect");
                            let op = IntentOp::Merge {
                                repo: pr.repo.clone(),
                                number: pr.number,
                                head: pr.head.clone(),
                                method,
                            };
                            intents.push(self.intent(&id, op, &mut batch));
                        }
                        None => warn!(ticket = %id, "no pull request to merge"),
                    }
                }
                Action::StartRun { state, attempt } => {
                    wanted = Some(Wanted {
                        snapshot: snap.clone(),
                        entered: run_state.as_deref() == Some(state.as_str()),
                        state,
                        attempt,
                        observed_at: chrono::Utc::now(),
                    });
                }
            }
        }
        // Writes still owed for the ticket (a failed move waiting for the next drain) go
        // to its chain first: this decision's writes must not overtake them.
        if !intents.is_empty()
            && rec.is_some_and(|r| r.pending_intents > 0)
            && !self.chains.contains_key(&id)
        {
            self.launch_owed(Some(&id)).await?;
        }
        // Intents first, in the store; then the writes and hooks go to the ticket's
        // chain, whose outcomes come back as messages.
        self.record(batch).await?;
        let mut effects: Vec<super::effects::Effect> = intents
            .into_iter()
            .map(|intent| super::effects::Effect::Write {
                intent,
                retry: false,
            })
            .collect();
        effects.extend(deferred);
        self.launch(&id, effects);
        Ok(wanted)
    }

    pub(crate) fn intent(&self, id: &str, op: IntentOp, batch: &mut Vec<NewEvent>) -> Intent {
        let intent_id = new_id("i");
        batch.push(NewEvent::for_issue(
            id,
            EventKind::IntentRecorded {
                intent_id: intent_id.clone(),
                op: op.clone(),
            },
        ));
        Intent {
            intent_id,
            identifier: id.to_string(),
            op,
        }
    }
}
