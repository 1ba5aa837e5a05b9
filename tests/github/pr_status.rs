//! `GithubApi::pull_request_status` against the fake GitHub: the one GraphQL read a gate
//! makes of its pull request, its answer turned into plain values — check runs and
//! commit statuses (`__typename`) with GitHub's rollup, the latest review per author
//! with its commit and line comments, and a pull request that does not exist.

use chrono::Utc;

use karajan::config::{GithubForge, Secret};
use karajan::forge::{GithubApi, ReviewState, Rollup};
use karajan::tracker::TrackerError;

use super::fake::{Fake, FakeCheck, FakePull, FakeReview, TOKEN};

fn pull(number: i64) -> FakePull {
    FakePull {
        number,
        head_ref: "karajan/x".into(),
        base: "main".into(),
        title: "t".into(),
        body: String::new(),
        draft: false,
        open: true,
        merged: false,
        checks: Default::default(),
        reviews: vec![],
    }
}

fn api(fake: &Fake) -> GithubApi {
    GithubApi::new(&GithubForge::new(
        &fake.url,
        "acme",
        "app",
        Secret::new(TOKEN),
    ))
    .unwrap()
}

#[tokio::test]
async fn the_status_read_maps_checks_rollups_and_reviews() {
    let fake = Fake::start().await;
    // No bare repository behind this fake: the head branch resolves to no commit (""),
    // so the checks are kept under that sha.
    let mut p = pull(7);
    p.checks.insert(
        String::new(),
        vec![
            FakeCheck::run("build", "TIMED_OUT", "too slow", "step 3 hung"),
            FakeCheck::Status {
                context: "ci/lint".into(),
                state: "SUCCESS".into(),
                description: Some("clean".into()),
            },
            FakeCheck::running("e2e"),
        ],
    );
    let review = |author: &str, state: &str| FakeReview {
        author: author.into(),
        state: state.into(),
        body: format!("{author}: {state}"),
        submitted_at: Utc::now(),
        commit: String::new(),
        comments: vec![("src/a.rs".into(), Some(4), "rename".into())],
    };
    p.reviews = vec![
        review("alice", "CHANGES_REQUESTED"),
        review("bob", "COMMENTED"),
        review("alice", "APPROVED"),
    ];
    fake.lock().pulls.push(p);
    let status = api(&fake).pull_request_status(7).await.unwrap();
    assert_eq!(status.number, 7);
    assert_eq!(status.state, "OPEN");
    let checks = status.checks.expect("checks");
    assert_eq!(checks.rollup, Rollup::Failure);
    let names: Vec<(&str, bool, bool, &str)> = checks
        .items
        .iter()
        .map(|c| (c.name.as_str(), c.pending, c.failed, c.conclusion.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("build", false, true, "TIMED_OUT"),
            ("ci/lint", false, false, "SUCCESS"),
            ("e2e", true, false, "IN_PROGRESS"),
        ]
    );
    assert_eq!(checks.items[0].summary.as_deref(), Some("step 3 hung"));
    assert_eq!(checks.items[1].summary.as_deref(), Some("clean"));
    // The latest review per author: bob's comment, then alice's approval.
    let reviews: Vec<(Option<&str>, ReviewState)> = status
        .reviews
        .iter()
        .map(|r| (r.author.as_deref(), r.state))
        .collect();
    assert_eq!(
        reviews,
        vec![
            (Some("bob"), ReviewState::Commented),
            (Some("alice"), ReviewState::Approved)
        ]
    );
    assert_eq!(status.reviews[1].comments[0].path, "src/a.rs");
    assert_eq!(status.reviews[1].comments[0].line, Some(4));
    assert_eq!(status.reviews[1].commit.as_deref(), Some(""));

    // Only pending left (the failure fixed): PENDING; all done: SUCCESS; none: no rollup.
    let set = |checks: Vec<FakeCheck>| {
        fake.lock().pulls[0].checks.insert(String::new(), checks);
    };
    set(vec![FakeCheck::running("e2e")]);
    let s = api(&fake).pull_request_status(7).await.unwrap();
    assert_eq!(s.checks.unwrap().rollup, Rollup::Pending);
    set(vec![
        FakeCheck::run("e2e", "SKIPPED", "", ""),
        FakeCheck::run("b", "SUCCESS", "", ""),
    ]);
    let s = api(&fake).pull_request_status(7).await.unwrap();
    assert_eq!(s.checks.unwrap().rollup, Rollup::Success);
    set(vec![]);
    assert_eq!(
        api(&fake).pull_request_status(7).await.unwrap().checks,
        None
    );
}

#[tokio::test]
async fn a_pull_request_that_does_not_exist_is_not_found() {
    let fake = Fake::start().await;
    let err = api(&fake).pull_request_status(99).await.unwrap_err();
    assert!(matches!(err, TrackerError::NotFound(_)), "{err:?}");
    assert!(!format!("{err}").contains(TOKEN));
}
