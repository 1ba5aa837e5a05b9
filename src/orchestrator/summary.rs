//! What one `karajan run --once` did, for the person (or CI job) that ran it.
//!
//! Built from the store after the run, from the events recorded since it started (so it
//! tells exactly what this invocation did, recovery included) and the tickets' records
//! (where each ended up). Printed on stdout; `Summary::is_clean` decides the exit code
//! (`Exit::RunFailed`, 6, when a run failed or a ticket was escalated).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::{IssueRecord, Phase};
use crate::store::{Store, StoreError, StoredEvent};

/// Run outcomes that count as failures (a cancellation by karajan or a daemon stop
/// does not: the agent did not fail).
const FAILURES: &[&str] = &[
    "failed",
    "stalled",
    "timed_out",
    "max_turns",
    "budget_exceeded",
];

/// One ticket's part in the run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketSummary {
    pub identifier: String,
    /// The state and phase the ticket is in now (`implement`, `retry_waiting`).
    pub state: String,
    pub phase: String,
    pub runs: u32,
    pub failures: u32,
    /// The last failure's reason, as stored (`failed: exit code 1: API error 500`).
    pub last_failure: Option<String>,
    /// A retry is pending: its attempt number and due time.
    pub retry: Option<(u32, DateTime<Utc>)>,
    /// The ticket was escalated to a human, and why.
    pub escalated: Option<String>,
}

/// What a `run --once` did, per ticket it touched.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub tickets: Vec<TicketSummary>,
}

impl Summary {
    /// No run failed and no ticket was escalated.
    pub fn is_clean(&self) -> bool {
        self.tickets
            .iter()
            .all(|t| t.failures == 0 && t.escalated.is_none())
    }

    /// Read what happened after `after_seq` from the store.
    pub async fn since(store: &Store, after_seq: i64) -> Result<Summary, StoreError> {
        let mut events = vec![];
        let mut after = after_seq;
        loop {
            let page = store.events_page(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            events.extend(page);
        }
        let mut records = BTreeMap::new();
        for id in events.iter().filter_map(|e| e.issue.as_deref()) {
            if !records.contains_key(id)
                && let Some(r) = store.record(id).await?
            {
                records.insert(id.to_string(), r);
            }
        }
        Ok(fold(&events, &records))
    }
}

/// The summary of `events` (those of one invocation) given the tickets' records now.
pub(crate) fn fold(events: &[StoredEvent], records: &BTreeMap<String, IssueRecord>) -> Summary {
    let mut by: BTreeMap<String, TicketSummary> = BTreeMap::new();
    for e in events {
        let Some(id) = e.issue.as_deref() else {
            continue;
        };
        let t = by.entry(id.to_string()).or_insert_with(|| TicketSummary {
            identifier: id.to_string(),
            ..TicketSummary::default()
        });
        let p = &e.payload;
        match e.kind.as_str() {
            "run_started" => t.runs += 1,
            "run_finished" => {
                let status = p["status"].as_str().unwrap_or("");
                if FAILURES.contains(&status) {
                    t.failures += 1;
                    t.last_failure = Some(match p["reason"].as_str() {
                        Some(r) => format!("{status}: {r}"),
                        None => status.replace('_', " "),
                    });
                }
            }
            "escalated" => t.escalated = p["reason"].as_str().map(str::to_string),
            _ => {}
        }
    }
    for t in by.values_mut() {
        let Some(r) = records.get(&t.identifier) else {
            continue;
        };
        t.state = r.state.clone();
        t.phase = r.phase.label().to_string();
        if let Phase::RetryWaiting {
            attempt, due_at, ..
        } = &r.phase
        {
            t.retry = Some((*attempt, *due_at));
        }
    }
    Summary {
        tickets: by.into_values().collect(),
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs: u32 = self.tickets.iter().map(|t| t.runs).sum();
        let failed: u32 = self.tickets.iter().map(|t| t.failures).sum();
        let escalated = self
            .tickets
            .iter()
            .filter(|t| t.escalated.is_some())
            .count();
        writeln!(
            f,
            "karajan run --once: {} ticket(s), {runs} run(s), {failed} failed, {escalated} escalated",
            self.tickets.len()
        )?;
        let width = self
            .tickets
            .iter()
            .map(|t| t.identifier.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        for t in &self.tickets {
            write!(
                f,
                "  {:<width$}  {} ({})  runs {}  failed {}",
                t.identifier, t.state, t.phase, t.runs, t.failures
            )?;
            if let Some((attempt, due)) = t.retry {
                write!(
                    f,
                    "  retry (attempt {attempt}) due {}",
                    due.format("%Y-%m-%d %H:%M:%S UTC")
                )?;
            }
            if let Some(reason) = &t.escalated {
                write!(f, "  escalated: {reason}")?;
            } else if let Some(why) = &t.last_failure {
                write!(f, "  last failure: {why}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(seq: i64, issue: &str, kind: &str, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            seq,
            at: Utc::now(),
            issue: Some(issue.into()),
            kind: kind.into(),
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn failures_retries_and_escalations_are_counted_per_ticket() {
        let due = Utc::now();
        let mut a = IssueRecord::new("A-1", "a", "implement", due);
        a.phase = Phase::RetryWaiting {
            attempt: 2,
            due_at: due,
            error: "x".into(),
        };
        let mut b = IssueRecord::new("B-1", "b", "review", due);
        b.phase = Phase::Waiting;
        let records: BTreeMap<_, _> = [("A-1".to_string(), a), ("B-1".to_string(), b)].into();
        let events = vec![
            ev(5, "A-1", "run_started", json!({})),
            ev(
                6,
                "A-1",
                "run_finished",
                json!({"status": "failed", "reason": "API error 500"}),
            ),
            ev(7, "B-1", "run_started", json!({})),
            ev(8, "B-1", "run_finished", json!({"status": "succeeded"})),
            ev(9, "B-1", "run_started", json!({})),
            ev(
                10,
                "B-1",
                "run_finished",
                json!({"status": "cancelled", "reason": "shutdown"}),
            ),
        ];
        let s = fold(&events, &records);
        assert!(!s.is_clean());
        let a = &s.tickets[0];
        assert_eq!((a.runs, a.failures), (1, 1));
        assert_eq!(a.last_failure.as_deref(), Some("failed: API error 500"));
        assert_eq!(a.retry, Some((2, due)));
        let b = &s.tickets[1];
        assert_eq!((b.runs, b.failures), (2, 0), "a cancellation is no failure");
        let text = s.to_string();
        assert!(
            text.contains(
                "A-1  implement (retry_waiting)  runs 1  failed 1  retry (attempt 2) due"
            ),
            "{text}"
        );
        assert!(
            text.contains("last failure: failed: API error 500"),
            "{text}"
        );
        let clean = fold(&events[2..4], &records);
        assert!(clean.is_clean());
    }

    #[test]
    fn an_escalation_alone_is_not_clean() {
        let events = vec![ev(1, "A-1", "escalated", json!({"reason": "budget"}))];
        let s = fold(&events, &BTreeMap::new());
        assert!(!s.is_clean());
        assert!(s.to_string().contains("escalated: budget"));
    }
}
