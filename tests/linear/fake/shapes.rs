//! The records and filters of the fake Linear: issue and team JSON as Linear shapes
//! them, pagination, and the subset of `IssueFilter` and `CommentFilter` the adapter
//! sends. Comments are never edited here, so a comment's `updatedAt` is its `createdAt`;
//! a new comment leaves its issue's `updatedAt` as it was (Linear does not promise to
//! touch it).

use super::*;

pub(super) fn team_json(_w: &World, key: &str) -> Value {
    let name = _w
        .teams
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    json!({"id": format!("team-{key}"), "key": key, "name": name})
}

/// An issue node of `ListIssues` (`vars`: the operation's variables, which size and
/// filter the issue's two comment connections).
pub(super) fn issue_json(w: &World, i: &FakeIssue, vars: &Value) -> Value {
    if let Some(raw) = &i.raw_override {
        return raw.clone();
    }
    let state = w
        .states
        .iter()
        .find(|s| s.id == i.state_id)
        .expect("issue state");
    let relations: Vec<Value> = i
        .blocked_by
        .iter()
        .map(|b| {
            let blocker = w.issue(b);
            let bs = w.states.iter().find(|s| s.id == blocker.state_id).expect("state");
            json!({"type": "blocks", "issue": {"identifier": b, "state": {"name": bs.name, "type": bs.kind}}})
        })
        .collect();
    json!({
        "id": i.id,
        "identifier": i.identifier(),
        "title": i.title,
        "description": i.description,
        "url": format!("https://linear.app/acme/issue/{}", i.identifier()),
        "branchName": format!("ada/{}", i.identifier().to_lowercase()),
        "priority": i.priority,
        "createdAt": ts(i.created_at),
        "updatedAt": ts(i.updated_at),
        "state": {"id": state.id, "name": state.name, "type": state.kind},
        "team": {"id": format!("team-{}", i.team), "key": i.team},
        "labels": {"nodes": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()},
        "inverseRelations": {"nodes": relations},
        "commentsHead": comment_connection(w, i, vars, End::First),
        "commentsTail": comment_connection(w, i, vars, End::Last)
    })
}

enum End {
    First,
    Last,
}

/// `comments(first|last: $recentComments, orderBy: createdAt, filter: $humanComments)`
/// of an issue node: that many from one end of the connection's order, in that order.
fn comment_connection(w: &World, i: &FakeIssue, vars: &Value, end: End) -> Value {
    let count = vars["recentComments"]
        .as_u64()
        .expect("ListIssues sends $recentComments") as usize;
    let filter = &vars["humanComments"];
    assert!(filter.is_object(), "ListIssues sends $humanComments");
    let matching: Vec<&FakeComment> = w
        .comments_in_order(&i.id)
        .into_iter()
        .filter(|c| comment_matches(c, filter))
        .collect();
    let skip = match end {
        End::First => 0,
        End::Last => matching.len().saturating_sub(count),
    };
    let nodes: Vec<Value> = matching
        .into_iter()
        .skip(skip)
        .take(count)
        .map(comment_json)
        .collect();
    json!({ "nodes": nodes })
}

/// The subset of `CommentFilter` the adapter sends.
pub(super) fn comment_matches(c: &FakeComment, filter: &Value) -> bool {
    let filter = filter.as_object().expect("CommentFilter is an object");
    filter.iter().all(|(field, cond)| match field.as_str() {
        "body" => string_matches(&c.body, cond),
        "updatedAt" => date_matches(c.created_at, cond),
        other => panic!("fake Linear: unsupported comment filter {other}"),
    })
}

fn date_matches(at: DateTime<Utc>, comparator: &Value) -> bool {
    comparator
        .as_object()
        .expect("date comparator")
        .iter()
        .all(|(op, arg)| match op.as_str() {
            "gte" => {
                let since = DateTime::parse_from_rfc3339(arg.as_str().expect("timestamp"))
                    .expect("an RFC 3339 timestamp");
                at >= since
            }
            other => panic!("fake Linear: unsupported date comparator {other}"),
        })
}

/// Linear-style forward pagination: `first` (default 50), opaque `after` cursor. Each
/// node comes with its rank in the underlying collection's order (the fake's issues,
/// states or comments, unfiltered), and a cursor names the rank of the last node
/// served: the next page starts after it, wherever it is now. So, as with Linear's
/// cursors, an issue that leaves the filtered set between two pages (moved to another
/// column) does not shift the next page past issues not yet served (an offset into
/// the filtered list would skip them).
pub(super) fn paginate(all: Vec<(usize, Value)>, vars: &Value) -> Value {
    let first = vars["first"].as_u64().unwrap_or(50) as usize;
    let after = vars["after"].as_str().map(|cursor| {
        cursor
            .strip_prefix("cursor:")
            .and_then(|n| n.parse::<usize>().ok())
            .expect("a cursor this fake issued")
    });
    let start = after.map_or(0, |rank| all.partition_point(|(r, _)| *r <= rank));
    let page: Vec<&(usize, Value)> = all.iter().skip(start).take(first).collect();
    let end = start + page.len();
    json!({
        "nodes": page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        "pageInfo": {
            "hasNextPage": end < all.len(),
            "endCursor": page.last().map_or(Value::Null, |(rank, _)| Value::from(format!("cursor:{rank}")))
        }
    })
}

pub(super) fn string_matches(value: &str, comparator: &Value) -> bool {
    comparator
        .as_object()
        .expect("a string comparator")
        .iter()
        .all(|(op, arg)| match op.as_str() {
            "eq" => arg.as_str() == Some(value),
            "notContains" => !value.contains(arg.as_str().expect("notContains: a string")),
            "in" => arg
                .as_array()
                .expect("in: list")
                .iter()
                .any(|a| a.as_str() == Some(value)),
            other => panic!("fake Linear: unsupported string comparator {other}"),
        })
}

pub(super) fn state_matches(s: &FakeState, filter: &Value) -> bool {
    let Some(filter) = filter.as_object() else {
        return true;
    };
    filter.iter().all(|(field, cond)| match field.as_str() {
        "name" => string_matches(&s.name, cond),
        "type" => string_matches(&s.kind, cond),
        "team" => cond
            .as_object()
            .expect("team filter")
            .iter()
            .all(|(f, c)| match f.as_str() {
                "key" => string_matches(&s.team, c),
                other => panic!("fake Linear: unsupported team filter {other}"),
            }),
        other => panic!("fake Linear: unsupported state filter {other}"),
    })
}

pub(super) fn issue_matches(w: &World, i: &FakeIssue, filter: &Value) -> bool {
    let filter = filter.as_object().expect("IssueFilter is an object");
    filter.iter().all(|(field, cond)| match field.as_str() {
        "and" => cond
            .as_array()
            .expect("and: list")
            .iter()
            .all(|f| issue_matches(w, i, f)),
        "or" => cond
            .as_array()
            .expect("or: list")
            .iter()
            .any(|f| issue_matches(w, i, f)),
        "project" => match &i.project {
            Some(slug) => cond
                .as_object()
                .expect("project filter")
                .iter()
                .all(|(f, c)| match f.as_str() {
                    "slugId" => string_matches(slug, c),
                    other => panic!("fake Linear: unsupported project filter {other}"),
                }),
            None => false,
        },
        "team" => cond
            .as_object()
            .expect("team filter")
            .iter()
            .all(|(f, c)| match f.as_str() {
                "key" => string_matches(&i.team, c),
                other => panic!("fake Linear: unsupported team filter {other}"),
            }),
        "state" => {
            let state = w.states.iter().find(|s| s.id == i.state_id).expect("state");
            state_matches(state, cond)
        }
        "number" => cond
            .as_object()
            .expect("number comparator")
            .iter()
            .all(|(op, arg)| match op.as_str() {
                "in" => arg
                    .as_array()
                    .expect("in")
                    .iter()
                    .any(|n| n.as_f64() == Some(i.number as f64)),
                other => panic!("fake Linear: unsupported number comparator {other}"),
            }),
        "updatedAt" => date_matches(i.updated_at, cond),
        "comments" => cond
            .as_object()
            .expect("comment collection filter")
            .iter()
            .all(|(f, c)| match f.as_str() {
                "some" => w
                    .comments
                    .iter()
                    .any(|comment| comment.issue_id == i.id && comment_matches(comment, c)),
                other => panic!("fake Linear: unsupported comment collection filter {other}"),
            }),
        other => panic!("fake Linear: unsupported issue filter {other}"),
    })
}

/// Linear's cursors are stable: an issue leaving the filtered set between two pages
/// does not make the next page skip an issue not yet served.
#[test]
fn the_next_page_starts_after_the_last_issue_served_wherever_the_set_moved() {
    let issues = |ranks: &[usize]| -> Vec<(usize, Value)> {
        ranks
            .iter()
            .map(|r| (*r, json!({"id": format!("i{r}")})))
            .collect()
    };
    let ids = |page: &Value| -> Vec<String> {
        page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = paginate(issues(&[0, 2, 3, 5, 8]), &json!({"first": 2}));
    assert_eq!(ids(&first), ["i0", "i2"]);
    assert_eq!(first["pageInfo"]["endCursor"], "cursor:2");
    // Issue 0 and the last one served (2) moved to another column meanwhile.
    let after = json!({"first": 2, "after": first["pageInfo"]["endCursor"]});
    let second = paginate(issues(&[3, 5, 8]), &after);
    assert_eq!(ids(&second), ["i3", "i5"], "nothing skipped");
    assert_eq!(second["pageInfo"]["hasNextPage"], true);
    let third = paginate(
        issues(&[3, 5, 8]),
        &json!({"first": 2, "after": second["pageInfo"]["endCursor"]}),
    );
    assert_eq!(ids(&third), ["i8"]);
    assert_eq!(third["pageInfo"]["hasNextPage"], false);
    let empty = paginate(issues(&[]), &json!({}));
    assert_eq!(empty["pageInfo"]["endCursor"], Value::Null);
}
