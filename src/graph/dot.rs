//! A [`Graph`] in Graphviz DOT (`karajan graph --format dot | dot -Tsvg > workflow.svg`).
//!
//! Shapes: an agent state is a rounded box, a gate a hexagon, a terminal state a
//! double-bordered box; `start` a dot, `any state` a parallelogram, `escalated` an
//! octagon. Rework edges are dashed, escalations dotted. Node ids are `s0`, `s1`, …;
//! every label is a quoted string with `\` and `"` escaped (so no state name can end
//! the string or inject an escape such as `\N`).

use std::fmt::Write;

use super::{EdgeKind, Graph, NodeKind};

/// The `digraph` text (ends with a newline).
pub fn render(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph workflow {\n    rankdir=LR;\n    node [fontname=\"Helvetica\", fontsize=11];\n    edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for (i, node) in graph.nodes.iter().enumerate() {
        let attrs = match node.kind {
            NodeKind::Agent => "shape=box, style=\"rounded,filled\", fillcolor=\"#dbe7ff\"",
            NodeKind::Gate => "shape=hexagon, style=filled, fillcolor=\"#fff0c2\"",
            NodeKind::Terminal => "shape=box, peripheries=2, style=filled, fillcolor=\"#e3f4e8\"",
            NodeKind::Start => {
                "shape=circle, style=filled, fillcolor=black, fontcolor=white, width=0.3"
            }
            NodeKind::Anywhere => "shape=parallelogram, style=dashed",
            NodeKind::Escalated => "shape=octagon, style=filled, fillcolor=\"#fde8e6\"",
        };
        let _ = writeln!(
            out,
            "    {} [label=\"{}\", {attrs}];",
            super::Node::key(i),
            escape(graph.caption(i))
        );
    }
    for e in &graph.edges {
        let style = match e.kind {
            EdgeKind::Rework => ", style=dashed, color=\"#a15c00\", fontcolor=\"#a15c00\"",
            EdgeKind::Escalate => ", style=dotted, color=\"#b3261e\", fontcolor=\"#b3261e\"",
            EdgeKind::Moved => ", style=dashed, color=\"#6b7076\"",
            _ => "",
        };
        let _ = writeln!(
            out,
            "    {} -> {} [label=\"{}\"{style}];",
            super::Node::key(e.from),
            super::Node::key(e.to),
            escape(&e.label)
        );
    }
    out.push_str("}\n");
    out
}

/// Text for inside a DOT double-quoted string.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
