//! Today's spend, summed from the store's `run_finished` events since UTC midnight.
//! Daily budgets are not configurable yet: the dashboard says so instead of guessing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// How far back the sum looks, in events (a day of a busy factory fits easily).
const WINDOW: i64 = 5000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Spend {
    pub since: DateTime<Utc>,
    pub cost_usd: f64,
    pub runs: u64,
    /// `None`: no daily budget is configured.
    pub daily_budget_usd: Option<f64>,
    pub note: &'static str,
}

pub(crate) async fn spend(store: &Store) -> Result<Spend, StoreError> {
    let since = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or_else(Utc::now, |d| d.and_utc());
    let events = store.recent_of_kind("run_finished", WINDOW).await?;
    let today: Vec<_> = events.iter().filter(|e| e.at >= since).collect();
    let cost_usd = today
        .iter()
        .filter_map(|e| {
            e.payload
                .get("cost_usd")
                .and_then(serde_json::Value::as_f64)
        })
        .fold(0.0, |a, b| a + b);
    Ok(Spend {
        since,
        cost_usd,
        runs: today.len() as u64,
        daily_budget_usd: None,
        note: "no daily budget configured",
    })
}
