//! Chain verification beside the actor: the hourly check and "verify now".
//!
//! Verifying reads the whole chain, so it never runs on the actor's loop: the actor
//! hands it to a task (one at a time) and handles the result when its message arrives,
//! like any other effect. A request that comes while a verification runs joins it
//! instead of starting a second one, so a button pressed ten times reads the chain once.
//! The result goes into the read model (`StatusView::verification`, with the first
//! break when the chain is broken) and onto the live feed as a `chain_verified` event,
//! so every open dashboard shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::store::{Break, Store};

/// The outcome of one verification of the chain, as published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    /// `hourly` (the daemon's own schedule) or `requested` (verify now).
    pub trigger: &'static str,
    pub ok: bool,
    /// Events re-hashed.
    pub events: u64,
    pub head_seq: i64,
    /// How many breaks were found; the first is `first_break`.
    pub breaks: usize,
    pub first_break: Option<Break>,
}

/// What a requester gets back: the verification, or why it could not run.
pub(crate) type Outcome = Result<Verification, String>;

/// The actor's side of verification: at most one task at a time, and who waits for it.
pub(crate) struct Verifier {
    running: bool,
    /// Whether any request (not only the hourly tick) joined the running verification.
    requested: bool,
    waiting: Vec<oneshot::Sender<Outcome>>,
    tx: mpsc::Sender<Outcome>,
}

impl Verifier {
    /// The verifier and the receiver its results arrive on (polled by the actor).
    pub(crate) fn new() -> (Verifier, mpsc::Receiver<Outcome>) {
        let (tx, rx) = mpsc::channel(1);
        let v = Verifier {
            running: false,
            requested: false,
            waiting: vec![],
            tx,
        };
        (v, rx)
    }

    /// Start a verification of `store` unless one runs already; `reply` (a "verify
    /// now" request) gets the result of the one that runs.
    pub(crate) fn start(&mut self, store: &Store, reply: Option<oneshot::Sender<Outcome>>) {
        if let Some(r) = reply {
            self.waiting.push(r);
            self.requested = true;
        }
        if self.running {
            return;
        }
        self.running = true;
        let trigger = if self.requested {
            "requested"
        } else {
            "hourly"
        };
        let store = store.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let started_at = Utc::now();
            let clock = std::time::Instant::now();
            let outcome = match store.verify().await {
                Ok(report) => Ok(Verification {
                    started_at,
                    at: Utc::now(),
                    duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
                    trigger,
                    ok: report.is_ok(),
                    events: report.events,
                    head_seq: report.head_seq,
                    breaks: report.breaks.len(),
                    first_break: report.breaks.into_iter().next(),
                }),
                Err(e) => {
                    warn!(error = %e, "verification failed to run");
                    Err(format!("verification failed to run: {e}"))
                }
            };
            let _ = tx.send(outcome).await;
        });
    }

    /// A verification ended: answer everyone waiting for it.
    pub(crate) fn finished(&mut self, outcome: &Outcome) {
        self.running = false;
        self.requested = false;
        for r in self.waiting.drain(..) {
            let _ = r.send(outcome.clone());
        }
    }
}

impl super::engine::Engine {
    /// Record a finished verification: logged, kept for the read model, and announced
    /// on the live feed (`chain_verified`). The caller publishes.
    pub(crate) fn on_verified(&mut self, v: Verification) {
        if v.ok {
            tracing::info!(events = v.events, trigger = v.trigger, "chain verified");
        } else {
            let first = v
                .first_break
                .as_ref()
                .map_or_else(String::new, |b| format!("seq {}: {}", b.seq, b.problem));
            tracing::error!(breaks = v.breaks, first = %first, "the event chain is broken: run `karajan verify`");
        }
        self.live_tx.send_with(|| super::live::LiveEvent {
            kind: "chain_verified".into(),
            identifier: None,
            at: v.at,
            seq: None,
            hash: None,
            data: serde_json::to_value(&v).unwrap_or_default(),
        });
        self.verified = Some(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, NewEvent};

    #[tokio::test]
    async fn requests_while_a_verification_runs_join_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("s.db"), &dir.path().join("s.cp"))
            .await
            .expect("store");
        store
            .append(vec![NewEvent::global(EventKind::TrackerError {
                error: "x".into(),
            })])
            .await
            .expect("append");
        let (mut v, mut rx) = Verifier::new();
        let (r1, a1) = oneshot::channel();
        let (r2, a2) = oneshot::channel();
        v.start(&store, Some(r1));
        v.start(&store, Some(r2));
        v.start(&store, None);
        // One task runs; both requests wait for it.
        assert!(v.running && v.waiting.len() == 2);
        let outcome = rx.recv().await.expect("one result");
        v.finished(&outcome);
        let (a1, a2) = (a1.await.expect("answered"), a2.await.expect("answered"));
        assert_eq!(a1, a2);
        let got = a1.expect("ran");
        assert!(
            got.ok && got.events == 1 && got.trigger == "requested",
            "{got:?}"
        );
        assert!(!v.running && v.waiting.is_empty());
        // The next start runs again: an hourly one, nobody waiting.
        v.start(&store, None);
        let next = rx.recv().await.expect("ran").expect("ok");
        assert_eq!(next.trigger, "hourly");
        assert!(next.at >= got.at);
    }
}
