//! The webhook deliveries the bench sends, as Linear sends them (linear.app/developers/
//! webhooks): an HTTP POST of the `Issue` data-change payload (`action`, `type`, `data`
//! with the issue after the change, `updatedFrom` with the fields before it, `actor`,
//! `url`, `createdAt`, `organizationId`, `webhookId`, `webhookTimestamp` in ms), with
//! the headers `Linear-Delivery` (a fresh UUID per delivery), `Linear-Event: Issue`,
//! `Linear-Signature` (hex HMAC-SHA256 of the raw body under the signing secret),
//! `User-Agent: Linear-Webhook` and `Content-Type: application/json; charset=utf-8`.
//!
//! `data` is the fake's issue as Linear's `IssueWebhookPayload` shapes it
//! (`World::issue_delivery`), which karajan takes as a read of the ticket. Only the
//! bench's approvals are delivered: real Linear would also deliver karajan's own moves,
//! which karajan recognizes as what it knows and does not read.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::linear::fake::World;

/// An approval, as the fake holds the issue right after the move.
pub struct Change {
    pub data: Value,
    pub from_state: String,
    pub from_updated: String,
    pub identifier: String,
}

impl Change {
    /// The issue `identifier` now, and the state it was moved from.
    pub fn of(w: &World, identifier: &str, from_state: &str, from_updated: String) -> Change {
        let data = w.issue_delivery(identifier);
        Change {
            data,
            from_state: from_state.to_string(),
            from_updated,
            identifier: identifier.to_string(),
        }
    }
}

/// A random UUID (version 4), as Linear's delivery ids are.
fn uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    let variant = ['8', '9', 'a', 'b'][usize::from(b[8] & 3)];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The raw body of the delivery of `change`, stamped now.
pub fn body(change: &Change) -> String {
    let now = chrono::Utc::now();
    json!({
        "action": "update",
        "type": "Issue",
        "actor": {"id": "user-reviewer", "name": "Bench Reviewer", "email": "reviewer@example.com",
                  "url": "https://linear.app/acme/profiles/reviewer", "type": "user"},
        "createdAt": change.data["updatedAt"],
        "data": change.data,
        "updatedFrom": {"stateId": change.from_state, "updatedAt": change.from_updated},
        "url": change.data["url"],
        "organizationId": "org-bench",
        "webhookId": "webhook-bench",
        "webhookTimestamp": now.timestamp_millis(),
    })
    .to_string()
}

/// The `Linear-Signature` of `body`.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Where deliveries go and how they are signed.
#[derive(Clone)]
pub struct Sender {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: String,
}

impl Sender {
    pub fn new(url: String, secret: String) -> Sender {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Sender {
            client,
            url,
            secret,
        }
    }

    /// Posts the delivery of `change`; `Ok` when karajan accepted it (200 naming the
    /// ticket). A refused connection is retried for a few seconds (the daemon may not
    /// listen yet); Linear answers anything else with its own retries, minutes later.
    pub async fn deliver(&self, change: &Change) -> Result<(), String> {
        let body = body(change);
        let signature = sign(&self.secret, &body);
        let delivery = uuid();
        let mut attempts = 0;
        let res = loop {
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json; charset=utf-8")
                .header("user-agent", "Linear-Webhook")
                .header("linear-event", "Issue")
                .header("linear-delivery", &delivery)
                .header("linear-signature", &signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Err(e) if e.is_connect() && attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other.map_err(|e| format!("POST {}: {e}", self.url))?,
            }
        };
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        let named = answer["tickets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == change.identifier.as_str()));
        if status.is_success() && named {
            Ok(())
        } else {
            Err(format!("{status} {answer}"))
        }
    }
}
