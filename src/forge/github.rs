//! Pull requests on GitHub, over the REST API and the same HTTP layer as the GitHub
//! tracker (`tracker::github::http`): retries, backoff, rate limits and lost answers
//! follow the same rules.
//!
//! A ticket has one pull request, found by its head branch (`head=owner:branch`), never
//! by remembering a number alone: so a pull request whose creation answer was lost, or
//! that was opened before a crash, is found and updated instead of opened twice.

use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::config::GithubForge;
use crate::tracker::TrackerError;
use crate::tracker::github::config::{HttpPolicy, endpoints};
use crate::tracker::github::http::GithubHttp;

/// A pull request as karajan reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    pub open: bool,
    pub merged: bool,
    pub draft: bool,
    pub title: String,
    pub body: String,
    /// The head commit.
    pub head_sha: String,
    /// The GraphQL node id (for what only GraphQL can do).
    pub node_id: String,
}

/// What a pull request should say.
#[derive(Debug, Clone)]
pub struct PullRequestDraft<'a> {
    pub branch: &'a str,
    pub base: Option<&'a str>,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// One GitHub repository's pull requests.
#[derive(Debug, Clone)]
pub struct GithubApi {
    pub(super) http: Arc<GithubHttp>,
    pub(super) owner: String,
    pub(super) repo: String,
}

impl GithubApi {
    pub fn new(config: &GithubForge) -> Result<Self, TrackerError> {
        Self::with_policy(config, HttpPolicy::default())
    }

    /// The pull requests of `config`, trusting `ca_file`'s CA certificates (PEM)
    /// beside the system's roots (`forge.ca_file`).
    pub fn trusting(config: &GithubForge, ca_file: Option<&Path>) -> Result<Self, TrackerError> {
        let api = endpoints(&config.api_url).map_err(TrackerError::Fatal)?;
        let http = GithubHttp::trusting(config.token.clone(), api, HttpPolicy::default(), ca_file)?;
        Ok(GithubApi {
            http: Arc::new(http),
            owner: config.owner.clone(),
            repo: config.repo.clone(),
        })
    }

    /// The pull requests of `config`, over `shared` (a GitHub tracker's HTTP layer)
    /// when it talks to the same API with the same token: one rate-limit budget, one
    /// connection pool. A forge with its own CA file (`ca_file`) has its own client:
    /// the tracker's trusts only the system's roots.
    pub fn sharing(
        config: &GithubForge,
        ca_file: Option<&Path>,
        shared: Option<Arc<GithubHttp>>,
    ) -> Result<Self, TrackerError> {
        let api = endpoints(&config.api_url).map_err(TrackerError::Fatal)?;
        match shared {
            Some(http) if ca_file.is_none() && http.serves(&api, &config.token) => Ok(GithubApi {
                http,
                owner: config.owner.clone(),
                repo: config.repo.clone(),
            }),
            _ => Self::trusting(config, ca_file),
        }
    }

    /// Whether this forge and `other` spend one budget (tests, diagnostics).
    pub fn shares_http_with(&self, other: &Arc<GithubHttp>) -> bool {
        Arc::ptr_eq(&self.http, other)
    }

    pub fn with_policy(config: &GithubForge, policy: HttpPolicy) -> Result<Self, TrackerError> {
        let api = endpoints(&config.api_url).map_err(TrackerError::Fatal)?;
        Ok(GithubApi {
            http: Arc::new(GithubHttp::new(config.token.clone(), api, policy)?),
            owner: config.owner.clone(),
            repo: config.repo.clone(),
        })
    }

    /// `owner/name`.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    pub(super) fn url(&self, tail: &str) -> String {
        self.http
            .rest_url(&format!("/repos/{}/{}{tail}", self.owner, self.repo))
    }

    /// The ticket's pull request: the open one from `branch`, else the most recent
    /// closed one (merged or not); `None` when the branch never had one.
    pub async fn find(&self, branch: &str) -> Result<Option<PullRequest>, TrackerError> {
        let head = format!("{}:{branch}", self.owner);
        let url = format!(
            "{}?head={}&state=all&per_page=100",
            self.url("/pulls"),
            urlencode(&head)
        );
        let reply = self.http.rest(Method::GET, &url, None).await?;
        expect(&reply, "list pull requests", &[200])?;
        let mut found: Vec<PullRequest> = reply
            .body
            .as_array()
            .into_iter()
            .flatten()
            // GitHub filters by `head` already; a fake or a proxy that does not must
            // not hand us another branch's pull request.
            .filter(|p| p.pointer("/head/ref").and_then(Value::as_str) == Some(branch))
            .filter_map(parse)
            .collect();
        found.sort_by_key(|p| (p.open, p.number));
        Ok(found.pop())
    }

    /// The repository's default branch (the base when none is configured).
    pub async fn default_branch(&self) -> Result<String, TrackerError> {
        let reply = self.http.rest(Method::GET, &self.url(""), None).await?;
        expect(&reply, "read the repository", &[200])?;
        reply
            .body
            .get("default_branch")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| malformed("read the repository", "no `default_branch`"))
    }

    /// Opens a pull request. Its answer may be lost (`Unconfirmed`): the caller then
    /// looks for it with [`GithubApi::find`] before trying again.
    pub async fn create(
        &self,
        pr: &PullRequestDraft<'_>,
        base: &str,
    ) -> Result<PullRequest, TrackerError> {
        let body = json!({
            "title": pr.title,
            "head": pr.branch,
            "base": base,
            "body": pr.body,
            "draft": pr.draft,
        });
        let reply = self
            .http
            .rest(Method::POST, &self.url("/pulls"), Some(&body))
            .await?;
        expect(&reply, "open the pull request", &[201, 200])?;
        parse(&reply.body).ok_or_else(|| malformed("open the pull request", "no number or URL"))
    }

    /// Sets the title and body (and reopens a closed, unmerged one). Setting values:
    /// repeating it is harmless.
    pub async fn update(
        &self,
        number: u64,
        title: &str,
        body: &str,
        reopen: bool,
    ) -> Result<PullRequest, TrackerError> {
        let mut patch = json!({ "title": title, "body": body });
        if reopen {
            patch["state"] = json!("open");
        }
        let reply = self
            .http
            .rest(
                Method::PATCH,
                &self.url(&format!("/pulls/{number}")),
                Some(&patch),
            )
            .await?;
        expect(&reply, "update the pull request", &[200])?;
        parse(&reply.body).ok_or_else(|| malformed("update the pull request", "no number or URL"))
    }

    // Read-only reads for `forge::access` (`check`, `run --dry-run`): the answers as
    // GitHub gave them (a 404 included), judged there.

    /// `GET /repos/{owner}/{repo}`: the repository as the token sees it (`permissions`).
    pub(crate) async fn read_repository(
        &self,
    ) -> Result<crate::tracker::github::http::RestReply, TrackerError> {
        self.http.rest(Method::GET, &self.url(""), None).await
    }

    /// `GET /repos/{owner}/{repo}/branches/{branch}` (404 `Branch not found`).
    pub(crate) async fn read_branch(
        &self,
        branch: &str,
    ) -> Result<crate::tracker::github::http::RestReply, TrackerError> {
        let path: Vec<String> = branch.split('/').map(urlencode).collect();
        let url = self.url(&format!("/branches/{}", path.join("/")));
        self.http.rest(Method::GET, &url, None).await
    }
}

/// What became of a merge GitHub answered.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeAnswer {
    /// Merged; the merge commit.
    Merged(String),
    /// Refused, with GitHub's reason: not mergeable (conflicts, failing required checks,
    /// protection rules: 405), the head moved (409), or invalid (422).
    Refused(String),
}

impl GithubApi {
    /// One pull request by number.
    pub async fn get(&self, number: u64) -> Result<PullRequest, TrackerError> {
        let reply = self
            .http
            .rest(Method::GET, &self.url(&format!("/pulls/{number}")), None)
            .await?;
        expect(&reply, "read the pull request", &[200])?;
        parse(&reply.body).ok_or_else(|| malformed("read the pull request", "no number or URL"))
    }

    /// Merges pull request `number` with `method`, only if its head is still `sha`
    /// (GitHub refuses with 409 otherwise). Its answer may be lost (`Unconfirmed`, a PUT
    /// that may have arrived is not repeated here): the caller reads it back.
    pub async fn merge(
        &self,
        number: u64,
        method: &str,
        sha: Option<&str>,
    ) -> Result<MergeAnswer, TrackerError> {
        let mut body = json!({ "merge_method": method });
        if let Some(sha) = sha {
            body["sha"] = json!(sha);
        }
        let reply = self
            .http
            .rest_judged(
                Method::PUT,
                &self.url(&format!("/pulls/{number}/merge")),
                Some(&body),
            )
            .await?;
        let message = reply
            .body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        match reply.status.as_u16() {
            200 => Ok(MergeAnswer::Merged(
                reply
                    .body
                    .get("sha")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )),
            status @ (403 | 404 | 405 | 409 | 422) => Ok(MergeAnswer::Refused(format!(
                "GitHub refused to merge pull request #{number}: HTTP {status}: {message}"
            ))),
            status => Err(TrackerError::Fatal(format!(
                "GitHub refused to merge pull request #{number}: HTTP {status}: {message}"
            ))),
        }
    }
}

/// The document of [`GithubApi::mark_ready`] (checked against GitHub's schema with the
/// others in `graphql/github/`).
const MARK_READY: &str = include_str!("../../graphql/github/mark_ready.graphql");

impl GithubApi {
    /// Takes a draft out of draft. Setting a value: repeating it is harmless.
    pub async fn mark_ready(&self, pr: &PullRequest) -> Result<(), TrackerError> {
        let body = json!({
            "query": MARK_READY,
            "operationName": "MarkReady",
            "variables": { "id": pr.node_id },
        });
        let reply = self.http.graphql_raw("MarkReady", &body, true).await?;
        let draft = reply
            .data
            .as_ref()
            .and_then(|d| d.pointer("/markPullRequestReadyForReview/pullRequest/isDraft"))
            .and_then(Value::as_bool);
        match (draft, reply.errors.is_empty()) {
            (Some(false), true) => Ok(()),
            _ => Err(crate::tracker::github::http::errors_to_tracker(
                "MarkReady",
                &reply.errors,
            )),
        }
    }
}

fn parse(v: &Value) -> Option<PullRequest> {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
    Some(PullRequest {
        number: v.get("number")?.as_u64()?,
        url: v.get("html_url")?.as_str()?.to_string(),
        open: s("/state") == "open",
        merged: v.get("merged_at").is_some_and(|m| !m.is_null())
            || v.get("merged").and_then(Value::as_bool) == Some(true),
        draft: v.get("draft").and_then(Value::as_bool).unwrap_or(false),
        title: s("/title").to_string(),
        body: s("/body").to_string(),
        head_sha: s("/head/sha").to_string(),
        node_id: s("/node_id").to_string(),
    })
}

/// A 4xx the caller must judge (404, 422) is a final failure with GitHub's message.
fn expect(
    reply: &crate::tracker::github::http::RestReply,
    what: &str,
    ok: &[u16],
) -> Result<(), TrackerError> {
    let status = reply.status.as_u16();
    if ok.contains(&status) {
        return Ok(());
    }
    Err(TrackerError::Fatal(format!(
        "GitHub refused to {what}: HTTP {status}: {}",
        refusal(&reply.body)
    )))
}

/// GitHub's words for a refusal: its `message`, then each of its `errors` (objects with
/// a `message` or a `field` and `code`, or plain strings as the reviews API gives them).
pub(super) fn refusal(body: &Value) -> String {
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let details: Vec<String> = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            if let Some(text) = e.as_str() {
                return Some(text.to_string());
            }
            let text = |k: &str| e.get(k).and_then(Value::as_str);
            match (text("message"), text("field"), text("code")) {
                (Some(m), _, _) => Some(m.to_string()),
                (None, Some(f), Some(c)) => Some(format!("`{f}` {c}")),
                (None, None, Some(c)) => Some(c.to_string()),
                _ => None,
            }
        })
        .collect();
    if details.is_empty() {
        message.to_string()
    } else {
        format!("{message} ({})", details.join("; "))
    }
}

fn malformed(what: &str, message: &str) -> TrackerError {
    TrackerError::Malformed {
        source_name: what.to_string(),
        message: message.to_string(),
    }
}

/// Percent-encodes a query value (branch names may hold `/`, `#`, `+`, ...).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rest_pull_request_reads_with_its_merge_state() {
        let v = json!({"number": 7, "html_url": "https://github.com/acme/app/pull/7",
            "state": "closed", "merged_at": "2026-01-01T00:00:00Z", "draft": false,
            "title": "T", "body": null, "head": {"ref": "karajan/x", "sha": "abc"}});
        let pr = parse(&v).unwrap();
        assert_eq!(
            (
                pr.number,
                pr.open,
                pr.merged,
                pr.body.as_str(),
                pr.head_sha.as_str()
            ),
            (7, false, true, "", "abc")
        );
        assert!(parse(&json!({"number": 1})).is_none());
    }

    #[test]
    fn branch_names_are_encoded_for_the_query() {
        assert_eq!(urlencode("acme:karajan/A#1"), "acme:karajan%2FA%231");
    }
}
