//! What every forge intent's perform shares: the GitHub API of the repository the
//! intent names (the workflow may have changed since it was recorded), GitHub's own
//! words for a failure, and the `IntentFailed` event.

use tracing::warn;

use super::effects::ChainCtx;
use super::intents::Intent;
use crate::forge::GithubApi;
use crate::store::{EventKind, NewEvent};
use crate::tracker::TrackerError;

/// The forge's pull-request API, when it still serves `repo`; otherwise why not (a
/// final failure: no retry brings the recorded repository back).
pub(crate) fn github_for<'a>(ctx: &'a ChainCtx, repo: &str) -> Result<&'a GithubApi, String> {
    match ctx.forge.as_ref().map(|f| f.github()) {
        Some(Ok(api)) if api.repo() == repo => Ok(api),
        Some(Ok(api)) => Err(format!("the forge is now {}, not {repo}", api.repo())),
        Some(Err(e)) => Err(e),
        None => Err("the workflow no longer has a `forge` section".into()),
    }
}

/// A failure as recorded: GitHub's words without the tracker's framing, secrets blanked.
pub(crate) fn error_text(ctx: &ChainCtx, e: &TrackerError) -> String {
    let text = match e {
        TrackerError::Fatal(m) => m.clone(),
        e => e.to_string(),
    };
    ctx.redactor.raw(&text).into_owned()
}

/// The `IntentFailed` event of a forge intent (`what` names it in the log).
pub(crate) fn failed(intent: &Intent, what: &str, error: String, retryable: bool) -> Vec<NewEvent> {
    warn!(ticket = %intent.identifier, intent = %intent.intent_id, retryable, %error, "{what} failed");
    vec![NewEvent::for_issue(
        &intent.identifier,
        EventKind::IntentFailed {
            intent_id: intent.intent_id.clone(),
            error,
            retryable,
        },
    )]
}
