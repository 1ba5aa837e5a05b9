//! One target's delivery: a queue worked through in order, at most one post per
//! [`Policy::min_interval`] (Slack allows about one message a second per webhook),
//! each retried on a network error, a 5xx or a 429 with exponential backoff
//! ([`Policy::backoff`]), a 429's `Retry-After` honoured (capped), up to
//! [`Policy::max_attempts`]; another 4xx is not retried. The outcome of each is
//! recorded with the target's name and the attempts; errors never quote the URL.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::OutcomeSink;
use super::payload::{Notification, body};
use crate::config::TargetKind;
use crate::redact::Redactor;

/// Retry and rate settings of a target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
    /// The least time between two posts to the target.
    pub min_interval: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            min_interval: Duration::from_secs(1),
        }
    }
}

impl Policy {
    /// The wait after failed attempt `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What one post came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Delivered,
    /// Worth another try, after `after` if the target said so.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    Refused(String),
}

/// One HTTP post of a body (the real one, or a test's script).
pub(crate) trait Post: Send + Sync + 'static {
    fn post(&self, body: &Value) -> impl std::future::Future<Output = Outcome> + Send;
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attempt {
    pub attempts: u32,
    pub outcome: Result<(), String>,
}

/// Post `body` until it is delivered, refused, or out of attempts.
pub(crate) async fn deliver(post: &impl Post, body: &Value, policy: &Policy) -> Attempt {
    let mut n = 0;
    loop {
        n += 1;
        let (error, after) = match post.post(body).await {
            Outcome::Delivered => {
                return Attempt {
                    attempts: n,
                    outcome: Ok(()),
                };
            }
            Outcome::Refused(error) => {
                return Attempt {
                    attempts: n,
                    outcome: Err(error),
                };
            }
            Outcome::Retry { error, after } => (error, after),
        };
        if n >= policy.max_attempts {
            return Attempt {
                attempts: n,
                outcome: Err(error),
            };
        }
        let wait = after.map_or_else(|| policy.backoff(n), |a| a.min(policy.max_retry_after));
        tokio::time::sleep(wait).await;
    }
}

/// The target's task: until its queue closes.
pub(crate) async fn run<P: Post, S: OutcomeSink>(
    mut rx: mpsc::Receiver<Notification>,
    post: P,
    name: String,
    kind: TargetKind,
    policy: Policy,
    redactor: Arc<Redactor>,
    sink: S,
) {
    let mut next_allowed = Instant::now();
    while let Some(n) = rx.recv().await {
        tokio::time::sleep_until(next_allowed).await;
        let attempt = deliver(&post, &body(kind, &n, &redactor), &policy).await;
        next_allowed = Instant::now() + policy.min_interval;
        let mut attempt = attempt;
        if let Err(e) = &mut attempt.outcome {
            *e = redactor.redact(e).into_owned();
            tracing::warn!(notify_target = %name, event = n.event, attempts = attempt.attempts, error = %e, "notification failed");
        }
        let event = super::outcome_event(&name, n.event, &attempt);
        if let Err(e) = sink.record(vec![event]).await {
            tracing::error!(notify_target = %name, error = %e, "could not record a notification's outcome");
        }
    }
}

/// The real post: JSON over reqwest.
pub(crate) struct HttpPost {
    pub client: reqwest::Client,
    pub url: String,
}

impl Post for HttpPost {
    async fn post(&self, body: &Value) -> Outcome {
        let res = match self.client.post(&self.url).json(body).send().await {
            Ok(r) => r,
            // The URL is the secret: errors are told without it.
            Err(e) => {
                return Outcome::Retry {
                    error: e.without_url().to_string(),
                    after: None,
                };
            }
        };
        let status = res.status();
        if status.is_success() {
            return Outcome::Delivered;
        }
        let error = format!("the target answered {status}");
        if status.as_u16() == 429 || status.is_server_error() {
            let after = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Outcome::Retry { error, after }
        } else {
            Outcome::Refused(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Answers from a script and notes the (paused) time of each post.
    struct Script {
        answers: Mutex<Vec<Outcome>>,
        at: Mutex<Vec<Duration>>,
        start: Instant,
    }

    impl Script {
        fn new(mut answers: Vec<Outcome>) -> Script {
            answers.reverse();
            Script {
                answers: Mutex::new(answers),
                at: Mutex::new(vec![]),
                start: Instant::now(),
            }
        }
        fn times(&self) -> Vec<Duration> {
            self.at.lock().unwrap().clone()
        }
    }

    impl Post for Script {
        async fn post(&self, _: &Value) -> Outcome {
            self.at.lock().unwrap().push(self.start.elapsed());
            self.answers
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(Outcome::Delivered)
        }
    }

    fn retry() -> Outcome {
        Outcome::Retry {
            error: "the target answered 500".into(),
            after: None,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[tokio::test(start_paused = true)]
    async fn retries_back_off_exponentially_up_to_the_limit() {
        let script = Script::new(vec![retry(), retry(), retry(), retry(), retry(), retry()]);
        let policy = Policy {
            max_backoff: S(5),
            ..Policy::default()
        };
        let a = deliver(&script, &Value::Null, &policy).await;
        assert_eq!(a.attempts, 5);
        assert_eq!(a.outcome, Err("the target answered 500".into()));
        // Waits of 1, 2, 4, then 5 (capped) seconds.
        assert_eq!(script.times(), vec![S(0), S(1), S(3), S(7), S(12)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_is_retried_after_its_retry_after_and_a_400_is_not_retried() {
        let script = Script::new(vec![
            Outcome::Retry {
                error: "the target answered 429".into(),
                after: Some(S(30)),
            },
            retry(),
            Outcome::Delivered,
        ]);
        let a = deliver(&script, &Value::Null, &Policy::default()).await;
        assert_eq!((a.attempts, a.outcome), (3, Ok(())));
        // The 429 said 30 s; the 500 after it is the second failure: 2 s of backoff.
        assert_eq!(script.times(), vec![S(0), S(30), S(32)]);

        let script = Script::new(vec![Outcome::Refused("the target answered 404".into())]);
        let a = deliver(&script, &Value::Null, &Policy::default()).await;
        assert_eq!(a.attempts, 1);
        assert_eq!(script.times(), vec![S(0)]);
    }

    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<crate::store::NewEvent>>>);

    impl OutcomeSink for Recorded {
        async fn record(
            &self,
            events: Vec<crate::store::NewEvent>,
        ) -> Result<(), crate::store::StoreError> {
            self.0.lock().unwrap().extend(events);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn posts_to_a_target_are_rate_limited_and_each_outcome_is_recorded() {
        let script = Arc::new(Script::new(vec![]));
        struct Shared(Arc<Script>);
        impl Post for Shared {
            async fn post(&self, b: &Value) -> Outcome {
                self.0.post(b).await
            }
        }
        let (tx, rx) = mpsc::channel(8);
        let n = Notification {
            event: "escalated",
            ticket: Some("ENG-1".into()),
            text: "x".into(),
            at: chrono::Utc::now(),
            details: Value::Null,
        };
        for _ in 0..3 {
            tx.send(n.clone()).await.unwrap();
        }
        drop(tx);
        let sink = Recorded::default();
        let policy = Policy {
            min_interval: S(2),
            ..Policy::default()
        };
        run(
            rx,
            Shared(script.clone()),
            "team".into(),
            TargetKind::Slack,
            policy,
            Arc::new(Redactor::new(vec![])),
            sink.clone(),
        )
        .await;
        assert_eq!(script.times(), vec![S(0), S(2), S(4)]);
        let kinds: Vec<_> = sink
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(kinds.len(), 3);
        assert!(kinds.iter().all(|k| *k
            == crate::store::EventKind::NotificationSent {
                target: "team".into(),
                event: "escalated".into(),
                attempts: 1
            }));
    }

    #[tokio::test]
    async fn a_failed_post_is_recorded_without_the_url() {
        // A port nothing listens on: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T0/B0/s3cr3t-path");
        let post = HttpPost {
            client: reqwest::Client::new(),
            url: url.clone(),
        };
        let (tx, rx) = mpsc::channel(1);
        tx.send(Notification {
            event: "escalated",
            ticket: None,
            text: "x".into(),
            at: chrono::Utc::now(),
            details: Value::Null,
        })
        .await
        .unwrap();
        drop(tx);
        let sink = Recorded::default();
        let policy = Policy {
            max_attempts: 2,
            first_backoff: Duration::from_millis(10),
            ..Policy::default()
        };
        let redactor = Arc::new(Redactor::new(vec![url.clone()]));
        run(
            rx,
            post,
            "ops".into(),
            TargetKind::Webhook,
            policy,
            redactor,
            sink.clone(),
        )
        .await;
        let events = sink.0.lock().unwrap().clone();
        match &events[..] {
            [e] => match &e.kind {
                crate::store::EventKind::NotificationFailed {
                    target,
                    event,
                    attempts,
                    error,
                } => {
                    assert_eq!(
                        (target.as_str(), event.as_str(), *attempts),
                        ("ops", "escalated", 2)
                    );
                    assert!(!error.is_empty());
                    assert!(!error.contains("s3cr3t-path"), "{error}");
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }
}
