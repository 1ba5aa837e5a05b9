//! Budgets: hard caps, not warnings. A run gets the smaller of `per_run_usd` and what
//! is left of `per_ticket_usd` as its own cap (the runner stops it when it passes it);
//! a ticket with nothing left is refused a run; and once the day's runs cost
//! `per_day_usd`, dispatch pauses until the next UTC day while running agents finish.
//! Every decision is an event.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use tracing::{info, warn};

use super::engine::Engine;
use crate::store::{EventKind, NewEvent, StoreError};

/// The cap of a run about to start, or why it may not start.
pub(crate) enum RunBudget {
    Cap(Option<f64>),
    Refused { limit: f64, spent: f64 },
}

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc()
}

impl Engine {
    /// The cost cap of the ticket's next run.
    pub(crate) async fn run_budget(&self, id: &str) -> Result<RunBudget, StoreError> {
        let b = self.workflow.budget;
        let Some(limit) = b.per_ticket_usd else {
            return Ok(RunBudget::Cap(b.per_run_usd));
        };
        let spent = self.store.totals_for(id).await?.cost_usd;
        let left = limit - spent;
        if left <= 0.0 {
            return Ok(RunBudget::Refused { limit, spent });
        }
        Ok(RunBudget::Cap(Some(
            b.per_run_usd.map_or(left, |r| r.min(left)),
        )))
    }

    /// Record a budget decision about one ticket.
    pub(crate) async fn budget_event(
        &self,
        id: Option<&str>,
        scope: &str,
        limit: f64,
        spent: f64,
        action: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let kind = EventKind::BudgetDecision {
            scope: scope.to_string(),
            limit_usd: limit,
            spent_usd: spent,
            action: action.to_string(),
            until,
        };
        let event = match id {
            Some(id) => NewEvent::for_issue(id, kind),
            None => NewEvent::global(kind),
        };
        self.record(vec![event]).await?;
        Ok(())
    }

    /// Whether today's spend allows dispatching. Records the pause once per day and the
    /// resumption when the day has turned.
    pub(crate) async fn day_budget_allows(&mut self) -> Result<bool, StoreError> {
        let now = self.now();
        let Some(limit) = self.workflow.budget.per_day_usd else {
            self.budget_paused_until = None;
            return Ok(true);
        };
        if self.budget_paused_until.is_some_and(|until| now < until) {
            return Ok(false);
        }
        let spent = self.store.totals_on(now.date_naive()).await?.cost_usd;
        if self.budget_paused_until.take().is_some() {
            info!("a new day: dispatch resumes");
            self.budget_event(None, "day", limit, spent, "dispatch_resumed", None)
                .await?;
        }
        if spent < limit {
            return Ok(true);
        }
        let until = next_utc_midnight(now);
        warn!(spent, limit, %until, "the daily budget is spent: dispatch pauses until the next day; running agents finish");
        self.budget_event(None, "day", limit, spent, "dispatch_paused", Some(until))
            .await?;
        self.budget_paused_until = Some(until);
        Ok(false)
    }
}
