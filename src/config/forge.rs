//! The `forge:` section: where the agents' work leaves the workspace. After a run that
//! succeeded, karajan pushes the ticket's branch there (never forced), and a workspace
//! is removed only once its branch is pushed. Without the section nothing is pushed
//! and workspaces are removed as before.
//!
//! Two kinds:
//!
//! - `kind: git`: any git remote, push only. `remote` defaults to `workspace.repo`, so
//!   the offline quickstart pushes to its local bare repository.
//! - `kind: github`: a GitHub repository (`repo: owner/name`, `api_url`, `token: $VAR`),
//!   pushed over HTTPS with the token. With a GitHub tracker, `repo`, `api_url` and
//!   `token` default to the tracker's. `remote` defaults to the repository's HTTPS URL
//!   on the API's host (`https://github.com/owner/name.git`; on GitHub Enterprise
//!   Server `https://HOST/owner/name.git`).
//!
//! The token is a [`Secret`]: never printed, blanked by the redactor, and never given to
//! agents (their environment is an allowlist).
//!
//! `ca_file` (either kind, optional): a PEM file of CA certificates trusted for HTTPS
//! remotes and, with `kind: github`, the pull-request API, in addition to the
//! platform's roots (GitHub Enterprise Server behind a private CA). Checked at load: it
//! must be readable and hold at least one certificate.

use std::path::PathBuf;

use super::adapters::TrackerConfig;
use super::raw::{RawForge, RawPullRequest, RawWorkflow};
use super::secret::Secret;
use super::suggest;
use super::validate::{Ctx, is_url};

/// `forge:`, validated.
#[derive(Debug, Clone)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// Where branches are pushed: a URL, or an absolute local path.
    pub remote: String,
    /// Extra CA certificates (PEM) for HTTPS remotes.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum ForgeKind {
    /// Any git remote: push only.
    Git,
    Github(Box<GithubForge>),
}

/// A GitHub repository and how to reach it.
#[derive(Debug, Clone)]
pub struct GithubForge {
    /// The REST API base.
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    pub token: Secret,
    /// How pull requests are opened (`forge.pull_request`; defaults when absent).
    pub pull_request: PullRequestConfig,
    /// The tracker's repository (`owner/name`) when the tracker is GitHub: a pull
    /// request then closes its issue (`Closes #N`).
    pub tracker_repo: Option<String>,
}

impl GithubForge {
    /// `owner/repo` on `api_url` with `token`, pull requests as configured by default.
    pub fn new(api_url: &str, owner: &str, repo: &str, token: Secret) -> Self {
        GithubForge {
            api_url: api_url.to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            token,
            pull_request: PullRequestConfig {
                base: None,
                title: DEFAULT_PR_TITLE.to_string(),
                body: DEFAULT_PR_BODY.to_string(),
                draft: false,
                ready_in: None,
            },
            tracker_repo: None,
        }
    }
}

/// `forge.pull_request`: the pull request a state with `pull_request: open` opens.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestConfig {
    /// The branch it merges into; `None`: the repository's default branch.
    pub base: Option<String>,
    /// MiniJinja templates (strict), rendered with `issue`, `branch` and `state`.
    pub title: String,
    pub body: String,
    /// Opened as a draft.
    pub draft: bool,
    /// A draft is marked ready for review when the ticket enters this state.
    pub ready_in: Option<String>,
}

/// The title when none is configured.
pub const DEFAULT_PR_TITLE: &str = "{{ issue.identifier }}: {{ issue.title }}";
/// The body when none is configured; karajan adds the ticket's link line below it.
pub const DEFAULT_PR_BODY: &str = "The work of karajan's agents on {{ issue.identifier }}{% if issue.url %} ({{ issue.url }}){% endif %}, branch `{{ branch }}`.";

impl ForgeConfig {
    /// The credential a push presents (HTTPS remotes), if any.
    pub fn token(&self) -> Option<&Secret> {
        match &self.kind {
            ForgeKind::Git => None,
            ForgeKind::Github(g) => Some(&g.token),
        }
    }

    /// The GitHub side, when the forge can open pull requests.
    pub fn github(&self) -> Option<&GithubForge> {
        match &self.kind {
            ForgeKind::Git => None,
            ForgeKind::Github(g) => Some(g),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ForgeKind::Git => "git",
            ForgeKind::Github(_) => "github",
        }
    }
}

/// The kinds of forge (`forge.kind`).
pub(crate) const KINDS: &[&str] = &["git", "github"];
const DEFAULT_API_URL: &str = "https://api.github.com";
const DEFAULT_TOKEN: &str = "$GITHUB_TOKEN";

/// `forge:`; `None` when absent or invalid (each problem reported).
pub(crate) fn forge(
    cx: &mut Ctx,
    raw: &RawWorkflow,
    tracker: Option<&TrackerConfig>,
    workspace_repo: &str,
) -> Option<ForgeConfig> {
    let f = raw.forge.as_ref()?;
    let before = cx.errors.count();
    let kind = match f.kind.as_deref() {
        Some("git") => {
            for (key, given) in [
                ("api_url", f.api_url.is_some()),
                ("repo", f.repo.is_some()),
                ("token", f.token.is_some()),
                ("pull_request", f.pull_request.is_some()),
            ] {
                if given {
                    cx.errors.push(
                        format!("forge.{key}"),
                        format!("`{key}` does not apply to `kind: git` (it is a key of `kind: github`); a git remote is named by `remote`"),
                    );
                }
            }
            ForgeKind::Git
        }
        Some("github") => ForgeKind::Github(Box::new(github(cx, f, tracker)?)),
        Some(k) => {
            cx.errors.push(
                "forge.kind",
                format!(
                    "unknown forge kind `{k}`; expected one of {}{}",
                    KINDS.join(", "),
                    suggest::hint(k, KINDS.iter().copied())
                ),
            );
            return None;
        }
        None => {
            cx.errors.push(
                "forge.kind",
                format!("missing key: one of {}", KINDS.join(", ")),
            );
            return None;
        }
    };
    let remote = match (&f.remote, &kind) {
        (Some(r), _) if r.trim().is_empty() => {
            cx.errors.push("forge.remote", "the remote is empty");
            String::new()
        }
        (Some(r), _) if has_password(r) => {
            cx.errors.push(
                "forge.remote",
                "the URL carries a password: give the token as `forge.token: $VAR` (kind github), so it is never recorded or printed",
            );
            String::new()
        }
        (Some(r), _) if is_url(r) => r.clone(),
        (Some(r), _) => cx.path("forge.remote", Some(r), r).display().to_string(),
        (None, ForgeKind::Git) => workspace_repo.to_string(),
        (None, ForgeKind::Github(g)) => github_remote(&g.api_url, &g.owner, &g.repo),
    };
    let ca_file = f.ca_file.as_deref().map(|raw| {
        let path = cx.path("forge.ca_file", Some(raw), raw);
        if let Some(problem) = ca_problem(&path) {
            cx.errors.push("forge.ca_file", problem);
        }
        path
    });
    (cx.errors.count() == before).then_some(ForgeConfig {
        kind,
        remote,
        ca_file,
    })
}

/// What is wrong with a CA file, if anything: unreadable, or no PEM certificate in it.
fn ca_problem(path: &std::path::Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Err(e) => Some(format!("cannot read {}: {e}", path.display())),
        Ok(text) if !text.contains("-----BEGIN CERTIFICATE-----") => Some(format!(
            "{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        )),
        Ok(_) => None,
    }
}

fn github(cx: &mut Ctx, f: &RawForge, tracker: Option<&TrackerConfig>) -> Option<GithubForge> {
    let defaults = tracker.and_then(TrackerConfig::forge_defaults);
    let repo = f
        .repo
        .clone()
        .or_else(|| defaults.as_ref().map(|d| d.repo.clone()));
    let (owner, name) = match repo.as_deref().map(|r| (r, r.split_once('/'))) {
        Some((_, Some((o, n)))) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
            (o.to_string(), n.to_string())
        }
        Some((r, _)) => {
            cx.errors
                .push("forge.repo", format!("expected `owner/name`, got `{r}`"));
            return None;
        }
        None => {
            cx.errors.push(
                "forge.repo",
                "missing key: the GitHub repository as `owner/name` (it defaults to the tracker's only with a GitHub tracker)",
            );
            return None;
        }
    };
    let api_url = f
        .api_url
        .clone()
        .or_else(|| defaults.as_ref().map(|d| d.api_url.clone()))
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let api_url = api_url.trim().trim_end_matches('/').to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        cx.errors.push(
            "forge.api_url",
            format!("expected an http(s) URL, got `{api_url}`"),
        );
    }
    let token = match (&f.token, defaults) {
        (Some(spec), _) => expand_token(cx, spec),
        (None, Some(d)) => Some(d.token),
        (None, None) => expand_token(cx, DEFAULT_TOKEN),
    }?;
    let tracker_repo = tracker
        .and_then(TrackerConfig::forge_defaults)
        .map(|d| d.repo);
    Some(GithubForge {
        api_url,
        owner,
        repo: name,
        token,
        pull_request: pull_request(cx, f.pull_request.as_ref()),
        tracker_repo,
    })
}

fn pull_request(cx: &mut Ctx, raw: Option<&RawPullRequest>) -> PullRequestConfig {
    let template = |cx: &mut Ctx, key: &str, given: Option<&String>, default: &str| match given {
        Some(t) if t.trim().is_empty() => {
            cx.errors.push(
                format!("forge.pull_request.{key}"),
                "the template is empty; leave the key out for the default",
            );
            default.to_string()
        }
        Some(t) => t.clone(),
        None => default.to_string(),
    };
    let base = raw.and_then(|r| r.base.clone());
    if base.as_deref().is_some_and(|b| b.trim().is_empty()) {
        cx.errors.push(
            "forge.pull_request.base",
            "the base branch is empty; leave the key out for the repository's default branch",
        );
    }
    let draft = raw.and_then(|r| r.draft).unwrap_or(false);
    let ready_in = raw.and_then(|r| r.ready_in.clone());
    if ready_in.is_some() && !draft {
        cx.errors.push(
            "forge.pull_request.ready_in",
            "`ready_in` marks a draft ready for review: it needs `draft: true`",
        );
    }
    PullRequestConfig {
        base: base.map(|b| b.trim().to_string()),
        title: template(
            cx,
            "title",
            raw.and_then(|r| r.title.as_ref()),
            DEFAULT_PR_TITLE,
        ),
        body: template(
            cx,
            "body",
            raw.and_then(|r| r.body.as_ref()),
            DEFAULT_PR_BODY,
        ),
        draft,
        ready_in,
    }
}

fn expand_token(cx: &mut Ctx, spec: &str) -> Option<Secret> {
    match super::expand::expand_vars(spec, cx.env) {
        Ok(t) if t.trim().is_empty() => {
            cx.errors
                .push("forge.token", format!("`{spec}` expands to nothing"));
            None
        }
        Ok(t) => Some(Secret::new(t.trim())),
        Err(e) => {
            cx.errors
                .push("forge.token", format!("missing secret: {e}"));
            None
        }
    }
}

/// Whether a URL embeds a password (`https://user:secret@host/...`).
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The HTTPS clone URL of `owner/name` on the host that serves `api_url`.
pub(crate) fn github_remote(api_url: &str, owner: &str, repo: &str) -> String {
    let base = api_url.trim_end_matches('/');
    let web = if base == DEFAULT_API_URL {
        "https://github.com"
    } else if let Some(host) = base.strip_suffix("/api/v3") {
        host
    } else if let Some(host) = base.strip_suffix("/api") {
        host
    } else {
        base
    };
    format!("{web}/{owner}/{repo}.git")
}

#[cfg(test)]
mod tests {
    use super::github_remote;

    #[test]
    fn the_remote_is_on_the_api_host() {
        assert_eq!(
            github_remote("https://api.github.com", "acme", "app"),
            "https://github.com/acme/app.git"
        );
        assert_eq!(
            github_remote("https://ghe.example/api/v3", "acme", "app"),
            "https://ghe.example/acme/app.git"
        );
        assert_eq!(
            github_remote("http://127.0.0.1:9/", "acme", "app"),
            "http://127.0.0.1:9/acme/app.git"
        );
    }
}
