//! The overview's pictures and `GET /api/v1/stats/daily` in process (issue 15, item 8):
//! the API's shape and validation, the chart's figures equal to the API's, and the
//! diagram counting the tickets of the read model.

use axum::http::StatusCode;

use super::{error_code, harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_figures_are_what_the_chart_draws() {
    let h = harness(0).await;
    h.wait_view("three tickets at the gate", |v| {
        v.gates.len() == 3 && v.running.is_empty()
    })
    .await;
    let (s, v) = h.get_json("/api/v1/stats/daily?days=3").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(v["to"], today.as_str());
    assert_eq!(days[2]["day"], today.as_str());
    assert_eq!(days[2]["runs"], 3, "{v}");
    assert_eq!(days[2]["failed"], 0, "{v}");
    assert_eq!(days[2]["finished"], 0, "{v}");
    assert_eq!(v["totals"]["runs"], 3, "{v}");
    for d in &days[..2] {
        assert_eq!(d["runs"], 0, "{v}");
    }
    let (s, v) = h.get_json("/api/v1/stats/daily").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["days"].as_array().unwrap().len(), 14);
    for bad in ["0", "367", "-1", "two"] {
        let (s, v) = h.get_json(&format!("/api/v1/stats/daily?days={bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(&v), "invalid_query", "{v}");
    }
    // The page: the chart's last day and the diagram's gate count.
    let (s, page) = h.get("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&format!(
        "<g class=\"day\" data-day=\"{today}\" data-runs=\"3\" data-failed=\"0\" data-finished=\"0\""
    )), "{page}");
    assert!(
        page.contains("data-state=\"review\" data-running=\"0\" data-waiting=\"3\""),
        "{page}"
    );
    assert!(page.contains("<svg id=\"state-diagram\""));
    assert_eq!(page.matches("<g class=\"day\"").count(), 14);
}
