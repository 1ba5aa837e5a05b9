//! `karajan runs [--ticket T] [-n N] [--json]`: the latest runs with their outcome,
//! tokens and cost, from the store (works with and without a running daemon).
//!
//! Each run carries `n`, its position among its ticket's runs (1 = the first), which
//! `karajan logs TICKET --run N` takes; the run id works there too. The JSON shape is
//! documented in the README and only ever gains fields.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Exit;
use crate::domain::run::TokenUsage;
use crate::store::{RunRow, Store, StoreError};

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only this ticket's runs.
    #[arg(long, short)]
    pub ticket: Option<String>,
    /// How many of the latest runs.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
    /// Print JSON (the shape the README documents) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One run as `runs` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Run {
    pub run_id: String,
    pub identifier: String,
    /// Its position among the ticket's runs, 1 = the first.
    pub n: usize,
    pub state: String,
    pub run_number: u32,
    pub attempt: u32,
    pub runner: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running` until it finished, then `succeeded`, `failed`, `stalled`, …
    pub outcome: String,
    /// Why it did not succeed, as recorded.
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub log_dir: String,
}

#[derive(Debug, Serialize)]
struct Report {
    runs: Vec<Run>,
}

pub async fn run(workflow: &Path, args: &RunsArgs) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let runs = match latest(&store, args.ticket.as_deref(), args.limit).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    if let (Some(t), true) = (&args.ticket, runs.is_empty()) {
        eprintln!("karajan: no runs of {t} in the store");
        return Exit::Failure;
    }
    if args.json {
        return super::print_json(workflow, &Report { runs });
    }
    println!(
        "{:<20} {:>3}  {:<19}  {:<12} {:<10} {:<10} {:>8} {:>9} {:>9} {:>9}  run",
        "ticket",
        "n",
        "started (UTC)",
        "state",
        "runner",
        "outcome",
        "time",
        "tokens in",
        "out",
        "cost"
    );
    for r in &runs {
        println!(
            "{:<20} {:>3}  {}  {:<12} {:<10} {:<10} {:>8} {:>9} {:>9} {:>9}  {}{}",
            r.identifier,
            r.n,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.state,
            r.runner,
            r.outcome,
            r.duration_ms
                .map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
            r.tokens.input,
            r.tokens.output,
            r.cost_usd.map_or("-".to_string(), |c| format!("${c:.4}")),
            r.run_id,
            r.reason
                .as_deref()
                .map_or(String::new(), |why| format!("  ({why})")),
        );
    }
    Exit::Ok
}

/// The latest `limit` runs (of one ticket, or of all), oldest first, with each run's
/// position among its ticket's runs and its recorded reason.
pub(crate) async fn latest(
    store: &Store,
    ticket: Option<&str>,
    limit: u32,
) -> Result<Vec<Run>, StoreError> {
    let rows = match ticket {
        Some(t) => {
            let all = store.runs_for(t).await?;
            let skip = all.len().saturating_sub(limit as usize);
            all.into_iter().skip(skip).collect()
        }
        None => store.recent_runs(i64::from(limit)).await?,
    };
    let tickets: BTreeSet<&str> = rows.iter().map(|r| r.identifier.as_str()).collect();
    let mut position = HashMap::new();
    let mut reasons = HashMap::new();
    for t in tickets {
        for (i, r) in store.runs_for(t).await?.into_iter().enumerate() {
            position.insert(r.run_id, i + 1);
        }
        for e in store.events_of_kind(t, "run_finished").await? {
            if let (Some(id), Some(why)) =
                (e.payload["run_id"].as_str(), e.payload["reason"].as_str())
            {
                reasons.insert(id.to_string(), why.to_string());
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| of_row(r, &position, &mut reasons))
        .collect())
}

fn of_row(
    r: RunRow,
    position: &HashMap<String, usize>,
    reasons: &mut HashMap<String, String>,
) -> Run {
    Run {
        n: position.get(&r.run_id).copied().unwrap_or(0),
        reason: reasons.remove(&r.run_id),
        outcome: r.status.unwrap_or_else(|| "running".into()),
        run_id: r.run_id,
        identifier: r.identifier,
        state: r.state,
        run_number: r.run_number,
        attempt: r.attempt,
        runner: r.runner,
        started_at: r.started_at,
        finished_at: r.finished_at,
        exit_code: r.exit_code,
        duration_ms: r.duration_ms,
        tokens: r.tokens,
        cost_usd: r.cost_usd,
        log_dir: r.log_dir,
    }
}
