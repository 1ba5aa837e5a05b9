//! An in-process fake of Linear's GraphQL API, faithful to its response shapes: `data`,
//! `errors[].extensions.code`, `pageInfo { hasNextPage endCursor }` and the rate-limit
//! headers. It dispatches on `operationName` (a document with several mutations runs field
//! by field, as Linear does: `fake/multi.rs`), interprets the subset of `IssueFilter` the
//! adapter sends (and its `CommentFilter`s; it panics on anything else, so shape drift is
//! caught), holds issues, states and comments in memory, records every request and can
//! inject faults.
//!
//! The drain benchmark (`benches/drain/`) reuses it through `#[path]`: it sets a
//! per-request latency and reads the in-flight high-water mark and when `ListIssues`
//! answers served which issues.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

mod delivery;
pub mod multi;
mod shapes;

use shapes::{issue_json, issue_matches, paginate, state_matches, team_json};

pub const KEY: &str = "lin_api_FAKE_s3cr3t_K3Y_0123456789";
pub const REQUEST_LIMIT: u64 = 1500;

/// One fault, consumed by the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 400 with `extensions.code: RATELIMITED`, requests budget exhausted until
    /// `reset_in` from now.
    RateLimited400 { reset_in: Duration },
    /// HTTP 429 with `retry-after: secs`.
    TooMany429 { retry_after_secs: u64 },
    /// HTTP 500 with an HTML body.
    ServerError,
    /// Answer normally, but only after this delay.
    Slow(Duration),
    /// HTTP 200 with a body that is not JSON.
    MalformedJson,
    /// HTTP 200 with a GraphQL error of this code and message.
    GraphqlError { code: String, message: String },
    /// The request is carried out, then the answer is cut off mid-body (the connection
    /// drops): the client cannot know whether its write happened.
    ExecuteThenTruncate,
    /// The request is carried out, then the answer comes only after this delay (longer
    /// than the client's timeout: the response is lost).
    ExecuteThenDelay(Duration),
    /// The request is carried out, then HTTP 500 is answered.
    ServerErrorAfterExecuting,
}

#[derive(Debug, Clone)]
pub struct FakeState {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub position: f64,
    pub team: String,
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub id: String,
    /// As Linear shows it (`ENG-42`); kept verbatim so fixtures may choose their own.
    pub identifier: String,
    pub team: String,
    pub number: u64,
    pub title: String,
    pub description: Option<String>,
    pub state_id: String,
    pub labels: Vec<String>,
    pub priority: f64,
    pub project: Option<String>,
    /// Identifiers of the issues that block this one.
    pub blocked_by: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When set, served instead of the real node (to inject malformed records).
    pub raw_override: Option<Value>,
}

impl FakeIssue {
    pub fn identifier(&self) -> String {
        self.identifier.clone()
    }
}

#[derive(Debug, Clone)]
pub struct FakeComment {
    pub id: String,
    pub issue_id: String,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub operation: String,
    pub variables: Value,
    pub authorization: Option<String>,
    /// When the request arrived (the drain benchmark times approvals with it).
    #[allow(dead_code)]
    pub received: Instant,
}

#[derive(Debug, Default)]
pub struct World {
    pub teams: Vec<(String, String)>,
    /// (slugId, name, team keys)
    pub projects: Vec<(String, String, Vec<String>)>,
    pub states: Vec<FakeState>,
    pub issues: Vec<FakeIssue>,
    pub comments: Vec<FakeComment>,
    pub faults: VecDeque<Fault>,
    /// Faults for the next request of one operation (`(operationName, fault)`), taken
    /// in order; they apply before the general queue.
    pub op_faults: Vec<(String, Fault)>,
    pub requests: Vec<Recorded>,
    /// For each `ListIssues` answer, the identifiers of the issues it served.
    pub issues_served: Vec<Vec<String>>,
    /// When each of those answers was computed (after the latency): the drain benchmark
    /// learns from it when karajan could first see an approval.
    #[allow(dead_code)]
    pub served_at: Vec<Instant>,
    /// Serve comments newest first (Linear's order is not something to rely on), in
    /// `IssueComments` and in the comment connections of issue nodes alike.
    pub comments_newest_first: bool,
    /// Refuse every new comment with this `(code, message)` (e.g. a body Linear rejects).
    pub comment_error: Option<(String, String)>,
    /// Link attachments `(issue id, url, title)`: one per URL and issue, as on Linear
    /// (attaching the same URL again updates its title).
    pub attachments: Vec<(String, String, String)>,
    /// Every request is answered only after a delay drawn uniformly from this range
    /// (a real API's round trip); zero by default.
    pub latency: (Duration, Duration),
    /// Requests being handled now, and the most there ever were at once.
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// What `x-ratelimit-requests-remaining` reports next (starts at `REQUEST_LIMIT`).
    pub requests_remaining: u64,
    next_id: u64,
}

impl World {
    pub fn state_named(&self, team: &str, name: &str) -> &FakeState {
        self.states
            .iter()
            .find(|s| s.team == team && s.name == name)
            .unwrap_or_else(|| panic!("fake: no state {name} in {team}"))
    }

    pub fn issue(&self, identifier: &str) -> &FakeIssue {
        self.issues
            .iter()
            .find(|i| i.identifier() == identifier)
            .unwrap_or_else(|| panic!("fake: no issue {identifier}"))
    }

    pub fn issue_mut(&mut self, identifier: &str) -> &mut FakeIssue {
        self.issues
            .iter_mut()
            .find(|i| i.identifier() == identifier)
            .unwrap_or_else(|| panic!("fake: no issue {identifier}"))
    }

    /// The column an issue is in.
    pub fn column_of(&self, identifier: &str) -> String {
        let issue = self.issue(identifier);
        self.states
            .iter()
            .find(|s| s.id == issue.state_id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// Adds an issue in `column` of team ENG, project `proj`, created `n` minutes after
    /// a fixed origin; returns its identifier.
    pub fn add_issue(&mut self, column: &str, title: &str) -> String {
        let number = self.issues.len() as u64 + 1;
        let state_id = self.state_named("ENG", column).id.clone();
        let created = origin() + chrono::Duration::minutes(number as i64);
        self.issues.push(FakeIssue {
            id: format!("issue-uuid-{number}"),
            identifier: format!("ENG-{number}"),
            team: "ENG".into(),
            number,
            title: title.into(),
            description: Some(format!("Description of {title}")),
            state_id,
            labels: vec![],
            priority: 0.0,
            project: Some("proj1".into()),
            blocked_by: vec![],
            created_at: created,
            updated_at: self.fresh_update(created),
            raw_override: None,
        });
        format!("ENG-{number}")
    }

    /// Adds team `key` with the standard board (`ENG_COLUMNS`), in project `proj1`.
    pub fn add_team(&mut self, key: &str) {
        if self.teams.iter().any(|(k, _)| k == key) {
            return;
        }
        self.teams.push((key.into(), format!("Team {key}")));
        for (i, (name, kind)) in ENG_COLUMNS.iter().enumerate() {
            self.states.push(FakeState {
                id: format!("state-{}-{i}", key.to_lowercase()),
                name: (*name).into(),
                kind: (*kind).into(),
                position: i as f64,
                team: key.into(),
            });
        }
        if let Some(project) = self.projects.iter_mut().find(|p| p.0 == "proj1") {
            project.2.push(key.into());
        }
    }

    /// Adds an issue with exactly this identifier (its team is created when new).
    pub fn add_issue_as(&mut self, identifier: &str, title: &str, column: &str) -> &mut FakeIssue {
        let (team, number) = identifier.rsplit_once('-').expect("TEAM-N identifier");
        let number: u64 = number.parse().expect("numeric identifier");
        self.add_team(team);
        let state_id = self.state_named(team, column).id.clone();
        let created = origin() + chrono::Duration::minutes(self.issues.len() as i64 + 1);
        self.issues.push(FakeIssue {
            id: format!("issue-uuid-{}", identifier.to_lowercase()),
            identifier: identifier.into(),
            team: team.into(),
            number,
            title: title.into(),
            description: None,
            state_id,
            labels: vec![],
            priority: 0.0,
            project: Some("proj1".into()),
            blocked_by: vec![],
            created_at: created,
            updated_at: self.fresh_update(created),
            raw_override: None,
        });
        self.issues.last_mut().expect("just pushed")
    }

    /// An issue added before the fake served anything is a fixture that existed long
    /// before (last updated when created); one added later is created now, as in Linear,
    /// so reads filtered on `updatedAt` see it.
    fn fresh_update(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        if self.requests.is_empty() {
            created
        } else {
            created.max(Utc::now())
        }
    }

    /// Moves an issue as a human would in the Linear UI.
    pub fn move_issue(&mut self, identifier: &str, column: &str) {
        let team = self.issue(identifier).team.clone();
        let state_id = self.state_named(&team, column).id.clone();
        let issue = self.issue_mut(identifier);
        issue.state_id = state_id;
        issue.updated_at = Utc::now();
    }

    /// Adds a comment at `at` by `author`.
    pub fn add_comment(&mut self, identifier: &str, body: &str, author: &str, at: DateTime<Utc>) {
        let issue_id = self.issue(identifier).id.clone();
        self.next_id += 1;
        let id = format!("comment-{}", self.next_id);
        self.comments.push(FakeComment {
            id,
            issue_id,
            body: body.into(),
            author: author.into(),
            created_at: at,
        });
    }

    pub fn comments_of(&self, identifier: &str) -> Vec<FakeComment> {
        let issue_id = self.issue(identifier).id.clone();
        self.comments
            .iter()
            .filter(|c| c.issue_id == issue_id)
            .cloned()
            .collect()
    }

    /// The comments of the issue with this id, in the order Linear's connection lists
    /// them: by creation, oldest first (or newest first with `comments_newest_first`).
    pub fn comments_in_order(&self, issue_id: &str) -> Vec<&FakeComment> {
        let mut comments: Vec<&FakeComment> = self
            .comments
            .iter()
            .filter(|c| c.issue_id == issue_id)
            .collect();
        comments.sort_by_key(|c| c.created_at);
        if self.comments_newest_first {
            comments.reverse();
        }
        comments
    }

    /// How many requests named `operation` were made.
    pub fn count(&self, operation: &str) -> usize {
        self.requests
            .iter()
            .filter(|r| r.operation == operation)
            .count()
    }
}

/// A comment node as Linear shapes it (a user's comment: no bot actor).
pub fn comment_json(c: &FakeComment) -> Value {
    json!({
        "id": c.id, "body": c.body, "createdAt": ts(c.created_at),
        "user": {"name": c.author, "displayName": c.author}, "botActor": null
    })
}

pub fn origin() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T09:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The standard board of team ENG, in board order.
pub const ENG_COLUMNS: &[(&str, &str)] = &[
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("Human Review", "started"),
    ("Gate Approved", "started"),
    ("Rework", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
];

pub struct FakeLinear {
    pub url: String,
    world: Arc<Mutex<World>>,
}

impl FakeLinear {
    /// Starts a fake with team ENG (board `ENG_COLUMNS`), team OPS (Todo/Done), and
    /// project `proj1` spanning ENG.
    pub async fn start() -> FakeLinear {
        let mut world = World {
            requests_remaining: REQUEST_LIMIT,
            ..World::default()
        };
        world.teams = vec![
            ("ENG".into(), "Engineering".into()),
            ("OPS".into(), "Operations".into()),
        ];
        world.projects = vec![("proj1".into(), "Karajan pilot".into(), vec!["ENG".into()])];
        for (i, (name, kind)) in ENG_COLUMNS.iter().enumerate() {
            world.states.push(FakeState {
                id: format!("state-eng-{i}"),
                name: (*name).into(),
                kind: (*kind).into(),
                position: i as f64,
                team: "ENG".into(),
            });
        }
        for (i, (name, kind)) in [("Todo", "unstarted"), ("Done", "completed")]
            .iter()
            .enumerate()
        {
            world.states.push(FakeState {
                id: format!("state-ops-{i}"),
                name: (*name).into(),
                kind: (*kind).into(),
                position: i as f64,
                team: "OPS".into(),
            });
        }
        let world = Arc::new(Mutex::new(world));
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Linear server");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLinear {
            url: format!("http://{addr}/graphql"),
            world,
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn fault(&self, fault: Fault) {
        self.world().faults.push_back(fault);
    }

    /// A fault for the next request of `operation` only.
    pub fn fault_on(&self, operation: &str, fault: Fault) {
        self.world().op_faults.push((operation.to_string(), fault));
    }

    pub fn count(&self, operation: &str) -> usize {
        self.world().count(operation)
    }

    pub fn total_requests(&self) -> usize {
        self.world().requests.len()
    }
}

fn rate_headers(world: &mut World, headers: &mut HeaderMap) {
    world.requests_remaining = world.requests_remaining.saturating_sub(1);
    let reset = (Utc::now() + chrono::Duration::hours(1)).timestamp_millis();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    set("x-ratelimit-requests-limit", REQUEST_LIMIT.to_string());
    set(
        "x-ratelimit-requests-remaining",
        world.requests_remaining.to_string(),
    );
    set("x-ratelimit-requests-reset", reset.to_string());
    set("x-ratelimit-complexity-limit", "3000000".to_string());
    set("x-ratelimit-complexity-remaining", "2999000".to_string());
    set("x-ratelimit-complexity-reset", reset.to_string());
}

/// Counts a request in flight for as long as it lives (every return path included).
struct InFlight(Arc<Mutex<World>>);

impl InFlight {
    fn enter(world: &Arc<Mutex<World>>) -> InFlight {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        w.in_flight += 1;
        w.max_in_flight = w.max_in_flight.max(w.in_flight);
        InFlight(world.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.in_flight = w.in_flight.saturating_sub(1);
    }
}

fn error_body(code: &str, message: &str) -> Value {
    json!({
        "errors": [{
            "message": message,
            "extensions": {"type": "graphql error", "code": code, "userPresentableMessage": message}
        }],
        "data": null
    })
}

async fn graphql(
    State(world): State<Arc<Mutex<World>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight::enter(&world);
    let received = Instant::now();
    let request: Value = serde_json::from_slice(&body).expect("the adapter sends JSON");
    let operation = request["operationName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    let fields = multi::mutation_fields(request["query"].as_str().unwrap_or_default());
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (fault, latency) = {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        w.requests.push(Recorded {
            operation: operation.clone(),
            variables: variables.clone(),
            authorization: authorization.clone(),
            received,
        });
        let fault = match w.op_faults.iter().position(|(op, _)| *op == operation) {
            Some(i) => Some(w.op_faults.remove(i).1),
            None => w.faults.pop_front(),
        };
        let (low, high) = w.latency;
        let latency = if high > low {
            rand::random_range(low..=high)
        } else {
            low
        };
        (fault, latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if authorization.as_deref() != Some(KEY) {
        let body = error_body(
            "AUTHENTICATION_ERROR",
            "Authentication required, not authenticated",
        );
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let mut extra = HeaderMap::new();
    let mut after = None;
    match fault {
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(
            f @ (Fault::ExecuteThenTruncate
            | Fault::ExecuteThenDelay(_)
            | Fault::ServerErrorAfterExecuting),
        ) => after = Some(f),
        Some(Fault::RateLimited400 { reset_in }) => {
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            rate_headers(&mut w, &mut extra);
            let reset = (Utc::now() + chrono::Duration::from_std(reset_in).unwrap_or_default())
                .timestamp_millis();
            extra.insert(
                "x-ratelimit-requests-remaining",
                HeaderValue::from_static("0"),
            );
            extra.insert(
                "x-ratelimit-requests-reset",
                HeaderValue::from_str(&reset.to_string()).expect("header"),
            );
            let body = error_body("RATELIMITED", "Rate limit exceeded");
            return (StatusCode::BAD_REQUEST, extra, axum::Json(body)).into_response();
        }
        Some(Fault::TooMany429 { retry_after_secs }) => {
            extra.insert(
                "retry-after",
                HeaderValue::from_str(&retry_after_secs.to_string()).expect("header"),
            );
            return (StatusCode::TOO_MANY_REQUESTS, extra, "Too Many Requests").into_response();
        }
        Some(Fault::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html><body>502 Bad Gateway</body></html>",
            )
                .into_response();
        }
        Some(Fault::MalformedJson) => {
            return (StatusCode::OK, "{\"data\": {\"issues\": ").into_response();
        }
        Some(Fault::GraphqlError { code, message }) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(error_body(&code, &message)),
            )
                .into_response();
        }
        None => {}
    }
    let answered = {
        let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
        rate_headers(&mut w, &mut extra);
        if fields.len() > 1 {
            Ok(multi::execute(&fields, &variables, |name, args| {
                let operation = match name {
                    "issueUpdate" => "MoveIssue",
                    "commentCreate" => "CreateComment",
                    other => panic!("fake Linear: unknown mutation field {other:?}"),
                };
                answer(&mut w, operation, args)
            }))
        } else {
            answer(&mut w, &operation, &variables).map(|data| json!({ "data": data }))
        }
    };
    let body = match answered {
        Ok(body) => body,
        Err((code, message)) => {
            return (
                StatusCode::BAD_REQUEST,
                extra,
                axum::Json(error_body(&code, &message)),
            )
                .into_response();
        }
    };
    match after {
        Some(Fault::ExecuteThenDelay(delay)) => {
            tokio::time::sleep(delay).await;
        }
        Some(Fault::ServerErrorAfterExecuting) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream failed").into_response();
        }
        Some(_) => {
            // Half of the answer, then the connection breaks.
            let text = body.to_string();
            let half = text.as_bytes()[..text.len() / 2].to_vec();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::other("fake: connection dropped")),
            ];
            let stream = futures::stream::iter(chunks);
            return (StatusCode::OK, extra, axum::body::Body::from_stream(stream)).into_response();
        }
        None => {}
    }
    (StatusCode::OK, extra, axum::Json(body)).into_response()
}

type Answer = Result<Value, (String, String)>;

fn answer(w: &mut World, operation: &str, vars: &Value) -> Answer {
    match operation {
        "Viewer" => Ok(json!({
            "viewer": {"id": "user-1", "name": "Ada Lovelace", "email": "ada@example.com"},
            "organization": {"name": "Acme", "urlKey": "acme"}
        })),
        "ProjectBySlug" => {
            let slug = vars["slugId"].as_str().unwrap_or_default();
            let nodes: Vec<Value> = w
                .projects
                .iter()
                .filter(|(s, _, _)| s == slug)
                .map(|(s, name, teams)| {
                    json!({
                        "id": format!("project-{s}"), "name": name, "slugId": s,
                        "url": format!("https://linear.app/acme/project/{s}"),
                        "teams": {"nodes": teams.iter().map(|k| team_json(w, k)).collect::<Vec<_>>()}
                    })
                })
                .collect();
            Ok(json!({"projects": {"nodes": nodes}}))
        }
        "TeamByKey" => {
            let key = vars["key"].as_str().unwrap_or_default();
            let nodes: Vec<Value> = w
                .teams
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(k, _)| team_json(w, k))
                .collect();
            Ok(json!({"teams": {"nodes": nodes}}))
        }
        "WorkflowStates" => {
            let filter = &vars["filter"];
            let all: Vec<(usize, Value)> = w
                .states
                .iter()
                .enumerate()
                .filter(|(_, s)| state_matches(s, filter))
                .map(|(rank, s)| {
                    (
                        rank,
                        json!({
                            "id": s.id, "name": s.name, "type": s.kind, "position": s.position,
                            "team": {"id": format!("team-{}", s.team), "key": s.team}
                        }),
                    )
                })
                .collect();
            Ok(json!({"workflowStates": paginate(all, vars)}))
        }
        "ListIssues" => {
            let filter = &vars["filter"];
            let all: Vec<(usize, Value)> = w
                .issues
                .iter()
                .enumerate()
                .filter(|(_, i)| issue_matches(w, i, filter))
                .map(|(rank, i)| (rank, issue_json(w, i, vars)))
                .collect();
            let page = paginate(all, vars);
            let served = page["nodes"]
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .filter_map(|n| n["identifier"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            w.issues_served.push(served);
            w.served_at.push(Instant::now());
            Ok(json!({"issues": page}))
        }
        "IssueComments" => {
            let id = vars["id"].as_str().unwrap_or_default();
            let Some(issue) = w.issues.iter().find(|i| i.id == id || i.identifier() == id) else {
                return Err(("INVALID_INPUT".into(), "Entity not found: Issue".into()));
            };
            let nodes: Vec<(usize, Value)> = w
                .comments_in_order(&issue.id)
                .into_iter()
                .map(comment_json)
                .enumerate()
                .collect();
            Ok(json!({"issue": {"id": issue.id, "comments": paginate(nodes, vars)}}))
        }
        "MoveIssue" => {
            let id = vars["id"].as_str().unwrap_or_default().to_string();
            let state_id = vars["stateId"].as_str().unwrap_or_default().to_string();
            let Some(state) = w.states.iter().find(|s| s.id == state_id).cloned() else {
                return Err((
                    "INVALID_INPUT".into(),
                    "Entity not found: WorkflowState".into(),
                ));
            };
            let Some(issue) = w.issues.iter_mut().find(|i| i.id == id) else {
                return Err(("INVALID_INPUT".into(), "Entity not found: Issue".into()));
            };
            issue.state_id = state.id.clone();
            issue.updated_at = Utc::now();
            let identifier = issue.identifier();
            Ok(json!({"issueUpdate": {"success": true, "issue": {
                "id": id, "identifier": identifier, "updatedAt": ts(issue.updated_at),
                "state": {"id": state.id, "name": state.name}
            }}}))
        }
        "CreateComment" => {
            if let Some(refused) = w.comment_error.clone() {
                return Err(refused);
            }
            let issue_id = vars["issueId"].as_str().unwrap_or_default().to_string();
            let body = vars["body"].as_str().unwrap_or_default().to_string();
            let Some(identifier) = w
                .issues
                .iter()
                .find(|i| i.id == issue_id)
                .map(FakeIssue::identifier)
            else {
                return Err(("INVALID_INPUT".into(), "Entity not found: Issue".into()));
            };
            // Strictly increasing timestamps, so ordering by createdAt is total.
            let last = w.comments.iter().map(|c| c.created_at).max();
            let at =
                Utc::now().max(last.map_or(Utc::now(), |l| l + chrono::Duration::milliseconds(1)));
            w.add_comment(&identifier, &body, "karajan-bot", at);
            let id = w.comments.last().map(|c| c.id.clone()).unwrap_or_default();
            Ok(
                json!({"commentCreate": {"success": true, "comment": {"id": id, "createdAt": ts(at)}}}),
            )
        }
        "AttachLink" => {
            let issue_id = vars["issueId"].as_str().unwrap_or_default().to_string();
            let url = vars["url"].as_str().unwrap_or_default().to_string();
            let title = vars["title"].as_str().unwrap_or(&url).to_string();
            if !w.issues.iter().any(|i| i.id == issue_id) {
                return Err(("INVALID_INPUT".into(), "Entity not found: Issue".into()));
            }
            let at = w
                .attachments
                .iter()
                .position(|(i, u, _)| *i == issue_id && *u == url);
            match at {
                Some(n) => w.attachments[n].2 = title,
                None => w.attachments.push((issue_id.clone(), url.clone(), title)),
            }
            let n = w
                .attachments
                .iter()
                .position(|(i, u, _)| *i == issue_id && *u == url)
                .unwrap_or(0);
            Ok(json!({"attachmentLinkURL": {"success": true,
                "attachment": {"id": format!("attachment-{n}"), "url": url}}}))
        }
        other => panic!("fake Linear: unknown operation {other:?}"),
    }
}
