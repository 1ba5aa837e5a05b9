//! One frame of `karajan top`: the daemon's read model (`GET /api/v1/state`) reduced to
//! what an operator watches — running agents with elapsed time, tokens and cost, gates
//! waiting, retries, held tickets, recent transitions and today's spend — as sections
//! of plain lines. The terminal view draws these sections; without a terminal they are
//! printed as they are.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A titled block of lines, each tied to the ticket it shows (for the keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub text: String,
    /// The ticket the row is about.
    pub ticket: Option<String>,
    /// The ticket waits at a gate (approve and rework apply).
    pub at_gate: bool,
}

/// One frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub header: String,
    pub paused: bool,
    pub sections: Vec<Section>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()?.parse().ok()
}

/// `1h02m`, `3m07s`, `12s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

fn cost(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |c| format!("${c:.4}"))
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

impl Snapshot {
    /// The frame of a `/api/v1/state` answer at `now`.
    pub fn of_state(state: &Value, now: DateTime<Utc>) -> Snapshot {
        let paused = state["paused"] == true;
        let today = &state["today"];
        let budget = today["daily_budget_usd"]
            .as_f64()
            .map_or(String::new(), |b| format!(" of ${b:.2}"));
        let header = format!(
            "karajan top — {} — dispatch {} — today {}{budget} in {} run(s)",
            now.format("%Y-%m-%d %H:%M:%S UTC"),
            if paused { "PAUSED" } else { "active" },
            cost(&today["cost_usd"]),
            today["runs"].as_u64().unwrap_or(0),
        );
        let running = rows(&state["running"])
            .iter()
            .map(|r| {
                let elapsed = time(&r["started_at"]).map_or(0, |t| (now - t).num_seconds());
                Row {
                    text: format!(
                        "{:<16} {:<12} {:<10} {:>7}  tokens in {} out {}  {}",
                        text(&r["identifier"]),
                        text(&r["state"]),
                        text(&r["runner"]),
                        duration(elapsed),
                        r["tokens"]["input"].as_u64().unwrap_or(0),
                        r["tokens"]["output"].as_u64().unwrap_or(0),
                        cost(&r["cost_usd"]),
                    ),
                    ticket: r["identifier"].as_str().map(str::to_string),
                    at_gate: false,
                }
            })
            .collect();
        let gates = rows(&state["gates"])
            .iter()
            .map(|g| {
                let rework = match g["max_rework"].as_u64() {
                    Some(max) => format!("rework {}/{max}", g["rework_count"]),
                    None => format!("rework {}", g["rework_count"]),
                };
                let escalated = g["escalated"]
                    .as_str()
                    .map_or(String::new(), |why| format!("  ESCALATED: {why}"));
                Row {
                    text: format!(
                        "{:<16} {:<12} waiting {:>7}  {rework}{escalated}",
                        text(&g["identifier"]),
                        text(&g["state"]),
                        duration(g["waited_seconds"].as_i64().unwrap_or(0)),
                    ),
                    ticket: g["identifier"].as_str().map(str::to_string),
                    at_gate: g["escalated"].is_null(),
                }
            })
            .collect();
        let retries = rows(&state["retries"])
            .iter()
            .map(|r| {
                let due = time(&r["due_at"]).map_or(0, |t| (t - now).num_seconds());
                Row {
                    text: format!(
                        "{:<16} {:<12} attempt {} in {}: {}",
                        text(&r["identifier"]),
                        text(&r["state"]),
                        r["attempt"],
                        duration(due),
                        text(&r["error"]),
                    ),
                    ticket: r["identifier"].as_str().map(str::to_string),
                    at_gate: false,
                }
            })
            .collect();
        let held = rows(&state["held"])
            .iter()
            .map(|h| Row {
                text: format!(
                    "{:<16} {:<12} in `{}`",
                    text(&h["identifier"]),
                    text(&h["state"]),
                    text(&h["column"])
                ),
                ticket: h["identifier"].as_str().map(str::to_string),
                at_gate: false,
            })
            .collect();
        let transitions = rows(&state["recent_transitions"])
            .iter()
            .map(|t| Row {
                text: format!(
                    "{} {:<16} {} → {} ({}, by {})",
                    time(&t["at"]).map_or("--:--:--".to_string(), |at| at
                        .format("%H:%M:%S")
                        .to_string()),
                    text(&t["identifier"]),
                    t["from"].as_str().unwrap_or("∅"),
                    text(&t["to"]),
                    text(&t["cause"]),
                    text(&t["actor"]),
                ),
                ticket: t["identifier"].as_str().map(str::to_string),
                at_gate: false,
            })
            .collect();
        let section = |title: &str, rows: Vec<Row>| Section {
            title: format!("{title} ({})", rows.len()),
            rows,
        };
        Snapshot {
            header,
            paused,
            sections: vec![
                section("running", running),
                section("gates waiting", gates),
                section("retries", retries),
                section("held", held),
                section("recent transitions", transitions),
            ],
        }
    }

    /// The frame as plain text (no colour, no cursor movement).
    pub fn plain(&self) -> String {
        let mut out = format!("{}\n", self.header);
        for s in &self.sections {
            out.push_str(&format!("{}:\n", s.title));
            if s.rows.is_empty() {
                out.push_str("  (none)\n");
            }
            for r in &s.rows {
                out.push_str(&format!("  {}\n", r.text));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_state_becomes_sections_with_elapsed_time_tokens_and_cost() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let state = json!({
            "paused": true,
            "today": {"cost_usd": 1.5, "runs": 4, "daily_budget_usd": 10.0},
            "running": [{"identifier": "QS-1", "state": "implement", "runner": "claude",
                "started_at": "2026-01-01T11:58:53Z", "tokens": {"input": 120, "output": 30},
                "cost_usd": 0.25}],
            "gates": [{"identifier": "QS-2", "state": "review", "waited_seconds": 3725,
                "rework_count": 1, "max_rework": 2, "escalated": null}],
            "retries": [{"identifier": "QS-3", "state": "implement", "attempt": 2,
                "due_at": "2026-01-01T12:00:30Z", "error": "exit code 1"}],
            "held": [],
            "recent_transitions": [{"at": "2026-01-01T11:59:00Z", "identifier": "QS-2",
                "from": "implement", "to": "review", "cause": "run_succeeded", "actor": "karajan"}],
        });
        let snap = Snapshot::of_state(&state, now);
        let text = snap.plain();
        assert!(text.starts_with("karajan top — 2026-01-01 12:00:00 UTC — dispatch PAUSED — today $1.5000 of $10.00 in 4 run(s)\n"), "{text}");
        assert!(text.contains("running (1):\n  QS-1             implement    claude       1m07s  tokens in 120 out 30  $0.2500\n"), "{text}");
        assert!(
            text.contains("QS-2             review       waiting   1h02m  rework 1/2\n"),
            "{text}"
        );
        assert!(
            text.contains("QS-3             implement    attempt 2 in 30s: exit code 1\n"),
            "{text}"
        );
        assert!(text.contains("held (0):\n  (none)\n"), "{text}");
        assert!(
            text.contains(
                "11:59:00 QS-2             implement → review (run_succeeded, by karajan)"
            ),
            "{text}"
        );
        let gate = &snap.sections[1].rows[0];
        assert!(gate.at_gate);
        assert_eq!(gate.ticket.as_deref(), Some("QS-2"));
    }
}
