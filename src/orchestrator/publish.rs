//! Building the read model from the engine's state and the store, and publishing it.

use std::sync::Arc;

use chrono::Utc;

use super::engine::Engine;
use super::view::{
    BudgetView, ConfigStatus, Counts, GateRow, HeldRow, MetricsView, RetryRow, RunnerRow,
    RunningRow, StatusView, TransitionRow,
};
use crate::domain::{Phase, StateSpec};
use crate::store::{StoreError, Totals};

/// The view before the first publish.
pub(crate) fn empty_view(config: &ConfigStatus) -> StatusView {
    StatusView {
        generated_at: Utc::now(),
        paused: false,
        counts: Counts::default(),
        running: vec![],
        gates: vec![],
        retries: vec![],
        held: vec![],
        recent_transitions: vec![],
        totals: Totals::default(),
        budget: BudgetView::default(),
        runners: vec![],
        rate_limit: None,
        config: config.clone(),
        last_verified_at: None,
        last_verify_ok: None,
        verification: None,
        metrics: MetricsView::default(),
    }
}

impl Engine {
    /// Rebuild the read model and publish it to every watcher.
    pub(crate) async fn publish(&mut self) -> Result<(), StoreError> {
        let now = Utc::now();
        let records = self.store.active_shared().await?;
        let machine = &self.workflow.machine;
        let snap = |id: &str| self.snapshots.get(id);
        let pull_request = |id: &str| {
            records
                .iter()
                .find(|r| r.identifier == id)
                .and_then(|r| r.pull_request.clone())
        };
        let mut running: Vec<RunningRow> = self
            .live
            .iter()
            .map(|(id, l)| RunningRow {
                ticket: snap(id).map_or(id.clone(), |s| s.id.clone()),
                identifier: id.clone(),
                url: snap(id).and_then(|s| s.url.clone()),
                title: snap(id).map(|s| s.title.clone()).unwrap_or_default(),
                state: l.state.clone(),
                runner: l.runner.clone(),
                run_id: l.run_id.clone(),
                attempt: l.attempt,
                session_id: l.activity.session_id.clone(),
                turns: l.activity.turns,
                tokens: l.activity.tokens,
                cost_usd: l.activity.cost_usd,
                started_at: l.started_at,
                last_event: l.activity.last_event.clone(),
                last_event_at: l.activity.last_event_at,
                last_message: l.activity.last_message.clone(),
                pull_request: pull_request(id),
            })
            .collect();
        running.sort_by_key(|r| r.started_at);
        let mut gates = vec![];
        let mut retries = vec![];
        let mut held = vec![];
        for r in &records {
            let spec = machine.state(&r.state);
            let escalated = match &r.phase {
                Phase::Escalated { reason } => Some(reason.clone()),
                _ => None,
            };
            let at_gate = matches!(spec, Some(StateSpec::Gate { .. })) && r.phase == Phase::Waiting;
            if at_gate || escalated.is_some() {
                let (max_rework, column) = match spec {
                    Some(StateSpec::Gate {
                        max_rework, column, ..
                    }) => (Some(*max_rework), column.clone()),
                    _ => (None, machine.columns.review.clone()),
                };
                let ticket = snap(&r.identifier);
                gates.push(GateRow {
                    identifier: r.identifier.clone(),
                    url: ticket.and_then(|s| s.url.clone()),
                    title: ticket.map(|s| s.title.clone()).unwrap_or_default(),
                    state: r.state.clone(),
                    column,
                    since: r.entered_at,
                    waited_seconds: (now - r.entered_at).num_seconds().max(0),
                    rework_count: r.rework_count(&r.state),
                    max_rework,
                    escalated,
                    pull_request: r.pull_request.clone(),
                    waiting_on: self
                        .pr_waiting
                        .get(&r.identifier)
                        .filter(|(at, _)| *at == r.entered_at && at_gate)
                        .map(|(_, why)| why.clone()),
                });
            }
            match &r.phase {
                Phase::RetryWaiting {
                    attempt,
                    due_at,
                    error,
                } => retries.push(RetryRow {
                    identifier: r.identifier.clone(),
                    state: r.state.clone(),
                    attempt: *attempt,
                    due_at: *due_at,
                    error: error.clone(),
                    pull_request: r.pull_request.clone(),
                }),
                Phase::Held { column } => held.push(HeldRow {
                    identifier: r.identifier.clone(),
                    state: r.state.clone(),
                    column: column.clone(),
                    pull_request: r.pull_request.clone(),
                }),
                _ => {}
            }
        }
        gates.sort_by_key(|g| g.since);
        retries.sort_by_key(|r| r.due_at);
        let history = self.store.history(now.date_naive()).await?;
        let recent_transitions = history
            .transitions
            .iter()
            .map(|e| TransitionRow {
                seq: e.seq,
                at: e.at,
                identifier: e.issue.clone().unwrap_or_default(),
                from: e
                    .payload
                    .get("from")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                to: e
                    .payload
                    .get("to")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                cause: e
                    .payload
                    .get("cause")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                actor: e
                    .payload
                    .get("actor")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
            })
            .collect();
        let (calls, errors) = self.counting.counts();
        self.metrics.tracker_calls = calls;
        self.metrics.tracker_errors = errors;
        let counts = Counts {
            running: running.len(),
            waiting_gates: gates.iter().filter(|g| g.escalated.is_none()).count(),
            retrying: retries.len(),
            held: held.len(),
            escalated: gates.iter().filter(|g| g.escalated.is_some()).count(),
            tracked: records.iter().filter(|r| r.phase != Phase::Done).count(),
        };
        let view = StatusView {
            generated_at: now,
            paused: self.paused,
            counts,
            running,
            gates,
            retries,
            held,
            recent_transitions,
            totals: history.totals,
            budget: {
                let today = history.today;
                BudgetView {
                    per_run_usd: self.workflow.budget.per_run_usd,
                    per_ticket_usd: self.workflow.budget.per_ticket_usd,
                    per_day_usd: self.workflow.budget.per_day_usd,
                    spent_today_usd: today.cost_usd,
                    runs_today: today.runs,
                    dispatch_paused_until: self.budget_paused_until,
                }
            },
            runners: self.runner_rows(),
            rate_limit: self.tracker.rate_budget(),
            config: self.config_status.clone(),
            last_verified_at: self.verified.as_ref().map(|v| v.at),
            last_verify_ok: self.verified.as_ref().map(|v| v.ok),
            verification: self.verified.clone(),
            metrics: self.metrics.clone(),
        };
        self.view_tx.send_replace(Arc::new(view));
        Ok(())
    }

    /// The runners of the agent states, each once, with their usage-limit pause.
    fn runner_rows(&self) -> Vec<RunnerRow> {
        let mut rows: Vec<RunnerRow> = vec![];
        for name in self.workflow.states.keys() {
            let Some(a) = self.workflow.agent_state(name) else {
                continue;
            };
            if rows.iter().any(|r| r.runner == a.runner.name) {
                continue;
            }
            let pause = self.runner_pauses.get(&a.runner.name);
            rows.push(RunnerRow {
                runner: a.runner.name.clone(),
                kind: a.runner.kind.as_str().to_string(),
                paused: pause.is_some(),
                paused_until: pause.map(|p| p.until),
                reason: pause.map(|p| p.reason.clone()),
            });
        }
        rows
    }

    /// Fold agent activity into the live run and patch the published view (no store
    /// read: activity is frequent).
    pub(crate) fn on_activity(&mut self, a: super::live::Activity) {
        let now = Utc::now();
        let Some(live) = self.live.get_mut(&a.identifier) else {
            return;
        };
        if live.run_id != a.run_id {
            return;
        }
        live.activity.apply(&a.event, now);
        let act = &live.activity;
        self.live_tx.send_with(|| super::live::LiveEvent {
            kind: "activity".into(),
            identifier: Some(a.identifier.clone()),
            at: now,
            seq: None,
            hash: None,
            data: serde_json::json!({
                "run_id": a.run_id,
                "last_event": act.last_event,
                "last_message": act.last_message,
                "session_id": act.session_id,
                "turns": act.turns,
                "tokens": act.tokens,
                "cost_usd": act.cost_usd,
            }),
        });
        self.view_tx.send_modify(|view| {
            // In place unless a reader holds this view right now (then a copy).
            let v = Arc::make_mut(view);
            if let Some(row) = v.running.iter_mut().find(|r| r.run_id == a.run_id) {
                row.session_id = act.session_id.clone();
                row.turns = act.turns;
                row.tokens = act.tokens;
                row.cost_usd = act.cost_usd;
                row.last_event = act.last_event.clone();
                row.last_event_at = act.last_event_at;
                row.last_message = act.last_message.clone();
            }
        });
    }
}
