//! `GET /metrics`: the read model in the Prometheus text exposition format (0.0.4).
//! Counters are since the daemon started, except the token and cost totals, which come
//! from the store and cover its whole history.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::orchestrator::StatusView;
use crate::orchestrator::view::Histogram;

/// The body is redacted by `respond::redact_bodies`, like every other.
pub(crate) async fn metrics(State(st): State<AppState>) -> Response {
    let mut text = render(&st.handle.status());
    if let Some(w) = &st.webhooks {
        text.push_str(&w.metrics_text());
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Escape a label value (`\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    head(out, name, "histogram", help);
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}", h.sum);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// The exposition text for one read model.
pub fn render(v: &StatusView) -> String {
    let mut out = String::new();
    head(
        &mut out,
        "karajan_runs_finished_total",
        "counter",
        "Runs finished since the daemon started, by workflow state and outcome.",
    );
    for (state, outcomes) in &v.metrics.runs {
        for (outcome, n) in outcomes {
            let _ = writeln!(
                out,
                "karajan_runs_finished_total{{state=\"{}\",outcome=\"{}\"}} {n}",
                label(state),
                label(outcome)
            );
        }
    }
    head(
        &mut out,
        "karajan_runs_running",
        "gauge",
        "Live runs, by workflow state.",
    );
    let mut by_state = std::collections::BTreeMap::<&str, u64>::new();
    for r in &v.running {
        *by_state.entry(r.state.as_str()).or_default() += 1;
    }
    for (state, n) in by_state {
        let _ = writeln!(
            out,
            "karajan_runs_running{{state=\"{}\"}} {n}",
            label(state)
        );
    }
    head(
        &mut out,
        "karajan_tickets",
        "gauge",
        "Tickets karajan tracks, by situation.",
    );
    for (what, n) in [
        ("running", v.counts.running),
        ("waiting_gate", v.counts.waiting_gates),
        ("retrying", v.counts.retrying),
        ("held", v.counts.held),
        ("escalated", v.counts.escalated),
        ("tracked", v.counts.tracked),
    ] {
        let _ = writeln!(out, "karajan_tickets{{situation=\"{what}\"}} {n}");
    }
    head(
        &mut out,
        "karajan_runs_started_total",
        "counter",
        "Runs started, over the store's history.",
    );
    let _ = writeln!(out, "karajan_runs_started_total {}", v.totals.runs);
    head(
        &mut out,
        "karajan_tokens_total",
        "counter",
        "Tokens consumed by runs, over the store's history, by kind.",
    );
    let t = &v.totals.tokens;
    for (kind, n) in [
        ("input", t.input),
        ("output", t.output),
        ("cache_read", t.cache_read),
        ("cache_write", t.cache_write),
    ] {
        let _ = writeln!(out, "karajan_tokens_total{{kind=\"{kind}\"}} {n}");
    }
    head(
        &mut out,
        "karajan_cost_usd_total",
        "counter",
        "Cost reported by runs in US dollars, over the store's history.",
    );
    let _ = writeln!(out, "karajan_cost_usd_total {}", v.totals.cost_usd);
    head(
        &mut out,
        "karajan_tracker_calls_total",
        "counter",
        "Tracker API calls since the daemon started.",
    );
    let _ = writeln!(
        out,
        "karajan_tracker_calls_total {}",
        v.metrics.tracker_calls
    );
    head(
        &mut out,
        "karajan_tracker_errors_total",
        "counter",
        "Tracker API calls that failed since the daemon started.",
    );
    let _ = writeln!(
        out,
        "karajan_tracker_errors_total {}",
        v.metrics.tracker_errors
    );
    if let Some(rl) = &v.rate_limit {
        if let Some(rem) = rl.remaining {
            head(
                &mut out,
                "karajan_tracker_rate_limit_remaining",
                "gauge",
                "The tracker's remaining rate-limit budget.",
            );
            let _ = writeln!(out, "karajan_tracker_rate_limit_remaining {rem}");
        }
        if let Some(limit) = rl.limit {
            head(
                &mut out,
                "karajan_tracker_rate_limit_limit",
                "gauge",
                "The tracker's rate-limit budget per window.",
            );
            let _ = writeln!(out, "karajan_tracker_rate_limit_limit {limit}");
        }
    }
    head(
        &mut out,
        "karajan_dispatch_paused",
        "gauge",
        "1 when dispatch is paused by an operator.",
    );
    let _ = writeln!(out, "karajan_dispatch_paused {}", u8::from(v.paused));
    head(
        &mut out,
        "karajan_runner_paused",
        "gauge",
        "1 while a runner's dispatch is paused by its agent CLI's usage limit.",
    );
    for r in &v.runners {
        let _ = writeln!(
            out,
            "karajan_runner_paused{{runner=\"{}\"}} {}",
            label(&r.runner),
            u8::from(r.paused)
        );
    }
    head(
        &mut out,
        "karajan_runner_paused_until_seconds",
        "gauge",
        "When a paused runner resumes (Unix seconds), for runners paused by a usage limit.",
    );
    for r in &v.runners {
        if let Some(until) = r.paused_until {
            let _ = writeln!(
                out,
                "karajan_runner_paused_until_seconds{{runner=\"{}\"}} {}",
                label(&r.runner),
                until.timestamp()
            );
        }
    }
    histogram(
        &mut out,
        "karajan_tick_duration_seconds",
        "Duration of one poll-decide-dispatch tick.",
        &v.metrics.tick_seconds,
    );
    histogram(
        &mut out,
        "karajan_dispatch_latency_seconds",
        "From the poll that saw a ticket to its agent being spawned.",
        &v.metrics.dispatch_latency_seconds,
    );
    out
}
