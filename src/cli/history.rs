//! `karajan history TICKET [--json]`: the ticket's timeline from the store, hash-linked,
//! with what vouches for each event (a signed checkpoint, a tracker anchor: see
//! `history_proof`).

use std::path::Path;

use super::Exit;
use serde_json::json;

use crate::store::{Grouping, StoredEvent, Totals};

pub async fn run(workflow: &Path, ticket: &str, json: bool, public_key: Option<&Path>) -> Exit {
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
    let key = match super::history_proof::public_key(workflow, public_key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let cov = match super::history_proof::load(&store, &events, key).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("karajan: cannot read the checkpoints and anchors: {e}");
            return Exit::Failure;
        }
    };
    let by_state = store.totals_by(Grouping::State, Some(ticket)).await;
    let total = store.totals_for(ticket).await;
    if json {
        return match (by_state, total) {
            (Ok(by_state), Ok(total)) => {
                super::print_json(workflow, &report(ticket, &events, &cov, by_state, total))
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("karajan: cannot read totals: {e}");
                Exit::Failure
            }
        };
    }
    println!("{ticket}: {} events", events.len());
    for e in &events {
        println!(
            "{:>6}  {}  {:<17} {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.kind,
            summary(&e.kind, &e.payload),
        );
        println!("        {}", super::history_proof::event_line(&cov, e));
    }
    match by_state {
        Ok(by_state) => {
            for (state, t) in &by_state {
                println!("  {state}: {}", super::status::describe(t));
            }
        }
        Err(e) => eprintln!("karajan: cannot read totals: {e}"),
    }
    if let Ok(total) = total {
        println!("total: {}", super::status::describe(&total));
    }
    for line in super::history_proof::footer(&cov, &events) {
        println!("{line}");
    }
    Exit::Ok
}

/// `history --json` (documented in the README; fields are only ever added): the
/// ticket, its events with the text line's summary beside the stored payload and what
/// seals and anchors each, its totals per state and overall, and the coverage.
fn report(
    ticket: &str,
    events: &[StoredEvent],
    cov: &crate::proof::Coverage,
    by_state: Vec<(String, Totals)>,
    total: Totals,
) -> serde_json::Value {
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            let proof = super::history_proof::event_json(cov, e);
            json!({
                "sealed_by": proof["sealed_by"],
                "anchored_by": proof["anchored_by"],
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind,
                "summary": summary(&e.kind, &e.payload),
                "payload": e.payload,
                "hash": e.hash,
                "prev_hash": e.prev_hash,
            })
        })
        .collect();
    let per_state: serde_json::Map<String, serde_json::Value> =
        by_state.into_iter().map(|(k, t)| (k, json!(t))).collect();
    json!({
        "ticket": ticket,
        "events": rows,
        "per_state": per_state,
        "total": total,
        "coverage": super::history_proof::coverage_json(cov, events),
    })
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
        "run_finished" => run_finished(p),
        "intent_recorded" => match s("op").as_str() {
            "move" => format!("move → {}", s("column")),
            "push" => format!("push {} {} → {}", s("branch"), s("commit"), s("remote")),
            "pull_request" => format!("pull request {} → {}", s("branch"), s("repo")),
            "merge" => format!("merge #{} ({})", p["number"], s("method")),
            "attach" => format!("attach {}", s("url")),
            "ready_for_review" => format!("ready for review #{}", p["number"]),
            "post_review" => format!("review {} on #{}", s("event"), p["number"]),
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
        "workspace_kept" => format!("kept: {}", s("reason")),
        "pull_request_merged" => format!("#{} merged", p["number"]),
        "verdict" => crate::domain::verdict::describe_event(p),
        "pull_request_opened" => format!(
            "#{} {} {}",
            p["number"],
            if p["created"] == true {
                "opened"
            } else {
                "updated"
            },
            s("url")
        ),
        _ => String::new(),
    }
}

/// A finished run in words: its status, the stored reason when it did not succeed, and
/// how the process ended (`failed: exit code 1: API error 500 (exit code 1) [r-…]`).
fn run_finished(p: &serde_json::Value) -> String {
    let mut text = p["status"].as_str().unwrap_or("?").replace('_', " ");
    if let Some(reason) = p["reason"].as_str() {
        text.push_str(": ");
        text.push_str(reason);
    }
    match (p["exit_code"].as_i64(), p["signal"].as_i64()) {
        (Some(code), _) => text.push_str(&format!(" (exit code {code})")),
        (None, Some(sig)) => text.push_str(&format!(" (signal {sig})")),
        (None, None) => {}
    }
    format!(
        "{text} [{}]{}",
        p["run_id"].as_str().unwrap_or(""),
        run_notes(p)
    )
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_failed_run_shows_its_reason_not_null() {
        let p = json!({"run_id": "r-1", "status": "failed", "reason": "could not start `claude`: No such file or directory (os error 2)", "exit_code": null, "signal": null});
        let line = super::summary("run_finished", &p);
        assert_eq!(
            line,
            "failed: could not start `claude`: No such file or directory (os error 2) [r-1]"
        );
        let p = json!({"run_id": "r-2", "status": "succeeded", "exit_code": 0, "signal": null});
        assert_eq!(
            super::summary("run_finished", &p),
            "succeeded (exit code 0) [r-2]"
        );
    }
}
