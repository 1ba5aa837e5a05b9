//! `/metrics` parses as Prometheus text: every sample belongs to a declared family,
//! labels are well formed, values are numbers, histograms are cumulative and complete.

use std::collections::BTreeMap;

use axum::http::StatusCode;

use super::harness;

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        })
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (k, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad labels {text}"));
        assert!(valid_name(k), "bad label name {k}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unterminated {text}"));
            match c {
                '\\' => {
                    let (_, e) = chars.next().unwrap();
                    value.push(match e {
                        'n' => '\n',
                        other => other,
                    });
                }
                '"' => break i,
                c => value.push(c),
            }
        };
        out.insert(k.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

/// Parse the exposition text: (family → type, samples).
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = vec![];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "duplicate {line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample before its # TYPE: {line}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    (types, samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_text_parses_and_has_every_family() {
    // A 1s agent: a run that ends at once may finish before its spawn is observed.
    let h = harness(1).await;
    h.wait_gate("QS-1").await;
    let (s, text) = h.get("/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let (types, samples) = parse(&text);
    for (family, kind) in [
        ("karajan_runs_finished_total", "counter"),
        ("karajan_runs_running", "gauge"),
        ("karajan_tokens_total", "counter"),
        ("karajan_cost_usd_total", "counter"),
        ("karajan_tracker_calls_total", "counter"),
        ("karajan_tracker_errors_total", "counter"),
        ("karajan_tick_duration_seconds", "histogram"),
        ("karajan_dispatch_latency_seconds", "histogram"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    let finished = samples
        .iter()
        .find(|s| {
            s.name == "karajan_runs_finished_total"
                && s.labels.get("state").map(String::as_str) == Some("implement")
                && s.labels.get("outcome").map(String::as_str) == Some("succeeded")
        })
        .unwrap_or_else(|| panic!("no finished implement runs in\n{text}"));
    assert!(finished.value >= 1.0);
    let calls = samples
        .iter()
        .find(|s| s.name == "karajan_tracker_calls_total")
        .unwrap();
    assert!(calls.value >= 1.0);
    for family in [
        "karajan_tick_duration_seconds",
        "karajan_dispatch_latency_seconds",
    ] {
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
            .collect();
        assert!(buckets.len() > 2);
        for pair in buckets.windows(2) {
            assert!(pair[0].value <= pair[1].value, "{family} not cumulative");
        }
        let last = buckets.last().unwrap();
        assert_eq!(last.labels["le"], "+Inf");
        let count = samples
            .iter()
            .find(|s| s.name == format!("{family}_count"))
            .unwrap();
        assert_eq!(last.value, count.value);
        assert!(count.value >= 1.0, "{family} observed nothing");
    }
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    let ok = "# TYPE a counter\na{x=\"1\\\"2\"} 3\n";
    let (_, s) = parse(ok);
    assert_eq!(s[0].labels["x"], "1\"2");
    for bad in [
        "a 1\n",
        "# TYPE a counter\na{x=1} 2\n",
        "# TYPE a counter\na notanumber\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad}");
    }
}
