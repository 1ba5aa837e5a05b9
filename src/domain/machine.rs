//! The compiled workflow state machine: states, their columns, and the transition table.
//!
//! `config` builds a `Machine` from `workflow.yaml` after validation, so everything here
//! may assume the targets exist. The machine answers the questions `decide` asks: which
//! column a state lives in, which state a terminal column means, where a gate leads.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Lifecycle roles mapped to the tracker's column names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    pub todo: String,
    pub active: String,
    pub review: String,
    pub approved: String,
    pub rework: String,
    pub done: String,
    /// Further columns that end a ticket (e.g. `Canceled`), besides `done`.
    pub terminal: Vec<String>,
}

impl Columns {
    pub fn is_terminal(&self, column: &str) -> bool {
        column == self.done || self.terminal.iter().any(|c| c == column)
    }

    /// Every column karajan reads candidates from.
    pub fn watched(&self) -> Vec<String> {
        let mut all = vec![
            self.todo.clone(),
            self.active.clone(),
            self.review.clone(),
            self.approved.clone(),
            self.rework.clone(),
        ];
        all.dedup();
        all
    }

    /// Every terminal column.
    pub fn terminal_all(&self) -> Vec<String> {
        let mut all = vec![self.done.clone()];
        all.extend(self.terminal.iter().cloned());
        all
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Agent,
    Gate,
    Terminal,
}

/// One state with its edges. Columns are resolved (defaults applied) by config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateSpec {
    Agent {
        /// Where a successful run leads (for a review state: its `approve` verdict).
        next: String,
        column: String,
        /// `verdicts:`: the run ends with a reviewer's verdict that routes the ticket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review: Option<Review>,
    },
    Gate {
        approve: String,
        rework: String,
        max_rework: u32,
        column: String,
        /// `merge:`: an approval merges the ticket's pull request before the ticket
        /// moves on (see `decide`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merge: Option<MergePolicy>,
        /// `checks:` / `reviews:`: the ticket's pull request decides this gate too (its
        /// checks, its reviews); see `orchestrator::pr_watch`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<PrWatch>,
    },
    Terminal {
        column: String,
    },
}

/// A review state's routing: `approve` goes to the state's `next`; `needs_revision` to
/// `needs_revision`, at most `max_rounds` times in a row before a human is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub needs_revision: String,
    pub max_rounds: u32,
}

/// How a gate's approval merges the ticket's pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergePolicy {
    /// `merge`, `squash` or `rebase` (GitHub's `merge_method`).
    pub method: String,
    /// A merge GitHub refuses (conflicts, failing required checks, protection) sends the
    /// ticket to the gate's rework target with the reason as feedback; otherwise
    /// (the default) it is escalated to a human.
    pub rework_on_failure: bool,
}

/// What of the ticket's pull request a gate waits on (`checks:`, `reviews:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrWatch {
    /// `checks: required`: the head's checks approve (all green) or send back (one failed).
    pub checks: bool,
    /// Pending checks longer than this since the gate was entered escalate.
    pub checks_timeout_secs: u64,
    /// Who approves: a tracker move, a pull-request review, or either.
    pub reviews: ReviewSource,
    /// Only these logins' reviews count; empty: everyone's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers: Vec<String>,
}

/// `reviews:` of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewSource {
    /// A human's column move (or the dashboard) approves; reviews are not read.
    Tracker,
    /// Only a pull-request review (or the dashboard) approves: a move to the approved
    /// column waits.
    PullRequest,
    /// Either approves.
    Either,
}

impl PrWatch {
    /// Whether a human's move to the approved column approves the gate.
    pub fn column_approves(&self) -> bool {
        self.reviews != ReviewSource::PullRequest
    }

    /// Whether the pull request's reviews are read.
    pub fn reads_reviews(&self) -> bool {
        self.reviews != ReviewSource::Tracker
    }
}

impl StateSpec {
    pub fn kind(&self) -> StateKind {
        match self {
            StateSpec::Agent { .. } => StateKind::Agent,
            StateSpec::Gate { .. } => StateKind::Gate,
            StateSpec::Terminal { .. } => StateKind::Terminal,
        }
    }

    /// The column a ticket in this state is expected to be in.
    pub fn column(&self) -> &str {
        match self {
            StateSpec::Agent { column, .. }
            | StateSpec::Gate { column, .. }
            | StateSpec::Terminal { column } => column,
        }
    }

    /// The states this one can lead to.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            StateSpec::Agent { next, review, .. } => {
                let mut t = vec![next.as_str()];
                t.extend(review.as_ref().map(|r| r.needs_revision.as_str()));
                t
            }
            StateSpec::Gate {
                approve, rework, ..
            } => vec![approve.as_str(), rework.as_str()],
            StateSpec::Terminal { .. } => vec![],
        }
    }
}

/// The whole machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub entry: String,
    pub states: IndexMap<String, StateSpec>,
    pub columns: Columns,
    /// Failed attempts of one agent state before the ticket is escalated to a human.
    pub max_attempts: u32,
}

impl Machine {
    pub fn state(&self, name: &str) -> Option<&StateSpec> {
        self.states.get(name)
    }

    /// The machine as an operator or a pull-request source decides with it: the
    /// approved column approves every gate (`reviews: pull_request` only keeps a
    /// human's *tracker* move from approving; a decision taken for them does).
    pub fn for_gate_action(&self) -> Machine {
        let mut m = self.clone();
        for spec in m.states.values_mut() {
            if let StateSpec::Gate { watch: Some(w), .. } = spec
                && !w.column_approves()
            {
                w.reviews = ReviewSource::Either;
            }
        }
        m
    }

    /// The terminal state a terminal column stands for: the terminal state that lives in
    /// that column, else the first terminal state.
    pub fn terminal_for_column(&self, column: &str) -> Option<&str> {
        let mut first = None;
        for (name, spec) in &self.states {
            if let StateSpec::Terminal { column: c } = spec {
                if c == column {
                    return Some(name);
                }
                first.get_or_insert(name.as_str());
            }
        }
        first
    }

    /// States that cannot be reached from the entry state.
    pub fn unreachable(&self) -> Vec<String> {
        let mut seen = vec![self.entry.clone()];
        let mut stack = vec![self.entry.clone()];
        while let Some(s) = stack.pop() {
            if let Some(spec) = self.states.get(&s) {
                for t in spec.targets() {
                    if !seen.iter().any(|x| x == t) {
                        seen.push(t.to_string());
                        stack.push(t.to_string());
                    }
                }
            }
        }
        self.states
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect()
    }

    /// The transitions available from a state, as `(event, target)` pairs, for prompts.
    pub fn transitions_from(&self, name: &str) -> Vec<(String, String)> {
        match self.states.get(name) {
            Some(StateSpec::Agent {
                next,
                review: Some(r),
                ..
            }) => vec![
                ("verdict_approve".into(), next.clone()),
                ("verdict_needs_revision".into(), r.needs_revision.clone()),
            ],
            Some(StateSpec::Agent { next, .. }) => vec![("finish".into(), next.clone())],
            Some(StateSpec::Gate {
                approve, rework, ..
            }) => vec![
                ("approve".into(), approve.clone()),
                ("rework".into(), rework.clone()),
            ],
            _ => vec![],
        }
    }
}
