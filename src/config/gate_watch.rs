//! A gate's pull-request keys: `checks:` (the PR head's CI decides the gate),
//! `checks_timeout:` (how long pending checks may keep it waiting), `reviews:` (who
//! approves: a tracker move, a PR review, or either) and `reviewers:` (whose reviews
//! count). They compile to `PrWatch` on `StateSpec::Gate`; a gate with none of them
//! has no watch, so its serialization (and the workflow digest) is what it was.
//! Like `merge:`, they need a forge with pull requests (`pull_requests_need_a_forge`).

use std::time::Duration;

use super::raw::RawState;
use super::schema::join;
use super::suggest;
use super::validate::Ctx;
use crate::domain::{PrWatch, ReviewSource};

/// How long pending checks may hold a gate when `checks_timeout` is not given.
pub(crate) const DEFAULT_CHECKS_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The values of a gate's `reviews` (default `tracker`).
pub(crate) const REVIEWS: [&str; 3] = ["tracker", "pull_request", "either"];

/// The values of a gate's `checks`.
pub(crate) const CHECKS: [&str; 1] = ["required"];

/// The gate's watch, or `None` when it waits on the tracker alone (errors are pushed).
pub(crate) fn watch(cx: &mut Ctx, base: &str, s: &RawState) -> Option<PrWatch> {
    let checks = match s.checks.as_deref() {
        None => false,
        Some("required") => true,
        Some(other) => {
            cx.errors.push(
                join(base, "checks"),
                format!(
                    "unknown value `{other}`; expected `required` (the pull request's checks must all succeed){}",
                    suggest::hint(other, CHECKS)
                ),
            );
            false
        }
    };
    let timeout_key = join(base, "checks_timeout");
    if s.checks.is_none() && s.checks_timeout.is_some() {
        cx.errors.push(
            &timeout_key,
            "`checks_timeout` applies only with `checks: required`",
        );
    }
    let timeout = cx.duration(
        &timeout_key,
        s.checks_timeout.as_ref(),
        DEFAULT_CHECKS_TIMEOUT,
    );
    let reviews = match s.reviews.as_deref() {
        None | Some("tracker") => ReviewSource::Tracker,
        Some("pull_request") => ReviewSource::PullRequest,
        Some("either") => ReviewSource::Either,
        Some(other) => {
            cx.errors.push(
                join(base, "reviews"),
                format!(
                    "unknown value `{other}`; expected `tracker` (a human's column move), `pull_request` (a review on the pull request) or `either`{}",
                    suggest::hint(other, REVIEWS)
                ),
            );
            ReviewSource::Tracker
        }
    };
    let reviewers = s.reviewers.clone().unwrap_or_default();
    if !reviewers.is_empty() && reviews == ReviewSource::Tracker {
        cx.errors.push(
            join(base, "reviewers"),
            "`reviewers` applies only with `reviews: pull_request` or `reviews: either`",
        );
    }
    for (i, login) in reviewers.iter().enumerate() {
        if login.trim().is_empty() || login.contains(char::is_whitespace) {
            cx.errors.push(
                join(&join(base, "reviewers"), &i.to_string()),
                format!("`{login}` is not a GitHub login"),
            );
        }
    }
    if !checks && reviews == ReviewSource::Tracker {
        return None;
    }
    Some(PrWatch {
        checks,
        checks_timeout_secs: timeout.as_secs().max(1),
        reviews,
        reviewers,
    })
}

/// Whether the state uses a key that reads the pull request, and which (for errors).
pub(crate) fn pr_key(s: &RawState) -> Option<&'static str> {
    if s.checks.is_some() {
        Some("checks")
    } else if matches!(s.reviews.as_deref(), Some(r) if r != "tracker") {
        Some("reviews")
    } else {
        None
    }
}
