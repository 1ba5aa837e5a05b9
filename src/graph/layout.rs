//! A deterministic layered layout of a [`Graph`], for the dashboard's SVG diagram.
//!
//! No layout engine, no randomness, no iteration to a fixed point: the same workflow
//! always gives the same picture, and a reload that changes nothing moves nothing.
//!
//! - **Ranks** (columns, left to right): the shortest path from `start` along the
//!   edges a run or a gate takes (start, next, verdict, approve, rework). `any state`
//!   sits in column 0 under `start`; terminal states reached only by a human's move,
//!   and `escalated`, sit in the last column.
//! - **Rows**: within a column, nodes are stacked top-down in the machine's order, so
//!   a linear workflow reads as one straight line.
//! - **Edges** are orthogonal polylines that never cross a node: an edge to the next
//!   column is a straight segment across the gap between the two columns (only edges
//!   live there); a longer forward edge runs in a lane of its own below every node; a
//!   back edge (rework, to the same or an earlier column) in a lane of its own above
//!   every node. Vertical segments use a node's free side (its bottom when it is the
//!   lowest of its column, its top when it is the highest) or the gap beside it.
//! - Each edge's label sits on its lane (one lane per edge, so labels of lane edges
//!   never share a line) or at the middle of its straight segment.

use super::{EdgeKind, Graph, NodeKind};

/// Space around the drawing.
const MARGIN: f64 = 16.0;
/// Between two nodes of one column.
const ROW_GAP: f64 = 26.0;
/// Between two lanes (and between the nodes and the first lane).
const LANE_STEP: f64 = 18.0;
/// The narrowest gap between two columns.
const MIN_GAP: f64 = 56.0;
/// The widest gap between two columns (longer labels are shortened by the renderer).
pub const MAX_GAP: f64 = 240.0;

/// A node's rectangle (top-left corner, size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    pub fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    pub fn cy(&self) -> f64 {
        self.y + self.h / 2.0
    }
    /// Whether the two rectangles share any area.
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }
}

/// How an edge is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Straight across the gap to the next column.
    Direct,
    /// A forward edge over several columns, below the nodes.
    Below,
    /// A back edge (rework), above the nodes.
    Above,
}

/// One edge's route: a polyline from its source's border to its target's border.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub points: Vec<(f64, f64)>,
    /// Where the label's baseline centre goes.
    pub label: (f64, f64),
    /// The width the label may take there.
    pub label_room: f64,
    pub lane: Lane,
}

/// The whole drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// One per node of the graph, in its order.
    pub nodes: Vec<Rect>,
    pub ranks: Vec<usize>,
    /// One per edge of the graph, in its order.
    pub routes: Vec<Route>,
}

/// Whether an edge of this kind sets ranks (the way a ticket normally travels).
fn ranks_by(kind: EdgeKind) -> bool {
    !matches!(kind, EdgeKind::Moved | EdgeKind::Escalate)
}

/// The column of every node (see the module doc).
pub fn ranks(graph: &Graph) -> Vec<usize> {
    let n = graph.nodes.len();
    let mut rank = vec![usize::MAX; n];
    if n == 0 {
        return rank;
    }
    rank[0] = 0;
    let mut queue = std::collections::VecDeque::from([0usize]);
    while let Some(u) = queue.pop_front() {
        for e in graph
            .edges
            .iter()
            .filter(|e| e.from == u && ranks_by(e.kind))
        {
            if rank[e.to] == usize::MAX {
                rank[e.to] = rank[u] + 1;
                queue.push_back(e.to);
            }
        }
    }
    let last = rank
        .iter()
        .filter(|r| **r != usize::MAX)
        .max()
        .copied()
        .unwrap_or(0)
        .max(1);
    for (i, node) in graph.nodes.iter().enumerate() {
        if rank[i] == usize::MAX {
            rank[i] = match node.kind {
                NodeKind::Anywhere => 0,
                _ => last,
            };
        }
    }
    rank
}

/// Lay `graph` out with each node's size (`sizes`, in the graph's order) and each
/// edge's label width (`labels`, in the edges' order).
pub fn layout(graph: &Graph, sizes: &[(f64, f64)], labels: &[f64]) -> Layout {
    let rank = ranks(graph);
    let columns = rank.iter().max().map_or(0, |m| m + 1);
    let mut col_width = vec![0f64; columns];
    for (i, (w, _)) in sizes.iter().enumerate() {
        col_width[rank[i]] = col_width[rank[i]].max(*w);
    }
    // The gap after each column fits the labels of the direct edges crossing it.
    let mut gap = vec![MIN_GAP; columns];
    for (e, w) in graph.edges.iter().zip(labels) {
        if rank[e.to] == rank[e.from] + 1 {
            gap[rank[e.from]] = gap[rank[e.from]].max((w + 16.0).min(MAX_GAP));
        }
    }
    // Lanes: one per back edge above, one per long forward edge below.
    let lane_of = |i: usize| -> Lane {
        let e = &graph.edges[i];
        if rank[e.to] <= rank[e.from] {
            Lane::Above
        } else if rank[e.to] == rank[e.from] + 1 {
            Lane::Direct
        } else {
            Lane::Below
        }
    };
    let above = (0..graph.edges.len())
        .filter(|i| lane_of(*i) == Lane::Above)
        .count();
    let top = MARGIN + above as f64 * LANE_STEP + if above > 0 { LANE_STEP } else { 0.0 };
    // Columns' x, then each column's nodes stacked from `top`.
    let mut col_x = vec![MARGIN; columns];
    for c in 1..columns {
        col_x[c] = col_x[c - 1] + col_width[c - 1] + gap[c - 1];
    }
    let mut next_y = vec![top; columns];
    let mut nodes = Vec::with_capacity(sizes.len());
    for (i, (w, h)) in sizes.iter().enumerate() {
        let c = rank[i];
        let x = col_x[c] + (col_width[c] - w) / 2.0;
        nodes.push(Rect {
            x,
            y: next_y[c],
            w: *w,
            h: *h,
        });
        next_y[c] += h + ROW_GAP;
    }
    let bottom = nodes.iter().map(Rect::bottom).fold(top, f64::max);
    let highest =
        |i: usize| !(0..nodes.len()).any(|j| rank[j] == rank[i] && nodes[j].y < nodes[i].y);
    let lowest =
        |i: usize| !(0..nodes.len()).any(|j| rank[j] == rank[i] && nodes[j].y > nodes[i].y);
    // The x of a vertical segment in the gap right (or left) of a node's column,
    // spread by lane so that two edges do not share one.
    let gap_right = |i: usize, k: usize| {
        let c = rank[i];
        col_x[c] + col_width[c] + 8.0 + (k % 6) as f64 * 5.0
    };
    let gap_left = |i: usize, k: usize| {
        let c = rank[i];
        col_x[c] - 8.0 - (k % 6) as f64 * 5.0
    };
    let (mut n_above, mut n_below) = (0usize, 0usize);
    let mut routes = Vec::with_capacity(graph.edges.len());
    for (k, e) in graph.edges.iter().enumerate() {
        let (u, v) = (nodes[e.from], nodes[e.to]);
        let room = labels.get(k).copied().unwrap_or(0.0);
        let route = match lane_of(k) {
            Lane::Direct => {
                let (a, b) = ((u.right(), u.cy()), (v.x, v.cy()));
                // Two edges between the same columns and rows: the label moves up.
                let twins = graph.edges[..k]
                    .iter()
                    .filter(|o| o.from == e.from && o.to == e.to)
                    .count();
                Route {
                    points: vec![a, b],
                    label: (
                        (a.0 + b.0) / 2.0,
                        (a.1 + b.1) / 2.0 - 4.0 - twins as f64 * 12.0,
                    ),
                    label_room: (b.0 - a.0 - 8.0).max(0.0),
                    lane: Lane::Direct,
                }
            }
            lane => {
                let y = if lane == Lane::Above {
                    n_above += 1;
                    top - n_above as f64 * LANE_STEP
                } else {
                    n_below += 1;
                    bottom + n_below as f64 * LANE_STEP
                };
                let free = |i: usize| {
                    if lane == Lane::Above {
                        highest(i)
                    } else {
                        lowest(i)
                    }
                };
                let side = |r: &Rect| if lane == Lane::Above { r.y } else { r.bottom() };
                let port_y = |r: &Rect| {
                    if lane == Lane::Above {
                        r.cy() - r.h * 0.25
                    } else {
                        r.cy() + r.h * 0.25
                    }
                };
                let mut points = vec![];
                if e.from == e.to {
                    // A loop on one node: out and back in through its free side.
                    let s = side(&u);
                    points.extend([
                        (u.cx() + 12.0, s),
                        (u.cx() + 12.0, y),
                        (u.cx() - 12.0, y),
                        (u.cx() - 12.0, s),
                    ]);
                } else {
                    if free(e.from) {
                        points.extend([(u.cx() + 6.0, side(&u)), (u.cx() + 6.0, y)]);
                    } else {
                        // Off the centre line, where direct edges run.
                        let py = port_y(&u);
                        let gx = gap_right(e.from, k);
                        points.extend([(u.right(), py), (gx, py), (gx, y)]);
                    }
                    if free(e.to) {
                        points.extend([(v.cx() - 6.0, y), (v.cx() - 6.0, side(&v))]);
                    } else {
                        let py = port_y(&v);
                        let gx = gap_left(e.to, k);
                        points.extend([(gx, y), (gx, py), (v.x, py)]);
                    }
                }
                // The label on the lane's horizontal run, above it.
                let run = points
                    .windows(2)
                    .find(|p| (p[0].1 - y).abs() < 1e-9 && (p[1].1 - y).abs() < 1e-9)
                    .map_or((u.cx(), v.cx()), |p| (p[0].0, p[1].0));
                let mid = ((run.0 + run.1) / 2.0).max(MARGIN + room / 2.0);
                Route {
                    label: (mid, y - 3.0),
                    label_room: room.max((run.0 - run.1).abs()),
                    points,
                    lane,
                }
            }
        };
        routes.push(route);
    }
    let right = nodes.iter().map(Rect::right).fold(0.0, f64::max);
    // Lane labels may stick out beyond the last column: leave them room.
    let label_right = routes
        .iter()
        .zip(labels)
        .map(|(r, w)| r.label.0 + w / 2.0)
        .fold(0.0, f64::max);
    Layout {
        width: right.max(label_right) + MARGIN,
        height: bottom
            + n_below as f64 * LANE_STEP
            + if n_below > 0 { LANE_STEP } else { 0.0 }
            + MARGIN,
        nodes,
        ranks: rank,
        routes,
    }
}
