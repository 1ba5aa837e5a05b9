//! What a gate's pull request says about the gate (pure): approve, send back, escalate
//! or wait, from the pull request's state as read (`forge::PrStatus`), the gate's
//! `PrWatch`, the head karajan last pushed and when the gate was entered.
//!
//! The order, first match wins:
//! 1. A pull request that is merged or closed, or whose head is not the commit karajan
//!    last pushed (a push in flight, someone else's push): wait. A new push after a
//!    rework re-enters the gate, which starts the wait again.
//! 2. `reviews: pull_request|either`: a CHANGES_REQUESTED review (the latest of its
//!    reviewer, by `reviewers` when given) sends the ticket back, with its body and line
//!    comments (`path:line: text`) as feedback. A review counts only if it was made on
//!    the current head and submitted since the gate was entered: one on an older commit
//!    was answered by the push that followed it (the commit tells this apart even when
//!    the rework took less than GitHub's one-second time resolution), and one from
//!    before the gate's entry belongs to an earlier visit. A review agent's verdict that
//!    karajan posted (its body holds the verdict marker) never counts.
//! 3. `checks: required`: a failing rollup (FAILURE, ERROR) sends it back with each
//!    failing check's name, conclusion, title, summary and output text (bounded); a
//!    pending one (or none reported yet) waits, and escalates once it has waited longer
//!    than `checks_timeout` since the gate was entered, naming the pending checks.
//! 4. Checks green (or not required): with reviews read, an APPROVED review submitted
//!    since the gate was entered approves; without, green checks approve by themselves.
//!
//! Times are compared in whole seconds: GitHub's have one-second resolution while the
//! gate's entry is recorded to the millisecond (see `feedback`).

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::PrWatch;
use crate::forge::{Check, PrStatus, Review, ReviewState, Rollup};

/// The actor recorded for a decision the checks took.
pub(crate) const CHECKS_ACTOR: &str = "github:checks";
/// At most this much of one check's output goes into the feedback…
pub(crate) const PER_CHECK: usize = 2_000;
/// …and at most this much of all of them.
pub(crate) const ALL_CHECKS: usize = 8_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Nothing to decide yet; why, for the status.
    Wait(String),
    Approve {
        actor: String,
    },
    Rework {
        actor: String,
        feedback: String,
    },
    Escalate {
        reason: String,
    },
}

/// The verdict on a gate watching `pr`.
pub(crate) fn verdict(
    pr: &PrStatus,
    watch: &PrWatch,
    pushed_head: Option<&str>,
    entered_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Verdict {
    if pr.merged || pr.state != "OPEN" {
        return Verdict::Wait(format!(
            "pull request #{} is {}",
            pr.number,
            pr.state.to_lowercase()
        ));
    }
    if let Some(head) = pushed_head
        && head != pr.head
    {
        return Verdict::Wait(format!(
            "pull request #{} has head {}, karajan last pushed {}",
            pr.number,
            short(&pr.head),
            short(head)
        ));
    }
    let since = entered_at.trunc_subsecs(0);
    let counted: Vec<&Review> = if watch.reads_reviews() {
        pr.reviews
            .iter()
            .filter(|r| r.commit.as_deref() == Some(pr.head.as_str()))
            .filter(|r| r.submitted_at.is_some_and(|t| t >= since))
            // karajan's own review agent's verdict is not a human's review.
            .filter(|r| !crate::forge::review_post::is_karajan_verdict(&r.body))
            .filter(|r| {
                watch.reviewers.is_empty()
                    || r.author
                        .as_ref()
                        .is_some_and(|a| watch.reviewers.iter().any(|w| w.eq_ignore_ascii_case(a)))
            })
            .collect()
    } else {
        vec![]
    };
    let changes: Vec<&Review> = counted
        .iter()
        .copied()
        .filter(|r| r.state == ReviewState::ChangesRequested)
        .collect();
    if let Some(first) = changes.first() {
        return Verdict::Rework {
            actor: actor_of(first),
            feedback: review_feedback(&changes),
        };
    }
    if watch.checks {
        let checks = pr.checks.as_ref().filter(|c| c.commit == pr.head);
        match checks.map(|c| c.rollup) {
            Some(Rollup::Failure | Rollup::Error) => {
                let checks = checks.expect("matched");
                return Verdict::Rework {
                    actor: CHECKS_ACTOR.to_string(),
                    feedback: checks_feedback(&pr.head, &checks.items),
                };
            }
            Some(Rollup::Success) => {}
            _ => {
                let pending: Vec<&str> = checks
                    .map(|c| {
                        c.items
                            .iter()
                            .filter(|i| i.pending)
                            .map(|i| i.name.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let what = if pending.is_empty() {
                    "no check has reported yet".to_string()
                } else {
                    format!("checks pending: {}", pending.join(", "))
                };
                let waited = now - entered_at;
                let timeout = chrono::Duration::seconds(
                    i64::try_from(watch.checks_timeout_secs).unwrap_or(i64::MAX),
                );
                if waited > timeout {
                    return Verdict::Escalate {
                        reason: format!(
                            "the checks of pull request #{} did not finish within {} ({what})",
                            pr.number,
                            humantime::format_duration(std::time::Duration::from_secs(
                                watch.checks_timeout_secs
                            ))
                        ),
                    };
                }
                return Verdict::Wait(what);
            }
        }
    }
    if watch.reads_reviews() {
        if let Some(approved) = counted.iter().find(|r| r.state == ReviewState::Approved) {
            return Verdict::Approve {
                actor: actor_of(approved),
            };
        }
        let checks = if watch.checks { "checks passed; " } else { "" };
        return Verdict::Wait(format!("{checks}waiting for an approving review"));
    }
    Verdict::Approve {
        actor: CHECKS_ACTOR.to_string(),
    }
}

fn actor_of(r: &Review) -> String {
    format!("github:{}", r.author.as_deref().unwrap_or("ghost"))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The reviews that request changes, each with its body and line comments.
pub(crate) fn review_feedback(reviews: &[&Review]) -> String {
    let mut out = vec![];
    for r in reviews {
        let mut part = format!(
            "{} requested changes on the pull request",
            r.author.as_deref().unwrap_or("ghost")
        );
        let body = r.body.trim();
        if !body.is_empty() {
            part.push_str(":\n");
            part.push_str(body);
        }
        for c in &r.comments {
            let at = match c.line {
                Some(line) => format!("{}:{line}", c.path),
                None => c.path.clone(),
            };
            part.push_str(&format!("\n{at}: {}", c.body.trim()));
        }
        out.push(part);
    }
    out.join("\n\n")
}

/// The failing checks of `head`: name, conclusion, title, summary and output text,
/// each bounded to [`PER_CHECK`] and all to [`ALL_CHECKS`].
pub(crate) fn checks_feedback(head: &str, items: &[Check]) -> String {
    let failing: Vec<&Check> = items.iter().filter(|c| c.failed).collect();
    let mut out = format!("Checks failed on commit {}:", short(head));
    if failing.is_empty() {
        out.push_str("\n(GitHub reports the checks as failing without naming one)");
    }
    for c in failing {
        let mut part = format!("- {}: {}", c.name, c.conclusion);
        if let Some(t) = c.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            part.push_str(&format!(" — {t}"));
        }
        for text in [&c.summary, &c.text].into_iter().flatten() {
            let text = text.trim();
            if !text.is_empty() {
                part.push('\n');
                part.push_str(text);
            }
        }
        if let Some(url) = &c.url {
            part.push_str(&format!("\n(details: {url})"));
        }
        const MORE: &str = "\n… (more failing checks left out)";
        let part = bounded(&part, PER_CHECK);
        let room = ALL_CHECKS.saturating_sub(out.len() + 1 + MORE.len());
        if room < 40 {
            out.push_str(MORE);
            break;
        }
        out.push('\n');
        out.push_str(&bounded(&part, room));
    }
    out
}

/// `text` cut to at most `max` bytes (on a character boundary), saying so.
fn bounded(text: &str, max: usize) -> String {
    const CUT: &str = "\n… (cut)";
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(CUT.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &text[..end])
}

#[cfg(test)]
#[path = "pr_verdict_tests.rs"]
mod tests;
