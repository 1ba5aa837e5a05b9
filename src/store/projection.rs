//! The fold from events to projections, run inside the append transaction for every
//! event, so the projections are always exactly the fold of the committed chain. The
//! ticket records a transaction touches are loaded once, folded in memory and saved
//! once at its end ([`Fold`]); the other rows are written per event. Nothing is
//! written here directly: every write is pushed to the append's `Script`, which runs
//! them in order once the batch is folded (an intent's removal is counted from the
//! owner its deletion returns, [`Fold::left`]).
//!
//! The record part is pure ([`fold_record`]) and reuses the domain's record logic
//! (`IssueRecord::new`, `apply_enter`, `apply_resume`); the rest writes rows:
//!
//! | event            | projection effect                                                  |
//! |------------------|--------------------------------------------------------------------|
//! | Transition       | create the record if missing, then `apply_enter`                   |
//! | Held / Escalated | phase `Held{column}` / `Escalated{reason}`                          |
//! | Resumed          | `apply_resume(state_kind)`                                          |
//! | RunStarted       | `runs` row; `record.runs[state] = run_number`; phase `Running`      |
//! | RunSpawned       | `runs.pid`                                                          |
//! | RunFinished      | `runs` row finished; `sessions` when it carries a session id;       |
//! |                  | phase = `phase_after`, attempts = `attempts_after` — only while the |
//! |                  | record is still `Running` *this* run (a run stopped after the       |
//! |                  | ticket moved on must not drag it back)                              |
//! | RunOrphaned      | nothing (the orchestrator follows it with `RunFinished{Interrupted}`)|
//! | IntentRecorded   | `pending_intents` row                                               |
//! | IntentCompleted  | delete the pending row                                              |
//! | IntentFailed     | retryable: attempts + 1, last_error; otherwise delete (abandoned)   |
//! | PullRequestOpened| `record.pull_request = {repo, number, url, head}` (merged kept)     |
//! | PullRequestMerged| `record.pull_request.merged = true`                                 |
//!
//! A second `RunStarted` or `IntentRecorded` with an id already used is refused by the
//! primary key: the append fails and nothing of its batch is written.
//!
//! Every save of a record also rewrites its `rework_counts` and keeps `retry_queue` in
//! step with the phase (see `tickets::save`). Events without an issue only go in the
//! chain; run and intent follow-ups (spawned, finished, completed, failed) are matched by
//! their run or intent id, whose row only exists if it was created with an issue.

use std::collections::HashMap;
use std::sync::Arc;

use super::backend::Conn;
use super::script::Script;
use chrono::{DateTime, Utc};

use super::event::{EventKind, NewEvent};
use super::sqlite::{format_time, json_text, to_i64};
use super::{StoreError, tickets};
use crate::domain::{IssueRecord, Phase};

/// The record after `kind` happened to ticket `issue` at `at`, or `None` when the event
/// does not change it. Pure.
pub fn fold_record(
    current: Option<&IssueRecord>,
    issue: &str,
    kind: &EventKind,
    at: DateTime<Utc>,
) -> Option<IssueRecord> {
    match kind {
        EventKind::Transition {
            tracker_id,
            to,
            to_kind,
            cause,
            ..
        } => {
            let mut rec = current
                .cloned()
                .unwrap_or_else(|| IssueRecord::new(issue, tracker_id, to, at));
            rec.tracker_id.clone_from(tracker_id);
            rec.apply_enter(to, *to_kind, cause, at);
            Some(rec)
        }
        EventKind::Recovered {
            tracker_id,
            state,
            to_kind,
            runs,
            rework,
            ..
        } => {
            let mut rec = IssueRecord::new(issue, tracker_id, state, at);
            rec.apply_enter(state, *to_kind, &crate::domain::Cause::Picked, at);
            rec.runs.clone_from(runs);
            rec.rework.clone_from(rework);
            Some(rec)
        }
        EventKind::Held { column } => with_phase(
            current,
            Phase::Held {
                column: column.clone(),
            },
        ),
        EventKind::Escalated { reason } => with_phase(
            current,
            Phase::Escalated {
                reason: reason.clone(),
            },
        ),
        EventKind::Resumed { state_kind } => current.map(|rec| {
            let mut rec = rec.clone();
            rec.apply_resume(*state_kind);
            rec
        }),
        EventKind::RunStarted {
            run_id,
            state,
            run_number,
            attempt,
            ..
        } => current.map(|rec| {
            let mut rec = rec.clone();
            rec.runs.insert(state.clone(), *run_number);
            rec.phase = Phase::Running {
                run_id: run_id.clone(),
                attempt: *attempt,
                started_at: at,
            };
            rec
        }),
        EventKind::RunFinished {
            run_id,
            phase_after,
            attempts_after,
            ..
        } => current
            .filter(|rec| matches!(&rec.phase, Phase::Running { run_id: r, .. } if r == run_id))
            .map(|rec| {
                let mut rec = rec.clone();
                rec.phase = phase_after.clone();
                rec.attempts = *attempts_after;
                rec
            }),
        EventKind::PullRequestOpened {
            repo,
            number,
            url,
            head,
            ..
        } => current.map(|rec| {
            let mut rec = rec.clone();
            let merged = rec
                .pull_request
                .as_ref()
                .is_some_and(|p| p.merged && p.number == *number && p.repo == *repo);
            rec.pull_request = Some(crate::domain::PullRequestRef {
                repo: repo.clone(),
                number: *number,
                url: url.clone(),
                head: head.clone(),
                merged,
            });
            rec
        }),
        EventKind::PullRequestMerged { repo, number, .. } => current.map(|rec| {
            let mut rec = rec.clone();
            if let Some(p) = rec.pull_request.as_mut()
                && p.repo == *repo
                && p.number == *number
            {
                p.merged = true;
            }
            rec
        }),
        _ => None,
    }
}

fn with_phase(current: Option<&IssueRecord>, phase: Phase) -> Option<IssueRecord> {
    current.map(|rec| {
        let mut rec = rec.clone();
        rec.phase = phase;
        rec
    })
}

/// Whether an event of this kind can change a ticket record (saves a read otherwise).
fn touches_record(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Transition { .. }
            | EventKind::Recovered { .. }
            | EventKind::Held { .. }
            | EventKind::Escalated { .. }
            | EventKind::Resumed { .. }
            | EventKind::RunStarted { .. }
            | EventKind::RunFinished { .. }
            | EventKind::PullRequestOpened { .. }
            | EventKind::PullRequestMerged { .. }
    )
}

/// What the writable store's memory knows of a ticket before an append (see
/// `cache::RecordCache::known`): `None` nothing, `Some(None)` no record, else the
/// record with its pending intents counted.
pub type Known = dyn Fn(&str) -> Option<Option<Arc<IssueRecord>>> + Send + Sync;

/// The ticket records one append transaction touches: each is loaded at most once
/// (from the store's memory when it knows the ticket, else from the database), folded
/// in memory event by event, and saved once by [`Fold::save`].
#[derive(Default)]
pub struct Fold<'k> {
    records: HashMap<String, Touched>,
    /// Tickets whose pending intents this transaction added, confirmed or dropped,
    /// with how many it added (negative: removed).
    intents: std::collections::BTreeMap<String, i64>,
    known: Option<&'k Known>,
}

/// A ticket an append touched: its record as the transaction leaves it where the fold
/// knows it (`None`: unchanged and not loaded, or no record), and the change in its
/// pending intents.
pub struct Left {
    pub identifier: String,
    pub record: Option<IssueRecord>,
    pub pending_delta: i64,
}

struct Touched {
    /// As the projection held it before this transaction.
    before: Option<IssueRecord>,
    /// After the events folded so far.
    now: Option<IssueRecord>,
    /// The seq of the last event that changed it (`None`: unchanged).
    changed_at: Option<i64>,
}

impl<'k> Fold<'k> {
    /// A fold that takes what `known` knows instead of reading the database.
    pub fn knowing(known: Option<&'k Known>) -> Self {
        Fold {
            known,
            ..Fold::default()
        }
    }

    /// Fold one appended event (already inserted at `seq`) into the projections: the
    /// row projections at once, the ticket record in memory.
    pub async fn apply(
        &mut self,
        conn: &mut Conn<'_>,
        script: &mut Script,
        seq: i64,
        at: DateTime<Utc>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        if let Some(owner) = apply_rows(script, seq, at, event)? {
            *self.intents.entry(owner).or_default() += 1;
        }
        let Some(issue) = event.issue.as_deref() else {
            return Ok(());
        };
        if !touches_record(&event.kind) {
            return Ok(());
        }
        if !self.records.contains_key(issue) {
            let before = match self.known.and_then(|known| known(issue)) {
                // As the projection holds it: `tickets::load` leaves the count at 0.
                Some(known) => known.map(|rec| IssueRecord {
                    pending_intents: 0,
                    ..(*rec).clone()
                }),
                None => tickets::load(conn, issue).await?,
            };
            self.records.insert(
                issue.to_string(),
                Touched {
                    now: before.clone(),
                    before,
                    changed_at: None,
                },
            );
        }
        let touched = self
            .records
            .get_mut(issue)
            .ok_or_else(|| StoreError::Corrupt(format!("ticket {issue} vanished from the fold")))?;
        if let Some(next) = fold_record(touched.now.as_ref(), issue, &event.kind, at) {
            touched.now = Some(next);
            touched.changed_at = Some(seq);
        }
        Ok(())
    }

    /// Push the write of every record this transaction changed, once each, to
    /// `script`.
    pub fn save(&self, script: &mut Script) -> Result<(), StoreError> {
        for touched in self.records.values() {
            if let (Some(now), Some(seq)) = (&touched.now, touched.changed_at) {
                tickets::save(script, touched.before.as_ref(), now, seq)?;
            }
        }
        Ok(())
    }

    /// The tickets whose record or pending intents changed, once `script` ran and the
    /// deletions of pending intents returned their owners (`removed`, one per intent):
    /// each with its record as this transaction leaves it where the fold knows it
    /// (`None`: read it back if needed).
    pub fn left(mut self, removed: Vec<String>) -> Vec<Left> {
        for owner in removed {
            *self.intents.entry(owner).or_default() -= 1;
        }
        let mut changed = vec![];
        let delta = |id: &str| self.intents.get(id).copied().unwrap_or(0);
        for (id, touched) in self.records {
            let changed_record = touched.changed_at.is_some() && touched.now.is_some();
            if changed_record || self.intents.contains_key(&id) {
                changed.push(Left {
                    pending_delta: delta(&id),
                    identifier: id,
                    record: touched.now,
                });
            }
        }
        for (id, pending_delta) in &self.intents {
            if !changed.iter().any(|c| c.identifier == *id) {
                changed.push(Left {
                    identifier: id.clone(),
                    record: None,
                    pending_delta: *pending_delta,
                });
            }
        }
        changed
    }
}

/// The non-record projections (runs, sessions, pending intents), pushed to `script`.
/// Returns the ticket whose pending intents this event adds, if any; an intent's
/// removal is counted from the rows its deletion returns (see [`Fold::left`]).
fn apply_rows(
    script: &mut Script,
    seq: i64,
    at: DateTime<Utc>,
    event: &NewEvent,
) -> Result<Option<String>, StoreError> {
    match (&event.kind, event.issue.as_deref()) {
        (
            EventKind::RunStarted {
                run_id,
                state,
                run_number,
                attempt,
                runner,
                command,
                config_digest,
                prompt_digest,
                prompt_bytes,
                workspace,
                log_dir,
                resume_session,
                ..
            },
            Some(issue),
        ) => script.push(
            "INSERT INTO runs (run_id, identifier, state, run_number, attempt, runner, \
             started_at, config_digest, prompt_digest, prompt_bytes, workspace, log_dir, \
             command, resume_session, started_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            vec![
                run_id.into(),
                issue.into(),
                state.into(),
                i64::from(*run_number).into(),
                i64::from(*attempt).into(),
                runner.into(),
                format_time(at).into(),
                config_digest.into(),
                prompt_digest.into(),
                to_i64(*prompt_bytes).into(),
                workspace.clone().into(),
                log_dir.clone().into(),
                json_text(command, "run command")?.into(),
                resume_session.clone().into(),
                seq.into(),
            ],
        ),
        (EventKind::RunSpawned { run_id, pid }, _) => script.push(
            "UPDATE runs SET pid = $1 WHERE run_id = $2",
            vec![i64::from(*pid).into(), run_id.into()],
        ),
        (
            EventKind::RunFinished {
                run_id,
                status,
                exit_code,
                signal,
                duration_ms,
                tokens,
                cost_usd,
                turns,
                session_id,
                ..
            },
            _,
        ) => {
            let detail = match status {
                crate::domain::RunStatus::Failed { reason }
                | crate::domain::RunStatus::BudgetExceeded { reason }
                | crate::domain::RunStatus::Cancelled { reason }
                | crate::domain::RunStatus::UsageLimited { reason, .. } => Some(reason.as_str()),
                _ => None,
            };
            script.push(
                "UPDATE runs SET finished_at = $1, status = $2, status_detail = $3, exit_code = $4, \
                 signal = $5, duration_ms = $6, tokens_input = $7, tokens_output = $8, \
                 tokens_cache_read = $9, tokens_cache_write = $10, cost_usd = $11, turns = $12, \
                 session_id = $13 WHERE run_id = $14",
                vec![
                    format_time(at).into(),
                    status.label().into(),
                    detail.into(),
                    (*exit_code).into(),
                    (*signal).into(),
                    to_i64(*duration_ms).into(),
                    to_i64(tokens.input).into(),
                    to_i64(tokens.output).into(),
                    to_i64(tokens.cache_read).into(),
                    to_i64(tokens.cache_write).into(),
                    cost_usd.filter(|c| c.is_finite()).into(),
                    turns.map(i64::from).into(),
                    session_id.clone().into(),
                    run_id.into(),
                ],
            );
            // The run's ticket and runner, from its row (a run recorded without a
            // ticket has none, and no session is kept for it).
            if let Some(session) = session_id {
                script.push(
                    "INSERT INTO sessions (identifier, runner, session_id, updated_seq) \
                     SELECT identifier, runner, $1, $2 FROM runs WHERE run_id = $3 \
                     ON CONFLICT (identifier, runner) DO UPDATE SET \
                     session_id = excluded.session_id, updated_seq = excluded.updated_seq",
                    vec![session.into(), seq.into(), run_id.into()],
                );
            }
        }
        (EventKind::IntentRecorded { intent_id, op }, Some(issue)) => {
            script.push(
                "INSERT INTO pending_intents (intent_id, identifier, op, attempts, last_error, \
                 recorded_at, recorded_seq) VALUES ($1, $2, $3, 0, NULL, $4, $5)",
                vec![
                    intent_id.into(),
                    issue.into(),
                    json_text(op, "intent op")?.into(),
                    format_time(at).into(),
                    seq.into(),
                ],
            );
            return Ok(Some(issue.to_string()));
        }
        (EventKind::IntentCompleted { intent_id, .. }, _)
        | (
            EventKind::IntentFailed {
                intent_id,
                retryable: false,
                ..
            },
            _,
        ) => script.push_returning(
            "DELETE FROM pending_intents WHERE intent_id = $1 RETURNING identifier",
            vec![intent_id.into()],
        ),
        (
            EventKind::IntentFailed {
                intent_id,
                error,
                retryable: true,
            },
            _,
        ) => script.push(
            "UPDATE pending_intents SET attempts = attempts + 1, last_error = $1 \
             WHERE intent_id = $2",
            vec![error.into(), intent_id.into()],
        ),
        _ => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cause, RunStatus, StateKind, TokenUsage};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid time")
            .with_timezone(&Utc)
    }

    fn transition(to: &str, kind: StateKind, cause: Cause) -> EventKind {
        EventKind::Transition {
            tracker_id: "tid-1".into(),
            from: None,
            to: to.into(),
            to_kind: kind,
            cause,
            actor: "karajan".into(),
            feedback: None,
            review: None,
        }
    }

    fn started(run_id: &str) -> EventKind {
        EventKind::RunStarted {
            run_id: run_id.into(),
            state: "code".into(),
            run_number: 3,
            attempt: 1,
            runner: "claude".into(),
            command: vec!["claude".into()],
            config_digest: "c".into(),
            prompt_digest: "p".into(),
            prompt_bytes: 10,
            workspace: "/w".into(),
            log_dir: "/l".into(),
            resume_session: None,
            head: None,
        }
    }

    fn finished(run_id: &str, phase_after: Phase, attempts_after: u32) -> EventKind {
        EventKind::RunFinished {
            run_id: run_id.into(),
            status: RunStatus::Failed {
                reason: "exit 1".into(),
            },
            exit_code: Some(1),
            signal: None,
            duration_ms: 5,
            tokens: TokenUsage::default(),
            cost_usd: None,
            turns: None,
            session_id: None,
            phase_after,
            attempts_after,
            accounting: None,
            resume_fallback: None,
            head: None,
        }
    }

    #[test]
    fn transition_creates_then_enters() {
        let at = t("2026-01-01T00:00:00Z");
        let rec = fold_record(
            None,
            "ENG-1",
            &transition("code", StateKind::Agent, Cause::Picked),
            at,
        )
        .expect("created");
        assert_eq!(rec.identifier, "ENG-1");
        assert_eq!(rec.tracker_id, "tid-1");
        assert_eq!(rec.state, "code");
        assert_eq!(rec.phase, Phase::Ready);
        assert_eq!(rec.entered_at, at);

        let later = t("2026-01-02T00:00:00Z");
        let cause = Cause::Rework {
            gate: "review".into(),
            count: 2,
        };
        let rec = fold_record(
            Some(&rec),
            "ENG-1",
            &transition("review", StateKind::Gate, cause),
            later,
        )
        .expect("entered");
        assert_eq!(rec.phase, Phase::Waiting);
        assert_eq!(rec.rework_count("review"), 2);
        assert_eq!(rec.entered_at, later);
    }

    #[test]
    fn events_without_a_record_change_nothing() {
        let at = t("2026-01-01T00:00:00Z");
        for kind in [
            EventKind::Held { column: "X".into() },
            EventKind::Resumed {
                state_kind: StateKind::Agent,
            },
            started("r1"),
            EventKind::TrackerError { error: "e".into() },
        ] {
            assert_eq!(fold_record(None, "ENG-1", &kind, at), None, "{kind:?}");
        }
    }

    #[test]
    fn run_lifecycle_sets_phase_runs_and_attempts() {
        let at = t("2026-01-01T00:00:00Z");
        let rec = fold_record(
            None,
            "ENG-1",
            &transition("code", StateKind::Agent, Cause::Picked),
            at,
        )
        .expect("created");
        let run_at = t("2026-01-01T00:01:00Z");
        let rec = fold_record(Some(&rec), "ENG-1", &started("r1"), run_at).expect("started");
        assert_eq!(rec.runs.get("code"), Some(&3));
        assert_eq!(
            rec.phase,
            Phase::Running {
                run_id: "r1".into(),
                attempt: 1,
                started_at: run_at
            }
        );
        let retry = Phase::RetryWaiting {
            attempt: 2,
            due_at: t("2026-01-01T00:05:00Z"),
            error: "exit 1".into(),
        };
        // A finish for another run leaves the record alone.
        assert_eq!(
            fold_record(
                Some(&rec),
                "ENG-1",
                &finished("r0", retry.clone(), 1),
                run_at
            ),
            None
        );
        let rec = fold_record(
            Some(&rec),
            "ENG-1",
            &finished("r1", retry.clone(), 1),
            run_at,
        )
        .expect("finished");
        assert_eq!(rec.phase, retry);
        assert_eq!(rec.attempts, 1);
    }

    #[test]
    fn held_escalated_and_resumed() {
        let at = t("2026-01-01T00:00:00Z");
        let rec = fold_record(
            None,
            "ENG-1",
            &transition("code", StateKind::Agent, Cause::Picked),
            at,
        )
        .expect("created");
        let held = fold_record(
            Some(&rec),
            "ENG-1",
            &EventKind::Held {
                column: "Blocked".into(),
            },
            at,
        )
        .expect("held");
        assert_eq!(
            held.phase,
            Phase::Held {
                column: "Blocked".into()
            }
        );
        let mut esc = fold_record(
            Some(&held),
            "ENG-1",
            &EventKind::Escalated {
                reason: "budget".into(),
            },
            at,
        )
        .expect("escalated");
        esc.attempts = 3;
        let resumed = fold_record(
            Some(&esc),
            "ENG-1",
            &EventKind::Resumed {
                state_kind: StateKind::Agent,
            },
            at,
        )
        .expect("resumed");
        assert_eq!(resumed.phase, Phase::Ready);
        assert_eq!(resumed.attempts, 0);
    }
}
