//! Whether the workflow's forge will accept karajan's work, verified by `karajan check`
//! and `run --dry-run` without writing anything, so a wrong token or base branch shows
//! before the first agent finishes rather than as an escalated ticket after it.
//!
//! For `kind: github`, two reads (the same HTTP layer, retries and rate limits as every
//! GitHub call):
//!
//! - `GET /repos/{owner}/{repo}`: the repository exists and the token sees it (a 404 is
//!   GitHub's answer for both "no such repository" and "not visible to this token"),
//!   and `permissions.push` says the token may push branches (and so open pull
//!   requests from them);
//! - `GET /repos/{owner}/{repo}/branches/{base}` for the base the pull requests go to
//!   (`forge.pull_request.base`, else the repository's default branch), when some state
//!   opens pull requests.
//!
//! Each problem names the key to fix (`forge.token`, `forge.repo`,
//! `forge.pull_request.base`). A `kind: git` remote is not contacted here: a local one
//! is checked offline with the other local paths (`cli::preflight`), and pushing is the
//! only way to learn what a URL remote accepts.

use serde_json::Value;

use super::GithubApi;
use crate::config::{ForgeKind, GithubForge, Workflow};
use crate::tracker::TrackerError;

/// What the forge check found: facts to print, or the problems that stop a run.
pub type AccessResult = Result<Vec<String>, Vec<String>>;

/// The read-only check of `wf.forge` (facts when it accepts karajan's work); `Ok(vec![])`
/// without a forge.
pub async fn check(wf: &Workflow) -> AccessResult {
    let Some(forge) = &wf.forge else {
        return Ok(vec![]);
    };
    match &forge.kind {
        ForgeKind::Git => {
            let url = forge.remote.contains("://") && !forge.remote.starts_with("file://");
            let how = if url {
                "not contacted: the first push tests a URL remote"
            } else {
                "a local git repository"
            };
            Ok(vec![format!("git, pushes to `{}` ({how})", forge.remote)])
        }
        ForgeKind::Github(g) => {
            let opens = wf
                .states
                .keys()
                .filter_map(|s| wf.agent_state(s))
                .any(|a| a.pull_request);
            github(g, forge.ca_file.as_deref(), opens).await
        }
    }
}

async fn github(
    g: &GithubForge,
    ca_file: Option<&std::path::Path>,
    opens_pull_requests: bool,
) -> AccessResult {
    let repo = format!("{}/{}", g.owner, g.repo);
    let api = GithubApi::trusting(g, ca_file).map_err(|e| vec![format!("forge: {e}")])?;
    let reply = api
        .read_repository()
        .await
        .map_err(|e| vec![refused(&repo, &e)])?;
    if reply.status.as_u16() == 404 {
        return Err(vec![format!(
            "forge.repo: the repository {repo} does not exist, or the token cannot see it (GitHub: {})",
            message(&reply.body)
        )]);
    }
    let mut problems = vec![];
    let push = match reply
        .body
        .pointer("/permissions/push")
        .and_then(Value::as_bool)
    {
        Some(true) => "the token can push",
        Some(false) => {
            problems.push(format!(
                "forge.token: the token can read {repo} but not push to it (`permissions.push` is false); it needs write access to the repository's contents"
            ));
            ""
        }
        None => "GitHub did not say whether the token can push (no `permissions` in its answer)",
    };
    if !opens_pull_requests {
        return if problems.is_empty() {
            Ok(vec![format!(
                "github {repo}: {push}; no state opens pull requests (base branch not checked)"
            )])
        } else {
            Err(problems)
        };
    }
    let (base, which) = match &g.pull_request.base {
        Some(b) => (b.clone(), ""),
        None => match reply.body.get("default_branch").and_then(Value::as_str) {
            Some(b) => (b.to_string(), " (the default branch)"),
            None => {
                problems.push(format!(
                    "forge.repo: GitHub's answer for {repo} has no `default_branch`; set `forge.pull_request.base`"
                ));
                return Err(problems);
            }
        },
    };
    match api.read_branch(&base).await {
        Ok(r) if r.status.is_success() => {}
        Ok(r) if r.status.as_u16() == 404 && g.pull_request.base.is_some() => {
            problems.push(format!(
                "forge.pull_request.base: the branch `{base}` does not exist in {repo} (GitHub: {})",
                message(&r.body)
            ));
        }
        Ok(r) if r.status.as_u16() == 404 => problems.push(format!(
            "forge.pull_request.base: the default branch `{base}` does not exist in {repo} yet (an empty repository?); push it, or set `forge.pull_request.base` (GitHub: {})",
            message(&r.body)
        )),
        Ok(r) => problems.push(format!(
            "forge: reading the branch `{base}` of {repo}: HTTP {}: {}",
            r.status.as_u16(),
            message(&r.body)
        )),
        Err(e) => problems.push(refused(&repo, &e)),
    }
    if problems.is_empty() {
        Ok(vec![format!(
            "github {repo}: {push}; pull requests go to `{base}`{which}, which exists"
        )])
    } else {
        Err(problems)
    }
}

/// A failed read as a problem: a rejected token names `forge.token` (the shared HTTP
/// layer's words name the tracker's key, as its calls are the tracker's elsewhere).
fn refused(repo: &str, e: &TrackerError) -> String {
    let text = e.to_string();
    if let Some(rest) = text.split_once("(401 ").map(|(_, r)| r) {
        let message = rest.split_once(')').map_or(rest, |(m, _)| m);
        return format!(
            "forge.token: GitHub rejected the token (401 {message}) reading {repo}; check `forge.token` (with a GitHub tracker it defaults to the tracker's)"
        );
    }
    if text.contains("(403 ") {
        return format!("forge.token: {text}");
    }
    format!("forge: cannot read {repo} on GitHub: {text}")
}

fn message(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_token_names_the_forge_key_and_keeps_githubs_message() {
        let e = TrackerError::Fatal(
            "GET https://api.github.com/repos/acme/app: GitHub rejected the token (401 Bad credentials); check tracker.token".into(),
        );
        assert_eq!(
            refused("acme/app", &e),
            "forge.token: GitHub rejected the token (401 Bad credentials) reading acme/app; check `forge.token` (with a GitHub tracker it defaults to the tracker's)"
        );
        let e = TrackerError::Transient("GET x: GitHub answered 502".into());
        assert!(refused("acme/app", &e).starts_with("forge: cannot read acme/app"));
    }
}
