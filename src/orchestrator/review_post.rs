//! A review state's verdict, posted on the ticket's pull request as a GitHub review
//! (issue 13): recorded as an intent in the same transaction as the run and its
//! `verdict` event, performed in the ticket's chain after any push and pull-request
//! update of that run. See `forge::review_post` for the marker that makes it happen
//! once and for GitHub's refusals, answered here by falling back to a plain comment
//! review and to the body alone.

use tracing::info;

use super::effects::ChainCtx;
use super::engine::Engine;
use super::forge_calls::{error_text, failed, github_for};
use super::intents::Intent;
use crate::domain::verdict::{Verdict, VerdictKind};
use crate::forge::review_post::{LineNote, ReviewAnswer, marker, refused_for_the_author};
use crate::store::{EventKind, IntentOp, NewEvent};

/// How a failure reads in the log.
const POST: &str = "posting the verdict on the pull request";

impl Engine {
    /// The review a verdict owes the ticket's pull request: with a GitHub forge, when
    /// the ticket has an unmerged pull request.
    pub(crate) fn post_review_op(
        &self,
        rec: &crate::domain::IssueRecord,
        run_id: &str,
        verdict: &Verdict,
        head: Option<&str>,
    ) -> Option<IntentOp> {
        self.workflow.forge.as_ref()?.github()?;
        let pr = rec.pull_request.as_ref().filter(|p| !p.merged)?;
        let approve = verdict.verdict == VerdictKind::Approve;
        let notes = verdict
            .findings
            .iter()
            .filter_map(|f| {
                Some(LineNote {
                    path: f.path.clone()?,
                    line: f.line?,
                    body: format!("[{}] {}", f.severity.as_str(), f.text.trim()),
                })
            })
            .collect();
        let mut body = format!(
            "**karajan review** (`{}`): {}\n",
            rec.state,
            if approve {
                "approved"
            } else {
                "changes requested"
            }
        );
        let said = verdict.feedback();
        if !said.is_empty() {
            body.push_str(&format!("\n{said}\n"));
        }
        body.push_str(&format!("\n{}", marker(run_id)));
        Some(IntentOp::PostReview {
            repo: pr.repo.clone(),
            number: pr.number,
            run_id: run_id.to_string(),
            event: if approve {
                "APPROVE"
            } else {
                "REQUEST_CHANGES"
            }
            .into(),
            // The commit reviewed: the workspace's head after the run, when the pull
            // request shows it (the reviewer may not have pushed anything).
            commit: head.map(str::to_string).or_else(|| pr.head.clone()),
            body,
            notes,
        })
    }
}

/// Perform a post-review intent: the reviews are read first (the marker of this run
/// confirms it); then the review is posted, falling back on GitHub's refusals.
pub(crate) async fn perform_post_review(ctx: &ChainCtx, intent: &Intent) -> Vec<NewEvent> {
    let IntentOp::PostReview {
        repo,
        number,
        run_id,
        event,
        commit,
        body,
        notes,
    } = &intent.op
    else {
        unreachable!("perform_post_review is given post-review intents only")
    };
    let api = match github_for(ctx, repo) {
        Ok(api) => api,
        Err(why) => return failed(intent, POST, why, false),
    };
    // The reviewer's words may quote a secret: blanked before they leave.
    let body = ctx.redactor.raw(body).into_owned();
    let notes: Vec<LineNote> = notes
        .iter()
        .map(|n| LineNote {
            body: ctx.redactor.raw(&n.body).into_owned(),
            ..n.clone()
        })
        .collect();
    // The event asked for with its line comments, then without them (a line outside the
    // diff), then as a plain comment review (a token cannot review its own pull request).
    let mut tries: Vec<(&str, &[LineNote])> = vec![(event.as_str(), &notes)];
    for t in [
        (event.as_str(), &[][..]),
        ("COMMENT", &notes[..]),
        ("COMMENT", &[][..]),
    ] {
        if !tries.contains(&t) {
            tries.push(t);
        }
    }
    let result = async {
        if api.has_review_with(*number, &marker(run_id)).await? {
            return Ok(Ok((true, String::new())));
        }
        let mut refusals = vec![];
        for (event, notes) in tries {
            // After a refusal for who reviews, only a comment review can pass.
            if event != "COMMENT" && refusals.iter().any(|r: &String| refused_for_the_author(r)) {
                continue;
            }
            match api
                .post_review(*number, commit.as_deref(), event, &body, notes)
                .await?
            {
                ReviewAnswer::Posted => return Ok(Ok((false, event.to_string()))),
                ReviewAnswer::Refused(why) => refusals.push(why),
            }
        }
        Ok::<_, crate::tracker::TrackerError>(Err(refusals.join("; ")))
    }
    .await;
    match result {
        Ok(Ok((already_done, posted_as))) => {
            info!(ticket = %intent.identifier, number, already_done, posted_as = %posted_as, "verdict posted on the pull request");
            vec![NewEvent::for_issue(
                &intent.identifier,
                EventKind::IntentCompleted {
                    intent_id: intent.intent_id.clone(),
                    already_done,
                },
            )]
        }
        Ok(Err(refused)) => failed(
            intent,
            POST,
            format!("GitHub refused the review on #{number}: {refused}"),
            false,
        ),
        Err(e) => failed(intent, POST, error_text(ctx, &e), e.is_retryable()),
    }
}
