//! The overview's state diagram: the workflow's machine drawn as SVG by karajan itself
//! (no script, no library, no network), with each state's live counts.
//!
//! The nodes and edges are `graph::Graph` (every move `decide` can make), placed by
//! `graph::layout` (deterministic, layered, back edges above); this file only measures
//! text, counts tickets per state from the read model and writes the SVG. The page
//! re-renders on every recorded event (see `assets/app.js`), so the counts follow the
//! tickets without code of their own here.
//!
//! Every text comes from the user's YAML (state and column names) and is escaped for
//! XML here ([`esc`]), in text and in attributes alike; the renderer's output is then
//! inserted unescaped (`| safe`) into the page. Styling is by class (`app.css`): the
//! page's CSP allows no inline style.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::domain::Machine;
use crate::graph::layout::{Lane, Layout, layout};
use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::orchestrator::StatusView;

/// Tickets in one state, by what they are doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct StateCounts {
    pub running: usize,
    pub waiting: usize,
    pub retrying: usize,
    pub escalated: usize,
    pub held: usize,
}

impl StateCounts {
    fn parts(&self) -> Vec<(&'static str, usize)> {
        [
            ("running", self.running),
            ("waiting", self.waiting),
            ("retrying", self.retrying),
            ("escalated", self.escalated),
            ("held", self.held),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    fn line(&self) -> String {
        let parts = self.parts();
        if parts.is_empty() {
            return "—".into();
        }
        parts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Each state's counts, from the read model.
pub(crate) fn counts(view: &StatusView) -> BTreeMap<String, StateCounts> {
    let mut m: BTreeMap<String, StateCounts> = BTreeMap::new();
    for r in &view.running {
        m.entry(r.state.clone()).or_default().running += 1;
    }
    for g in &view.gates {
        let c = m.entry(g.state.clone()).or_default();
        if g.escalated.is_some() {
            c.escalated += 1;
        } else {
            c.waiting += 1;
        }
    }
    for r in &view.retries {
        m.entry(r.state.clone()).or_default().retrying += 1;
    }
    for h in &view.held {
        m.entry(h.state.clone()).or_default().held += 1;
    }
    m
}

/// Text escaped for XML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Not allowed in XML at all.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// The rough width of `text` at `px` per character (a proportional font averages a
/// little over half its size; wide characters count double).
fn width(text: &str, px: f64) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { px } else { px * 1.6 })
        .sum()
}

/// `text` shortened with `…` to fit `room` pixels.
fn fit(text: &str, px: f64, room: f64) -> String {
    if width(text, px) <= room {
        return text.to_string();
    }
    let mut out = String::new();
    let ellipsis = width("…", px);
    for c in text.chars() {
        if width(&out, px) + width(c.encode_utf8(&mut [0; 4]), px) + ellipsis > room {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

const NAME_PX: f64 = 7.6;
const COUNT_PX: f64 = 6.4;
const LABEL_PX: f64 = 5.6;

fn size(graph: &Graph, i: usize, counts: &BTreeMap<String, StateCounts>) -> (f64, f64) {
    let node = &graph.nodes[i];
    let caption = graph.caption(i);
    if node.kind.is_state() {
        let line = counts.get(&node.name).copied().unwrap_or_default().line();
        let w = width(caption, NAME_PX).max(width(&line, COUNT_PX)) + 28.0;
        (w.max(104.0), 46.0)
    } else {
        ((width(caption, COUNT_PX) + 24.0).max(56.0), 28.0)
    }
}

/// The diagram of `machine` with `counts`, as an `<svg id="state-diagram">` element.
pub(crate) fn render(machine: &Machine, counts: &BTreeMap<String, StateCounts>) -> String {
    let graph = Graph::of(machine);
    let sizes: Vec<(f64, f64)> = (0..graph.nodes.len())
        .map(|i| size(&graph, i, counts))
        .collect();
    let labels: Vec<f64> = graph
        .edges
        .iter()
        .map(|e| width(&e.label, LABEL_PX))
        .collect();
    let l = layout(&graph, &sizes, &labels);
    svg(&graph, &l, counts)
}

fn svg(graph: &Graph, l: &Layout, counts: &BTreeMap<String, StateCounts>) -> String {
    let states = graph.nodes.iter().filter(|n| n.kind.is_state()).count();
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"state-diagram\" class=\"diagram\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" role=\"img\" \
         aria-labelledby=\"state-diagram-title\">\
         <title id=\"state-diagram-title\">The workflow's state machine: {states} states, \
         with the tickets in each</title><defs>",
        w = l.width.ceil(),
        h = l.height.ceil(),
    );
    for kind in ["plain", "rework", "escalate", "moved"] {
        let _ = write!(
            out,
            "<marker id=\"kj-arrow-{kind}\" class=\"arrow {kind}\" viewBox=\"0 0 10 10\" \
             refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0L10,5L0,10z\"/></marker>"
        );
    }
    out.push_str("</defs><g class=\"edges\">");
    let escalated: usize = counts.values().map(|c| c.escalated).sum();
    for (e, r) in graph.edges.iter().zip(&l.routes) {
        let marker = match e.kind {
            EdgeKind::Rework => "rework",
            EdgeKind::Escalate => "escalate",
            EdgeKind::Moved => "moved",
            _ => "plain",
        };
        let back = if r.lane == Lane::Above { " back" } else { "" };
        let d: Vec<String> = r
            .points
            .iter()
            .enumerate()
            .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }))
            .collect();
        let text = fit(&e.label, LABEL_PX, r.label_room.max(40.0));
        let _ = write!(
            out,
            "<g class=\"edge {kind}{back}\" data-from=\"{from}\" data-to=\"{to}\">\
             <title>{from_c} → {to_c}: {label}</title>\
             <path d=\"{d}\" marker-end=\"url(#kj-arrow-{marker})\"/>\
             <text class=\"edge-label\" x=\"{x:.1}\" y=\"{y:.1}\">{text}</text></g>",
            kind = e.kind.as_str(),
            from = esc(&graph.nodes[e.from].name),
            to = esc(&graph.nodes[e.to].name),
            from_c = esc(graph.caption(e.from)),
            to_c = esc(graph.caption(e.to)),
            label = esc(&e.label),
            d = d.join(""),
            x = r.label.0,
            y = r.label.1,
            text = esc(&text),
        );
    }
    out.push_str("</g><g class=\"nodes\">");
    for (i, (node, rect)) in graph.nodes.iter().zip(&l.nodes).enumerate() {
        let caption = graph.caption(i);
        let (x, y, w, h) = (rect.x, rect.y, rect.w, rect.h);
        if !node.kind.is_state() {
            let count = if node.kind == NodeKind::Escalated {
                format!(" data-escalated=\"{escalated}\"")
            } else {
                String::new()
            };
            let busy = if node.kind == NodeKind::Escalated && escalated > 0 {
                " busy"
            } else {
                ""
            };
            let shown = match node.kind {
                NodeKind::Escalated if escalated > 0 => format!("{caption} ({escalated})"),
                _ => caption.to_string(),
            };
            let _ = write!(
                out,
                "<g class=\"node {kind}{busy}\"{count}><title>{t}</title>\
                 <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"14\"/>\
                 <text class=\"pseudo\" x=\"{cx:.1}\" y=\"{ty:.1}\">{t}</text></g>",
                kind = node.kind.as_str(),
                t = esc(&fit(&shown, COUNT_PX, w)),
                cx = rect.cx(),
                ty = rect.cy() + 4.0,
            );
            continue;
        }
        let c = counts.get(&node.name).copied().unwrap_or_default();
        let busy = if c.parts().is_empty() { "" } else { " busy" };
        let mut line = String::new();
        for (n, (k, v)) in c.parts().into_iter().enumerate() {
            if n > 0 {
                line.push_str(" · ");
            }
            let _ = write!(line, "<tspan class=\"{k}\">{v} {k}</tspan>");
        }
        if line.is_empty() {
            line.push('—');
        }
        let _ = write!(
            out,
            "<g class=\"node {kind}{busy}\" data-state=\"{name}\" data-running=\"{r}\" \
             data-waiting=\"{wa}\" data-retrying=\"{re}\" data-escalated=\"{es}\" data-held=\"{he}\">\
             <title>{name} ({kind}): {plain}</title>\
             <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{rx}\"/>\
             <text class=\"name\" x=\"{cx:.1}\" y=\"{y1:.1}\">{name}</text>\
             <text class=\"counts\" x=\"{cx:.1}\" y=\"{y2:.1}\">{line}</text></g>",
            kind = node.kind.as_str(),
            name = esc(caption),
            r = c.running,
            wa = c.waiting,
            re = c.retrying,
            es = c.escalated,
            he = c.held,
            plain = esc(&c.line()),
            rx = match node.kind {
                NodeKind::Gate => 2,
                NodeKind::Terminal => 23,
                _ => 8,
            },
            cx = rect.cx(),
            y1 = y + 19.0,
            y2 = y + 36.0,
        );
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests;
