//! The ticket timeline in words: each recorded event kind as one sentence with its
//! figures (`run 3f1c… failed after 12s (exit 1): API error 500 · 1,200 in / 250 out ·
//! $0.0421`), so a reader need not decode the payload. The page keeps the raw JSON one
//! click away. The payload given here is already scrubbed of secrets (the pages scrub
//! their whole context first); the template escapes the sentence.

use serde_json::Value;

fn s<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn n(p: &Value, key: &str) -> Option<u64> {
    p.get(key).and_then(Value::as_u64)
}

/// `1234567` → `1,234,567`.
fn grouped(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
}

fn seconds(ms: u64) -> String {
    let secs = ms / 1000;
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn cause(p: &Value) -> String {
    match s(p, "cause") {
        Some("picked") => "picked up from the todo column".into(),
        Some("agent_finished") => format!(
            "the agent finished (run {})",
            short_id(s(p, "run_id").unwrap_or("?"))
        ),
        Some("approved") => format!("approved at {}", s(p, "gate").unwrap_or("the gate")),
        Some("rework") => format!(
            "rework #{} requested at {}",
            n(p, "count").unwrap_or(0),
            s(p, "gate").unwrap_or("the gate")
        ),
        Some("human_moved") => format!(
            "moved to the column {} by a human",
            s(p, "column").unwrap_or("?")
        ),
        Some("restarted") => "moved back to todo: starting over".into(),
        Some(other) => other.replace('_', " "),
        None => "no cause recorded".into(),
    }
}

fn usage(p: &Value) -> Option<String> {
    let t = p.get("tokens")?;
    let (i, o) = (n(t, "input").unwrap_or(0), n(t, "output").unwrap_or(0));
    let mut text = format!("{} in / {} out", grouped(i), grouped(o));
    let cache = n(t, "cache_read").unwrap_or(0);
    if cache > 0 {
        text.push_str(&format!(" / {} cache read", grouped(cache)));
    }
    Some(text)
}

fn run_finished(p: &Value) -> String {
    let id = short_id(s(p, "run_id").unwrap_or("?"));
    let status = s(p, "status").unwrap_or("finished");
    let mut text = match status {
        "succeeded" => format!("Run {id} succeeded"),
        "failed" => format!("Run {id} failed"),
        "timed_out" => format!("Run {id} timed out"),
        "max_turns" => format!("Run {id} hit its turn limit"),
        "budget_exceeded" => format!("Run {id} was stopped by a budget"),
        "cancelled" => format!("Run {id} was stopped by karajan"),
        other => format!("Run {id} {}", other.replace('_', " ")),
    };
    if let Some(ms) = n(p, "duration_ms") {
        text.push_str(&format!(" after {}", seconds(ms)));
    }
    if let Some(code) = p.get("exit_code").and_then(Value::as_i64) {
        text.push_str(&format!(" (exit {code})"));
    }
    if let Some(reason) = s(p, "reason") {
        text.push_str(&format!(": {reason}"));
    }
    if let Some(u) = usage(p) {
        text.push_str(&format!(" · {u}"));
    }
    if let Some(turns) = n(p, "turns") {
        text.push_str(&format!(" · {turns} turns"));
    }
    match p.get("cost_usd").and_then(Value::as_f64) {
        Some(c) => text.push_str(&format!(" · ${c:.4}")),
        None => text.push_str(" · cost unknown"),
    }
    if let Some(session) = s(p, "resume_fallback") {
        text.push_str(&format!(
            " · could not resume session {}: started a fresh one",
            short_id(session)
        ));
    }
    text
}

/// One event in words.
pub(crate) fn sentence(kind: &str, p: &Value) -> String {
    match kind {
        "transition" => {
            let mut text = match s(p, "from") {
                Some(from) => format!("Moved from {from} to {}", s(p, "to").unwrap_or("?")),
                None => format!("Entered {}", s(p, "to").unwrap_or("?")),
            };
            text.push_str(&format!(
                ": {}, by {}",
                cause(p),
                s(p, "actor").unwrap_or("?")
            ));
            if let Some(f) = s(p, "feedback") {
                text.push_str(&format!(". Feedback: “{f}”"));
            }
            text
        }
        "run_started" => {
            let mut text = format!(
                "Run {} started in {} (run #{}, attempt {}) with the runner {}",
                short_id(s(p, "run_id").unwrap_or("?")),
                s(p, "state").unwrap_or("?"),
                n(p, "run_number").unwrap_or(0),
                n(p, "attempt").unwrap_or(0),
                s(p, "runner").unwrap_or("?")
            );
            if let Some(session) = s(p, "resume_session") {
                text.push_str(&format!(", resuming session {}", short_id(session)));
            }
            if let Some(b) = n(p, "prompt_bytes") {
                text.push_str(&format!(" · prompt {} bytes", grouped(b)));
            }
            text
        }
        "run_spawned" => format!(
            "The agent process started (pid {})",
            n(p, "pid").unwrap_or(0)
        ),
        "run_finished" => run_finished(p),
        "run_orphaned" => format!(
            "Run {} was found orphaned after a daemon restart{}",
            short_id(s(p, "run_id").unwrap_or("?")),
            if p.get("killed").and_then(Value::as_bool) == Some(true) {
                "; its processes were stopped"
            } else {
                ""
            }
        ),
        "agent_event" => {
            let t = p
                .get("event")
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("event");
            format!("The agent reported `{t}`")
        }
        "held" => format!(
            "Held: the ticket sits in the column {}, which its state does not expect",
            s(p, "column").unwrap_or("?")
        ),
        "resumed" => "Resumed: the ticket is back where its state expects it".into(),
        "verdict" => format!(
            "Review verdict: {}",
            crate::domain::verdict::describe_event(p)
        ),
        "escalated" => format!(
            "Escalated to a human: {}",
            s(p, "reason").unwrap_or("no reason recorded")
        ),
        "intent_recorded" => match s(p, "op") {
            Some("move") => format!(
                "Tracker write queued: move the ticket to {}",
                s(p, "column").unwrap_or("?")
            ),
            Some("comment") => "Tracker write queued: a comment".into(),
            Some("push") => format!(
                "Push queued: {} at {} to {}",
                s(p, "branch").unwrap_or("?"),
                s(p, "commit").map_or("?", |c| &c[..c.len().min(12)]),
                s(p, "remote").unwrap_or("?")
            ),
            Some("pull_request") => format!(
                "Pull request queued: {} from {}",
                s(p, "title").unwrap_or("?"),
                s(p, "branch").unwrap_or("?")
            ),
            Some("attach") => format!(
                "Tracker write queued: attach {}",
                s(p, "url").unwrap_or("?")
            ),
            Some("post_review") => format!(
                "Queued: the verdict as a pull request review ({}) on #{}",
                s(p, "event").unwrap_or("?"),
                n(p, "number").unwrap_or(0)
            ),
            Some("ready_for_review") => format!(
                "Queued: mark pull request #{} ready for review",
                n(p, "number").unwrap_or(0)
            ),
            Some("merge") => format!(
                "Merge queued: pull request #{} ({})",
                n(p, "number").unwrap_or(0),
                s(p, "method").unwrap_or("?")
            ),
            _ => "Tracker write queued".into(),
        },
        "pull_request_merged" => format!("Pull request #{} merged", n(p, "number").unwrap_or(0)),
        "pull_request_opened" => format!(
            "Pull request #{} {}: {}",
            n(p, "number").unwrap_or(0),
            if p.get("created").and_then(Value::as_bool) == Some(true) {
                "opened"
            } else {
                "updated"
            },
            s(p, "url").unwrap_or("?")
        ),
        "intent_completed" => {
            if p.get("already_done").and_then(Value::as_bool) == Some(true) {
                "Queued write confirmed (it had already happened)".into()
            } else {
                "Queued write done".into()
            }
        }
        "intent_failed" => format!(
            "Queued write failed{}: {}",
            if p.get("retryable").and_then(Value::as_bool) == Some(true) {
                " (will retry)"
            } else {
                ""
            },
            s(p, "error").unwrap_or("?")
        ),
        "hook_ran" => {
            let hook = s(p, "hook").unwrap_or("?");
            let took = seconds(n(p, "duration_ms").unwrap_or(0));
            if p.get("timed_out").and_then(Value::as_bool) == Some(true) {
                format!("Hook {hook} timed out after {took}")
            } else if p.get("ok").and_then(Value::as_bool) == Some(true) {
                format!("Hook {hook} succeeded in {took}")
            } else {
                let code = p
                    .get("exit_code")
                    .and_then(Value::as_i64)
                    .map_or(String::new(), |c| format!(" (exit {c})"));
                format!("Hook {hook} failed{code} after {took}")
            }
        }
        "workspace_created" => format!(
            "Workspace created at {} on branch {}",
            s(p, "path").unwrap_or("?"),
            s(p, "branch").unwrap_or("?")
        ),
        "workspace_removed" => format!("Workspace {} removed", s(p, "path").unwrap_or("?")),
        "workspace_kept" => format!(
            "Workspace {} kept, not removed: {}",
            s(p, "path").unwrap_or("?"),
            s(p, "reason").unwrap_or("?")
        ),
        "tracker_error" => format!("Tracker error: {}", s(p, "error").unwrap_or("?")),
        "budget_decision" => {
            let f = |k| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            let action = s(p, "action").unwrap_or("?").replace('_', " ");
            format!(
                "Budget ({} scope): {action}, ${:.4} spent of ${:.4}",
                s(p, "scope").unwrap_or("?"),
                f("spent_usd"),
                f("limit_usd")
            )
        }
        "recovered" => format!(
            "Place rebuilt from the tracker's markers: state {}",
            s(p, "state").unwrap_or("?")
        ),
        "daemon_started" => format!(
            "The daemon started (version {})",
            s(p, "version").unwrap_or("?")
        ),
        "daemon_stopped" => format!("The daemon stopped: {}", s(p, "reason").unwrap_or("?")),
        "config_applied" => format!("Configuration applied from {}", s(p, "path").unwrap_or("?")),
        "config_rejected" => format!("Configuration rejected: {}", s(p, "path").unwrap_or("?")),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_say_why_and_figures_are_readable() {
        let p = json!({"run_id": "r-0123456789abcdef", "status": "failed",
            "reason": "API error 500", "exit_code": 1, "duration_ms": 12_000,
            "tokens": {"input": 1200, "output": 250, "cache_read": 0}, "turns": 3,
            "cost_usd": 0.0421, "resume_fallback": "sess-9"});
        assert_eq!(
            sentence("run_finished", &p),
            "Run r-0123456789 failed after 12s (exit 1): API error 500 · 1,200 in / 250 out \
             · 3 turns · $0.0421 · could not resume session sess-9: started a fresh one"
        );
    }

    /// Outcomes name no operation (a tracker move or comment, or a push to the forge),
    /// so their sentence fits every kind of queued write.
    #[test]
    fn a_queued_writes_outcome_reads_right_for_a_push_too() {
        let queued = json!({"intent_id": "i-1", "op": "push", "branch": "karajan/QS-1",
            "commit": "0e43fb1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a", "remote": "/srv/app.git"});
        assert_eq!(
            sentence("intent_recorded", &queued),
            "Push queued: karajan/QS-1 at 0e43fb1c2d3e to /srv/app.git"
        );
        let done = json!({"intent_id": "i-1", "already_done": false});
        assert_eq!(sentence("intent_completed", &done), "Queued write done");
        let failed = json!({"intent_id": "i-1", "retryable": false,
            "error": "rejected: non-fast-forward"});
        assert_eq!(
            sentence("intent_failed", &failed),
            "Queued write failed: rejected: non-fast-forward"
        );
    }

    #[test]
    fn rework_shows_the_feedback() {
        let p = json!({"from": "review", "to": "implement", "cause": "rework",
            "gate": "review", "count": 1, "actor": "dashboard:browser",
            "feedback": "add tests"});
        assert_eq!(
            sentence("transition", &p),
            "Moved from review to implement: rework #1 requested at review, by \
             dashboard:browser. Feedback: “add tests”"
        );
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
