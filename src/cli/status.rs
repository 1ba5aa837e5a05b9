//! `karajan status [--json]`: where every ticket stands (with its pull request once
//! karajan opened one), and what runs cost per state and per day, from the store (works
//! while the daemon runs, and without it).
//!
//! Both outputs come from one [`Report`], so the text and `--json` never disagree. The
//! JSON shape is documented in the README ("Machine-readable output") and is stable:
//! fields may be added, none is renamed or removed.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::Serialize;

use super::Exit;
use crate::domain::Phase;
use crate::store::{Grouping, Store, Totals};

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

#[derive(Debug, Serialize)]
struct PullRequest {
    number: u64,
    url: String,
}

#[derive(Debug, Serialize)]
struct Ticket {
    identifier: String,
    state: String,
    /// The phase label: `ready`, `running`, `waiting`, `retry_waiting`, …
    phase: String,
    /// Runs started, over every state.
    runs: u32,
    /// Rework requests per gate since it last approved.
    rework: BTreeMap<String, u32>,
    pull_request: Option<PullRequest>,
    /// Why the ticket waits (a retry, an escalation, a held ticket), in words.
    why: Option<String>,
    /// What a gate with `checks:` or pull-request `reviews:` waits on (pending checks,
    /// a review), as the running daemon last read it; `null` without a daemon.
    waiting_on: Option<String>,
    entered_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct Inexact {
    identifier: Option<String>,
    run_id: String,
    note: String,
}

#[derive(Debug, Serialize)]
struct RunnerPause {
    runner: String,
    until: DateTime<Utc>,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Budget {
    per_run_usd: Option<f64>,
    per_ticket_usd: Option<f64>,
    per_day_usd: Option<f64>,
    spent_today_usd: f64,
}

/// Everything `status` shows.
#[derive(Debug, Serialize)]
struct Report {
    tickets: Vec<Ticket>,
    per_state: IndexMap<String, Totals>,
    per_day: IndexMap<String, Totals>,
    total: Totals,
    /// Latest runs whose figures are not exact, oldest first.
    inexact: Vec<Inexact>,
    /// How many of the latest runs `inexact` looked at.
    inexact_window: usize,
    runner_pauses: Vec<RunnerPause>,
    /// `null` when the workflow does not load (the store still reads).
    budget: Option<Budget>,
    /// The cluster's nodes (`store.cluster: true` only; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<crate::cluster::nodes::NodeRow>>,
}

pub async fn run(workflow: &Path, json: bool) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match gather(&store, workflow).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    if json {
        super::print_json(workflow, &report)
    } else {
        print_text(&report);
        Exit::Ok
    }
}

/// How long `status` waits for the daemon's view of the gates.
const DAEMON_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What each gate waits on, by ticket, as the daemon serving `workflow` last read it
/// from the pull request (it lives in the daemon's read model, not in the store).
/// Empty when no daemon serves the workflow or it does not answer in time.
async fn waiting_on(workflow: &Path) -> BTreeMap<String, String> {
    let Ok(daemon) = super::daemon::Daemon::find_with(workflow, DAEMON_TIMEOUT) else {
        return BTreeMap::new();
    };
    let Ok(state) = daemon.get("/api/v1/state").await else {
        return BTreeMap::new();
    };
    state["gates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| {
            Some((
                g["identifier"].as_str()?.to_string(),
                g["waiting_on"].as_str()?.to_string(),
            ))
        })
        .collect()
}

async fn gather(store: &Store, workflow: &Path) -> Result<Report, crate::store::StoreError> {
    let mut waiting = waiting_on(workflow).await;
    let tickets = store
        .records()
        .await?
        .into_iter()
        .map(|r| Ticket {
            phase: r.phase.label().to_string(),
            runs: r.runs.values().sum(),
            pull_request: r.pull_request.map(|pr| PullRequest {
                number: pr.number,
                url: pr.url,
            }),
            why: why(&r.phase),
            waiting_on: waiting.remove(&r.identifier),
            identifier: r.identifier,
            state: r.state,
            rework: r.rework,
            entered_at: r.entered_at,
        })
        .collect();
    let per_state = store.totals_by(Grouping::State, None).await?;
    let per_day = store.totals_by(Grouping::Day, None).await?;
    let total = store.totals().await?;
    let (inexact, inexact_window) = inexact(store).await;
    let now = Utc::now();
    let runner_pauses = crate::orchestrator::limits::recorded_pauses(store)
        .await?
        .into_iter()
        .filter(|(_, p)| p.until > now)
        .map(|(runner, p)| RunnerPause {
            runner,
            until: p.until,
            reason: p.reason,
        })
        .collect();
    let budget = match crate::workflow_load::load(workflow) {
        Ok(wf) => Some(Budget {
            per_run_usd: wf.budget.per_run_usd,
            per_ticket_usd: wf.budget.per_ticket_usd,
            per_day_usd: wf.budget.per_day_usd,
            spent_today_usd: store
                .totals_on(now.date_naive())
                .await
                .map_or(0.0, |t| t.cost_usd),
        }),
        Err(_) => None,
    };
    let nodes = match (super::store_paths(workflow).cluster, store.pg_pool()) {
        (Some(_), Some(pool)) => Some(crate::cluster::nodes::list_if_any(&pool).await?),
        _ => None,
    };
    Ok(Report {
        nodes,
        tickets,
        per_state: per_state.into_iter().collect(),
        per_day: per_day.into_iter().collect(),
        total,
        inexact,
        inexact_window,
        runner_pauses,
        budget,
    })
}

fn print_text(r: &Report) {
    println!("tickets: {}", r.tickets.len());
    for t in &r.tickets {
        let rework: Vec<String> = t.rework.iter().map(|(g, n)| format!("{g}×{n}")).collect();
        println!(
            "  {:<20} {:<14} {:<13} runs {:>2}{}",
            t.identifier,
            t.state,
            t.phase,
            t.runs,
            if rework.is_empty() {
                String::new()
            } else {
                format!("  rework {}", rework.join(" "))
            }
        );
        if let Some(pr) = &t.pull_request {
            println!("  {:<20} pull request #{}: {}", "", pr.number, pr.url);
        }
        if let Some(why) = &t.why {
            println!("  {:<20} {why}", "");
        }
        if let Some(w) = &t.waiting_on {
            println!("  {:<20} waiting on {w}", "");
        }
    }
    for (title, rows) in [("per state", &r.per_state), ("per day (UTC)", &r.per_day)] {
        println!("{title}:");
        for (k, t) in rows {
            println!("  {k:<14} {}", describe(t));
        }
    }
    println!("total: {}", describe(&r.total));
    if !r.inexact.is_empty() {
        println!(
            "inexact figures ({} of the latest {} runs):",
            r.inexact.len(),
            r.inexact_window
        );
        for i in &r.inexact {
            println!(
                "  {:<20} {}  {}",
                i.identifier.as_deref().unwrap_or("-"),
                i.run_id,
                i.note
            );
        }
    }
    for p in &r.runner_pauses {
        println!(
            "runner {} paused until {} (usage limit; resumes by itself): {}",
            p.runner,
            p.until.format("%Y-%m-%d %H:%M:%S UTC"),
            p.reason
        );
    }
    if let Some(nodes) = &r.nodes {
        println!("nodes: {}", nodes.len());
        for n in nodes {
            let role = if n.stopped {
                "stopped"
            } else if n.leader {
                "lease holder"
            } else {
                "standby"
            };
            println!(
                "  {:<20} {:<12} heartbeat {:.1}s ago  running {}/{} slots  (pid {} on {})",
                n.name, role, n.heartbeat_age_s, n.running, n.slots, n.pid, n.host
            );
        }
    }
    if let Some(b) = &r.budget {
        let show = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("${v:.2}"));
        println!(
            "budget: per run {}, per ticket {}, per day {} (spent today ${:.4})",
            show(b.per_run_usd),
            show(b.per_ticket_usd),
            show(b.per_day_usd),
            b.spent_today_usd
        );
    }
}

/// How many of the latest runs are checked for inexact figures.
const INEXACT_WINDOW: i64 = 500;

/// The latest runs whose figures are not exact (partial or unknown usage, estimated or
/// unknown cost, a cost counted at the run's cap), oldest first, and how many runs were
/// looked at.
async fn inexact(store: &Store) -> (Vec<Inexact>, usize) {
    let Ok(events) = store.recent_of_kind("run_finished", INEXACT_WINDOW).await else {
        return (vec![], 0);
    };
    let found = events
        .iter()
        .rev()
        .filter_map(|e| {
            let acc: crate::domain::run::Accounting =
                serde_json::from_value(e.payload.get("accounting")?.clone()).ok()?;
            acc.is_inexact().then(|| Inexact {
                identifier: e.issue.clone(),
                run_id: e
                    .payload
                    .get("run_id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string(),
                note: acc.note(),
            })
        })
        .collect();
    (found, events.len())
}
