//! The REST half of the fake GitHub (labels mode): issues, labels, and their writes.

use super::*;

pub(super) fn rest_issue(issue: &FakeIssue) -> Value {
    let mut v = json!({
        "node_id": issue.node_id(), "number": issue.number, "title": issue.title, "body": issue.body,
        "html_url": format!("https://github.com/{}/issues/{}", issue.repo, issue.number),
        "state": if issue.open {"open"} else {"closed"},
        "labels": issue.labels.iter().map(|l| json!({"name": l, "color": "ededed"})).collect::<Vec<_>>(),
        "assignees": [], "created_at": date(issue.number), "updated_at": stamp(issue.updated_at),
    });
    if issue.is_pr {
        v["pull_request"] = json!({"url": format!("https://api.github.com/repos/{}/pulls/{}", issue.repo, issue.number)});
    }
    v
}

pub(super) fn rest_ok(
    s: &mut FakeState,
    status: StatusCode,
    body: Value,
    link: Option<String>,
) -> Response {
    s.remaining = s.remaining.saturating_sub(1);
    let mut h = rate_headers(s, "core");
    if let Some(l) = link {
        h.insert("link", HeaderValue::from_str(&l).expect("link"));
    }
    (status, h, axum::Json(body)).into_response()
}

pub(super) async fn list_issues(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        match q.get("since") {
            // Named apart so tests can count incremental reads.
            Some(t) => format!("GET /repos/{o}/{r}/issues?since={t}"),
            None => format!(
                "GET /repos/{o}/{r}/issues?labels={}",
                q.get("labels").cloned().unwrap_or_default()
            ),
        },
    ) {
        return resp;
    }
    let wanted: Vec<String> = q
        .get("labels")
        .map(|l| l.split(',').map(str::to_lowercase).collect())
        .unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_else(|| "open".into());
    // GitHub: "Only show results that were last updated after the given time",
    // `YYYY-MM-DDTHH:MM:SSZ`.
    let since = q.get("since").map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap_or_else(|e| panic!("fake GitHub: `since={t}` is not ISO 8601: {e}"))
            .with_timezone(&chrono::Utc)
    });
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let all: Vec<Value> = s
        .issues
        .iter()
        .filter(|i| !i.draft && i.repo == format!("{o}/{r}"))
        .filter(|i| match state.as_str() {
            "all" => true,
            "closed" => !i.open,
            _ => i.open,
        })
        .filter(|i| since.is_none_or(|t| i.updated_at >= t))
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.to_lowercase() == *w))
        })
        .map(rest_issue)
        .collect();
    let pages = all.len().div_ceil(per_page).max(1);
    let body: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link = (page < pages).then(|| {
        let mut base = format!(
            "{}/repos/{o}/{r}/issues?labels={}&state={state}&per_page={per_page}",
            s.base_url,
            q.get("labels")
                .cloned()
                .unwrap_or_default()
                .replace(':', "%3A")
        );
        if let Some(t) = q.get("since") {
            base.push_str(&format!("&since={}", t.replace(':', "%3A")));
        }
        format!(
            "<{base}&page={}>; rel=\"next\", <{base}&page={pages}>; rel=\"last\"",
            page + 1
        )
    });
    rest_ok(&mut s, StatusCode::OK, json!(body), link)
}

pub(super) async fn get_issue(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("GET /repos/{o}/{r}/issues/{n}")) {
        return resp;
    }
    match s
        .issues
        .iter()
        .find(|i| i.number == n && !i.draft)
        .map(rest_issue)
    {
        Some(v) => rest_ok(&mut s, StatusCode::OK, v, None),
        None => rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        ),
    }
}

pub(super) async fn patch_issue(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("PATCH /repos/{o}/{r}/issues/{n}")) {
        return resp;
    }
    let Some(issue) = s.issues.iter_mut().find(|i| i.number == n) else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    if let Some(state) = body["state"].as_str() {
        issue.open = state == "open";
    }
    issue.updated_at = chrono::Utc::now();
    let v = rest_issue(issue);
    rest_ok(&mut s, StatusCode::OK, v, None)
}

pub(super) async fn add_labels(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("POST /repos/{o}/{r}/issues/{n}/labels"),
    ) {
        return resp;
    }
    let new: Vec<String> = body["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let Some(issue) = s.issues.iter_mut().find(|i| i.number == n) else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    let mut added = Vec::new();
    for l in new {
        if !issue.labels.iter().any(|x| x.eq_ignore_ascii_case(&l)) {
            issue.labels.push(l.clone());
            issue.updated_at = chrono::Utc::now();
            added.push((n, l));
        }
    }
    let labels = json!(
        issue
            .labels
            .iter()
            .map(|l| json!({"name": l}))
            .collect::<Vec<_>>()
    );
    s.moves.extend(added);
    rest_ok(&mut s, StatusCode::OK, labels, None)
}

pub(super) async fn remove_label(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n, name)): Path<(String, String, i64, String)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("DELETE /repos/{o}/{r}/issues/{n}/labels/{name}"),
    ) {
        return resp;
    }
    let Some(issue) = s.issues.iter_mut().find(|i| i.number == n) else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    let before = issue.labels.len();
    issue.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
    issue.updated_at = chrono::Utc::now();
    if issue.labels.len() == before {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Label does not exist"}),
            None,
        );
    }
    let labels = json!(
        issue
            .labels
            .iter()
            .map(|l| json!({"name": l}))
            .collect::<Vec<_>>()
    );
    rest_ok(&mut s, StatusCode::OK, labels, None)
}

pub(super) async fn list_labels(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("GET /repos/{o}/{r}/labels")) {
        return resp;
    }
    let body = json!(
        s.repo_labels
            .iter()
            .map(|l| json!({"name": l}))
            .collect::<Vec<_>>()
    );
    rest_ok(&mut s, StatusCode::OK, body, None)
}

pub(super) async fn create_label(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("POST /repos/{o}/{r}/labels")) {
        return resp;
    }
    let name = body["name"].as_str().unwrap_or("").to_string();
    if s.repo_labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
        let err = json!({"message": "Validation Failed", "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}], "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label"});
        return rest_ok(&mut s, StatusCode::UNPROCESSABLE_ENTITY, err, None);
    }
    s.repo_labels.push(name.clone());
    rest_ok(
        &mut s,
        StatusCode::CREATED,
        json!({"name": name, "color": body["color"]}),
        None,
    )
}
