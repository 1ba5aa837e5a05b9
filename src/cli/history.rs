//! `karajan history TICKET`: the ticket's timeline from the store, hash-linked.

use std::path::Path;

use super::Exit;
use crate::store::Grouping;

pub async fn run(workflow: &Path, ticket: &str) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let events = match store.events_for(ticket).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    if events.is_empty() {
        eprintln!("karajan: no events for {ticket}");
        return Exit::Failure;
    }
    println!("{ticket}: {} events", events.len());
    for e in &events {
        println!(
            "{:>6}  {}  {:<17} {}  hash {} prev {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.kind,
            summary(&e.kind, &e.payload),
            &e.hash[..12.min(e.hash.len())],
            &e.prev_hash[..12.min(e.prev_hash.len())],
        );
    }
    match store.totals_by(Grouping::State, Some(ticket)).await {
        Ok(by_state) => {
            for (state, t) in &by_state {
                println!("  {state}: {}", super::status::describe(t));
            }
        }
        Err(e) => eprintln!("karajan: cannot read totals: {e}"),
    }
    if let Ok(total) = store.totals_for(ticket).await {
        println!("total: {}", super::status::describe(&total));
    }
    Exit::Ok
}

/// A one-line summary of an event's payload.
fn summary(kind: &str, p: &serde_json::Value) -> String {
    let s = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match kind {
        "transition" => format!(
            "{} → {} ({}, by {})",
            p.get("from").and_then(|v| v.as_str()).unwrap_or("∅"),
            s("to"),
            s("cause"),
            s("actor")
        ),
        "run_started" => format!(
            "{} run #{} attempt {} [{}]",
            s("state"),
            p["run_number"],
            p["attempt"],
            s("run_id")
        ),
        "run_finished" => format!(
            "{} exit {} [{}]{}",
            s("status"),
            p["exit_code"],
            s("run_id"),
            run_notes(p)
        ),
        "intent_recorded" => match s("op").as_str() {
            "move" => format!("move → {}", s("column")),
            _ => "comment".to_string(),
        },
        "intent_completed" => format!(
            "done{}",
            if p["already_done"] == true {
                " (already)"
            } else {
                ""
            }
        ),
        "intent_failed" => s("error"),
        "hook_ran" => format!("{} ok={}", s("hook"), p["ok"]),
        "held" => format!("in `{}`", s("column")),
        "escalated" => s("reason"),
        _ => String::new(),
    }
}

/// What a `run_finished` adds for people beyond its status: a resume that fell back to
/// a fresh session, and figures that are not exact.
pub(crate) fn run_notes(p: &serde_json::Value) -> String {
    let mut notes = Vec::new();
    if let Some(asked) = p.get("resume_fallback").and_then(|v| v.as_str()) {
        notes.push(format!(
            "could not resume session {asked}: ran in a fresh session"
        ));
    }
    if let Some(acc) = p
        .get("accounting")
        .and_then(|a| serde_json::from_value::<crate::domain::run::Accounting>(a.clone()).ok())
    {
        let note = acc.note();
        if !note.is_empty() {
            notes.push(note);
        }
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" — {}", notes.join("; "))
    }
}
