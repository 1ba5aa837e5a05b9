//! `status --json`, `history --json` and `runs --json` (issue 15, item 2): each output
//! parses as JSON and carries the fields the README documents, with the values the
//! store holds after one `run --once` of the quickstart.

use serde_json::Value;

use super::support::{Scratch, stderr, stdout};

fn json(s: &Scratch, args: &[&str]) -> Value {
    let out = s.karajan(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", stdout(&out)))
}

fn has(v: &Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "no `{f}` in {v:#}");
    }
}

const TOTALS: &[&str] = &["runs", "tokens", "cost_usd"];
const TOKENS: &[&str] = &["input", "output", "cache_read", "cache_write"];

#[test]
fn status_history_and_runs_print_their_documented_json() {
    let s = Scratch::quickstart();
    s.once();

    let status = json(&s, &["status", "--json"]);
    has(
        &status,
        &[
            "tickets",
            "per_state",
            "per_day",
            "total",
            "inexact",
            "inexact_window",
            "runner_pauses",
            "budget",
        ],
    );
    let tickets = status["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    let qs1 = tickets.iter().find(|t| t["identifier"] == "QS-1").unwrap();
    has(
        qs1,
        &[
            "identifier",
            "state",
            "phase",
            "runs",
            "rework",
            "pull_request",
            "why",
            "entered_at",
        ],
    );
    assert_eq!(qs1["state"], "review");
    assert_eq!(qs1["phase"], "waiting");
    assert_eq!(qs1["runs"], 1);
    has(&status["total"], TOTALS);
    has(&status["total"]["tokens"], TOKENS);
    assert_eq!(status["total"]["runs"], 3);
    assert_eq!(status["per_state"]["implement"]["runs"], 3);
    has(
        &status["budget"],
        &[
            "per_run_usd",
            "per_ticket_usd",
            "per_day_usd",
            "spent_today_usd",
        ],
    );

    let history = json(&s, &["history", "QS-1", "--json"]);
    has(&history, &["ticket", "events", "per_state", "total"]);
    assert_eq!(history["ticket"], "QS-1");
    let events = history["events"].as_array().unwrap();
    for e in events {
        has(
            e,
            &[
                "seq",
                "at",
                "kind",
                "summary",
                "payload",
                "hash",
                "prev_hash",
            ],
        );
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {seqs:?}"
    );
    let first = &events[0];
    assert_eq!(first["kind"], "transition");
    assert_eq!(first["payload"]["to"], "implement");
    assert_eq!(first["summary"], "∅ → implement (picked, by karajan)");
    assert!(events.iter().any(|e| e["kind"] == "run_finished"));
    assert_eq!(history["total"]["runs"], 1);

    let runs = json(&s, &["runs", "--json"]);
    let rows = runs["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        has(
            r,
            &[
                "run_id",
                "identifier",
                "n",
                "state",
                "run_number",
                "attempt",
                "runner",
                "started_at",
                "finished_at",
                "outcome",
                "reason",
                "exit_code",
                "duration_ms",
                "tokens",
                "cost_usd",
                "log_dir",
            ],
        );
        has(&r["tokens"], TOKENS);
        assert_eq!(r["outcome"], "succeeded");
        assert_eq!(r["state"], "implement");
        assert_eq!(r["n"], 1);
    }
    let one = json(&s, &["runs", "--ticket", "QS-2", "--json"]);
    assert_eq!(one["runs"].as_array().unwrap().len(), 1);
    assert_eq!(one["runs"][0]["identifier"], "QS-2");
    let limited = json(&s, &["runs", "-n", "2", "--json"]);
    assert_eq!(limited["runs"].as_array().unwrap().len(), 2);
    let out = s.karajan(&["runs", "--ticket", "NOPE-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no runs of NOPE-1"),
        "{}",
        stderr(&out)
    );
}
