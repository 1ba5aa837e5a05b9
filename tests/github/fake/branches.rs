//! Repository reads of the fake GitHub that `karajan check` and `run --dry-run` make to
//! verify forge access without writing: `GET /repos/{o}/{r}` (with the token's
//! `permissions`; 404 for a repository this fake does not hold, as GitHub answers for
//! one the token cannot see) and `GET /repos/{o}/{r}/branches/{branch}` (the branch
//! object of GitHub's REST docs, read from the bare repository on disk; `404 Branch not
//! found` otherwise). Branch names may hold `/`: the route takes the rest of the path.

use super::pulls::tip;
use super::rest::rest_ok;
use super::*;

fn not_found(s: &mut FakeState, message: &str, doc: &str) -> Response {
    rest_ok(
        s,
        StatusCode::NOT_FOUND,
        json!({"message": message, "documentation_url": format!("https://docs.github.com/rest/{doc}"), "status": "404"}),
        None,
    )
}

fn ours(o: &str, r: &str) -> bool {
    o.eq_ignore_ascii_case(OWNER) && r.eq_ignore_ascii_case(REPO)
}

pub(super) async fn get_repo(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(&mut s, &headers, format!("GET /repos/{o}/{r}")) {
        return resp;
    }
    if !ours(&o, &r) {
        return not_found(&mut s, "Not Found", "repos/repos#get-a-repository");
    }
    let body = json!({
        "id": 1296269, "node_id": "R_node1", "name": REPO, "full_name": format!("{OWNER}/{REPO}"),
        "private": true, "default_branch": s.default_branch,
        "html_url": format!("https://github.com/{OWNER}/{REPO}"),
        "permissions": {"admin": false, "maintain": false, "push": s.can_push, "triage": s.can_push, "pull": true},
    });
    rest_ok(&mut s, StatusCode::OK, body, None)
}

pub(super) async fn get_branch(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, branch)): Path<(String, String, String)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("GET /repos/{o}/{r}/branches/{branch}"),
    ) {
        return resp;
    }
    if !ours(&o, &r) {
        return not_found(&mut s, "Not Found", "branches/branches#get-a-branch");
    }
    let Some(sha) = tip(&s, &branch) else {
        return not_found(&mut s, "Branch not found", "branches/branches#get-a-branch");
    };
    let api = format!("https://api.github.com/repos/{OWNER}/{REPO}");
    let body = json!({
        "name": branch,
        "commit": {"sha": sha.to_string(), "url": format!("{api}/commits/{sha}")},
        "_links": {"self": format!("{api}/branches/{branch}"), "html": format!("https://github.com/{OWNER}/{REPO}/tree/{branch}")},
        "protected": false,
        "protection_url": format!("{api}/branches/{branch}/protection"),
    });
    rest_ok(&mut s, StatusCode::OK, body, None)
}
