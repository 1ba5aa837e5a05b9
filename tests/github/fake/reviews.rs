//! Pull-request reviews on the fake GitHub (REST), as karajan posts a review agent's
//! verdict: `GET` and `POST /repos/{o}/{r}/pulls/{n}/reviews`. GitHub's refusals are
//! reproduced with its words (`422 {"message": "Unprocessable Entity", "errors":
//! ["…"]}`): the token that opened a pull request (karajan's, `karajan-bot`) cannot
//! approve it ("Can not approve your own pull request") nor request changes on it ("Can
//! not request changes on your own pull request") unless `FakeState::reviewer_is_other`
//! says the token is another user; a line comment on a file the pull request does not
//! change is refused ("Pull request review thread path is invalid" — GitHub checks
//! against the diff; the fake checks the paths the head changes from the base).

use super::pulls::{bare, tip};
use super::rest::rest_ok;
use super::*;

/// The login karajan's token has on the fake.
pub const BOT: &str = "karajan-bot";

fn review_json(id: usize, r: &FakeReview) -> Value {
    json!({
        "id": id + 1,
        "node_id": format!("PRR_{}", id + 1),
        "user": {"login": r.author, "type": "User"},
        "body": r.body,
        "state": r.state,
        "commit_id": r.commit,
        "submitted_at": r.submitted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

pub(super) async fn list_reviews(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("GET /repos/{o}/{r}/pulls/{n}/reviews"),
    ) {
        return resp;
    }
    let Some(p) = s.pulls.iter().find(|p| p.number == n).cloned() else {
        return rest_ok(
            &mut s,
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found"}),
            None,
        );
    };
    let v: Vec<Value> = p
        .reviews
        .iter()
        .enumerate()
        .map(|(i, r)| review_json(i, r))
        .collect();
    rest_ok(&mut s, StatusCode::OK, json!(v), None)
}

/// The files the head of `p` changes from its base.
fn changed_paths(s: &FakeState, p: &FakePull) -> Vec<String> {
    let (Some(repo), Some(head), Some(base)) = (bare(s), tip(s, &p.head_ref), tip(s, &p.base))
    else {
        return vec![];
    };
    let tree = |oid| repo.find_commit(oid).and_then(|c| c.tree()).ok();
    let Ok(diff) = repo.diff_tree_to_tree(tree(base).as_ref(), tree(head).as_ref(), None) else {
        return vec![];
    };
    diff.deltas()
        .filter_map(|d| d.new_file().path().map(|p| p.display().to_string()))
        .collect()
}

fn refused(s: &mut FakeState, error: &str) -> Response {
    rest_ok(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"message": "Unprocessable Entity", "errors": [error],
               "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"}),
        None,
    )
}

pub(super) async fn create_review(
    State(st): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, i64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = st.lock().expect("state");
    if let Some(resp) = gate(
        &mut s,
        &headers,
        format!("POST /repos/{o}/{r}/pulls/{n}/reviews"),
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
    let p = s.pulls[i].clone();
    let event = body["event"].as_str().unwrap_or("");
    let own = !s.reviewer_is_other;
    let state = match event {
        "APPROVE" if own => return refused(&mut s, "Can not approve your own pull request"),
        "REQUEST_CHANGES" if own => {
            return refused(&mut s, "Can not request changes on your own pull request");
        }
        "APPROVE" => "APPROVED",
        "REQUEST_CHANGES" => "CHANGES_REQUESTED",
        "COMMENT" => "COMMENTED",
        _ => return refused(&mut s, "Unprocessable Entity"),
    };
    let paths = changed_paths(&s, &p);
    let mut comments = vec![];
    for c in body["comments"].as_array().into_iter().flatten() {
        let path = c["path"].as_str().unwrap_or("").to_string();
        if !paths.contains(&path) {
            return refused(&mut s, "Pull request review thread path is invalid");
        }
        comments.push((
            path,
            c["line"].as_i64(),
            c["body"].as_str().unwrap_or("").to_string(),
        ));
    }
    let head = tip(&s, &p.head_ref)
        .map(|o| o.to_string())
        .unwrap_or_default();
    let review = FakeReview {
        author: BOT.into(),
        state: state.into(),
        body: body["body"].as_str().unwrap_or("").to_string(),
        submitted_at: chrono::Utc::now(),
        commit: body["commit_id"].as_str().map_or(head, str::to_string),
        comments,
    };
    s.pulls[i].reviews.push(review.clone());
    if s.lose_review_answers > 0 {
        s.lose_review_answers -= 1;
        return (StatusCode::BAD_GATEWAY, "").into_response();
    }
    let id = s.pulls[i].reviews.len() - 1;
    let v = review_json(id, &review);
    rest_ok(&mut s, StatusCode::OK, v, None)
}
