//! The shared layer's rules on tokio's paused clock, over a scripted transport.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;

use reqwest::header::{HeaderName, HeaderValue};

use super::*;

fn policy(inline: Duration) -> Policy {
    Policy {
        backoff: Backoff {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        },
        fallback_pause: Duration::from_secs(60),
        max_inline_wait: inline,
        in_flight: 2,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
    }
}

fn layer(inline: Duration) -> HttpLayer {
    HttpLayer::new("Test", Dialect::Github, policy(inline)).unwrap()
}

fn answer(status: u16, headers: &[(&str, &str)]) -> Sent {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Sent::Answer(Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: h,
        body: b"{}".to_vec(),
    })
}

/// A transport that plays `script` in order (then answers 200), noting when each
/// request went out on tokio's clock.
#[derive(Clone, Default)]
struct Script {
    answers: Arc<StdMutex<VecDeque<Sent>>>,
    times: Arc<StdMutex<Vec<Instant>>>,
}

impl Script {
    fn new(answers: Vec<Sent>) -> Script {
        Script {
            answers: Arc::new(StdMutex::new(answers.into())),
            times: Arc::default(),
        }
    }

    fn send(&self) -> impl Future<Output = Sent> + use<> {
        self.times.lock().unwrap().push(Instant::now());
        let next = self.answers.lock().unwrap().pop_front();
        async move { next.unwrap_or_else(|| answer(200, &[])) }
    }

    fn gaps(&self, start: Instant) -> Vec<Duration> {
        let times = self.times.lock().unwrap();
        let mut prev = start;
        times
            .iter()
            .map(|t| {
                let gap = *t - prev;
                prev = *t;
                gap
            })
            .collect()
    }

    fn count(&self) -> usize {
        self.times.lock().unwrap().len()
    }
}

fn accept(r: &Reply) -> Judgement<u16> {
    Judgement::Accept(r.status.as_u16())
}

#[tokio::test(start_paused = true)]
async fn reads_back_off_exponentially_with_jitter_then_succeed() {
    let l = layer(Duration::ZERO);
    let s = Script::new(vec![
        answer(502, &[]),
        Sent::Lost("timed out".into()),
        answer(500, &[]),
    ]);
    let start = Instant::now();
    let got = l.run("Q", Replay::Safe, || s.send(), accept).await.unwrap();
    assert_eq!(got, 200);
    let gaps = s.gaps(start);
    assert_eq!(gaps.len(), 4);
    assert_eq!(gaps[0], Duration::ZERO);
    for (gap, ceiling) in gaps[1..].iter().zip([100u64, 200, 400]) {
        let ceiling = Duration::from_millis(ceiling);
        assert!(
            *gap >= ceiling && *gap <= ceiling.mul_f64(1.25) + Duration::from_millis(1),
            "{gaps:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn reads_give_up_as_transient_after_the_bounded_attempts() {
    let l = layer(Duration::ZERO);
    let s = Script::new((0..9).map(|_| answer(503, &[])).collect());
    let err = l
        .run("Q", Replay::Safe, || s.send(), accept)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TrackerError::Transient(m) if m.contains("after 4 attempts")),
        "{err:?}"
    );
    assert_eq!(s.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_write_that_may_have_arrived_is_unconfirmed_never_resent() {
    for lost in [
        answer(502, &[]),
        Sent::Lost("timed out".into()),
        Sent::Lost("broken response body".into()),
    ] {
        let l = layer(Duration::ZERO);
        let s = Script::new(vec![lost]);
        let err = l
            .run("W", Replay::Unsafe, || s.send(), accept)
            .await
            .unwrap_err();
        assert!(matches!(err, TrackerError::Unconfirmed(_)), "{err:?}");
        assert_eq!(s.count(), 1);
    }
    // The adapter's own "this answer says nothing" is treated alike.
    let l = layer(Duration::ZERO);
    let s = Script::new(vec![]);
    let err = l
        .run(
            "W",
            Replay::Unsafe,
            || s.send(),
            |_| Judgement::<()>::Retry("empty".into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::Unconfirmed(_)), "{err:?}");
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_write_that_never_left_is_retried() {
    let l = layer(Duration::ZERO);
    let s = Script::new(vec![Sent::NotSent("could not connect".into())]);
    assert_eq!(
        l.run("W", Replay::Unsafe, || s.send(), accept)
            .await
            .unwrap(),
        200
    );
    assert_eq!(s.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_short_retry_after_is_waited_out_by_every_call() {
    let l = Arc::new(layer(Duration::from_secs(10)));
    let s = Script::new(vec![answer(429, &[("retry-after", "3")])]);
    let start = Instant::now();
    let first = {
        let (l, s) = (l.clone(), s.clone());
        tokio::spawn(async move { l.run("W", Replay::Unsafe, || s.send(), accept).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A second call made during the pause waits for its end, without a request.
    assert_eq!(s.count(), 1);
    let second = l.run("Q", Replay::Safe, || s.send(), accept).await.unwrap();
    assert_eq!(second, 200);
    assert_eq!(first.await.unwrap().unwrap(), 200);
    let gaps = s.gaps(start);
    assert_eq!(gaps.len(), 3, "the limited request, then one each");
    assert_eq!(gaps[0] + gaps[1], Duration::from_secs(3));
    assert_eq!(gaps[2], Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_long_pause_refuses_calls_without_requests_until_it_ends() {
    let l = layer(Duration::from_secs(10));
    let s = Script::new(vec![answer(429, &[("retry-after", "120")])]);
    let err = l
        .run("Q", Replay::Safe, || s.send(), accept)
        .await
        .unwrap_err();
    let TrackerError::RateLimited { until } = err else {
        panic!("{err:?}")
    };
    assert!(until > Utc::now() + chrono::Duration::seconds(118));
    assert_eq!(l.budget().unwrap().paused_until, Some(until));
    tokio::time::sleep(Duration::from_secs(105)).await;
    let again = l.run("W", Replay::Unsafe, || s.send(), accept).await;
    assert!(matches!(again, Err(TrackerError::RateLimited { until: u }) if u == until));
    assert_eq!(s.count(), 1, "no request during the pause");
    // 9 s left: now short enough to wait out inside the call.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        l.run("Q", Replay::Safe, || s.send(), accept).await.unwrap(),
        200
    );
    assert_eq!(s.count(), 2);
    assert!(l.budget().is_none_or(|b| b.paused_until.is_none()));
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_sets_the_pause() {
    let l = layer(Duration::from_secs(60));
    let when = Utc::now() + chrono::Duration::seconds(30);
    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let s = Script::new(vec![answer(429, &[("retry-after", &date)])]);
    let start = Instant::now();
    l.run("Q", Replay::Safe, || s.send(), accept).await.unwrap();
    let waited = s.gaps(start)[1];
    assert!(
        waited > Duration::from_secs(28) && waited <= Duration::from_secs(30),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_primary_limit_pauses_until_its_reset() {
    let l = layer(Duration::ZERO);
    let reset = (Utc::now() + chrono::Duration::seconds(600)).timestamp();
    let s = Script::new(vec![answer(
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset.to_string()),
        ],
    )]);
    let judge = |r: &Reply| {
        if r.status == StatusCode::FORBIDDEN {
            Judgement::RateLimited
        } else {
            Judgement::Accept(())
        }
    };
    let err = l
        .run("Q", Replay::Safe, || s.send(), judge)
        .await
        .unwrap_err();
    let TrackerError::RateLimited { until } = err else {
        panic!("{err:?}")
    };
    assert_eq!(until.timestamp(), reset);
    let budget = l.budget().unwrap();
    assert_eq!(
        (budget.remaining, budget.paused_until),
        (Some(0), Some(until))
    );
    tokio::time::sleep(Duration::from_secs(599)).await;
    assert!(l.run("Q", Replay::Safe, || s.send(), judge).await.is_err());
    tokio::time::sleep(Duration::from_secs(2)).await;
    l.run("Q", Replay::Safe, || s.send(), judge).await.unwrap();
    assert_eq!(s.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn requests_in_flight_stay_within_the_bound() {
    let l = Arc::new(layer(Duration::ZERO));
    let start = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let l = l.clone();
            tokio::spawn(async move {
                l.run(
                    "Q",
                    Replay::Safe,
                    || async {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        answer(200, &[])
                    },
                    accept,
                )
                .await
            })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(l.max_in_flight(), 2);
    assert_eq!(l.requests_sent(), 6);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "6 calls, 2 at a time"
    );
}
