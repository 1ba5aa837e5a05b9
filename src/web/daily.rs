//! `GET /api/v1/stats/daily?days=N`: runs started, failed runs, cost and tickets
//! finished per UTC day, for the last `N` days (default 14, at most 366) up to today,
//! oldest first, days without figures included as zeros: the figures the overview's
//! chart draws (`chart`), from `Store::daily`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::{AppState, respond};
use crate::store::DayFigures;

/// How many days the overview's chart and the API show by default.
pub(crate) const DEFAULT_DAYS: u32 = 14;
const MAX_DAYS: u32 = 366;

#[derive(Debug, Deserialize)]
pub(crate) struct DailyQuery {
    days: Option<String>,
}

/// The answer's shape (documented in the README's API section).
#[derive(Debug, Serialize)]
pub(crate) struct Daily {
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub days: Vec<DayFigures>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Totals {
    pub runs: u64,
    pub failed: u64,
    pub cost_usd: f64,
    pub finished: u64,
}

/// The last `days` days' figures, up to today (UTC).
pub(crate) async fn figures(st: &AppState, days: u32) -> Result<Vec<DayFigures>, ApiError> {
    Ok(st.store.daily(Utc::now().date_naive(), days).await?)
}

pub(crate) async fn daily(
    State(st): State<AppState>,
    Query(q): Query<DailyQuery>,
) -> Result<Response, ApiError> {
    let days = match q.days.as_deref() {
        None => DEFAULT_DAYS,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("days must be a whole number from 1 to {MAX_DAYS}, not `{text}`"),
                ));
            }
        },
    };
    let days = figures(&st, days).await?;
    let totals = Totals {
        runs: days.iter().map(|d| d.runs).sum(),
        failed: days.iter().map(|d| d.failed).sum(),
        cost_usd: days.iter().map(|d| d.cost_usd).sum::<f64>() + 0.0,
        finished: days.iter().map(|d| d.finished).sum(),
    };
    let body = Daily {
        from: days.first().map(|d| d.day.clone()).unwrap_or_default(),
        to: days.last().map(|d| d.day.clone()).unwrap_or_default(),
        totals,
        days,
    };
    Ok(respond::json(&st, StatusCode::OK, &body))
}
