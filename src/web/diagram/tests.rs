//! The SVG diagram: well-formed XML whatever the state names, every node and edge
//! drawn, the counts where they belong.

use super::*;

fn quickstart() -> Machine {
    crate::graph::tests::quickstart()
}

/// The SVG parsed as XML (a name that broke out of its text or attribute fails here).
fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"))
}

fn class_has(n: &roxmltree::Node, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split(' ').any(|x| x == class))
}

#[test]
fn every_state_and_edge_is_drawn_with_its_counts() {
    let mut counts = BTreeMap::new();
    counts.insert(
        "implement".to_string(),
        StateCounts {
            running: 2,
            retrying: 1,
            ..Default::default()
        },
    );
    counts.insert(
        "review".to_string(),
        StateCounts {
            waiting: 1,
            escalated: 1,
            ..Default::default()
        },
    );
    let m = quickstart();
    let svg = render(&m, &counts);
    let doc = parse(&svg);
    let root = doc.root_element();
    assert_eq!(root.attribute("id"), Some("state-diagram"));
    let nodes: Vec<_> = root
        .descendants()
        .filter(|n| class_has(n, "node") && n.attribute("data-state").is_some())
        .collect();
    let names: Vec<_> = nodes
        .iter()
        .map(|n| n.attribute("data-state").unwrap())
        .collect();
    assert_eq!(
        names,
        ["implement", "review", "finalize", "done", "canceled"]
    );
    let node = |s: &str| {
        *nodes
            .iter()
            .find(|n| n.attribute("data-state") == Some(s))
            .unwrap()
    };
    assert_eq!(node("implement").attribute("data-running"), Some("2"));
    assert_eq!(node("implement").attribute("data-retrying"), Some("1"));
    assert_eq!(node("review").attribute("data-waiting"), Some("1"));
    assert_eq!(node("review").attribute("data-escalated"), Some("1"));
    assert_eq!(node("finalize").attribute("data-running"), Some("0"));
    assert!(class_has(&node("implement"), "busy") && !class_has(&node("finalize"), "busy"));
    assert!(class_has(&node("review"), "gate") && class_has(&node("done"), "terminal"));
    let text = |n: roxmltree::Node| -> String {
        n.descendants()
            .filter(|d| d.is_text())
            .map(|d| d.text().unwrap())
            .collect()
    };
    assert!(
        text(node("implement")).contains("2 running · 1 retrying"),
        "{}",
        text(node("implement"))
    );
    let escalated = root
        .descendants()
        .find(|n| class_has(n, "node") && class_has(n, "escalated"))
        .unwrap();
    assert_eq!(escalated.attribute("data-escalated"), Some("1"));
    // Every edge of the graph, with its kind; rework goes back (above).
    let graph = Graph::of(&m);
    let edges: Vec<_> = root
        .descendants()
        .filter(|n| class_has(n, "edge"))
        .collect();
    assert_eq!(edges.len(), graph.edges.len());
    for (e, g) in graph.edges.iter().zip(&edges) {
        assert!(class_has(g, e.kind.as_str()), "{e:?}");
        assert_eq!(
            g.attribute("data-from"),
            Some(graph.nodes[e.from].name.as_str())
        );
        assert_eq!(
            g.attribute("data-to"),
            Some(graph.nodes[e.to].name.as_str())
        );
        let path = g.children().find(|c| c.has_tag_name("path")).unwrap();
        assert!(path.attribute("d").unwrap().starts_with('M'));
    }
    let rework = edges.iter().find(|g| class_has(g, "rework")).unwrap();
    assert!(class_has(rework, "back"));
    // Deterministic: the same view draws the same bytes.
    assert_eq!(svg, render(&m, &counts));
}

#[test]
fn names_from_the_yaml_are_escaped_in_text_and_attributes() {
    let mut m = quickstart();
    let evil = "<script>alert(\"x\")</script>&'";
    let spec = m.states.shift_remove("finalize").unwrap();
    m.states.insert(evil.into(), spec);
    if let Some(crate::domain::StateSpec::Gate { approve, .. }) = m.states.get_mut("review") {
        *approve = evil.into();
    }
    m.columns.approved = "Ap<pro>ved & \"ok\"".into();
    let mut counts = BTreeMap::new();
    counts.insert(
        evil.to_string(),
        StateCounts {
            running: 1,
            ..Default::default()
        },
    );
    let svg = render(&m, &counts);
    assert!(!svg.contains("<script"), "{svg}");
    let doc = parse(&svg);
    let node = doc
        .descendants()
        .find(|n| n.attribute("data-state") == Some(evil))
        .expect("the state's node, its name intact once parsed");
    assert_eq!(node.attribute("data-running"), Some("1"));
    let name = node.children().find(|c| c.has_tag_name("text")).unwrap();
    assert_eq!(name.text(), Some(evil));
    assert!(
        doc.descendants()
            .any(|n| n.attribute("data-to") == Some(evil))
    );
    assert!(
        svg.contains("moved to Ap&lt;pro&gt;ved &amp; &quot;ok&quot;"),
        "{svg}"
    );
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("script"))
            .count()
            == 0
    );
}

#[test]
fn long_labels_are_shortened_but_kept_whole_in_the_title() {
    assert_eq!(fit("short", 6.0, 100.0), "short");
    let long = "x".repeat(100);
    let short = fit(&long, 6.0, 60.0);
    assert!(
        short.ends_with('…') && width(&short, 6.0) <= 60.0,
        "{short}"
    );
    assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}
