//! Today's spend (runs started since UTC midnight, from the store's run totals) against
//! the daily budget, if one is configured.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::orchestrator::StatusView;
use crate::store::{Grouping, Store, StoreError};

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

pub(crate) async fn spend(store: &Store, view: &StatusView) -> Result<Spend, StoreError> {
    let now = Utc::now();
    let since = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |d| d.and_utc());
    let key = now.format("%Y-%m-%d").to_string();
    let today = store
        .totals_by(Grouping::Day, None)
        .await?
        .into_iter()
        .find(|(day, _)| *day == key)
        .map(|(_, t)| t)
        .unwrap_or_default();
    let daily = view.budget.per_day_usd;
    Ok(Spend {
        since,
        cost_usd: today.cost_usd,
        runs: today.runs,
        daily_budget_usd: daily,
        dispatch_paused_until: view.budget.dispatch_paused_until,
        note: if daily.is_some() {
            "daily budget"
        } else {
            "no daily budget configured"
        },
    })
}
