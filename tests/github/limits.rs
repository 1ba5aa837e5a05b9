//! Rate limits, retries, typed GraphQL errors, and the token kept out of logs, errors,
//! Debug output and agent environments.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use karajan::tracker::{Tracker, TrackerError};
use serde_json::json;

use super::fake::{Fake, Fault, TOKEN};
use super::{columns, config, tracker};

fn primary_exhausted(reset_in: i64) -> Fault {
    let reset = chrono::Utc::now().timestamp() + reset_in;
    Fault {
        status: 403,
        headers: vec![
            ("x-ratelimit-remaining".into(), "0".into()),
            ("x-ratelimit-reset".into(), reset.to_string()),
        ],
        body: json!({"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
    }
}

fn secondary(retry_after: Option<u64>) -> Fault {
    Fault {
        status: 403,
        headers: retry_after
            .map(|s| ("retry-after".to_string(), s.to_string()))
            .into_iter()
            .collect(),
        body: json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
    }
}

fn server_error() -> Fault {
    Fault {
        status: 502,
        headers: vec![],
        body: json!({"message": "Server Error"}),
    }
}

#[tokio::test]
async fn primary_limit_pauses_calls_until_reset() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    let t = tracker(&fake, "labels", "");
    fake.inject(primary_exhausted(600));
    let err = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect_err("limited");
    let TrackerError::RateLimited { until } = err else {
        panic!("{err:?}")
    };
    assert!(until > chrono::Utc::now() + chrono::Duration::seconds(590));
    assert_eq!(fake.request_count(), 1);
    // During the pause no request is sent.
    let err = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect_err("still limited");
    assert!(matches!(err, TrackerError::RateLimited { .. }) && err.is_retryable());
    assert_eq!(fake.request_count(), 1);
    let budget = t.rate_budget().expect("budget");
    assert_eq!(budget.remaining, Some(0));
    assert_eq!(budget.paused_until, Some(until));
}

#[tokio::test]
async fn graphql_rate_limited_error_pauses_too() {
    let fake = Fake::start().await;
    let t = tracker(&fake, "project", "");
    let reset = chrono::Utc::now().timestamp() + 300;
    fake.inject(Fault {
        status: 200,
        headers: vec![("x-ratelimit-remaining".into(), "0".into()), ("x-ratelimit-reset".into(), reset.to_string())],
        body: json!({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}]}),
    });
    let err = t.reload().await.expect_err("limited");
    assert!(matches!(err, TrackerError::RateLimited { .. }), "{err:?}");
    assert!(t.reload().await.is_err());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn short_secondary_limit_is_waited_out_as_told() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    let t = tracker(&fake, "labels", "");
    fake.inject(secondary(Some(1)));
    let started = Instant::now();
    let got = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("retried after waiting");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(got.tickets.len(), 1);
    let rest = fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET"))
        .count();
    assert_eq!(rest, 2, "the limited request and its retry");
}

#[tokio::test]
async fn long_secondary_limit_pauses_the_tracker() {
    let fake = Fake::start().await;
    let t = tracker(&fake, "labels", "");
    fake.inject(secondary(Some(120)));
    let err = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect_err("paused");
    let TrackerError::RateLimited { until } = err else {
        panic!("{err:?}")
    };
    assert!(until > chrono::Utc::now() + chrono::Duration::seconds(110));
    assert!(t.fetch_candidates(&columns(&["Todo"])).await.is_err());
    assert_eq!(fake.request_count(), 1);
    // Without retry-after GitHub asks for at least a minute.
    let fake = Fake::start().await;
    let t = tracker(&fake, "labels", "");
    fake.inject(secondary(None));
    let TrackerError::RateLimited { until } = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect_err("paused")
    else {
        panic!("not rate limited")
    };
    assert!(until > chrono::Utc::now() + chrono::Duration::seconds(55));
}

#[tokio::test]
async fn bad_gateway_is_retried_with_bounded_backoff() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    fake.inject(server_error());
    fake.inject(server_error());
    let got = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("retried");
    assert_eq!(got.tickets.len(), 1);
    assert_eq!(
        fake.request_count(),
        5,
        "2 failures + resolve + items + blockers"
    );
    for _ in 0..4 {
        fake.inject(server_error());
    }
    fake.lock().requests.clear();
    let err = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect_err("gives up");
    assert!(matches!(err, TrackerError::Transient(_)), "{err:?}");
    assert_eq!(fake.request_count(), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn comments_are_not_retried_after_a_server_error() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    let ticket = karajan::domain::TicketRef {
        id: "I_node1".into(),
        identifier: "acme/app#1".into(),
    };
    fake.inject(server_error());
    let err = t.comment(&ticket, "hello").await.expect_err("not retried");
    assert!(err.is_retryable());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn http_200_with_errors_becomes_a_typed_error() {
    let fake = Fake::start().await;
    let t = tracker(&fake, "project", "");
    fake.inject(Fault {
        status: 200,
        headers: vec![],
        body: json!({"data": null, "errors": [{"type": "FORBIDDEN", "message": "Resource not accessible by integration"}]}),
    });
    let err = t.reload().await.expect_err("forbidden");
    assert!(
        matches!(&err, TrackerError::Fatal(m) if m.contains("FORBIDDEN")),
        "{err:?}"
    );
    let ticket = karajan::domain::TicketRef {
        id: "I_nope".into(),
        identifier: "acme/app#404".into(),
    };
    let err = t.comment(&ticket, "x").await.expect_err("not found");
    assert!(matches!(err, TrackerError::NotFound(_)), "{err:?}");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn token_stays_out_of_logs_errors_debug_and_agent_env() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsites first hit by other tests' threads may have cached "not interested".
    tracing::callsite::rebuild_interest_cache();

    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &["karajan:todo", "karajan:done"]);
    let t = tracker(&fake, "project", "");
    let mut texts = vec![format!("{t:?}"), format!("{:?}", t.config())];
    fake.inject(server_error());
    fake.inject(secondary(Some(1)));
    t.fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("fetch after retries");
    for fault in [primary_exhausted(60), server_error()] {
        let t = tracker(&fake, "labels", "");
        fake.inject(fault.clone());
        fake.inject(fault.clone());
        fake.inject(fault.clone());
        fake.inject(fault);
        let err = t
            .fetch_candidates(&columns(&["Todo", "Done"]))
            .await
            .expect_err("fails");
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
    }
    let err = t
        .fetch_candidates(&columns(&["Gone"]))
        .await
        .expect_err("missing option");
    texts.push(format!("{err} {err:?}"));
    assert!(t.agent_env().is_empty(), "not passed to agents by default");
    let passing = karajan::tracker::github::GithubTracker::new(config(
        &fake,
        "labels",
        "pass_token_to_agents: true\n",
    ))
    .expect("tracker");
    let env = passing.agent_env();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].0, "GITHUB_TOKEN");
    assert_eq!(env[0].1.expose(), TOKEN);
    texts.push(format!("{env:?}"));

    let logged = String::from_utf8(logs.0.lock().expect("log").clone()).expect("utf8");
    assert!(
        logged.contains("retrying"),
        "the retries were logged: {logged}"
    );
    assert!(!logged.contains(TOKEN), "token in logs");
    for text in texts {
        assert!(!text.contains(TOKEN), "token in {text}");
    }
    assert_eq!(fake.lock().auth_failures, 0, "the token was sent");
}
