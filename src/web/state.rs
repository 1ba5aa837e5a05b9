//! `GET /api/v1/state`: the orchestrator's read model, plus today's spend, with the
//! Symphony baseline's field names added beside karajan's own, so Symphony clients read
//! it unchanged: `issue_id`, `issue_identifier`, `issue_url`, `turn_count` and
//! `seconds_running` on running rows; `retrying` (with `issue_id`); `rate_limits`;
//! token counts as `input_tokens` / `output_tokens` / `total_tokens` beside ours; and
//! `codex_totals`.
//!
//! Token names: karajan's `input` excludes cached input (`cache_read`, `cache_write`);
//! Symphony's `input_tokens` is every input token the model read, as Codex counts it,
//! so `input_tokens = input + cache_read + cache_write`, `output_tokens = output` and
//! `total_tokens = input_tokens + output_tokens`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, respond, today};
use crate::orchestrator::StatusView;

pub(crate) async fn state(State(st): State<AppState>) -> Result<Response, ApiError> {
    let view = st.handle.status();
    let spend = today::spend(&view);
    // The tracker's ids of retrying tickets (the read model names them by identifier).
    let mut ids = BTreeMap::new();
    for r in &view.retries {
        if let Some(rec) = st.store.record(&r.identifier).await? {
            ids.insert(r.identifier.clone(), rec.tracker_id);
        }
    }
    let mut value = state_json(&view, &spend, &ids, Utc::now())?;
    if let Some(nodes) = nodes(&st).await? {
        value["nodes"] = serde_json::to_value(nodes).map_err(ApiError::internal)?;
    }
    Ok(respond::json(&st, StatusCode::OK, &value))
}

/// A cluster node's view of the cluster (`None` outside a cluster: the field is absent).
pub(crate) async fn nodes(
    st: &AppState,
) -> Result<Option<Vec<crate::cluster::nodes::NodeRow>>, ApiError> {
    let (Some(_), Some(pool)) = (st.store.fence(), st.store.pg_pool()) else {
        return Ok(None);
    };
    let nodes = crate::cluster::nodes::list(&pool)
        .await
        .map_err(|e| ApiError::from(crate::store::StoreError::from(e)))?;
    Ok(Some(nodes))
}

fn state_json(
    view: &StatusView,
    spend: &today::Spend,
    ids: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(view).map_err(ApiError::internal)?;
    let mut live_seconds = 0.0;
    if let Some(rows) = v.get_mut("running").and_then(Value::as_array_mut) {
        for (row, r) in rows.iter_mut().zip(&view.running) {
            let seconds = seconds_since(r.started_at, now);
            live_seconds += seconds;
            let alias = json!({
                "issue_id": row["ticket"],
                "issue_identifier": row["identifier"],
                "issue_url": row["url"],
                "turn_count": row["turns"],
                "seconds_running": seconds,
            });
            merge(row, alias);
            symphony_tokens(&mut row["tokens"]);
        }
    }
    if let Some(rows) = v.get_mut("gates").and_then(Value::as_array_mut) {
        for row in rows {
            let alias = json!({ "issue_identifier": row["identifier"], "issue_url": row["url"] });
            merge(row, alias);
        }
    }
    symphony_tokens(&mut v["totals"]["tokens"]);
    let mut codex_totals = v["totals"]["tokens"].clone();
    if let Some(t) = codex_totals.as_object_mut() {
        t.retain(|k, _| k.ends_with("_tokens"));
    }
    // Seconds of the runs in progress (finished runs' durations are per run, in
    // `/api/v1/issues/{identifier}`).
    merge(
        &mut codex_totals,
        json!({ "seconds_running": live_seconds }),
    );
    let retrying: Vec<Value> = view
        .retries
        .iter()
        .map(|r| {
            json!({
                "issue_id": ids.get(&r.identifier),
                "issue_identifier": r.identifier,
                "state": r.state,
                "attempt": r.attempt,
                "due_at": r.due_at,
                "error": r.error,
            })
        })
        .collect();
    merge(
        &mut v,
        json!({
            "retrying": retrying,
            "codex_totals": codex_totals,
            "rate_limits": view.rate_limit,
            "today": spend,
        }),
    );
    Ok(v)
}

fn seconds_since(at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - at).num_milliseconds().max(0) as f64) / 1000.0
}

/// Add Symphony's token names beside karajan's in a `TokenUsage` object.
pub(crate) fn symphony_tokens(tokens: &mut Value) {
    let n = |k: &str| tokens.get(k).and_then(Value::as_u64).unwrap_or(0);
    if tokens.get("input").is_none() {
        return;
    }
    let input = n("input") + n("cache_read") + n("cache_write");
    let output = n("output");
    let alias = json!({
        "input_tokens": input,
        "output_tokens": output,
        "total_tokens": input + output,
    });
    merge(tokens, alias);
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        for (k, val) in e {
            t.insert(k, val);
        }
    }
}
