//! What travels between the lease holder and the node that runs an agent, as JSON in
//! the `run_queue` and `run_reports` rows (see `queue`).
//!
//! - [`RunPlan`]: everything the holder decided about a run (the owner's part of
//!   `orchestrator::runs`): the ticket as read, the state, the run's id and number, the
//!   prompt's context, the branch, the session to resume, the cost cap. What follows
//!   from the workflow (runner, hooks, workspace and log paths, environment) the
//!   claimant takes from its own copy, which has the same digest, so no path or
//!   environment of the holder's host ever reaches another host.
//! - [`Report`]: what the claimant reports back, in order: batches of events for the
//!   chain, the agent's live activity (the dashboard's running row), and the run's end
//!   ([`RemoteDone`]), which the holder turns into the same `RunDone` a local run
//!   task hands it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::{RunEvent, RunOutcome};
use crate::domain::evidence::RunEvidence;
use crate::domain::run::Accounting;
use crate::domain::verdict::{Given, Source, Verdict};
use crate::domain::{RunStatus, TicketSnapshot, TokenUsage};
use crate::orchestrator::{Heads, RunDone};
use crate::prompt::PromptContext;
use crate::store::NewEvent;

/// A run as the holder decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub snapshot: TicketSnapshot,
    pub state: String,
    pub run_id: String,
    pub run_number: u32,
    pub attempt: u32,
    pub ctx: PromptContext,
    pub branch: String,
    pub resume_session: Option<String>,
    pub resume_usage: Option<TokenUsage>,
    pub max_cost_usd: Option<f64>,
    /// The run's decision entered its state (the state's entry hook runs with it).
    pub entered: bool,
}

/// One report row's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Report {
    /// Events to append to the chain, in one transaction, as the claimant's run task
    /// would have recorded them (already scrubbed of the claimant's secrets).
    Events(Vec<WireEvent>),
    /// What the agent is doing, for the live row (never recorded).
    Activity(Vec<RunEvent>),
    /// The run ended.
    Done(Box<RemoteDone>),
}

impl Report {
    /// The `run_reports.kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Events(_) => "events",
            Report::Activity(_) => "activity",
            Report::Done(_) => "done",
        }
    }
}

/// A [`NewEvent`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    pub issue: Option<String>,
    pub kind: crate::store::EventKind,
}

impl From<NewEvent> for WireEvent {
    fn from(e: NewEvent) -> Self {
        WireEvent {
            issue: e.issue,
            kind: e.kind,
        }
    }
}

impl From<WireEvent> for NewEvent {
    fn from(e: WireEvent) -> Self {
        NewEvent {
            issue: e.issue,
            kind: e.kind,
        }
    }
}

/// How a remote run ended: a `RunDone` on the wire, and what the claimant did after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteDone {
    /// The node that ran it.
    pub node: String,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub turns: Option<u32>,
    pub session_id: Option<String>,
    pub resume_fallback: Option<String>,
    pub accounting: Accounting,
    pub final_message: Option<String>,
    pub model: Option<String>,
    pub branch: Option<String>,
    pub head_before: Option<String>,
    pub head_after: Option<String>,
    pub verdict: Option<(Verdict, Source)>,
    pub evidence: Option<RunEvidence>,
    /// With a forge, the claimant pushed the branch itself (the holder's host does not
    /// have the commits): `None` when nothing was to be pushed, else git's answer.
    pub pushed: Option<Result<(), String>>,
}

impl RemoteDone {
    /// What `node`'s run task handed back, with its push.
    pub fn new(node: &str, done: RunDone) -> RemoteDone {
        let o = done.outcome;
        RemoteDone {
            node: node.to_string(),
            status: o.status,
            exit_code: o.exit_code,
            signal: o.signal,
            duration_ms: u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
            tokens: o.tokens,
            cost_usd: o.cost_usd,
            turns: o.turns,
            session_id: o.session_id,
            resume_fallback: o.resume_fallback,
            accounting: o.accounting,
            final_message: o.final_message,
            model: o.model,
            branch: done.heads.branch,
            head_before: done.heads.before,
            head_after: done.heads.after,
            verdict: done.verdict.map(|g| (g.verdict, g.source)),
            evidence: done.evidence,
            pushed: done.heads.pushed,
        }
    }

    /// The `RunDone` the holder's engine finishes, for the ticket `identifier`.
    pub fn into_done(self, identifier: &str, run_id: &str) -> RunDone {
        RunDone {
            tail: vec![],
            identifier: identifier.to_string(),
            run_id: run_id.to_string(),
            outcome: RunOutcome {
                status: self.status,
                exit_code: self.exit_code,
                signal: self.signal,
                duration: Duration::from_millis(self.duration_ms),
                tokens: self.tokens,
                cost_usd: self.cost_usd,
                turns: self.turns,
                session_id: self.session_id,
                resume_fallback: self.resume_fallback,
                accounting: self.accounting,
                final_message: self.final_message,
                model: self.model,
            },
            heads: Heads {
                branch: self.branch,
                before: self.head_before,
                after: self.head_after,
                pushed: self.pushed,
            },
            verdict: self
                .verdict
                .map(|(verdict, source)| Given { verdict, source }),
            evidence: self.evidence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_run_crosses_the_wire_unchanged() {
        let done = RunDone {
            tail: vec![],
            identifier: "ENG-1".into(),
            run_id: "r1".into(),
            outcome: RunOutcome {
                status: RunStatus::Failed {
                    reason: "exit 2".into(),
                },
                exit_code: Some(2),
                signal: None,
                duration: Duration::from_millis(1234),
                tokens: TokenUsage {
                    input: 10,
                    output: 3,
                    ..Default::default()
                },
                cost_usd: Some(0.30000000000000004),
                turns: Some(2),
                session_id: Some("s-1".into()),
                resume_fallback: None,
                accounting: Accounting::default(),
                final_message: Some("bye".into()),
                model: Some("m".into()),
            },
            heads: Heads {
                branch: Some("karajan/eng-1".into()),
                before: Some("a".repeat(40)),
                after: Some("b".repeat(40)),
                pushed: Some(Err("rejected".into())),
            },
            verdict: None,
            evidence: None,
        };
        let wire = Report::Done(Box::new(RemoteDone::new("n2", done)));
        let text = serde_json::to_string(&wire).unwrap();
        let Report::Done(back) = serde_json::from_str::<Report>(&text).unwrap() else {
            panic!("{text}")
        };
        assert_eq!(back.node, "n2");
        let done = back.into_done("ENG-1", "r1");
        assert_eq!(done.outcome.duration, Duration::from_millis(1234));
        assert_eq!(done.outcome.cost_usd, Some(0.30000000000000004));
        assert_eq!(done.outcome.session_id.as_deref(), Some("s-1"));
        assert_eq!(done.heads.after, Some("b".repeat(40)));
        assert_eq!(done.heads.pushed, Some(Err("rejected".into())));
    }
}
