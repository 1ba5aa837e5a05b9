//! The pull-request half of the fake GitHub (REST), as karajan's forge uses it: list by
//! `head=owner:branch` and `state`, open, update (title, body, reopen). (The repository
//! and its branches are read in `branches`.) Shapes and refusals follow GitHub's REST
//! docs: `422 Validation Failed` with `errors[].message` for "A pull request already
//! exists for acme:branch." and "No commits between main and branch",
//! `errors[].code: invalid` for a head or base that does not exist. Branches and
//! commits are read from the bare repository on disk (`FakeState::git_root`), where
//! karajan really pushes.
//!
//! A pull request is an issue too on GitHub (one number sequence; the issues API lists
//! it with a `pull_request` key): each one opened here adds its `FakeIssue` with
//! `is_pr`, so the tracker's reads see it as they would on GitHub.

use super::rest::rest_ok;
use super::*;

#[derive(Debug, Clone)]
pub struct FakePull {
    pub number: i64,
    pub head_ref: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub open: bool,
    pub merged: bool,
    /// Check runs and commit statuses by commit sha (see `checks`).
    pub checks: std::collections::HashMap<String, Vec<super::FakeCheck>>,
    /// Submitted reviews, in order.
    pub reviews: Vec<super::FakeReview>,
}

pub(super) fn bare(s: &FakeState) -> Option<git2::Repository> {
    let root = s.git_root.as_ref()?;
    git2::Repository::open_bare(root.join(format!("{OWNER}/{REPO}.git"))).ok()
}

pub(super) fn tip(s: &FakeState, branch: &str) -> Option<git2::Oid> {
    let repo = bare(s)?;
    let r = repo.find_reference(&format!("refs/heads/{branch}")).ok()?;
    r.target()
}

fn rest_pull(s: &FakeState, p: &FakePull) -> Value {
    let sha = tip(s, &p.head_ref)
        .map(|o| o.to_string())
        .unwrap_or_default();
    json!({
        "node_id": format!("PR_node{}", p.number),
        "number": p.number,
        "html_url": format!("https://github.com/{OWNER}/{REPO}/pull/{}", p.number),
        "state": if p.open { "open" } else { "closed" },
        "title": p.title,
        "body": p.body,
        "draft": p.draft,
        "merged_at": if p.merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        "head": {"ref": p.head_ref, "sha": sha, "label": format!("{OWNER}:{}", p.head_ref)},
        "base": {"ref": p.base, "label": format!("{OWNER}:{}", p.base)},
    })
}

fn invalid(s: &mut FakeState, errors: Value) -> Response {
    rest_ok(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Validation Failed", "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"}),
        None,
    )
}

pub(super) async fn list_pulls(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("GET /repos/{o}/{r}/pulls")) {
        return resp;
    }
    // `head`: "user:ref-name"; `state`: open (default), closed or all.
    let head = q.get("head").cloned();
    let state = q.get("state").cloned().unwrap_or_else(|| "open".into());
    let found: Vec<Value> = s
        .pulls
        .iter()
        .filter(|p| {
            head.as_ref()
                .is_none_or(|h| *h == format!("{OWNER}:{}", p.head_ref))
        })
        .filter(|p| match state.as_str() {
            "all" => true,
            "closed" => !p.open,
            _ => p.open,
        })
        .map(|p| rest_pull(&s, p))
        .collect();
    rest_ok(&mut s, StatusCode::OK, Value::Array(found), None)
}

pub(super) async fn create_pull(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let (answer, delay) = {
        let mut s = st.lock().expect("state");
        let delay = s.delay_pull_creates;
        (create(&mut s, &headers, &o, &r, &body), delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    answer
}

fn create(s: &mut FakeState, headers: &HeaderMap, o: &str, r: &str, body: &Value) -> Response {
    if let Some(resp) = gate(s, headers, format!("POST /repos/{o}/{r}/pulls")) {
        return resp;
    }
    let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let (head, base, title) = (field("head"), field("base"), field("title"));
    if title.is_empty() {
        return invalid(
            s,
            json!([{"resource": "PullRequest", "field": "title", "code": "missing_field"}]),
        );
    }
    let (Some(head_tip), Some(base_tip)) = (tip(s, &head), tip(s, &base)) else {
        let which = if tip(s, &head).is_none() {
            "head"
        } else {
            "base"
        };
        return invalid(
            s,
            json!([{"resource": "PullRequest", "field": which, "code": "invalid"}]),
        );
    };
    if s.pulls
        .iter()
        .any(|p| p.open && p.head_ref == head && p.base == base)
    {
        return invalid(
            s,
            json!([{"resource": "PullRequest", "code": "custom",
                "message": format!("A pull request already exists for {OWNER}:{head}.")}]),
        );
    }
    let ahead = bare(s)
        .and_then(|repo| repo.graph_ahead_behind(head_tip, base_tip).ok())
        .is_some_and(|(ahead, _)| ahead > 0);
    if !ahead {
        return invalid(
            s,
            json!([{"resource": "PullRequest", "code": "custom",
                "message": format!("No commits between {base} and {head}")}]),
        );
    }
    let number = s
        .issues
        .iter()
        .map(|i| i.number)
        .chain(s.pulls.iter().map(|p| p.number))
        .max()
        .unwrap_or(0)
        + 1;
    let pull = FakePull {
        number,
        head_ref: head,
        base,
        title: title.clone(),
        body: field("body"),
        draft: body["draft"].as_bool().unwrap_or(false),
        open: true,
        merged: false,
        checks: Default::default(),
        reviews: vec![],
    };
    s.issues.push(FakeIssue {
        number,
        title,
        body: pull.body.clone(),
        open: true,
        labels: vec![],
        is_pr: true,
        draft: pull.draft,
        status: None,
        priority_option: None,
        comments: vec![],
        blocked_by: vec![],
        repo: format!("{OWNER}/{REPO}"),
        updated_at: chrono::Utc::now(),
    });
    s.pulls.push(pull.clone());
    if s.lose_pull_creates > 0 {
        // Carried out, but the answer never arrives (a gateway error after the work).
        s.lose_pull_creates -= 1;
        return (StatusCode::BAD_GATEWAY, "").into_response();
    }
    let v = rest_pull(s, &pull);
    rest_ok(s, StatusCode::CREATED, v, None)
}

pub(super) async fn get_pull(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("GET /repos/{o}/{r}/pulls/{n}")) {
        return resp;
    }
    match s.pulls.iter().find(|p| p.number == n).cloned() {
        Some(p) => {
            let v = rest_pull(&s, &p);
            rest_ok(&mut s, StatusCode::OK, v, None)
        }
        None => rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        ),
    }
}

pub(super) async fn patch_pull(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("PATCH /repos/{o}/{r}/pulls/{n}")) {
        return resp;
    }
    let Some(i) = s.pulls.iter().position(|p| p.number == n) else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    let p = &mut s.pulls[i];
    if let Some(t) = body["title"].as_str() {
        p.title = t.to_string();
    }
    if let Some(b) = body["body"].as_str() {
        p.body = b.to_string();
    }
    if let Some(state) = body["state"].as_str()
        && !p.merged
    {
        p.open = state == "open";
    }
    let p = p.clone();
    let v = rest_pull(&s, &p);
    rest_ok(&mut s, StatusCode::OK, v, None)
}

/// `PUT /repos/{o}/{r}/pulls/{n}/merge`: really merges in the bare repository. `merge`
/// makes a merge commit (base, head); `squash` one commit on base with the merged tree;
/// `rebase` fast-forwards a head based on the base and otherwise lands like `squash`
/// (the fake does not replay commits one by one). Answers as GitHub: 200 with the
/// commit `sha`; 405 "Pull Request is not mergeable" on conflicts or when closed; 409
/// "Head branch was modified" when `sha` is not the head. "Closes #N" in the body
/// closes issue N when the base is the default branch, as GitHub does.
pub(super) async fn merge_pull(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("PUT /repos/{o}/{r}/pulls/{n}/merge"),
    ) {
        return resp;
    }
    let Some(i) = s.pulls.iter().position(|p| p.number == n) else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    let pull = s.pulls[i].clone();
    let not_mergeable = json!({"message": "Pull Request is not mergeable",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"});
    if !pull.open || pull.merged {
        return rest_ok(&mut s, StatusCode::METHOD_NOT_ALLOWED, not_mergeable, None);
    }
    let (Some(repo), Some(head), Some(base)) =
        (bare(&s), tip(&s, &pull.head_ref), tip(&s, &pull.base))
    else {
        return rest_ok(&mut s, StatusCode::METHOD_NOT_ALLOWED, not_mergeable, None);
    };
    if let Some(sha) = body["sha"].as_str()
        && sha != head.to_string()
    {
        return rest_ok(
            &mut s,
            StatusCode::CONFLICT,
            json!({"message": "Head branch was modified. Review and try the merge again."}),
            None,
        );
    }
    let method = body["merge_method"].as_str().unwrap_or("merge");
    let Some(merged) = land(&repo, &pull, method, head, base) else {
        return rest_ok(&mut s, StatusCode::METHOD_NOT_ALLOWED, not_mergeable, None);
    };
    s.merge_requests.push((n, method.to_string()));
    let p = &mut s.pulls[i];
    p.merged = true;
    p.open = false;
    let default = s.default_branch.clone();
    let closes: Vec<i64> = if pull.base == default {
        closed_by(&pull.body)
    } else {
        vec![]
    };
    for issue in s.issues.iter_mut() {
        if issue.number == n || closes.contains(&issue.number) {
            issue.open = false;
            issue.updated_at = chrono::Utc::now();
        }
    }
    if s.lose_merge_answers > 0 {
        s.lose_merge_answers -= 1;
        return (StatusCode::BAD_GATEWAY, "").into_response();
    }
    rest_ok(
        &mut s,
        StatusCode::OK,
        json!({"sha": merged.to_string(), "merged": true, "message": "Pull Request successfully merged"}),
        None,
    )
}

/// The commit the base branch moves to, or `None` on conflicts.
fn land(
    repo: &git2::Repository,
    pull: &FakePull,
    method: &str,
    head: git2::Oid,
    base: git2::Oid,
) -> Option<git2::Oid> {
    let (h, b) = (repo.find_commit(head).ok()?, repo.find_commit(base).ok()?);
    let sig = git2::Signature::now("GitHub", "noreply@github.com").ok()?;
    let base_ref = format!("refs/heads/{}", pull.base);
    if method == "rebase" && repo.graph_descendant_of(head, base).unwrap_or(false) {
        repo.reference(&base_ref, head, true, "fake: rebase").ok()?;
        return Some(head);
    }
    let mut index = repo.merge_commits(&b, &h, None).ok()?;
    if index.has_conflicts() {
        return None;
    }
    let tree = repo.find_tree(index.write_tree_to(repo).ok()?).ok()?;
    let message = format!("{} (#{})", pull.title, pull.number);
    let parents: Vec<&git2::Commit> = if method == "merge" {
        vec![&b, &h]
    } else {
        vec![&b]
    };
    let oid = repo
        .commit(None, &sig, &sig, &message, &tree, &parents)
        .ok()?;
    repo.reference(&base_ref, oid, true, "fake: merge").ok()?;
    Some(oid)
}

/// The issues a body closes on merge (`Closes #N`, `Fixes #N`, `Resolves #N`).
fn closed_by(body: &str) -> Vec<i64> {
    let lower = body.to_lowercase();
    let mut out = vec![];
    for word in ["closes #", "fixes #", "resolves #"] {
        for (i, _) in lower.match_indices(word) {
            let digits: String = lower[i + word.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out
}
