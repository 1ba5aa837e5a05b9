//! What a target receives. A `webhook` gets the whole notification as JSON (`event`,
//! `ticket`, `text`, `at`, `details`: the recorded event's fields); a `slack` target
//! gets the shape of Slack's incoming webhooks, `{"text": …}`. Both are scrubbed by
//! the redactor before they leave (the recorded payloads already are; this also
//! covers what the notifier adds).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::TargetKind;
use crate::redact::Redactor;

/// One thing to announce.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Notification {
    /// `gate_waiting`, `escalated`, `budget_stop`, `usage_limit`, `failure_streak` or
    /// `daemon_stopped`.
    pub event: &'static str,
    pub ticket: Option<String>,
    /// One line for humans.
    pub text: String,
    pub at: DateTime<Utc>,
    pub details: Value,
}

/// The body for a target of `kind`, secrets blanked.
pub(crate) fn body(kind: TargetKind, n: &Notification, redactor: &Redactor) -> Value {
    let value = match kind {
        TargetKind::Webhook => serde_json::to_value(n).unwrap_or(Value::Null),
        TargetKind::Slack => serde_json::json!({ "text": format!("karajan: {}", n.text) }),
    };
    redactor.scrub(&value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escalation() -> Notification {
        Notification {
            event: "escalated",
            ticket: Some("ENG-7".into()),
            text: "ENG-7 needs a human decision: token s3cr3t-value refused".into(),
            at: "2026-01-02T03:04:05Z".parse().unwrap(),
            details: serde_json::json!({"reason": "token s3cr3t-value refused"}),
        }
    }

    #[test]
    fn slack_gets_only_text_and_the_webhook_everything_without_the_secret() {
        let r = Redactor::new(vec!["s3cr3t-value".into()]);
        let slack = body(TargetKind::Slack, &escalation(), &r);
        assert_eq!(
            slack,
            serde_json::json!({"text": "karajan: ENG-7 needs a human decision: token [redacted] refused"})
        );
        let hook = body(TargetKind::Webhook, &escalation(), &r);
        assert_eq!(hook["event"], "escalated");
        assert_eq!(hook["ticket"], "ENG-7");
        assert_eq!(hook["at"], "2026-01-02T03:04:05Z");
        assert_eq!(hook["details"]["reason"], "token [redacted] refused");
        assert!(!hook.to_string().contains("s3cr3t"), "{hook}");
    }
}
