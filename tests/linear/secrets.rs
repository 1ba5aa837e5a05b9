//! The API key goes raw into `Authorization` and nowhere else: not in `Debug`, errors,
//! logs, or the agents' environment (unless the workflow opts in).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use karajan::tracker::Tracker;
use karajan::tracker::linear::LinearTracker;
use tracing_subscriber::fmt::MakeWriter;

use super::fake::{FakeLinear, Fault, KEY};
use super::{columns, config, tracker};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_key_is_sent_raw_in_the_authorization_header() {
    let fake = FakeLinear::start().await;
    tracker(&fake)
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .unwrap();
    let w = fake.world();
    assert_eq!(
        w.requests[0].authorization.as_deref(),
        Some(KEY),
        "raw, no `Bearer`"
    );
}

#[tokio::test]
async fn the_key_never_shows_in_debug_errors_or_logs() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests in this binary run on other threads without a subscriber; a callsite
    // they hit first may have cached "not interested". Re-ask every callsite now.
    tracing::callsite::rebuild_interest_cache();

    let fake = FakeLinear::start().await;
    let a = fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    let mut texts = vec![format!("{t:?}"), format!("{:?}", config(&fake))];

    let ticket = t
        .fetch_by_identifiers(std::slice::from_ref(&a))
        .await
        .unwrap()
        .remove(0);
    t.move_ticket(&ticket.ticket_ref(), "In Progress")
        .await
        .unwrap();
    for fault in [Fault::ServerError, Fault::ServerError, Fault::ServerError] {
        fake.fault(fault);
    }
    let transient = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    fake.fault(Fault::MalformedJson);
    let malformed = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    fake.fault(Fault::Slow(Duration::from_secs(2)));
    fake.fault(Fault::Slow(Duration::from_secs(2)));
    fake.fault(Fault::Slow(Duration::from_secs(2)));
    let timeout = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    fake.fault(Fault::RateLimited400 {
        reset_in: Duration::from_millis(10),
    });
    let limited = t.fetch_candidates(&columns(&["Todo"])).await.unwrap_err();
    for e in [&transient, &malformed, &timeout, &limited] {
        texts.push(e.to_string());
        texts.push(format!("{e:?}"));
    }
    let mut bad = config(&fake);
    bad.api_key = karajan::config::Secret::new(format!("{KEY}-revoked"));
    let rejected = LinearTracker::new(bad)
        .unwrap()
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .unwrap_err();
    texts.push(rejected.to_string());
    texts.push(format!("{rejected:?}"));

    let logs = captured.text();
    assert!(logs.contains("ListIssues"), "the capture works: {logs}");
    assert!(logs.contains("retrying"), "{logs}");
    texts.push(logs);
    for text in &texts {
        assert!(!text.contains(KEY), "the key leaked into: {text}");
        assert!(
            !text.contains("s3cr3t"),
            "part of the key leaked into: {text}"
        );
    }
}

#[test]
fn agents_get_the_key_only_with_the_opt_in() {
    let mut c =
        karajan::tracker::linear::config::LinearConfig::new(karajan::config::Secret::new(KEY));
    assert!(
        c.agent_env().is_empty(),
        "no tracker credentials for agents by default"
    );
    c.pass_api_key_to_agents = true;
    let env = c.agent_env();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].0, "LINEAR_API_KEY");
    assert_eq!(env[0].1.expose(), KEY);
}
