//! `karajan status`: where every ticket stands (with its pull request once karajan
//! opened one), and what runs cost per state and per day, from the store (works while
//! the daemon runs, and without it).

use std::path::Path;

use super::Exit;
use crate::domain::Phase;
use crate::store::{Grouping, Totals};

/// One line of totals: runs, tokens and cost.
pub(crate) fn describe(t: &Totals) -> String {
    format!(
        "{} run(s); tokens in {} out {} cache read {} cache write {}; ${:.4}",
        t.runs,
        t.tokens.input,
        t.tokens.output,
        t.tokens.cache_read,
        t.tokens.cache_write,
        t.cost_usd
    )
}

/// Why a ticket waits, when its phase says: the stored failure of a pending retry, the
/// reason of an escalation, the column a held ticket sits in.
fn why(phase: &Phase) -> Option<String> {
    match phase {
        Phase::RetryWaiting {
            attempt,
            due_at,
            error,
        } => Some(format!(
            "retry (attempt {attempt}) due {}; last failure: {error}",
            due_at.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        Phase::Escalated { reason } => Some(format!("escalated: {reason}")),
        Phase::Held { column } => Some(format!("held: the ticket is in `{column}`")),
        _ => None,
    }
}

pub async fn run(workflow: &Path) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let records = match store.records().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    println!("tickets: {}", records.len());
    for r in &records {
        let rework: Vec<String> = r.rework.iter().map(|(g, n)| format!("{g}×{n}")).collect();
        println!(
            "  {:<20} {:<14} {:<13} runs {:>2}{}",
            r.identifier,
            r.state,
            r.phase.label(),
            r.runs.values().sum::<u32>(),
            if rework.is_empty() {
                String::new()
            } else {
                format!("  rework {}", rework.join(" "))
            }
        );
        if let Some(pr) = &r.pull_request {
            println!("  {:<20} pull request #{}: {}", "", pr.number, pr.url);
        }
        if let Some(why) = why(&r.phase) {
            println!("  {:<20} {why}", "");
        }
    }
    for (title, by) in [
        ("per state", Grouping::State),
        ("per day (UTC)", Grouping::Day),
    ] {
        match store.totals_by(by, None).await {
            Ok(rows) => {
                println!("{title}:");
                for (k, t) in rows {
                    println!("  {k:<14} {}", describe(&t));
                }
            }
            Err(e) => eprintln!("karajan: {e}"),
        }
    }
    match store.totals().await {
        Ok(t) => println!("total: {}", describe(&t)),
        Err(e) => eprintln!("karajan: {e}"),
    }
    print_inexact(&store).await;
    print_runner_pauses(&store).await;
    if let Ok(wf) = crate::workflow_load::load(workflow) {
        let b = wf.budget;
        let today = store
            .totals_on(chrono::Utc::now().date_naive())
            .await
            .map_or(0.0, |t| t.cost_usd);
        let show = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("${v:.2}"));
        println!(
            "budget: per run {}, per ticket {}, per day {} (spent today ${today:.4})",
            show(b.per_run_usd),
            show(b.per_ticket_usd),
            show(b.per_day_usd)
        );
    }
    Exit::Ok
}

/// Runners whose dispatch is paused by their CLI's usage limit (from the store's
/// `runner_paused`/`runner_resumed` events; a pause whose time has passed is over even
/// when no daemon recorded its end yet).
async fn print_runner_pauses(store: &crate::store::Store) {
    let pauses = match crate::orchestrator::limits::recorded_pauses(store).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("karajan: {e}");
            return;
        }
    };
    let now = chrono::Utc::now();
    for (runner, p) in pauses.iter().filter(|(_, p)| p.until > now) {
        println!(
            "runner {runner} paused until {} (usage limit; resumes by itself): {}",
            p.until.format("%Y-%m-%d %H:%M:%S UTC"),
            p.reason
        );
    }
}

/// How many of the latest runs are checked for inexact figures.
const INEXACT_WINDOW: i64 = 500;

/// The latest runs whose figures are not exact (partial or unknown usage, estimated or
/// unknown cost, a cost counted at the run's cap), so the totals above are read with
/// that in mind.
async fn print_inexact(store: &crate::store::Store) {
    let Ok(events) = store.recent_of_kind("run_finished", INEXACT_WINDOW).await else {
        return;
    };
    let inexact: Vec<_> = events
        .iter()
        .filter_map(|e| {
            let acc: crate::domain::run::Accounting =
                serde_json::from_value(e.payload.get("accounting")?.clone()).ok()?;
            acc.is_inexact().then_some((e, acc))
        })
        .collect();
    if inexact.is_empty() {
        return;
    }
    println!(
        "inexact figures ({} of the latest {} runs):",
        inexact.len(),
        events.len()
    );
    for (e, acc) in inexact.iter().rev() {
        let run = e
            .payload
            .get("run_id")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        println!(
            "  {:<20} {run}  {}",
            e.issue.as_deref().unwrap_or("-"),
            acc.note()
        );
    }
}
