//! The graph model, its text renderings and the layout, on hand-built machines.

use indexmap::IndexMap;

use super::layout::{Lane, layout, ranks};
use super::*;
use crate::domain::{Columns, MergePolicy, PrWatch, Review, ReviewSource};

fn columns() -> Columns {
    Columns {
        todo: "Todo".into(),
        active: "In Progress".into(),
        review: "Human Review".into(),
        approved: "Approved".into(),
        rework: "Rework".into(),
        done: "Done".into(),
        terminal: vec!["Canceled".into()],
    }
}

fn agent(next: &str, review: Option<Review>) -> StateSpec {
    StateSpec::Agent {
        next: next.into(),
        column: "In Progress".into(),
        review,
    }
}

fn gate(approve: &str, rework: &str) -> StateSpec {
    StateSpec::Gate {
        approve: approve.into(),
        rework: rework.into(),
        max_rework: 2,
        column: "Human Review".into(),
        merge: None,
        watch: None,
    }
}

fn terminal(column: &str) -> StateSpec {
    StateSpec::Terminal {
        column: column.into(),
    }
}

fn machine(states: Vec<(&str, StateSpec)>) -> Machine {
    let states: IndexMap<String, StateSpec> = states
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    Machine {
        entry: states.keys().next().cloned().unwrap_or_default(),
        states,
        columns: columns(),
        max_attempts: 3,
    }
}

/// The quickstart: implement → review (gate) → finalize → done; canceled.
pub(crate) fn quickstart() -> Machine {
    machine(vec![
        ("implement", agent("review", None)),
        ("review", gate("finalize", "implement")),
        ("finalize", agent("done", None)),
        ("done", terminal("Done")),
        ("canceled", terminal("Canceled")),
    ])
}

/// The review loop: implement → review (verdicts) → human-review (gate) → done.
fn review_loop() -> Machine {
    let review = Review {
        needs_revision: "implement".into(),
        max_rounds: 2,
    };
    machine(vec![
        ("implement", agent("review", None)),
        ("review", agent("human-review", Some(review))),
        ("human-review", gate("done", "implement")),
        ("done", terminal("Done")),
        ("canceled", terminal("Canceled")),
    ])
}

fn edge<'g>(g: &'g Graph, from: &str, to: &str) -> Vec<&'g Edge> {
    let (f, t) = (g.position(from).unwrap(), g.position(to).unwrap());
    g.edges
        .iter()
        .filter(|e| e.from == f && e.to == t)
        .collect()
}

#[test]
fn every_move_decide_can_make_is_an_edge() {
    let g = Graph::of(&quickstart());
    let kinds = |from: &str, to: &str| -> Vec<EdgeKind> {
        edge(&g, from, to).iter().map(|e| e.kind).collect()
    };
    assert_eq!(kinds("[start]", "implement"), [EdgeKind::Start]);
    assert_eq!(kinds("implement", "review"), [EdgeKind::Next]);
    assert_eq!(kinds("review", "finalize"), [EdgeKind::Approve]);
    assert_eq!(kinds("review", "implement"), [EdgeKind::Rework]);
    assert_eq!(kinds("finalize", "done"), [EdgeKind::Next]);
    assert_eq!(kinds("[any]", "done"), [EdgeKind::Moved]);
    assert_eq!(kinds("[any]", "canceled"), [EdgeKind::Moved]);
    assert_eq!(kinds("[any]", "implement"), [EdgeKind::Moved]);
    for s in ["implement", "review", "finalize"] {
        assert_eq!(kinds(s, "[escalated]"), [EdgeKind::Escalate], "{s}");
    }
    assert!(kinds("done", "[escalated]").is_empty());
    assert_eq!(g.edges.len(), 11, "{:#?}", g.edges);
    assert_eq!(
        edge(&g, "review", "implement")[0].label,
        "moved to Rework (≤ 2)"
    );
    assert_eq!(edge(&g, "[any]", "canceled")[0].label, "moved to Canceled");
    assert_eq!(
        edge(&g, "implement", "[escalated]")[0].label,
        "3 failed attempts · budget"
    );
}

#[test]
fn a_review_state_routes_its_verdicts() {
    let g = Graph::of(&review_loop());
    let v = edge(&g, "review", "human-review");
    assert_eq!(
        (v[0].kind, v[0].label.as_str()),
        (EdgeKind::Verdict, "approve")
    );
    let back = edge(&g, "review", "implement");
    assert_eq!(back[0].kind, EdgeKind::Rework);
    assert_eq!(back[0].label, "needs_revision (≤ 2 rounds)");
    assert!(
        edge(&g, "review", "[escalated]")[0]
            .label
            .contains("> 2 rounds")
    );
}

#[test]
fn a_gate_watching_its_pull_request_says_what_approves_it() {
    let mut m = quickstart();
    m.states.insert(
        "review".into(),
        StateSpec::Gate {
            approve: "finalize".into(),
            rework: "implement".into(),
            max_rework: 3,
            column: "Human Review".into(),
            merge: Some(MergePolicy {
                method: "squash".into(),
                rework_on_failure: false,
            }),
            watch: Some(PrWatch {
                checks: true,
                checks_timeout_secs: 60,
                reviews: ReviewSource::PullRequest,
                reviewers: vec![],
            }),
        },
    );
    let g = Graph::of(&m);
    let yes = &edge(&g, "review", "finalize")[0].label;
    assert_eq!(yes, "checks green · review approves → squash merge");
    let no = &edge(&g, "review", "implement")[0].label;
    assert!(
        no.contains("a check failed") && no.contains("changes requested"),
        "{no}"
    );
    let up = &edge(&g, "review", "[escalated]")[0].label;
    assert!(
        up.contains("merge refused") && up.contains("checks pending"),
        "{up}"
    );
}

#[test]
fn mermaid_and_dot_name_nodes_by_position_and_escape_every_label() {
    let mut m = quickstart();
    let evil = "x\"];<b>&`|#\\N";
    let spec = m.states.shift_remove("finalize").unwrap();
    m.states.insert(evil.into(), spec);
    if let Some(StateSpec::Gate { approve, .. }) = m.states.get_mut("review") {
        *approve = evil.into();
    }
    let g = Graph::of(&m);
    let mer = mermaid::render(&g);
    assert!(mer.starts_with("flowchart LR\n"));
    assert!(
        mer.contains("x#quot;];#lt;b#gt;#amp;#96;#124;#35;\\N"),
        "{mer}"
    );
    for line in mer.lines().skip(1) {
        // Every quote in a line is one of the label delimiters: none comes from a name.
        assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        assert!(!line.contains('<'), "{line}");
    }
    let dot = dot::render(&g);
    assert!(dot.contains("label=\"x\\\"];<b>&`|#\\\\N\""), "{dot}");
    assert!(dot.starts_with("digraph workflow {") && dot.ends_with("}\n"));
    // Shapes: a gate is a hexagon, a terminal a double box, an agent a rounded box.
    assert!(dot.contains("[label=\"review\", shape=hexagon"), "{dot}");
    assert!(
        dot.contains("[label=\"done\", shape=box, peripheries=2"),
        "{dot}"
    );
    assert!(mer.contains("(\"implement\"):::agent"), "{mer}");
    assert!(mer.contains("{{\"review\"}}:::gate"), "{mer}");
    assert!(mer.contains("([\"done\"]):::terminal"), "{mer}");
    assert_eq!(
        mer.matches(" -->|").count() + mer.matches(" -.->|").count(),
        g.edges.len()
    );
}

fn sizes(g: &Graph) -> Vec<(f64, f64)> {
    (0..g.nodes.len())
        .map(|i| (40.0 + 7.0 * g.caption(i).chars().count() as f64, 44.0))
        .collect()
}

fn labels(g: &Graph) -> Vec<f64> {
    g.edges
        .iter()
        .map(|e| 6.0 * e.label.chars().count() as f64)
        .collect()
}

#[test]
fn ranks_follow_the_shortest_path_from_the_start() {
    let g = Graph::of(&review_loop());
    let r = ranks(&g);
    let rank = |n: &str| r[g.position(n).unwrap()];
    assert_eq!(rank("[start]"), 0);
    assert_eq!(rank("[any]"), 0);
    assert_eq!(rank("implement"), 1);
    assert_eq!(rank("review"), 2);
    assert_eq!(rank("human-review"), 3);
    assert_eq!(rank("done"), 4);
    // Reached only by a human's move: the last column, like `escalated`.
    assert_eq!(rank("canceled"), 4);
    assert_eq!(rank("[escalated]"), 4);
}

/// Whether segment `a`–`b` (horizontal or vertical) passes through `r`'s inside.
fn crosses(a: (f64, f64), b: (f64, f64), r: &layout::Rect) -> bool {
    let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
    let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
    let eps = 0.5;
    x1 > r.x + eps && x0 < r.right() - eps && y1 > r.y + eps && y0 < r.bottom() - eps
}

fn on_border(p: (f64, f64), r: &layout::Rect) -> bool {
    let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let inside_x = p.0 >= r.x - 1e-6 && p.0 <= r.right() + 1e-6;
    let inside_y = p.1 >= r.y - 1e-6 && p.1 <= r.bottom() + 1e-6;
    (inside_y && (near(p.0, r.x) || near(p.0, r.right())))
        || (inside_x && (near(p.1, r.y) || near(p.1, r.bottom())))
}

#[test]
fn the_layout_never_overlaps_nodes_and_draws_every_edge_around_them() {
    for m in [quickstart(), review_loop()] {
        let g = Graph::of(&m);
        let l = layout(&g, &sizes(&g), &labels(&g));
        assert_eq!(l.nodes.len(), g.nodes.len());
        assert_eq!(l.routes.len(), g.edges.len(), "every edge has a route");
        for (i, a) in l.nodes.iter().enumerate() {
            assert!(a.x >= 0.0 && a.y >= 0.0 && a.right() <= l.width && a.bottom() <= l.height);
            for b in &l.nodes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
        for (e, r) in g.edges.iter().zip(&l.routes) {
            let (first, last) = (r.points[0], *r.points.last().unwrap());
            assert!(
                on_border(first, &l.nodes[e.from]),
                "{e:?} starts at {first:?}"
            );
            assert!(on_border(last, &l.nodes[e.to]), "{e:?} ends at {last:?}");
            for (i, n) in l.nodes.iter().enumerate() {
                for seg in r.points.windows(2) {
                    // Direct edges are diagonal but live in the gap between columns.
                    let straight = seg[0].0 == seg[1].0 || seg[0].1 == seg[1].1;
                    assert!(
                        !straight || !crosses(seg[0], seg[1], n),
                        "{e:?} crosses node {i} ({:?}) on {seg:?}",
                        g.nodes[i]
                    );
                }
            }
            assert!(
                r.points
                    .iter()
                    .all(|p| p.0 >= 0.0 && p.0 <= l.width && p.1 >= 0.0 && p.1 <= l.height)
            );
        }
        // Rework goes back: above the nodes. Lane edges each have a lane of their own.
        let back: Vec<_> = g
            .edges
            .iter()
            .zip(&l.routes)
            .filter(|(e, _)| e.kind == EdgeKind::Rework)
            .collect();
        assert!(!back.is_empty());
        assert!(back.iter().all(|(_, r)| r.lane == Lane::Above));
        let mut ys: Vec<i64> = l
            .routes
            .iter()
            .filter(|r| r.lane != Lane::Direct)
            .map(|r| r.label.1 as i64)
            .collect();
        let n = ys.len();
        ys.sort_unstable();
        ys.dedup();
        assert_eq!(ys.len(), n, "one lane per edge");
        // Deterministic.
        assert_eq!(l, layout(&g, &sizes(&g), &labels(&g)));
    }
}

#[test]
fn a_linear_workflow_is_one_straight_line() {
    let g = Graph::of(&quickstart());
    let l = layout(&g, &sizes(&g), &labels(&g));
    let y = |n: &str| l.nodes[g.position(n).unwrap()].y;
    assert_eq!(y("implement"), y("review"));
    assert_eq!(y("review"), y("finalize"));
    assert_eq!(y("finalize"), y("done"));
    assert!(y("canceled") > y("done"));
    let x = |n: &str| l.nodes[g.position(n).unwrap()].x;
    assert!(
        x("[start]") < x("implement")
            && x("implement") < x("review")
            && x("review") < x("finalize")
            && x("finalize") < x("done")
    );
}
