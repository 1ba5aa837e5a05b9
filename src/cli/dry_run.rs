//! `karajan run --dry-run`: read the config, the tracker and the forge (its read-only
//! access check, as `check` makes it), print per candidate ticket what karajan would do
//! (the state it would enter, the runner's command line, the rendered prompt's size and
//! digest), and write nothing: no store (an existing one is opened read-only), no
//! tracker or forge write, no workspace.

use std::collections::HashMap;

use super::Exit;
use crate::agent::RunRequest;
use crate::config::Workflow;
use crate::domain::priority::sort_for_dispatch;
use crate::domain::{Action, IssueRecord};
use crate::prompt::PromptContext;
use crate::store::Store;
use crate::workspace::sanitize_key;

pub async fn run(wf: &Workflow) -> Exit {
    // What would fail at run time is reported before the tracker is even contacted.
    if let Err(code) = super::preflight::report(wf) {
        return code;
    }
    let tracker = match crate::tracker::from_config(wf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Tracker;
        }
    };
    let cols = &wf.machine.columns;
    let mut all_columns = cols.watched();
    all_columns.extend(cols.terminal_all());
    match tracker.check(&all_columns).await {
        Ok(check) => {
            for f in &check.facts {
                println!("tracker: {f}");
            }
            if !check.errors.is_empty() {
                for e in &check.errors {
                    eprintln!("karajan: tracker: {e}");
                }
                return Exit::Tracker;
            }
        }
        Err(e) => {
            eprintln!("karajan: tracker check failed: {e}");
            return Exit::Tracker;
        }
    }
    match super::check::forge_check(wf).await {
        Ok(facts) => {
            for f in &facts {
                println!("forge: {f}");
            }
        }
        Err(code) => return code,
    }
    let fetched = match tracker.fetch_candidates(&cols.watched()).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("karajan: cannot read candidates: {e}");
            return Exit::Tracker;
        }
    };
    for s in &fetched.skipped {
        println!("skipped {}: {}", s.source, s.error);
    }
    let records: HashMap<String, IssueRecord> =
        match Store::open_read_only_at(&crate::store::Location::from(&wf.store)).await {
            Ok(Some(store)) => store
                .records()
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|r| (r.identifier.clone(), r))
                .collect(),
            Ok(None) => HashMap::new(),
            Err(e) => {
                eprintln!("karajan: cannot read the store: {e}");
                return Exit::Failure;
            }
        };
    let mut tickets: Vec<crate::domain::TicketSnapshot> = fetched
        .tickets
        .into_iter()
        .map(std::sync::Arc::unwrap_or_clone)
        .collect();
    sort_for_dispatch(&mut tickets);
    println!(
        "dry run of {} ({} candidate tickets); nothing will be written",
        wf.path.display(),
        tickets.len()
    );
    let now = chrono::Utc::now();
    for t in &tickets {
        let rec = records.get(&t.identifier);
        let actions = crate::domain::decide(t, rec, &wf.machine, now);
        let current = rec.map_or("-".to_string(), |r| {
            format!("{} ({})", r.state, r.phase.label())
        });
        if actions.is_empty() {
            println!(
                "{} [{}] state {current}: nothing to do",
                t.identifier, t.column
            );
            continue;
        }
        println!("{} [{}] state {current}:", t.identifier, t.column);
        for a in &actions {
            match a {
                Action::Enter { to, .. } => {
                    let kind = wf.machine.state(to).map_or("?", |s| match s.kind() {
                        crate::domain::StateKind::Agent => "agent",
                        crate::domain::StateKind::Gate => "gate",
                        crate::domain::StateKind::Terminal => "terminal",
                    });
                    println!("  would enter `{to}` ({kind})");
                }
                Action::Move { column } => println!("  would move the ticket to `{column}`"),
                Action::StartRun { state, attempt } => {
                    describe_run(wf, tracker.as_ref(), t, rec, state, *attempt).await;
                }
                Action::StopRun { run_id, reason } => {
                    println!("  would stop run {run_id} ({reason:?})")
                }
                Action::Comment { .. } => println!("  would comment"),
                Action::CleanWorkspace => println!("  would remove the workspace"),
                Action::Hold { column } => {
                    println!("  would hold it (unexpected column `{column}`)")
                }
                Action::Resume => println!("  would resume it"),
                Action::Escalate { reason } => println!("  would escalate: {reason}"),
                Action::MergePullRequest { method } => {
                    println!("  would merge the ticket's pull request ({method})")
                }
                Action::StageEnterHook { .. } => {}
            }
        }
    }
    println!("dry run complete: nothing was written");
    Exit::Ok
}

async fn describe_run(
    wf: &Workflow,
    tracker: &dyn crate::tracker::Tracker,
    t: &crate::domain::TicketSnapshot,
    rec: Option<&IssueRecord>,
    state: &str,
    attempt: u32,
) {
    let Some(agent) = wf.agent_state(state) else {
        return;
    };
    let run_number = rec.map_or(1, |r| r.next_run_number(state));
    let ctx = PromptContext::new(t, state, run_number, attempt)
        .with_pull_request(rec.and_then(|r| r.pull_request.as_ref()).map(Into::into));
    let comments = tracker.comments(&t.ticket_ref()).await.unwrap_or_default();
    let workspace = wf.workspace.root.join(sanitize_key(&t.identifier));
    match crate::prompt::render(wf, state, &ctx, &comments) {
        Ok(p) => {
            let req = RunRequest {
                run_id: "dry-run".into(),
                identifier: t.identifier.clone(),
                state: state.to_string(),
                run_number,
                attempt,
                prompt: p.text.clone(),
                workspace: workspace.clone(),
                log_dir: wf.store.logs.clone(),
                env: vec![],
                resume_session: None,
                resume_usage: None,
                stall_timeout: wf.agent.stall_timeout,
                turn_timeout: wf.agent.turn_timeout,
                grace: wf.agent.kill_grace,
                max_turns: wf.agent.max_turns,
                max_cost_usd: None,
            };
            let argv = match crate::agent::runner_for(&agent.runner) {
                Ok(r) => r.command_line(&req).join(" "),
                Err(e) => format!("(unavailable: {e})"),
            };
            println!(
                "  would run `{state}` attempt {attempt} (run #{run_number}) with runner `{}`: {argv}",
                agent.runner.name
            );
            println!("  in workspace {}", workspace.display());
            println!("  prompt: {} bytes, sha256 {}", p.text.len(), p.digest);
        }
        Err(e) => println!("  would fail to render the prompt of `{state}`: {e}"),
    }
}
