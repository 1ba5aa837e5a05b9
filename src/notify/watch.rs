//! From recorded events to notifications: which kinds matter, a gate entry announced
//! only once the ticket has waited `gate_delay` there (any later transition of the
//! ticket cancels it), and failed runs announced once `failure_streak` of them come in
//! a row (a succeeded run resets the count).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::payload::Notification;
use crate::config::NotifyTarget;
use crate::store::StoredEvent;

/// The recorded kinds the watcher reads (everything else is never queued).
pub(crate) fn notable(kind: &str) -> bool {
    matches!(
        kind,
        "transition"
            | "escalated"
            | "budget_decision"
            | "runner_paused"
            | "run_finished"
            | "daemon_stopped"
    )
}

/// The watcher's memory: gates waiting for their delay, and the failure streak.
pub(crate) struct Watch {
    delay: Duration,
    streak_len: u32,
    /// Ticket → (gate, since, due).
    gates: HashMap<String, (String, chrono::DateTime<chrono::Utc>, Instant)>,
    failed_in_a_row: u32,
}

impl Watch {
    pub fn new(delay: Duration, streak_len: u32) -> Watch {
        Watch {
            delay,
            streak_len: streak_len.max(1),
            gates: HashMap::new(),
            failed_in_a_row: 0,
        }
    }

    /// What one event announces now (gate entries are only remembered).
    pub fn on_event(&mut self, e: &StoredEvent) -> Option<Notification> {
        let ticket = e.issue.clone();
        let p = &e.payload;
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let who = ticket.as_deref().unwrap_or("karajan");
        let (event, text) = match e.kind.as_str() {
            "transition" => {
                let id = ticket.clone()?;
                self.gates.remove(&id);
                if p.get("to_kind").and_then(Value::as_str) == Some("gate") {
                    self.gates
                        .insert(id, (s("to"), e.at, Instant::now() + self.delay));
                }
                return None;
            }
            "escalated" => (
                "escalated",
                format!("{who} needs a human decision: {}", s("reason")),
            ),
            "budget_decision" => {
                let action = s("action");
                if !matches!(
                    action.as_str(),
                    "stopped_run" | "refused_run" | "dispatch_paused"
                ) {
                    return None;
                }
                let f = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                (
                    "budget_stop",
                    format!(
                        "{who}: the {} budget stopped work ({}: ${:.2} spent of ${:.2})",
                        s("scope"),
                        action.replace('_', " "),
                        f("spent_usd"),
                        f("limit_usd")
                    ),
                )
            }
            "runner_paused" => (
                "usage_limit",
                format!(
                    "runner `{}` hit its usage limit; paused until {} ({})",
                    s("runner"),
                    s("until"),
                    s("reason")
                ),
            ),
            "run_finished" => match s("status").as_str() {
                "succeeded" => {
                    self.failed_in_a_row = 0;
                    return None;
                }
                "failed" | "stalled" | "timed_out" | "max_turns" => {
                    self.failed_in_a_row += 1;
                    if self.failed_in_a_row != self.streak_len {
                        return None;
                    }
                    (
                        "failure_streak",
                        format!(
                            "{} runs failed in a row (the last: {who}, {})",
                            self.streak_len,
                            s("status").replace('_', " ")
                        ),
                    )
                }
                _ => return None,
            },
            "daemon_stopped" => (
                "daemon_stopped",
                format!("karajan stopped ({})", s("reason")),
            ),
            _ => return None,
        };
        Some(Notification {
            event,
            ticket,
            text,
            at: e.at,
            details: p.clone(),
        })
    }

    /// When the next gate falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.gates.values().map(|(_, _, due)| *due).min()
    }

    /// The gates whose delay has passed, announced and forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<Notification> {
        let ids: Vec<String> = self
            .gates
            .iter()
            .filter(|(_, (_, _, due))| *due <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out: Vec<Notification> = ids
            .into_iter()
            .filter_map(|id| {
                let (gate, since, _) = self.gates.remove(&id)?;
                Some(Notification {
                    event: "gate_waiting",
                    text: format!(
                        "{id} has been waiting at `{gate}` for {}",
                        humantime::format_duration(self.delay)
                    ),
                    ticket: Some(id),
                    at: chrono::Utc::now(),
                    details: serde_json::json!({ "state": gate, "since": since }),
                })
            })
            .collect();
        out.sort_by(|a, b| a.ticket.cmp(&b.ticket));
        out
    }
}

/// The watcher task: events in, notifications out to each target that wants them.
pub(crate) async fn run(
    mut rx: mpsc::Receiver<StoredEvent>,
    closing: CancellationToken,
    targets: Vec<(NotifyTarget, mpsc::Sender<Notification>)>,
    delay: Duration,
    streak: u32,
) {
    let mut watch = Watch::new(delay, streak);
    let send = |n: Notification| {
        for (t, tx) in &targets {
            if t.wants(n.event) && tx.try_send(n.clone()).is_err() {
                tracing::warn!(notify_target = %t.name, event = n.event, "notification queue full; not sent");
            }
        }
    };
    loop {
        let due = watch.next_due();
        tokio::select! {
            e = rx.recv() => match e {
                Some(e) => { if let Some(n) = watch.on_event(&e) { send(n) } }
                None => break,
            },
            () = async { tokio::time::sleep_until(due.unwrap_or_else(Instant::now)).await }, if due.is_some() => {
                watch.due(Instant::now()).into_iter().for_each(&send);
            }
            () = closing.cancelled() => {
                while let Ok(e) = rx.try_recv() {
                    if let Some(n) = watch.on_event(&e) { send(n) }
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, issue: Option<&str>, payload: Value) -> StoredEvent {
        StoredEvent {
            seq: 1,
            at: chrono::Utc::now(),
            issue: issue.map(str::to_string),
            kind: kind.into(),
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn enter(id: &str, to: &str, kind: &str) -> StoredEvent {
        event("transition", Some(id), json!({"to": to, "to_kind": kind}))
    }

    fn run(status: &str) -> StoredEvent {
        event("run_finished", Some("ENG-1"), json!({"status": status}))
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_is_announced_after_its_delay_unless_the_ticket_moved_on() {
        let mut w = Watch::new(Duration::from_secs(600), 3);
        let start = Instant::now();
        assert_eq!(w.on_event(&enter("ENG-1", "review", "gate")), None);
        assert_eq!(w.on_event(&enter("ENG-2", "review", "gate")), None);
        assert_eq!(w.next_due(), Some(start + Duration::from_secs(600)));
        tokio::time::advance(Duration::from_secs(300)).await;
        // ENG-2 was approved before the delay: it is never announced.
        assert_eq!(w.on_event(&enter("ENG-2", "done", "terminal")), None);
        assert!(w.due(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(w.due(Instant::now()).is_empty(), "not before the delay");
        tokio::time::advance(Duration::from_secs(1)).await;
        let due = w.due(Instant::now());
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event, "gate_waiting");
        assert_eq!(due[0].ticket.as_deref(), Some("ENG-1"));
        assert_eq!(due[0].text, "ENG-1 has been waiting at `review` for 10m");
        assert_eq!(w.next_due(), None, "announced once");
    }

    #[test]
    fn a_failure_streak_is_announced_once_when_it_reaches_its_length() {
        let mut w = Watch::new(Duration::from_secs(1), 3);
        let events: Vec<_> = [
            "failed",
            "stalled",
            "succeeded",
            "failed",
            "timed_out",
            "failed",
            "failed",
        ]
        .iter()
        .map(|s| w.on_event(&run(s)).map(|n| n.event))
        .collect();
        assert_eq!(
            events,
            vec![None, None, None, None, None, Some("failure_streak"), None]
        );
    }

    #[test]
    fn escalations_budget_stops_pauses_and_the_stop_are_announced() {
        let mut w = Watch::new(Duration::from_secs(1), 3);
        let n = w
            .on_event(&event(
                "escalated",
                Some("ENG-3"),
                json!({"reason": "3 failed attempts"}),
            ))
            .unwrap();
        assert_eq!(n.text, "ENG-3 needs a human decision: 3 failed attempts");
        let budget = |action| {
            event(
                "budget_decision",
                None,
                json!({"scope": "day", "action": action, "spent_usd": 12.5, "limit_usd": 10.0}),
            )
        };
        assert_eq!(
            w.on_event(&budget("dispatch_paused")).unwrap().event,
            "budget_stop"
        );
        assert_eq!(w.on_event(&budget("dispatch_resumed")), None);
        let paused = event(
            "runner_paused",
            None,
            json!({"runner": "claude", "until": "2026-01-01T00:00:00Z", "reason": "quota"}),
        );
        assert_eq!(w.on_event(&paused).unwrap().event, "usage_limit");
        let stop = event("daemon_stopped", None, json!({"reason": "stopped"}));
        assert_eq!(w.on_event(&stop).unwrap().text, "karajan stopped (stopped)");
        assert!(!notable("agent_event") && !notable("notification_sent"));
    }
}
