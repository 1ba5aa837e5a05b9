//! `notify:`: where karajan announces what a human must hear about without watching
//! the dashboard (issue 15 item 7). Targets are named (the name, never the URL, is what
//! events and logs carry); each URL is a secret from the environment, since a Slack
//! incoming-webhook URL is itself the credential. The delivery is `crate::notify`'s.

use std::collections::BTreeSet;
use std::time::Duration;

use super::expand;
use super::raw::{RawNotify, RawWorkflow};
use super::schema::join;
use super::secret::Secret;
use super::suggest;
use super::validate::Ctx;

/// The values of a target's `kind`.
pub(crate) const TARGET_KINDS: [&str; 2] = ["webhook", "slack"];

/// The names of the events a target may filter on (`events:`).
pub const EVENT_NAMES: [&str; 6] = [
    "gate_waiting",
    "escalated",
    "budget_stop",
    "usage_limit",
    "failure_streak",
    "daemon_stopped",
];

/// How long a ticket waits at a gate before it is announced, when `gate_delay` is absent.
pub const DEFAULT_GATE_DELAY: Duration = Duration::from_secs(10 * 60);

/// How many failed runs in a row make a streak, when `failure_streak` is absent.
pub const DEFAULT_FAILURE_STREAK: u32 = 3;

/// The validated `notify:` section; no targets when it is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    pub gate_delay: Duration,
    pub failure_streak: u32,
    pub targets: Vec<NotifyTarget>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            gate_delay: DEFAULT_GATE_DELAY,
            failure_streak: DEFAULT_FAILURE_STREAK,
            targets: Vec::new(),
        }
    }
}

/// How a target wants its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A JSON POST of the whole notification.
    Webhook,
    /// A Slack-compatible incoming webhook: `{"text": …}`.
    Slack,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotifyTarget {
    pub name: String,
    pub kind: TargetKind,
    /// The URL (a secret: never logged, recorded or shown).
    pub url: Secret,
    /// The events it wants (names of [`EVENT_NAMES`]); `None`: all.
    pub events: Option<BTreeSet<String>>,
}

impl NotifyTarget {
    /// Whether this target wants the event named `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(event))
    }
}

/// `notify:`: targets need a kind, a URL from the environment and known event names.
pub(crate) fn notify(cx: &mut Ctx, raw: &RawWorkflow) -> NotifyConfig {
    let Some(n) = raw.notify.as_ref() else {
        return NotifyConfig::default();
    };
    let gate_delay = cx.duration(
        "notify.gate_delay",
        n.gate_delay.as_ref(),
        DEFAULT_GATE_DELAY,
    );
    let streak = cx.int(
        "notify.failure_streak",
        n.failure_streak,
        i64::from(DEFAULT_FAILURE_STREAK),
        1,
        100,
    );
    let targets = targets(cx, n);
    NotifyConfig {
        gate_delay,
        failure_streak: u32::try_from(streak).unwrap_or(DEFAULT_FAILURE_STREAK),
        targets,
    }
}

fn targets(cx: &mut Ctx, n: &RawNotify) -> Vec<NotifyTarget> {
    let Some(targets) = n.targets.as_ref() else {
        cx.errors.push(
            "notify.targets",
            "`notify` needs at least one target, e.g. `targets: {team: {kind: slack, url: $SLACK_WEBHOOK_URL}}`",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, t) in targets {
        let base = join("notify.targets", name);
        let kind = match t.kind.as_deref() {
            Some("webhook") => Some(TargetKind::Webhook),
            Some("slack") => Some(TargetKind::Slack),
            None => {
                cx.errors.push(
                    join(&base, "kind"),
                    "a target needs a `kind`: `webhook` (JSON) or `slack` (a Slack incoming webhook)",
                );
                None
            }
            Some(other) => {
                cx.errors.push(
                    join(&base, "kind"),
                    format!(
                        "unknown value `{other}`; expected `webhook` or `slack`{}",
                        suggest::hint(other, TARGET_KINDS)
                    ),
                );
                None
            }
        };
        let url = url(cx, &join(&base, "url"), t.url.as_deref());
        let events = t.events.as_ref().map(|events| {
            for (i, e) in events.iter().enumerate() {
                if !EVENT_NAMES.contains(&e.as_str()) {
                    cx.errors.push(
                        join(&join(&base, "events"), &i.to_string()),
                        format!(
                            "unknown event `{e}`; expected one of {}{}",
                            EVENT_NAMES.map(|n| format!("`{n}`")).join(", "),
                            suggest::hint(e, EVENT_NAMES)
                        ),
                    );
                }
            }
            events.iter().cloned().collect::<BTreeSet<_>>()
        });
        if let (Some(kind), Some(url)) = (kind, url) {
            out.push(NotifyTarget {
                name: name.clone(),
                kind,
                url,
                events,
            });
        }
    }
    out
}

/// The URL: given from the environment, and `http(s)` once expanded. The messages never
/// quote the expanded value.
fn url(cx: &mut Ctx, key: &str, raw: Option<&str>) -> Option<Secret> {
    let Some(raw) = raw else {
        cx.errors.push(
            key,
            "a target needs a `url`, from the environment (e.g. `url: $SLACK_WEBHOOK_URL`)",
        );
        return None;
    };
    if !raw.contains('$') {
        cx.errors.push(
            key,
            "the URL is a secret (a Slack webhook URL is its own credential): give it from the environment, e.g. `url: $SLACK_WEBHOOK_URL`",
        );
        return None;
    }
    match expand::expand_secret(raw, cx.env) {
        Ok(s) => match reqwest::Url::parse(s.expose().trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(s),
            _ => {
                cx.errors
                    .push(key, format!("`{raw}` does not expand to an http(s) URL"));
                None
            }
        },
        Err(e) => {
            cx.errors.push(key, format!("missing secret: {e}"));
            None
        }
    }
}
