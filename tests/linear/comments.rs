//! The recent human comments a run's prompt quotes come with the poll: the candidate
//! read asks for each issue's newest human comments in the same `ListIssues` request, so
//! getting a run ready reads no comments at all, and a comment written after a read
//! reaches the next read (incremental ones included) and so the next run's prompt.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use karajan::tracker::Tracker;

use super::e2e::run_once;
use super::fake::{FakeLinear, origin};
use super::{columns, tracker};
use crate::e2e::support::Scratch;

/// The text of every `prompt.md` under `dir`, in path order.
fn prompts(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n == "prompt.md") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(dir, &mut paths);
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_poll_reads_no_comments_and_quotes_the_human_ones() {
    let s = Scratch::quickstart();
    crate::linear::gate_approved(&s);
    let fake = FakeLinear::start().await;
    let id = {
        let mut w = fake.world();
        let id = w.add_issue("Todo", "Add a friendly greeting");
        w.add_comment(
            &id,
            "Please greet in French too.",
            "Grace Hopper",
            origin() + Duration::hours(1),
        );
        w.add_comment(
            &id,
            "<!-- karajan: a note -->\nkarajan's own note",
            "karajan-bot",
            origin() + Duration::hours(2),
        );
        id
    };

    run_once(s.path(), &fake).await;
    assert_eq!(fake.world().column_of(&id), "Human Review");
    assert_eq!(
        fake.count("IssueComments"),
        0,
        "the poll brought the comments: no read before the run"
    );
    let first = prompts(s.path());
    assert_eq!(first.len(), 1, "one run, one prompt");
    assert!(
        first[0].contains("Grace Hopper") && first[0].contains("> Please greet in French too."),
        "the prompt quotes the human comment written before the poll:\n{}",
        first[0]
    );
    assert!(
        !first[0].contains("karajan's own note"),
        "karajan's comments are not quoted:\n{}",
        first[0]
    );

    // After that read, a human comments and approves: the next run quotes the new comment.
    {
        let mut w = fake.world();
        w.add_comment(
            &id,
            "Ship it, but keep it short.",
            "Alan Turing",
            Utc::now(),
        );
        w.move_issue(&id, "Gate Approved");
    }
    run_once(s.path(), &fake).await;
    assert_eq!(fake.world().column_of(&id), "Done");
    assert_eq!(fake.count("IssueComments"), 0, "still no comment read");
    let all = prompts(s.path());
    let second: Vec<&String> = all.iter().filter(|p| !first.contains(p)).collect();
    assert_eq!(second.len(), 1, "the finalize run's prompt");
    assert!(
        second[0].contains("Alan Turing") && second[0].contains("> Ship it, but keep it short."),
        "the comment written after the first read is quoted:\n{}",
        second[0]
    );
    assert!(second[0].contains("> Please greet in French too."));
}

/// The human comments a read carries, as (author, body).
fn recent(ticket: &karajan::domain::TicketSnapshot) -> Vec<(String, String)> {
    ticket
        .recent_comments
        .as_ref()
        .expect("a Linear read carries the recent human comments")
        .iter()
        .map(|c| (c.author.clone(), c.body.clone()))
        .collect()
}

#[tokio::test]
async fn an_incremental_poll_brings_a_comment_written_after_the_last_read() {
    let fake = FakeLinear::start().await;
    let (a, b) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "a"), w.add_issue("Todo", "b"))
    };
    let t = tracker(&fake);
    let watched = columns(&["Todo"]);
    let first = t.fetch_candidates(&watched).await.unwrap();
    assert!(first.tickets.iter().all(|t| recent(t).is_empty()));
    // A comment alone: Linear's docs do not promise it touches the issue's `updatedAt`
    // (the fake leaves it as it was), yet the next, incremental, poll must see it.
    let updated = fake.world().issue(&b).updated_at;
    fake.world()
        .add_comment(&b, "Use the blue button.", "Grace Hopper", Utc::now());
    assert_eq!(fake.world().issue(&b).updated_at, updated);
    let second = t.fetch_candidates(&watched).await.unwrap();
    let by_id = |id: &str| {
        second
            .tickets
            .iter()
            .find(|t| t.identifier == id)
            .cloned()
            .expect("still a candidate")
    };
    assert_eq!(
        recent(&by_id(&b)),
        vec![(
            "Grace Hopper".to_string(),
            "Use the blue button.".to_string()
        )]
    );
    assert!(recent(&by_id(&a)).is_empty());
    let w = fake.world();
    assert_eq!(w.count("ListIssues"), 2, "one request per poll");
    assert_eq!(w.count("IssueComments"), 0);
    assert!(
        w.requests[1].variables["filter"].get("state").is_none(),
        "the second poll was incremental: {}",
        w.requests[1].variables["filter"]
    );
}

/// Seven human comments and a karajan one in between: the read keeps the newest five
/// human ones, oldest first, whichever direction Linear orders the connection in.
#[tokio::test]
async fn a_read_keeps_the_newest_human_comments_whatever_linear_s_order() {
    for newest_first in [false, true] {
        let fake = FakeLinear::start().await;
        let id = {
            let mut w = fake.world();
            w.comments_newest_first = newest_first;
            let id = w.add_issue("Todo", "busy");
            for n in 1..=7 {
                w.add_comment(
                    &id,
                    &format!("human {n}"),
                    "Grace Hopper",
                    origin() + Duration::hours(n),
                );
            }
            w.add_comment(
                &id,
                "<!-- karajan: a note -->\nbot",
                "karajan-bot",
                origin() + Duration::minutes(6 * 60 + 30),
            );
            id
        };
        let t = tracker(&fake);
        let fetched = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
        assert_eq!(fetched.tickets[0].identifier, id);
        let bodies: Vec<String> = recent(&fetched.tickets[0])
            .into_iter()
            .map(|(_, body)| body)
            .collect();
        assert_eq!(
            bodies,
            ["human 3", "human 4", "human 5", "human 6", "human 7"],
            "newest first: {newest_first}"
        );
        let by_id = t
            .fetch_by_identifiers(std::slice::from_ref(&id))
            .await
            .unwrap();
        assert_eq!(by_id[0].recent_comments, fetched.tickets[0].recent_comments);
        assert_eq!(fake.count("IssueComments"), 0);
    }
}
