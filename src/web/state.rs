//! `GET /api/v1/state`: the orchestrator's read model, plus today's spend, with the
//! Symphony baseline's field names added beside karajan's own (`issue_identifier`,
//! `turn_count`, `retrying`, `rate_limits`), so Symphony clients read it unchanged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{AppState, respond, today};
use crate::orchestrator::StatusView;

pub(crate) async fn state(State(st): State<AppState>) -> Result<Response, ApiError> {
    let view = st.handle.status();
    let spend = today::spend(&view);
    let value = state_json(&view, &spend)?;
    Ok(respond::json(&st, StatusCode::OK, &value))
}

fn state_json(view: &StatusView, spend: &today::Spend) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(view).map_err(ApiError::internal)?;
    if let Some(rows) = v.get_mut("running").and_then(Value::as_array_mut) {
        for row in rows {
            let alias = json!({
                "issue_id": row["ticket"],
                "issue_identifier": row["identifier"],
                "turn_count": row["turns"],
            });
            merge(row, alias);
        }
    }
    let retrying: Vec<Value> = view
        .retries
        .iter()
        .map(|r| {
            json!({
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
            "rate_limits": view.rate_limit,
            "today": spend,
        }),
    );
    Ok(v)
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        for (k, val) in e {
            t.insert(k, val);
        }
    }
}
