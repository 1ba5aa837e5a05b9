//! What `decide` asks the orchestrator to do.

use serde::{Deserialize, Serialize};

/// Why a ticket entered a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// Picked up from the todo column.
    Picked,
    /// The previous agent state's run finished.
    AgentFinished { run_id: String },
    /// A human approved the gate (or an escalation).
    Approved { gate: String },
    /// A human asked for rework at a gate; `count` is that gate's count after this one.
    Rework { gate: String, count: u32 },
    /// A human moved the ticket to a column that means this state.
    HumanMoved { column: String },
    /// A human moved the ticket back to todo: the machine starts over.
    Restarted,
}

impl std::fmt::Display for Cause {
    /// In words, for logs and comments: `picked up`, `the agent finished (run r-…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Picked => f.write_str("picked up"),
            Cause::AgentFinished { run_id } => write!(f, "the agent finished (run {run_id})"),
            Cause::Approved { gate } => write!(f, "approved at `{gate}`"),
            Cause::Rework { gate, count } => write!(f, "rework #{count} requested at `{gate}`"),
            Cause::HumanMoved { column } => write!(f, "moved to `{column}` by a human"),
            Cause::Restarted => f.write_str("moved back to todo, starting over"),
        }
    }
}

/// Why a run is stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The ticket reached a terminal column.
    Terminal,
    /// The ticket left the state's column.
    LeftColumn,
    /// The machine restarted the ticket.
    Restarted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Terminal => "the ticket reached a terminal column",
            StopReason::LeftColumn => "the ticket left its state's column",
            StopReason::Restarted => "the ticket was moved back to todo",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Record a transition into `to`. Rework counts and attempts update with it.
    Enter { to: String, cause: Cause },
    /// Start (or retry) the agent of the current state. Subject to concurrency caps.
    StartRun { state: String, attempt: u32 },
    /// Stop the ticket's live run.
    StopRun { run_id: String, reason: StopReason },
    /// Move the ticket to a tracker column (an intent).
    Move { column: String },
    /// Comment on the ticket (an intent).
    Comment { body: String },
    /// Remove the ticket's workspace (after `before_remove`).
    CleanWorkspace,
    /// Run the `on_stage_enter` hook for the state just entered.
    StageEnterHook { state: String },
    /// The ticket sits in an unexpected column; note it once and wait.
    Hold { column: String },
    /// The ticket is back where its state expects it.
    Resume,
    /// Hand the ticket to a human (moved to the review column with a comment).
    Escalate { reason: String },
    /// Merge the ticket's pull request (an intent) before an approval takes effect: the
    /// gate is approved again once the record says it is merged.
    MergePullRequest { method: String },
}
