//! Today's spend against the daily budget, as the orchestrator's read model has it
//! (runs started since UTC midnight).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::orchestrator::StatusView;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Spend {
    pub since: DateTime<Utc>,
    pub cost_usd: f64,
    pub runs: u64,
    /// `None`: no daily budget is configured.
    pub daily_budget_usd: Option<f64>,
    /// Set while the daily budget holds dispatch back.
    pub dispatch_paused_until: Option<DateTime<Utc>>,
    pub note: &'static str,
}

pub(crate) fn spend(view: &StatusView) -> Spend {
    let at = view.generated_at;
    let b = &view.budget;
    Spend {
        since: at
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(at, |d| d.and_utc()),
        cost_usd: b.spent_today_usd,
        runs: b.runs_today,
        daily_budget_usd: b.per_day_usd,
        dispatch_paused_until: b.dispatch_paused_until,
        note: if b.per_day_usd.is_some() {
            "daily budget"
        } else {
            "no daily budget configured"
        },
    }
}
