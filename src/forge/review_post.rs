//! A review agent's verdict posted on the ticket's pull request (issue 13): `APPROVE` or
//! `REQUEST_CHANGES`, with a line comment for each finding that has a path and a line.
//!
//! The review's body carries a hidden marker naming the run (`<!-- karajan:verdict
//! run=… -->`): a retry, a lost answer or a crash reads the reviews first and never
//! posts the same verdict twice, and the pull-request watch of a gate knows the review
//! is karajan's own (it never approves a gate by itself).
//!
//! GitHub refuses some reviews a bot can post (422 with its words): a token cannot
//! approve or request changes on its own pull request (the usual case: karajan's token
//! opened it), and a line comment must fall inside the diff. The caller then posts the
//! same verdict as a plain `COMMENT`, and without line comments (every finding is in the
//! body as well), so the verdict is visible on the pull request in any case.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::github::{GithubApi, refusal};
use crate::tracker::TrackerError;

/// The marker of the verdict of run `run_id` in a review's body.
pub fn marker(run_id: &str) -> String {
    format!("<!-- karajan:verdict run={run_id} -->")
}

/// Whether a review body is one of karajan's verdicts.
pub fn is_karajan_verdict(body: &str) -> bool {
    body.contains("<!-- karajan:verdict run=")
}

/// A comment on one line of the pull request's diff (the new side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineNote {
    pub path: String,
    pub line: u32,
    pub body: String,
}

/// What GitHub made of a review.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewAnswer {
    Posted,
    /// 422, with GitHub's words.
    Refused(String),
}

impl GithubApi {
    /// Whether pull request `number` already has a review whose body holds `marker`.
    pub async fn has_review_with(&self, number: u64, marker: &str) -> Result<bool, TrackerError> {
        for page in 1..=10 {
            let url = format!(
                "{}?per_page=100&page={page}",
                self.url(&format!("/pulls/{number}/reviews"))
            );
            let reply = self.http.rest(Method::GET, &url, None).await?;
            if reply.status.as_u16() != 200 {
                return Err(TrackerError::Fatal(format!(
                    "GitHub refused to list the reviews of #{number}: HTTP {}: {}",
                    reply.status.as_u16(),
                    refusal(&reply.body)
                )));
            }
            let reviews = reply.body.as_array().cloned().unwrap_or_default();
            if reviews.iter().any(|r| {
                r.get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(marker))
            }) {
                return Ok(true);
            }
            if reviews.len() < 100 {
                break;
            }
        }
        Ok(false)
    }

    /// Posts a review (`event`: `APPROVE`, `REQUEST_CHANGES` or `COMMENT`) on `commit`.
    /// Its answer may be lost (`Unconfirmed`): the caller reads the reviews back.
    pub async fn post_review(
        &self,
        number: u64,
        commit: Option<&str>,
        event: &str,
        body: &str,
        notes: &[LineNote],
    ) -> Result<ReviewAnswer, TrackerError> {
        let mut payload = json!({ "event": event, "body": body });
        if let Some(sha) = commit.filter(|c| !c.is_empty()) {
            payload["commit_id"] = json!(sha);
        }
        if !notes.is_empty() {
            payload["comments"] = notes
                .iter()
                .map(|n| json!({"path": n.path, "line": n.line, "side": "RIGHT", "body": n.body}))
                .collect();
        }
        let reply = self
            .http
            .rest(
                Method::POST,
                &self.url(&format!("/pulls/{number}/reviews")),
                Some(&payload),
            )
            .await?;
        match reply.status.as_u16() {
            200 | 201 => Ok(ReviewAnswer::Posted),
            422 => Ok(ReviewAnswer::Refused(refusal(&reply.body))),
            status => Err(TrackerError::Fatal(format!(
                "GitHub refused to post a review on #{number}: HTTP {status}: {}",
                refusal(&reply.body)
            ))),
        }
    }
}

/// Whether a refusal is about who reviews (own pull request, an Actions token), which a
/// plain comment avoids.
pub fn refused_for_the_author(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("your own pull request") || r.contains("not permitted to approve")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_run_and_is_recognised() {
        let m = marker("r-1");
        assert!(is_karajan_verdict(&format!("Approved.\n\n{m}")));
        assert!(!is_karajan_verdict("LGTM <!-- karajan:intent -->"));
        assert!(refused_for_the_author(
            "Unprocessable Entity (Can not approve your own pull request)"
        ));
        assert!(refused_for_the_author(
            "Unprocessable Entity (Can not request changes on your own pull request)"
        ));
        assert!(!refused_for_the_author(
            "Unprocessable Entity (Pull request review thread line must be part of the diff)"
        ));
    }
}
