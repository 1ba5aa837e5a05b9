//! The workflow's state machine as a picture: the nodes and labelled edges that
//! `karajan graph` prints (Mermaid, DOT) and the dashboard draws (SVG, `layout` +
//! `web::diagram`).
//!
//! Why a model of its own: `Machine::targets` lists where a state's *own* edges lead,
//! but `decide` can take more than that, and a picture that leaves those out lies to
//! the reader. [`Graph::of`] lists every move `decide` (and the pull-request watch that
//! feeds it) can make, with the same words the ticket comments use:
//!
//! - **start** → the entry state: a ticket picked from the todo column;
//! - an agent state → `next`: the run finished (a review state: the verdict
//!   `approve`; and `needs_revision` → its target, at most `max_rounds` times in a row);
//! - a gate → `approve` / `rework` (at most `max_rework` times), with what else approves
//!   or sends back (green or failing checks, a pull-request review, a refused merge);
//! - **any state** → the entry state (moved back to the todo column) and → each
//!   terminal state (moved to its column): a human's move in the tracker ends or
//!   restarts a ticket from wherever it is;
//! - a state → **escalated**: what hands a ticket to a human (failed attempts, a budget
//!   stop, a review without verdict or past its rounds, a gate past its rework limit, a
//!   refused merge, checks pending too long). The ticket stays in its state; a human
//!   then approves (it moves on along the state's approve/next edge) or asks for rework
//!   (an agent state runs again, a gate follows its rework edge), so no further edge is
//!   drawn from it.
//!
//! Everything here is pure; [`mermaid`] and [`dot`] are text renderings of a [`Graph`].

pub mod dot;
pub mod layout;
pub mod mermaid;

use crate::domain::{Machine, StateKind, StateSpec};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Agent,
    Gate,
    Terminal,
    /// Where tickets come in (the todo column).
    Start,
    /// Any state: a human's move in the tracker.
    Anywhere,
    /// Handed to a human (escalated).
    Escalated,
}

impl NodeKind {
    /// The word used in classes and legends.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Agent => "agent",
            NodeKind::Gate => "gate",
            NodeKind::Terminal => "terminal",
            NodeKind::Start => "start",
            NodeKind::Anywhere => "anywhere",
            NodeKind::Escalated => "escalated",
        }
    }

    /// A state of the workflow (not one of the pseudo nodes).
    pub fn is_state(self) -> bool {
        matches!(self, NodeKind::Agent | NodeKind::Gate | NodeKind::Terminal)
    }
}

/// One node: a state of the machine or a pseudo node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The state's name (pseudo nodes: `[start]`, `[any]`, `[escalated]`, which no
    /// state name can collide with in output: renderers use [`Node::key`]).
    pub name: String,
    pub kind: NodeKind,
}

impl Node {
    /// A short identifier safe in every output format: `s0`, `s1`, … by position.
    pub fn key(index: usize) -> String {
        format!("s{index}")
    }
}

/// What moves a ticket along an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Picked from the todo column.
    Start,
    /// An agent run finished.
    Next,
    /// A review's `approve` verdict.
    Verdict,
    /// A gate's approval.
    Approve,
    /// Back for rework: a gate's `rework`, a review's `needs_revision`.
    Rework,
    /// A human moved the ticket (to a terminal column, or back to todo).
    Moved,
    /// Handed to a human.
    Escalate,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Start => "start",
            EdgeKind::Next => "next",
            EdgeKind::Verdict => "verdict",
            EdgeKind::Approve => "approve",
            EdgeKind::Rework => "rework",
            EdgeKind::Moved => "moved",
            EdgeKind::Escalate => "escalate",
        }
    }
}

/// A labelled edge between two nodes (indices into [`Graph::nodes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    pub label: String,
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The pseudo node `start` first, then the states in the machine's order, then
    /// `any` and `escalated` (only when an edge uses them).
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// Every move `decide` can make in `machine` (see the module doc).
    pub fn of(machine: &Machine) -> Graph {
        let mut nodes = vec![Node {
            name: "[start]".into(),
            kind: NodeKind::Start,
        }];
        for (name, spec) in &machine.states {
            let kind = match spec.kind() {
                StateKind::Agent => NodeKind::Agent,
                StateKind::Gate => NodeKind::Gate,
                StateKind::Terminal => NodeKind::Terminal,
            };
            nodes.push(Node {
                name: name.clone(),
                kind,
            });
        }
        let any = nodes.len();
        nodes.push(Node {
            name: "[any]".into(),
            kind: NodeKind::Anywhere,
        });
        let human = nodes.len();
        nodes.push(Node {
            name: "[escalated]".into(),
            kind: NodeKind::Escalated,
        });
        let index = |name: &str| {
            nodes
                .iter()
                .position(|n| n.kind.is_state() && n.name == name)
        };
        let cols = &machine.columns;
        let mut edges = vec![];
        let mut push = |from: Option<usize>, to: Option<usize>, kind, label: String| {
            if let (Some(from), Some(to)) = (from, to) {
                edges.push(Edge {
                    from,
                    to,
                    kind,
                    label,
                });
            }
        };
        let entry = index(&machine.entry);
        push(
            Some(0),
            entry,
            EdgeKind::Start,
            format!("picked from {}", cols.todo),
        );
        for (name, spec) in &machine.states {
            let me = index(name);
            match spec {
                StateSpec::Agent {
                    next, review: None, ..
                } => {
                    push(me, index(next), EdgeKind::Next, "finished".into());
                    push(
                        me,
                        Some(human),
                        EdgeKind::Escalate,
                        format!("{} failed attempts · budget", machine.max_attempts),
                    );
                }
                StateSpec::Agent {
                    next,
                    review: Some(r),
                    ..
                } => {
                    push(me, index(next), EdgeKind::Verdict, "approve".into());
                    push(
                        me,
                        index(&r.needs_revision),
                        EdgeKind::Rework,
                        format!("needs_revision (≤ {} rounds)", r.max_rounds),
                    );
                    push(
                        me,
                        Some(human),
                        EdgeKind::Escalate,
                        format!(
                            "> {} rounds · no verdict · {} failed attempts · budget",
                            r.max_rounds, machine.max_attempts
                        ),
                    );
                }
                StateSpec::Gate {
                    approve,
                    rework,
                    max_rework,
                    merge,
                    watch,
                    ..
                } => {
                    let mut yes = vec![format!("moved to {}", cols.approved)];
                    let mut no = vec![format!("moved to {}", cols.rework)];
                    let mut up = vec![format!("rework > {max_rework}")];
                    if let Some(w) = watch {
                        if !w.column_approves() {
                            yes = vec![];
                        }
                        if w.checks {
                            yes.push("checks green".into());
                            no.push("a check failed".into());
                            up.push("checks pending too long".into());
                        }
                        if w.reads_reviews() {
                            yes.push("review approves".into());
                            no.push("changes requested".into());
                        }
                    }
                    let mut yes = yes.join(" · ");
                    if let Some(m) = merge {
                        yes.push_str(&format!(" → {} merge", m.method));
                        if m.rework_on_failure {
                            no.push("merge refused".into());
                        } else {
                            up.push("merge refused".into());
                        }
                    }
                    push(me, index(approve), EdgeKind::Approve, yes);
                    push(
                        me,
                        index(rework),
                        EdgeKind::Rework,
                        format!("{} (≤ {max_rework})", no.join(" · ")),
                    );
                    push(me, Some(human), EdgeKind::Escalate, up.join(" · "));
                }
                StateSpec::Terminal { .. } => {}
            }
        }
        push(
            Some(any),
            entry,
            EdgeKind::Moved,
            format!("moved to {}", cols.todo),
        );
        for column in cols.terminal_all() {
            if let Some(t) = machine.terminal_for_column(&column) {
                push(
                    Some(any),
                    index(t),
                    EdgeKind::Moved,
                    format!("moved to {column}"),
                );
            }
        }
        Graph { nodes, edges }.without_unused_pseudo_nodes()
    }

    /// Drop `any` / `escalated` when no edge touches them (indices are remapped).
    fn without_unused_pseudo_nodes(self) -> Graph {
        let used = |i: usize| self.edges.iter().any(|e| e.from == i || e.to == i);
        let keep: Vec<bool> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| n.kind.is_state() || n.kind == NodeKind::Start || used(i))
            .collect();
        let mut map = vec![usize::MAX; self.nodes.len()];
        let mut nodes = vec![];
        for (i, n) in self.nodes.into_iter().enumerate() {
            if keep[i] {
                map[i] = nodes.len();
                nodes.push(n);
            }
        }
        let edges = self
            .edges
            .into_iter()
            .map(|e| Edge {
                from: map[e.from],
                to: map[e.to],
                ..e
            })
            .collect();
        Graph { nodes, edges }
    }

    /// The node a pseudo node or state name stands for, if any.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The text a pseudo node shows (a state shows its name).
    pub fn caption(&self, index: usize) -> &str {
        let n = &self.nodes[index];
        match n.kind {
            NodeKind::Start => "start",
            NodeKind::Anywhere => "any state",
            NodeKind::Escalated => "escalated: a human decides",
            _ => &n.name,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
