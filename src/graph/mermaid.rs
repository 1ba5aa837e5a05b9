//! A [`Graph`] as a Mermaid `flowchart` (renders on GitHub, GitLab and in most
//! Markdown viewers inside a ```` ```mermaid ```` block).
//!
//! Shapes: an agent state is a rounded box, a gate a hexagon, a terminal state a
//! stadium; `start` a circle, `any state` a parallelogram, `escalated` a flag. Rework
//! and escalation edges are dotted (and coloured by `linkStyle`). Node ids are `s0`,
//! `s1`, … so that no state name can break the syntax; every label is quoted and its
//! special characters are written as Mermaid entity codes (`#quot;`, `#lt;`, …).

use std::fmt::Write;

use super::{EdgeKind, Graph, NodeKind};

/// The flowchart text (ends with a newline).
pub fn render(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        let text = escape(graph.caption(i));
        let key = super::Node::key(i);
        let shape = match node.kind {
            NodeKind::Agent => format!("{key}(\"{text}\")"),
            NodeKind::Gate => format!("{key}{{{{\"{text}\"}}}}"),
            NodeKind::Terminal => format!("{key}([\"{text}\"])"),
            NodeKind::Start => format!("{key}((\"{text}\"))"),
            NodeKind::Anywhere => format!("{key}[/\"{text}\"/]"),
            NodeKind::Escalated => format!("{key}>\"{text}\"]"),
        };
        let _ = writeln!(out, "    {shape}:::{}", node.kind.as_str());
    }
    for e in &graph.edges {
        let arrow = match e.kind {
            EdgeKind::Rework | EdgeKind::Escalate => "-.->",
            _ => "-->",
        };
        let _ = writeln!(
            out,
            "    {} {arrow}|\"{}\"| {}",
            super::Node::key(e.from),
            escape(&e.label),
            super::Node::key(e.to)
        );
    }
    for (kind, style) in [
        ("agent", "fill:#dbe7ff,stroke:#2458d6"),
        ("gate", "fill:#fff0c2,stroke:#a15c00"),
        ("terminal", "fill:#e3f4e8,stroke:#1b7f3b"),
        ("start", "fill:#1d1f21,stroke:#1d1f21,color:#ffffff"),
        ("anywhere", "fill:#f2f3f5,stroke:#6b7076"),
        ("escalated", "fill:#fde8e6,stroke:#b3261e"),
    ] {
        let _ = writeln!(out, "    classDef {kind} {style}");
    }
    for (color, kind) in [
        ("#a15c00", EdgeKind::Rework),
        ("#b3261e", EdgeKind::Escalate),
    ] {
        let ids: Vec<String> = graph
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == kind)
            .map(|(i, _)| i.to_string())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "    linkStyle {} stroke:{color}", ids.join(","));
        }
    }
    out
}

/// Text for inside a quoted Mermaid label: the characters Mermaid or its HTML labels
/// would read as syntax become entity codes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
