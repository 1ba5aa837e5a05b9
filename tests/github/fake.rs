//! An in-process fake GitHub: the GraphQL operations karajan sends (dispatched on
//! `operationName`) and the REST subset of labels mode, with GitHub's shapes — HTTP 200
//! responses carrying `errors` with a `type`, `rateLimit { cost remaining resetAt limit }`
//! in every query, `x-ratelimit-*` headers on every response, `Link` pagination, pull
//! requests in the issues list — plus fault injection and request counting.
//!
//! GraphQL cost follows GitHub's published formula: each connection costs one request per
//! parent object (assuming every `first` is filled), the total divided by 100 and rounded
//! to the nearest whole number, minimum 1.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

mod branches;
mod checks;
mod pulls;
mod rest;
mod reviews;

use branches::{get_branch, get_repo};
pub use checks::{FakeCheck, FakeReview};
pub use pulls::FakePull;
use pulls::{create_pull, get_pull, list_pulls, merge_pull, patch_pull};
pub use reviews::BOT;
use reviews::{create_review, list_reviews};

use rest::{
    add_labels, create_label, get_issue, list_issues, list_labels, patch_issue, remove_label,
};

pub const TOKEN: &str = "ghp_fakeTOKEN_abcdef123456";
pub const OWNER: &str = "acme";
pub const REPO: &str = "app";
pub const PROJECT_ID: &str = "PVT_kwDOproject";
pub const FIELD_ID: &str = "PVTSSF_status";

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub number: i64,
    pub title: String,
    pub body: String,
    pub open: bool,
    pub labels: Vec<String>,
    pub is_pr: bool,
    pub draft: bool,
    /// The status option name on the board (`None`: not on the board; `""`: on the
    /// board with an empty status field).
    pub status: Option<String>,
    pub priority_option: Option<usize>,
    pub comments: Vec<(String, String, String)>,
    pub blocked_by: Vec<i64>,
    pub repo: String,
    /// Served as `updated_at` / `updatedAt`; every write through the API and every
    /// `Fake::edit` sets it to now, as GitHub does (labels, state, comments).
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl FakeIssue {
    pub fn node_id(&self) -> String {
        format!("I_node{}", self.number)
    }
    fn item_id(&self) -> String {
        format!("PVTI_item{}", self.number)
    }
}

/// One injected answer for the next request (any route).
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// An answer for one numbered request of one GraphQL operation: any status and any body
/// (an empty one included), given instead of (or, with `execute`, after carrying out)
/// the operation.
#[derive(Debug, Clone)]
pub struct OpFault {
    pub status: u16,
    pub body: String,
    pub execute: bool,
}

impl OpFault {
    /// HTTP 200 with an empty body.
    pub fn empty_200() -> OpFault {
        OpFault {
            status: 200,
            body: String::new(),
            execute: false,
        }
    }

    /// HTTP 200, `data: null` and GitHub's generic internal error.
    pub fn something_went_wrong() -> OpFault {
        OpFault {
            status: 200,
            body: json!({"data": null, "errors": [{"message": "Something went wrong while executing your query. Please include `0400:3A2B:1C2D` when reporting this issue."}]}).to_string(),
            execute: false,
        }
    }
}

#[derive(Debug)]
pub struct FakeState {
    pub base_url: String,
    /// The token reviews as another user than the pull requests' author (so it may
    /// approve or request changes); by default it opened them (karajan's token).
    pub reviewer_is_other: bool,
    pub owner_is_org: bool,
    pub project_title: String,
    pub options: Vec<String>,
    pub priority_options: Vec<String>,
    pub issues: Vec<FakeIssue>,
    pub repo_labels: Vec<String>,
    pub faults: VecDeque<Fault>,
    /// `(operation, n, fault)`: the n-th request (1-based, since start) of `operation`
    /// gets `fault`.
    pub op_faults: Vec<(String, usize, OpFault)>,
    /// GraphQL requests seen per operation.
    pub op_seen: std::collections::HashMap<String, usize>,
    pub blocked_by_supported: bool,
    /// Every request: `POST graphql <Operation>` or `GET /repos/...`.
    pub requests: Vec<String>,
    pub auth_failures: usize,
    /// Every write that changed an issue's column, in order: (number, the status
    /// option set, or the label added).
    pub moves: Vec<(i64, String)>,
    pub points_spent: u64,
    pub remaining: u64,
    pub reset_epoch: i64,
    /// Pull requests (the forge side), in the order they were opened.
    pub pulls: Vec<FakePull>,
    /// Where the bare repository `acme/app.git` lives (`git_root/acme/app.git`): pull
    /// requests read their branches there. `None`: every branch is unknown.
    pub git_root: Option<std::path::PathBuf>,
    pub default_branch: String,
    /// The next this many `POST .../pulls` open the pull request, then answer 502 with
    /// an empty body (the answer lost after the work was done).
    pub lose_pull_creates: usize,
    /// `POST .../pulls` opens the pull request at once but answers only after this
    /// long (a creation in flight when karajan is killed).
    pub delay_pull_creates: Option<std::time::Duration>,
    /// Every merge carried out: (pull request number, method).
    pub merge_requests: Vec<(i64, String)>,
    /// The next this many merges are carried out, then answered 502 with an empty body.
    pub lose_merge_answers: usize,
    /// The next this many reviews are recorded, then answered 502 with an empty body.
    pub lose_review_answers: usize,
    /// The token's `permissions.push` on `acme/app` (`GET /repos/acme/app`).
    pub can_push: bool,
}

#[derive(Clone)]
pub struct Fake {
    pub url: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(FakeState {
            base_url: url.clone(),
            reviewer_is_other: false,
            owner_is_org: true,
            project_title: "Roadmap".into(),
            options: vec![
                "Todo".into(),
                "In Progress".into(),
                "Human Review".into(),
                "Done".into(),
            ],
            priority_options: vec!["Urgent".into(), "High".into(), "Low".into()],
            issues: Vec::new(),
            repo_labels: vec!["bug".into()],
            faults: VecDeque::new(),
            op_faults: Vec::new(),
            op_seen: std::collections::HashMap::new(),
            blocked_by_supported: true,
            requests: Vec::new(),
            auth_failures: 0,
            moves: Vec::new(),
            points_spent: 0,
            remaining: 5000,
            reset_epoch: chrono::Utc::now().timestamp() + 3600,
            pulls: Vec::new(),
            git_root: None,
            default_branch: "main".into(),
            lose_pull_creates: 0,
            delay_pull_creates: None,
            merge_requests: Vec::new(),
            lose_merge_answers: 0,
            lose_review_answers: 0,
            can_push: true,
        }));
        let app = Router::new()
            .route("/graphql", post(graphql))
            .route("/repos/{owner}/{repo}/issues", get(list_issues))
            .route(
                "/repos/{owner}/{repo}/issues/{number}",
                get(get_issue).patch(patch_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}/labels",
                post(add_labels),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}/labels/{name}",
                delete(remove_label),
            )
            .route(
                "/repos/{owner}/{repo}/labels",
                get(list_labels).post(create_label),
            )
            .route("/repos/{owner}/{repo}", get(get_repo))
            .route("/repos/{owner}/{repo}/branches/{*branch}", get(get_branch))
            .route(
                "/repos/{owner}/{repo}/pulls",
                get(list_pulls).post(create_pull),
            )
            .route(
                "/repos/{owner}/{repo}/pulls/{number}",
                get(get_pull).patch(patch_pull),
            )
            .route(
                "/repos/{owner}/{repo}/pulls/{number}/merge",
                axum::routing::put(merge_pull),
            )
            .route(
                "/repos/{owner}/{repo}/pulls/{number}/reviews",
                get(list_reviews).post(create_review),
            )
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { url, state }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake state")
    }

    /// Adds an issue of `acme/app` with the given board status and labels.
    /// Before the fake served anything, the issue is a fixture last updated long ago;
    /// added later, it is created (so updated) now, as on GitHub.
    pub fn add_issue(&self, number: i64, status: Option<&str>, labels: &[&str]) {
        let mut s = self.lock();
        let updated_at = if s.requests.is_empty() {
            initial_update(number)
        } else {
            chrono::Utc::now()
        };
        s.issues.push(FakeIssue {
            number,
            title: format!("Issue {number}"),
            body: format!("Body of {number}"),
            open: true,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            is_pr: false,
            draft: false,
            status: status.map(str::to_string),
            priority_option: None,
            comments: Vec::new(),
            blocked_by: Vec::new(),
            repo: format!("{OWNER}/{REPO}"),
            updated_at,
        });
    }

    pub fn edit(&self, number: i64, f: impl FnOnce(&mut FakeIssue)) {
        let mut s = self.lock();
        let issue = s
            .issues
            .iter_mut()
            .find(|i| i.number == number)
            .expect("issue");
        f(issue);
        issue.updated_at = chrono::Utc::now();
    }

    /// The issue as an `issues` delivery carries it (`issue`: the REST issue as it is).
    pub fn issue_delivery(&self, number: i64) -> Value {
        rest::rest_issue(&self.issue(number))
    }

    pub fn issue(&self, number: i64) -> FakeIssue {
        self.lock()
            .issues
            .iter()
            .find(|i| i.number == number)
            .cloned()
            .expect("issue")
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// `fault` for the `n`-th request (1-based, counted since start) of `operation`.
    pub fn inject_at(&self, operation: &str, n: usize, fault: OpFault) {
        self.lock()
            .op_faults
            .push((operation.to_string(), n, fault));
    }

    pub fn request_count(&self) -> usize {
        self.lock().requests.len()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

fn rate_headers(s: &FakeState, resource: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        h.insert(k, HeaderValue::from_str(&v).expect("header"));
    };
    put(&mut h, "x-ratelimit-limit", "5000".into());
    put(&mut h, "x-ratelimit-remaining", s.remaining.to_string());
    put(
        &mut h,
        "x-ratelimit-used",
        (5000 - s.remaining.min(5000)).to_string(),
    );
    put(&mut h, "x-ratelimit-reset", s.reset_epoch.to_string());
    put(&mut h, "x-ratelimit-resource", resource.to_string());
    h
}

/// Records the request, checks the token, and answers an injected fault if one waits.
fn gate(s: &mut FakeState, headers: &HeaderMap, what: String) -> Option<Response> {
    s.requests.push(what);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        s.auth_failures += 1;
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": "Bad credentials"})),
            )
                .into_response(),
        );
    }
    let fault = s.faults.pop_front()?;
    let mut h = rate_headers(s, "core");
    for (k, v) in &fault.headers {
        h.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    Some(
        (
            StatusCode::from_u16(fault.status).expect("status"),
            h,
            axum::Json(fault.body),
        )
            .into_response(),
    )
}

fn cost_of(op: &str, vars: &Value) -> u64 {
    let first = |k: &str| vars.get(k).and_then(Value::as_u64).unwrap_or(0);
    // Requests per connection: the top connection once, nested ones once per parent.
    let requests = match op {
        "ProjectItems" => 1 + first("first"),
        "IssueDetail" => 3,
        // `nodes(ids:)` is a list, not a connection; `blockedBy` is one per issue.
        "IssueBlockers" => vars
            .get("ids")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u64),
        "IssueComments" => 1,
        // latestReviews, their comments (50 per review), commits, the rollup's contexts.
        "PullRequestStatus" => 3 + 50,
        _ => 0,
    };
    ((requests as f64 / 100.0).round() as u64).max(1)
}

/// When a fixture issue was last updated: a minute after its creation, long ago.
pub fn initial_update(number: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&date(number + 1))
        .expect("a fixture date")
        .with_timezone(&chrono::Utc)
}

/// GitHub's timestamp format: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn date(n: i64) -> String {
    format!("2026-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60)
}

async fn graphql(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    let op = req
        .get("operationName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(r) = gate(&mut s, &headers, format!("POST graphql {op}")) {
        return r;
    }
    let seen = {
        let n = s.op_seen.entry(op.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let op_fault = s
        .op_faults
        .iter()
        .position(|(o, n, _)| *o == op && *n == seen)
        .map(|i| s.op_faults.remove(i).2);
    let raw = |s: &FakeState, f: OpFault| {
        (
            StatusCode::from_u16(f.status).expect("status"),
            rate_headers(s, "graphql"),
            f.body,
        )
            .into_response()
    };
    let op_fault = match op_fault {
        Some(f) if !f.execute => return raw(&s, f),
        other => other,
    };
    let vars = req.get("variables").cloned().unwrap_or(Value::Null);
    if op == "IssueBlockers" && !s.blocked_by_supported {
        let body = json!({"errors": [{
            "path": ["query IssueBlockers", "nodes", "... on Issue", "blockedBy"],
            "extensions": {"code": "undefinedField", "typeName": "Issue", "fieldName": "blockedBy"},
            "locations": [{"line": 4, "column": 7}],
            "message": "Field 'blockedBy' doesn't exist on type 'Issue'"
        }]});
        return (
            StatusCode::OK,
            rate_headers(&s, "graphql"),
            axum::Json(body),
        )
            .into_response();
    }
    let fields = crate::linear::fake::multi::mutation_fields(
        req.get("query").and_then(Value::as_str).unwrap_or(""),
    );
    let (mut data, errors) = if fields.len() > 1 {
        run_mutations(&mut s, &fields, &vars)
    } else {
        run_op(&mut s, &op, &vars)
    };
    let is_query = !matches!(
        op.as_str(),
        "AddComment" | "UpdateItemStatus" | "CloseIssue" | "MoveAndComment"
    );
    if is_query {
        let cost = cost_of(&op, &vars);
        s.points_spent += cost;
        s.remaining = s.remaining.saturating_sub(cost);
        if let Some(obj) = data.as_object_mut() {
            let reset = chrono::DateTime::from_timestamp(s.reset_epoch, 0)
                .expect("ts")
                .to_rfc3339();
            obj.insert(
                "rateLimit".into(),
                json!({"cost": cost, "remaining": s.remaining, "resetAt": reset, "limit": 5000}),
            );
        }
    }
    if let Some(f) = op_fault {
        return raw(&s, f);
    }
    let mut body = json!({"data": data});
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    (
        StatusCode::OK,
        rate_headers(&s, "graphql"),
        axum::Json(body),
    )
        .into_response()
}

/// Several mutations in one document, as GitHub runs them: each top-level field in
/// order, answered under its alias; a failed field is null with its error (`path` =
/// the alias) and, GitHub's payloads being nullable, the fields after it still run.
fn run_mutations(
    s: &mut FakeState,
    fields: &[crate::linear::fake::multi::Field],
    vars: &Value,
) -> (Value, Vec<Value>) {
    let mut data = serde_json::Map::new();
    let mut errors = Vec::new();
    for f in fields {
        let op = match f.name.as_str() {
            "updateProjectV2ItemFieldValue" => "UpdateItemStatus",
            "addComment" => "AddComment",
            "closeIssue" => "CloseIssue",
            other => panic!("fake GitHub: unknown mutation field {other:?}"),
        };
        // The field's arguments, named as the single operation's variables.
        let args: serde_json::Map<String, Value> = f
            .args
            .iter()
            .map(|(arg, var)| {
                let name = match arg.as_str() {
                    "singleSelectOptionId" => "optionId",
                    other => other,
                };
                (name.to_string(), vars[var.as_str()].clone())
            })
            .collect();
        let (mut answer, errs) = run_op(s, op, &Value::Object(args));
        data.insert(f.alias.clone(), answer[f.name.as_str()].take());
        for mut e in errs {
            e["path"] = json!([f.alias]);
            errors.push(e);
        }
    }
    (Value::Object(data), errors)
}

/// One operation's `(data, errors)`.
fn run_op(s: &mut FakeState, op: &str, vars: &Value) -> (Value, Vec<Value>) {
    let v = |k: &str| vars.get(k).cloned().unwrap_or(Value::Null);
    match op {
        "ResolveProject" => resolve_project(s, vars),
        "ProjectItems" => (project_items(s, vars), vec![]),
        "IssueDetail" => (issue_detail(s, vars), vec![]),
        "IssueBlockers" => (issue_blockers(s, vars), vec![]),
        "IssueComments" => (issue_comments(s, vars), vec![]),
        "MarkReady" => {
            let id = v("id");
            let Some(n) = s
                .pulls
                .iter()
                .find(|p| json!(format!("PR_node{}", p.number)) == id)
                .map(|p| p.number)
            else {
                return not_found("markPullRequestReadyForReview", &id);
            };
            s.pulls
                .iter_mut()
                .filter(|p| p.number == n)
                .for_each(|p| p.draft = false);
            s.issues
                .iter_mut()
                .filter(|i| i.number == n)
                .for_each(|i| i.draft = false);
            (
                json!({"markPullRequestReadyForReview": {"pullRequest": {"number": n, "isDraft": false}}}),
                vec![],
            )
        }
        "PullRequestStatus" => checks::pull_request_status(s, vars),
        "AddComment" => {
            let id = v("subjectId");
            let body = v("body").as_str().unwrap_or("").to_string();
            match s.issues.iter_mut().find(|i| json!(i.node_id()) == id) {
                Some(issue) => {
                    let n = issue.comments.len() as i64;
                    issue.updated_at = chrono::Utc::now();
                    issue
                        .comments
                        .push(("karajan-bot".into(), body, date(100 + n)));
                    (
                        json!({"addComment": {"commentEdge": {"node": {"id": format!("IC_{n}")}}}}),
                        vec![],
                    )
                }
                None => not_found("addComment", &id),
            }
        }
        "UpdateItemStatus" => {
            let option = v("optionId");
            let name = (0..s.options.len())
                .find(|i| json!(format!("opt{i}")) == option)
                .map(|i| s.options[i].clone());
            let item = v("itemId");
            let found = s.issues.iter_mut().find(|i| json!(i.item_id()) == item);
            match (found, name, v("fieldId") == json!(FIELD_ID)) {
                (Some(issue), Some(name), true) => {
                    issue.status = Some(name.clone());
                    let number = issue.number;
                    let item = issue.item_id();
                    s.moves.push((number, name));
                    (
                        json!({"updateProjectV2ItemFieldValue": {"projectV2Item": {"id": item}}}),
                        vec![],
                    )
                }
                _ => not_found("updateProjectV2ItemFieldValue", &item),
            }
        }
        "CloseIssue" => {
            let id = v("issueId");
            match s.issues.iter_mut().find(|i| json!(i.node_id()) == id) {
                Some(issue) => {
                    issue.open = false;
                    issue.updated_at = chrono::Utc::now();
                    (
                        json!({"closeIssue": {"issue": {"id": issue.node_id(), "state": "CLOSED"}}}),
                        vec![],
                    )
                }
                None => not_found("closeIssue", &id),
            }
        }
        other => (
            Value::Null,
            vec![json!({"message": format!("unknown operation {other}")})],
        ),
    }
}

fn not_found(path: &str, id: &Value) -> (Value, Vec<Value>) {
    (
        json!({path: null}),
        vec![
            json!({"type": "NOT_FOUND", "path": [path], "message": format!("Could not resolve to a node with the global id of '{id}'")}),
        ],
    )
}

fn select_field(name: &str, id: &str, options: &[String]) -> Value {
    json!({"__typename": "ProjectV2SingleSelectField", "id": id, "name": name,
        "options": options.iter().enumerate().map(|(i, o)| json!({"id": format!("{}{i}", if id == FIELD_ID {"opt"} else {"prio"}), "name": o})).collect::<Vec<_>>()})
}

fn resolve_project(s: &FakeState, vars: &Value) -> (Value, Vec<Value>) {
    let owner = vars["owner"].as_str().unwrap_or("");
    let status_field = vars["statusField"].as_str().unwrap_or("");
    let priority_field = vars["priorityField"].as_str().unwrap_or("");
    let shape = (vars["number"] == json!(7)).then(|| json!({
        "id": PROJECT_ID, "title": s.project_title, "url": "https://github.com/orgs/acme/projects/7",
        "status": (status_field == "Status").then(|| select_field("Status", FIELD_ID, &s.options)),
        "priority": (priority_field == "Priority").then(|| select_field("Priority", "PVTSSF_prio", &s.priority_options)),
    }));
    let found = owner == OWNER;
    let mut errors = Vec::new();
    let org = if s.owner_is_org && found {
        json!({"projectV2": shape})
    } else {
        errors.push(json!({"type": "NOT_FOUND", "path": ["organization"], "message": format!("Could not resolve to an Organization with the login of '{owner}'.")}));
        Value::Null
    };
    let user = if !s.owner_is_org && found {
        json!({"projectV2": shape})
    } else {
        errors.push(json!({"type": "NOT_FOUND", "path": ["user"], "message": format!("Could not resolve to a User with the login of '{owner}'.")}));
        Value::Null
    };
    (json!({"organization": org, "user": user}), errors)
}

fn status_value(s: &FakeState, issue: &FakeIssue) -> Value {
    match &issue.status {
        // On the board, status field empty.
        Some(name) if name.is_empty() => Value::Null,
        Some(name) => {
            let i = s.options.iter().position(|o| o == name).unwrap_or(0);
            json!({"__typename": "ProjectV2ItemFieldSingleSelectValue", "name": name, "optionId": format!("opt{i}")})
        }
        None => Value::Null,
    }
}

fn priority_value(s: &FakeState, issue: &FakeIssue) -> Value {
    match issue.priority_option {
        Some(i) => {
            json!({"__typename": "ProjectV2ItemFieldSingleSelectValue", "name": s.priority_options[i], "optionId": format!("prio{i}")})
        }
        None => Value::Null,
    }
}

fn issue_core(issue: &FakeIssue) -> Value {
    json!({
        "__typename": "Issue", "id": issue.node_id(), "number": issue.number, "title": issue.title,
        "body": issue.body, "url": format!("https://github.com/{}/issues/{}", issue.repo, issue.number),
        "state": if issue.open {"OPEN"} else {"CLOSED"}, "createdAt": date(issue.number), "updatedAt": stamp(issue.updated_at),
        "repository": {"nameWithOwner": issue.repo},
    })
}

fn project_items(s: &FakeState, vars: &Value) -> Value {
    let first = vars["first"].as_u64().unwrap_or(100) as usize;
    let labels_first = vars["labelsFirst"].as_u64().unwrap_or(20) as usize;
    let start: usize = vars["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("cursor:"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let on_board: Vec<&FakeIssue> = s.issues.iter().filter(|i| i.status.is_some()).collect();
    let page: Vec<Value> = on_board.iter().skip(start).take(first).map(|issue| {
        let (kind, content) = if issue.draft {
            ("DRAFT_ISSUE", json!({"__typename": "DraftIssue", "title": issue.title}))
        } else if issue.is_pr {
            ("PULL_REQUEST", json!({"__typename": "PullRequest", "number": issue.number, "url": "https://github.com/acme/app/pull/1"}))
        } else {
            let mut c = issue_core(issue);
            c["labels"] = json!({"nodes": issue.labels.iter().take(labels_first).map(|l| json!({"name": l})).collect::<Vec<_>>()});
            ("ISSUE", c)
        };
        json!({"id": issue.item_id(), "type": kind, "isArchived": false, "status": status_value(s, issue), "priority": priority_value(s, issue), "content": content})
    }).collect();
    let end = start + page.len();
    json!({"node": {"__typename": "ProjectV2", "items": {
        "pageInfo": {"hasNextPage": end < on_board.len(), "endCursor": format!("cursor:{end}")},
        "nodes": page,
    }}})
}

fn find<'a>(s: &'a FakeState, vars: &Value) -> Option<&'a FakeIssue> {
    let repo = format!("{}/{}", vars["owner"].as_str()?, vars["name"].as_str()?);
    let n = vars["number"].as_i64()?;
    s.issues
        .iter()
        .find(|i| i.number == n && i.repo == repo && !i.is_pr && !i.draft)
}

fn issue_detail(s: &FakeState, vars: &Value) -> Value {
    let Some(issue) = find(s, vars) else {
        return json!({"repository": {"issue": null}});
    };
    let mut c = issue_core(issue);
    c["labels"] =
        json!({"nodes": issue.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()});
    c["assignees"] = json!({"nodes": [{"login": "octocat"}]});
    let items: Vec<Value> = issue.status.iter().map(|_| json!({"id": issue.item_id(), "isArchived": false, "project": {"id": PROJECT_ID}, "status": status_value(s, issue), "priority": priority_value(s, issue)})).collect();
    c["projectItems"] = json!({"nodes": items});
    json!({"repository": {"issue": c}})
}

fn issue_blockers(s: &FakeState, vars: &Value) -> Value {
    let nodes: Vec<Value> = vars["ids"].as_array().into_iter().flatten().map(|id| {
        match s.issues.iter().find(|i| json!(i.node_id()) == *id) {
            Some(issue) => {
                let blockers: Vec<Value> = issue.blocked_by.iter().filter_map(|n| s.issues.iter().find(|i| i.number == *n)).map(|b| json!({"number": b.number, "state": if b.open {"OPEN"} else {"CLOSED"}, "repository": {"nameWithOwner": b.repo}})).collect();
                json!({"__typename": "Issue", "id": issue.node_id(), "blockedBy": {"nodes": blockers}})
            }
            None => Value::Null,
        }
    }).collect();
    json!({"nodes": nodes})
}

fn issue_comments(s: &FakeState, vars: &Value) -> Value {
    let Some(issue) = s.issues.iter().find(|i| json!(i.node_id()) == vars["id"]) else {
        return json!({"node": null});
    };
    let first = vars["first"].as_u64().unwrap_or(100) as usize;
    let start: usize = vars["after"]
        .as_str()
        .and_then(|c| c.strip_prefix("c:"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = issue.comments.iter().skip(start).take(first).map(|(a, b, at)| json!({"body": b, "createdAt": at, "author": {"__typename": "User", "login": a}})).collect();
    let end = start + page.len();
    json!({"node": {"__typename": "Issue", "comments": {"pageInfo": {"hasNextPage": end < issue.comments.len(), "endCursor": format!("c:{end}")}, "nodes": page}}})
}
