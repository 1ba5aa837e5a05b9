//! Rate limits and faults: pauses honoured without requests, retries, typed errors.

use std::time::Duration;

use chrono::Utc;
use karajan::tracker::{Tracker, TrackerError};

use super::fake::{FakeLinear, Fault, REQUEST_LIMIT};
use super::{columns, tracker};

fn until_of(err: TrackerError) -> chrono::DateTime<Utc> {
    match err {
        TrackerError::RateLimited { until } => until,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn ratelimited_400_pauses_calls_until_the_reset() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault(Fault::RateLimited400 {
        reset_in: Duration::from_millis(600),
    });
    let before = Utc::now();
    let err = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    assert!(err.is_retryable());
    let until = until_of(err);
    assert!(
        until > before + chrono::Duration::milliseconds(300),
        "{until}"
    );
    assert!(until < before + chrono::Duration::seconds(5), "{until}");
    assert_eq!(fake.total_requests(), 1);

    // During the pause: refused locally, no request made.
    let again = until_of(t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err());
    assert_eq!(again, until);
    assert_eq!(fake.total_requests(), 1, "no request while paused");
    assert_eq!(t.rate_budget().unwrap().paused_until, Some(until));

    let wait = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    let fetched = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    assert_eq!(fetched.tickets.len(), 1);
    assert_eq!(t.rate_budget().unwrap().paused_until, None);
}

#[tokio::test]
async fn http_429_honours_retry_after() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault(Fault::TooMany429 {
        retry_after_secs: 1,
    });
    let before = Utc::now();
    let until = until_of(t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err());
    assert!(
        until >= before + chrono::Duration::milliseconds(900),
        "{until}"
    );
    assert!(
        until <= Utc::now() + chrono::Duration::seconds(1),
        "{until}"
    );
    // Every kind of call is paused, writes included.
    let ticket = karajan::domain::TicketRef {
        id: "issue-uuid-1".into(),
        identifier: "ENG-1".into(),
    };
    until_of(t.comment(&ticket, "hello").await.unwrap_err());
    until_of(t.fetch_by_identifiers(&["ENG-1".into()]).await.unwrap_err());
    assert_eq!(fake.total_requests(), 1);

    tokio::time::sleep(
        (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50),
    )
    .await;
    t.comment(&ticket, "hello").await.unwrap();
    assert_eq!(fake.world().comments_of("ENG-1").len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault(Fault::ServerError);
    fake.fault(Fault::ServerError);
    let fetched = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    assert_eq!(fetched.tickets.len(), 1);
    assert_eq!(fake.total_requests(), 3);
}

#[tokio::test]
async fn persistent_server_errors_give_up_as_transient() {
    let fake = FakeLinear::start().await;
    let t = tracker(&fake);
    for _ in 0..3 {
        fake.fault(Fault::ServerError);
    }
    let err = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    assert!(matches!(err, TrackerError::Transient(_)), "{err:?}");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(fake.total_requests(), 3, "bounded attempts");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault(Fault::Slow(Duration::from_secs(2)));
    let started = std::time::Instant::now();
    let fetched = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    assert_eq!(fetched.tickets.len(), 1);
    assert_eq!(fake.total_requests(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the request timeout cut it short"
    );
}

#[tokio::test]
async fn malformed_json_is_a_typed_error_and_the_next_call_works() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault(Fault::MalformedJson);
    let err = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    match &err {
        TrackerError::Malformed {
            source_name,
            message,
        } => {
            assert!(source_name.contains("ListIssues"), "{source_name}");
            assert!(message.contains("not JSON"), "{message}");
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(
        t.fetch_candidates(&columns(&["Todo"]))
            .await
            .unwrap()
            .tickets
            .len(),
        1
    );
}

#[tokio::test]
async fn graphql_errors_are_typed_fatal_errors() {
    let fake = FakeLinear::start().await;
    let t = tracker(&fake);
    fake.fault(Fault::GraphqlError {
        code: "INVALID_INPUT".into(),
        message: "Argument Validation Error".into(),
    });
    let err = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    assert!(matches!(err, TrackerError::Fatal(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("Argument Validation Error (INVALID_INPUT)"),
        "{err}"
    );
    assert_eq!(fake.total_requests(), 1, "not retried");
}

#[tokio::test]
async fn rate_budget_reflects_the_latest_headers() {
    let fake = FakeLinear::start().await;
    let t = tracker(&fake);
    assert_eq!(t.rate_budget(), None, "nothing known before the first call");
    t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    let budget = t.rate_budget().unwrap();
    assert_eq!(budget.limit, Some(REQUEST_LIMIT));
    assert_eq!(budget.remaining, Some(REQUEST_LIMIT - 2));
    assert!(budget.resets_at.unwrap() > Utc::now());
    assert_eq!(budget.paused_until, None);
}
