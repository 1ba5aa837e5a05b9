//! `karajan approve`, `rework`, `pause`, `resume`, `refresh`: what the dashboard's
//! buttons do, from the terminal, through the running daemon's API (see `daemon`).
//!
//! Without a daemon they refuse and say so: deciding a gate means moving the ticket in
//! the tracker and recording the transition, and only the daemon that owns the store
//! may record it (one writer per store). The actor recorded is `--actor`, else the
//! login name (`$USER`) when the API accepts it, else `cli`.

use std::path::Path;

use serde_json::{Value, json};

use super::Exit;
use super::daemon::{CallError, Daemon};

/// Which action.
pub enum Action {
    Approve { ticket: String },
    Rework { ticket: String, feedback: String },
    Pause,
    Resume,
    Refresh,
}

/// The actor recorded for a gate decision.
pub fn actor(given: Option<&str>, user: Option<&str>) -> String {
    let valid = |a: &str| {
        !a.is_empty()
            && a.len() <= 64
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    };
    given
        .or(user.filter(|u| valid(u)))
        .unwrap_or("cli")
        .to_string()
}

/// `/api/v1/issues/{identifier}/…`: the identifier percent-encoded (it may hold `/`
/// and `#`).
fn issue_path(ticket: &str, verb: &str) -> String {
    format!(
        "/api/v1/issues/{}/{verb}",
        crate::redact::encode_component(ticket)
    )
}

pub async fn run(workflow: &Path, action: Action, given_actor: Option<&str>) -> Exit {
    let daemon = match Daemon::find(workflow) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("karajan: {}", e.message);
            return e.exit;
        }
    };
    let user = std::env::var("USER").ok();
    let who = actor(given_actor, user.as_deref());
    match perform(&daemon, &action, &who).await {
        Ok(line) => {
            println!("{line}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("karajan: {}", e.message);
            e.exit
        }
    }
}

/// Ask the daemon to do `action` as `who`; the answer in one line.
pub async fn perform(daemon: &Daemon, action: &Action, who: &str) -> Result<String, CallError> {
    let (path, body) = match action {
        Action::Approve { ticket } => {
            (issue_path(ticket, "approve"), Some(json!({ "actor": who })))
        }
        Action::Rework { ticket, feedback } => (
            issue_path(ticket, "rework"),
            Some(json!({ "actor": who, "feedback": feedback })),
        ),
        Action::Pause => ("/api/v1/dispatch/pause".to_string(), None),
        Action::Resume => ("/api/v1/dispatch/resume".to_string(), None),
        Action::Refresh => ("/api/v1/refresh".to_string(), None),
    };
    let answer = daemon.post(&path, body).await?;
    Ok(describe(action, &answer, who))
}

/// The daemon's answer in one line.
fn describe(action: &Action, a: &Value, who: &str) -> String {
    let s = |k: &str| a[k].as_str().unwrap_or("?").to_string();
    match action {
        Action::Approve { ticket } | Action::Rework { ticket, .. } => {
            let verb = if matches!(action, Action::Approve { .. }) {
                "approved"
            } else {
                "sent back for rework"
            };
            let to = if a["escalated"] == true {
                "escalated (rework limit reached)".to_string()
            } else {
                format!("{} → {}", s("from"), s("to"))
            };
            let again = if a["replayed"] == true {
                " (already done: nothing changed)"
            } else {
                ""
            };
            format!("{ticket}: {verb} by {who}: {to}{again}")
        }
        Action::Pause | Action::Resume => {
            let word = if matches!(action, Action::Pause) {
                "paused (running agents go on)"
            } else {
                "resumed"
            };
            if a["applied"] == true {
                format!("dispatch {word}")
            } else {
                format!("dispatch {word}: queued, not yet applied")
            }
        }
        Action::Refresh => {
            if a["coalesced"] == true {
                "refresh queued (joined the one already queued)".to_string()
            } else {
                "refresh queued: the daemon polls the tracker now".to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_the_flag_then_a_valid_login_then_cli() {
        assert_eq!(actor(Some("alice"), Some("bob")), "alice");
        assert_eq!(actor(None, Some("bob")), "bob");
        assert_eq!(actor(None, Some("bob smith")), "cli");
        assert_eq!(actor(None, None), "cli");
    }

    #[test]
    fn identifiers_with_slashes_are_encoded() {
        assert_eq!(
            issue_path("acme/app#7", "approve"),
            "/api/v1/issues/acme%2Fapp%237/approve"
        );
    }
}
