//! The read model: what the dashboard and the JSON API show, published by the actor
//! through a `watch` channel after every tick, run change and control message. Nothing
//! reads the orchestrator's state directly; everything here is a copy. Each ticket's
//! row carries its pull request (`null` until karajan opened one), so the overview and
//! the API show it wherever the ticket appears.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{PullRequestRef, TokenUsage};
use crate::store::Totals;
use crate::tracker::RateBudget;

/// One live run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunningRow {
    pub ticket: String,
    pub identifier: String,
    pub url: Option<String>,
    pub title: String,
    pub state: String,
    pub runner: String,
    pub run_id: String,
    pub attempt: u32,
    pub session_id: Option<String>,
    pub turns: u32,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub started_at: DateTime<Utc>,
    pub last_event: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
    /// The ticket's pull request, once opened.
    pub pull_request: Option<PullRequestRef>,
}

/// A ticket waiting for a human at a gate (or escalated).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateRow {
    pub identifier: String,
    pub url: Option<String>,
    pub title: String,
    pub state: String,
    pub column: String,
    pub since: DateTime<Utc>,
    pub waited_seconds: i64,
    pub rework_count: u32,
    pub max_rework: Option<u32>,
    /// Set when the ticket was escalated rather than waiting normally.
    pub escalated: Option<String>,
    /// The ticket's pull request, once opened.
    pub pull_request: Option<PullRequestRef>,
    /// What the pull request keeps the gate waiting for (checks pending, a review), as
    /// last read (`checks:` / `reviews:` gates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RetryRow {
    pub identifier: String,
    pub state: String,
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
    pub error: String,
    /// The ticket's pull request, once opened.
    pub pull_request: Option<PullRequestRef>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HeldRow {
    pub identifier: String,
    pub state: String,
    pub column: String,
    /// The ticket's pull request, once opened.
    pub pull_request: Option<PullRequestRef>,
}

/// One runner (profile) of the workflow's agent states, and whether its CLI's usage
/// limit pauses its dispatch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunnerRow {
    pub runner: String,
    /// `claude`, `codex`, `gemini` or `command`.
    pub kind: String,
    pub paused: bool,
    /// When the pause ends (the limit resets) and dispatch resumes by itself.
    pub paused_until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// A recent transition, for the overview.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TransitionRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub identifier: String,
    pub from: Option<String>,
    pub to: String,
    pub cause: String,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Counts {
    pub running: usize,
    pub waiting_gates: usize,
    pub retrying: usize,
    pub held: usize,
    pub escalated: usize,
    pub tracked: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfigStatus {
    pub path: String,
    pub digest: String,
    pub applied_at: DateTime<Utc>,
    /// The last rejected reload, if it came after the last applied one.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub workspace_root: String,
    pub logs_dir: String,
    pub tracker: String,
    pub max_concurrent: usize,
    pub polling_seconds: u64,
    /// The state machine in force, for the dashboard's diagram (not in the JSON: the
    /// workflow file is where it is read).
    #[serde(skip)]
    pub machine: std::sync::Arc<crate::domain::Machine>,
}

/// Counters and histograms for `/metrics`.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct MetricsView {
    /// state → outcome → finished runs since the daemon started.
    pub runs: BTreeMap<String, BTreeMap<String, u64>>,
    pub tracker_calls: u64,
    pub tracker_errors: u64,
    /// Upper bounds (seconds) and cumulative counts, Prometheus style.
    pub tick_seconds: Histogram,
    pub dispatch_latency_seconds: Histogram,
}

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Histogram {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        let bounds = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        Histogram {
            counts: vec![0; bounds.len()],
            bounds,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Budgets and today's spend.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct BudgetView {
    pub per_run_usd: Option<f64>,
    pub per_ticket_usd: Option<f64>,
    pub per_day_usd: Option<f64>,
    pub spent_today_usd: f64,
    /// Runs started today (UTC).
    pub runs_today: u64,
    /// Set while the daily budget holds dispatch back.
    pub dispatch_paused_until: Option<DateTime<Utc>>,
}

/// Everything the operator surface shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusView {
    pub generated_at: DateTime<Utc>,
    pub paused: bool,
    pub counts: Counts,
    pub running: Vec<RunningRow>,
    pub gates: Vec<GateRow>,
    pub retries: Vec<RetryRow>,
    pub held: Vec<HeldRow>,
    pub recent_transitions: Vec<TransitionRow>,
    pub totals: Totals,
    pub budget: BudgetView,
    /// Every runner of an agent state; a paused one waits for its usage limit to reset.
    pub runners: Vec<RunnerRow>,
    pub rate_limit: Option<RateBudget>,
    pub config: ConfigStatus,
    pub last_verified_at: Option<DateTime<Utc>>,
    pub last_verify_ok: Option<bool>,
    /// The latest verification in full (hourly or asked for): events checked, the
    /// first break when broken.
    pub verification: Option<super::verifying::Verification>,
    pub metrics: MetricsView,
}
