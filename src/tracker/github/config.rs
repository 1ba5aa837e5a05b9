//! The `tracker:` section for `kind: github`, in two phases like the rest of the
//! configuration: `RawGithubConfig` (serde, unknown keys rejected) and the validated
//! `GithubConfig` that the adapter reads. `from_raw` reports every problem at once.
//!
//! Two conventions are defined here because both the adapter and `check` rely on them:
//!
//! - **Column → state label** (labels mode): the label is the prefix followed by the
//!   column's slug: lowercase, every run of characters that are not letters or digits
//!   becomes one `-`, leading and trailing `-` dropped. `In Progress` → `karajan:in-progress`,
//!   `Human Review` → `karajan:human-review`. GitHub compares label names without case, so
//!   does karajan.
//! - **API base URL**: `https://api.github.com` (the default) serves REST at the base and
//!   GraphQL at `<base>/graphql`. GitHub Enterprise Server serves REST at
//!   `https://HOST/api/v3` and GraphQL at `https://HOST/api/graphql`: write either
//!   `https://HOST/api/v3` or `https://HOST/api` and both endpoints are derived.

use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use yaml_serde::Value;

use crate::config::{TrackerConfig, TrackerSection};
use crate::settings::{Secret, Section};

// The `///` comments of the raw structs are the descriptions of `karajan schema`
// (editors show them), so they are written for the user.
/// GitHub issues (`kind: github`): the columns are a Projects v2 board's status field
/// (`mode: project`) or labels (`mode: labels`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGithubConfig {
    /// `github`.
    pub kind: Option<String>,
    /// The issues' repository, `owner/name`. Required.
    pub repo: Option<String>,
    /// `project` or `labels`. Default `project` when `project` is set, else `labels`.
    #[schemars(extend("enum" = ["project", "labels", null]))]
    pub mode: Option<String>,
    /// The Projects v2 board (project mode).
    pub project: Option<RawProject>,
    /// The board's single-select field holding the columns. Default `Status`.
    pub status_field: Option<String>,
    /// The prefix of state labels (labels mode). Default `karajan:`.
    pub label_prefix: Option<String>,
    /// A `$VAR` holding the token. Default `$GITHUB_TOKEN`.
    pub token: Option<String>,
    /// The REST API base; GitHub Enterprise Server: `https://HOST/api/v3`. Default
    /// `https://api.github.com`.
    pub api_url: Option<String>,
    /// Where a ticket's priority comes from: `{label_prefix: "priority:"}` or
    /// `{field: Priority}` (project mode).
    pub priority: Option<RawPriority>,
    /// Close the issue when karajan moves it to a terminal column. Default `false`.
    pub close_on_terminal: Option<bool>,
    /// Give agents `GITHUB_TOKEN` in their environment. Default `false`.
    pub pass_token_to_agents: Option<bool>,
}

/// A Projects v2 board.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// A user or an organization login.
    pub owner: String,
    /// The board's number.
    pub number: u64,
}

/// `priority: {label_prefix: "priority:"}` or `priority: {field: "Priority"}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPriority {
    /// Labels such as `priority:high` or `priority:2`.
    pub label_prefix: Option<String>,
    /// A project field (single select: option order; number: its value).
    pub field: Option<String>,
}

/// Which GitHub object holds the columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubMode {
    /// Columns are the options of a single-select field of a Projects v2 board.
    Project {
        owner: String,
        number: u64,
        status_field: String,
    },
    /// Columns are labels `<prefix><slug>` on the repository's issues.
    Labels,
}

/// Where a ticket's priority comes from. Values map to 1 (urgent) .. 4 (low); see
/// `normalize::priority_from_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrioritySource {
    /// A label such as `priority:high` or `priority:2`.
    LabelPrefix(String),
    /// A project field (single select: option order; number: its value).
    ProjectField(String),
}

/// REST base and GraphQL endpoint, derived from `api_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoints {
    pub rest: String,
    pub graphql: String,
}

/// Timeouts and retry bounds. Not in YAML: tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Retries after a 5xx, a transport error or a short secondary limit.
    pub max_retries: u32,
    /// First backoff after a 5xx; doubled each retry.
    pub base_backoff: Duration,
    /// A secondary-limit wait up to this long is slept inline; a longer one pauses the
    /// tracker and returns `RateLimited`.
    pub max_inline_wait: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpPolicy {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
            max_inline_wait: Duration::from_secs(10),
        }
    }
}

/// The validated GitHub tracker settings.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub owner: String,
    pub repo: String,
    pub mode: GithubMode,
    /// Prefix of state labels (labels mode); default `karajan:`.
    pub label_prefix: String,
    pub token: Secret,
    pub api: ApiEndpoints,
    pub priority: Option<PrioritySource>,
    /// Close the issue when karajan moves it to a terminal column.
    pub close_on_terminal: bool,
    /// Give agents `GITHUB_TOKEN` in their environment (default false).
    pub pass_token_to_agents: bool,
    /// The workflow's terminal columns (set by the loader with `with_terminal_columns`):
    /// the terminal sweep lists them and `close_on_terminal` applies to them.
    pub terminal_columns: Vec<String>,
    /// Every column of the workflow (set by the loader with `with_columns`): labels mode
    /// maps a state label back to its column through them, since a slug cannot be
    /// inverted.
    pub columns: Vec<String>,
    /// The columns a human moves a ticket to in order to decide something (todo,
    /// approved, rework and the terminal ones; set by the loader with
    /// `with_human_columns`). Labels mode: when an issue carries two state labels and
    /// one of them is the column karajan recorded, the other one wins if it is one of
    /// these (the human added it without removing the old one).
    pub human_columns: Vec<String>,
    pub http: HttpPolicy,
}

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_STATUS_FIELD: &str = "Status";
pub const DEFAULT_LABEL_PREFIX: &str = "karajan:";
pub const DEFAULT_TOKEN: &str = "$GITHUB_TOKEN";

impl GithubConfig {
    /// Validates the raw section. `expand_env` expands `$VAR` strings (the loader's own
    /// expansion); its error message is reported as is. Every problem is returned at once.
    pub fn from_raw(
        raw: RawGithubConfig,
        expand_env: impl Fn(&str) -> Result<String, String>,
    ) -> Result<GithubConfig, Vec<String>> {
        let mut errors = Vec::new();
        if let Some(kind) = &raw.kind
            && kind != "github"
        {
            errors.push(format!("tracker.kind: expected `github`, got `{kind}`"));
        }
        let (owner, repo) = match raw.repo.as_deref().map(split_repo) {
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                errors.push(e);
                (String::new(), String::new())
            }
            None => {
                errors.push("tracker.repo: required (`owner/name`)".to_string());
                (String::new(), String::new())
            }
        };
        let status_field = raw
            .status_field
            .clone()
            .unwrap_or_else(|| DEFAULT_STATUS_FIELD.to_string());
        if status_field.trim().is_empty() {
            errors.push("tracker.status_field: must not be empty".to_string());
        }
        let mode_name = raw.mode.clone().unwrap_or_else(|| {
            if raw.project.is_some() {
                "project"
            } else {
                "labels"
            }
            .to_string()
        });
        let mode = match (mode_name.as_str(), &raw.project) {
            ("project", Some(p)) => {
                if p.owner.trim().is_empty() {
                    errors.push("tracker.project.owner: must not be empty".to_string());
                }
                GithubMode::Project {
                    owner: p.owner.clone(),
                    number: p.number,
                    status_field: status_field.clone(),
                }
            }
            ("project", None) => {
                errors.push(
                    "tracker.project: required in project mode (`{owner, number}`)".to_string(),
                );
                GithubMode::Labels
            }
            ("labels", _) => GithubMode::Labels,
            (other, _) => {
                errors.push(format!(
                    "tracker.mode: expected `project` or `labels`, got `{other}`"
                ));
                GithubMode::Labels
            }
        };
        let label_prefix = raw
            .label_prefix
            .clone()
            .unwrap_or_else(|| DEFAULT_LABEL_PREFIX.to_string());
        if label_prefix.trim().is_empty() {
            errors.push("tracker.label_prefix: must not be empty".to_string());
        }
        let token_spec = raw
            .token
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN.to_string());
        let token = match expand_env(&token_spec) {
            Ok(t) if t.trim().is_empty() => {
                errors.push(format!("tracker.token: `{token_spec}` expands to nothing"));
                Secret::default()
            }
            Ok(t) => Secret::new(t.trim().to_string()),
            Err(e) => {
                errors.push(format!("tracker.token: {e}"));
                Secret::default()
            }
        };
        let api = match endpoints(raw.api_url.as_deref().unwrap_or(DEFAULT_API_URL)) {
            Ok(api) => api,
            Err(e) => {
                errors.push(e);
                endpoints(DEFAULT_API_URL).unwrap_or(ApiEndpoints {
                    rest: DEFAULT_API_URL.to_string(),
                    graphql: format!("{DEFAULT_API_URL}/graphql"),
                })
            }
        };
        let priority = match raw.priority {
            None => None,
            Some(RawPriority {
                label_prefix: Some(p),
                field: None,
            }) if !p.trim().is_empty() => Some(PrioritySource::LabelPrefix(p.to_lowercase())),
            Some(RawPriority {
                label_prefix: None,
                field: Some(f),
            }) if !f.trim().is_empty() => {
                if mode == GithubMode::Labels {
                    errors.push(
                        "tracker.priority.field: a project field needs `mode: project`; use `label_prefix` in labels mode"
                            .to_string(),
                    );
                }
                Some(PrioritySource::ProjectField(f))
            }
            Some(_) => {
                errors.push(
                    "tracker.priority: give exactly one non-empty `label_prefix` or `field`"
                        .to_string(),
                );
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GithubConfig {
            owner,
            repo,
            mode,
            label_prefix,
            token,
            api,
            priority,
            close_on_terminal: raw.close_on_terminal.unwrap_or(false),
            pass_token_to_agents: raw.pass_token_to_agents.unwrap_or(false),
            terminal_columns: Vec::new(),
            columns: Vec::new(),
            human_columns: Vec::new(),
            http: HttpPolicy::default(),
        })
    }

    /// The workflow's terminal columns (the loader knows them from the state machine).
    pub fn with_terminal_columns(mut self, columns: Vec<String>) -> Self {
        self.terminal_columns = columns;
        self
    }

    /// Every column of the workflow, so labels mode can read a ticket in any of them
    /// before the first poll has seen that column.
    pub fn with_columns(mut self, columns: Vec<String>) -> Self {
        self.columns = columns;
        self
    }

    /// The columns whose label a human adds to decide (see `human_columns`).
    pub fn with_human_columns(mut self, columns: Vec<String>) -> Self {
        self.human_columns = columns;
        self
    }

    /// `owner/name`.
    pub fn repo_full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// The state label of a column (labels mode): `In Progress` → `karajan:in-progress`.
    pub fn state_label(&self, column: &str) -> String {
        format!("{}{}", self.label_prefix.to_lowercase(), slug(column))
    }

    /// Whether a (lowercased) label is a state label, i.e. carries the prefix.
    pub fn is_state_label(&self, label: &str) -> bool {
        label
            .to_lowercase()
            .starts_with(&self.label_prefix.to_lowercase())
    }
}

/// `In Progress` → `in-progress`.
pub fn slug(column: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in column.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

fn split_repo(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
            Ok((o.to_string(), n.to_string()))
        }
        _ => Err(format!("tracker.repo: expected `owner/name`, got `{s}`")),
    }
}

/// Derives the REST base and the GraphQL endpoint from `api_url` (see the module doc).
pub fn endpoints(api_url: &str) -> Result<ApiEndpoints, String> {
    let base = api_url.trim().trim_end_matches('/');
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(format!(
            "tracker.api_url: expected an http(s) URL, got `{api_url}`"
        ));
    }
    if let Some(host) = base.strip_suffix("/api/v3") {
        return Ok(ApiEndpoints {
            rest: base.to_string(),
            graphql: format!("{host}/api/graphql"),
        });
    }
    if base.ends_with("/api") {
        return Ok(ApiEndpoints {
            rest: format!("{base}/v3"),
            graphql: format!("{base}/graphql"),
        });
    }
    Ok(ApiEndpoints {
        rest: base.to_string(),
        graphql: format!("{base}/graphql"),
    })
}

impl TrackerSection for GithubConfig {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.token]
    }

    /// `GITHUB_TOKEN`, only with `pass_token_to_agents: true`.
    fn agent_env(&self) -> Vec<(String, Secret)> {
        if self.pass_token_to_agents {
            vec![("GITHUB_TOKEN".to_string(), self.token.clone())]
        } else {
            Vec::new()
        }
    }

    /// The tracker's repository, API and token: a GitHub ticket's code lives there.
    fn forge_defaults(&self) -> Option<crate::config::ForgeDefaults> {
        Some(crate::config::ForgeDefaults {
            api_url: self.api.rest.clone(),
            repo: self.repo_full_name(),
            token: self.token.clone(),
        })
    }
}

/// The JSON Schema of the section (`karajan schema`).
pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<RawGithubConfig>()
}

/// The `tracker:` section of kind `github`, from its raw YAML (the loader hands it over
/// with the error context): every problem is reported under `tracker.*`.
pub fn section(value: &Value, cx: &mut Section) -> Option<TrackerConfig> {
    let raw: RawGithubConfig = cx.read(value, "tracker", "`github` tracker settings")?;
    let built = GithubConfig::from_raw(raw, |s| cx.expand(s));
    match built {
        Ok(c) => Some(TrackerConfig::new(c)),
        Err(problems) => {
            for p in problems {
                cx.push_keyed("tracker", &p);
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> Result<String, String> {
        match s {
            "$GITHUB_TOKEN" => Ok("ghp_secret".to_string()),
            other => Err(format!("`{other}` is not set")),
        }
    }

    fn raw(yaml: &str) -> RawGithubConfig {
        yaml_serde::from_str(yaml).expect("yaml")
    }

    #[test]
    fn slugs_columns_into_labels() {
        assert_eq!(slug("In Progress"), "in-progress");
        assert_eq!(slug("  Human   Review! "), "human-review");
        assert_eq!(slug("Done"), "done");
    }

    #[test]
    fn derives_endpoints_for_dotcom_and_enterprise() {
        let dotcom = endpoints("https://api.github.com/").expect("ok");
        assert_eq!(dotcom.graphql, "https://api.github.com/graphql");
        let ghes = endpoints("https://ghe.example.com/api/v3").expect("ok");
        assert_eq!(ghes.rest, "https://ghe.example.com/api/v3");
        assert_eq!(ghes.graphql, "https://ghe.example.com/api/graphql");
        let ghes2 = endpoints("https://ghe.example.com/api").expect("ok");
        assert_eq!(ghes2, ghes);
        assert!(endpoints("ghe.example.com").is_err());
    }

    #[test]
    fn project_mode_with_defaults() {
        let cfg = GithubConfig::from_raw(
            raw("kind: github\nrepo: acme/app\nproject: {owner: acme, number: 3}\n"),
            env,
        )
        .expect("valid");
        assert_eq!(
            cfg.mode,
            GithubMode::Project {
                owner: "acme".into(),
                number: 3,
                status_field: "Status".into()
            }
        );
        assert_eq!(cfg.token.expose(), "ghp_secret");
        assert_eq!(cfg.state_label("In Progress"), "karajan:in-progress");
        assert!(!cfg.pass_token_to_agents);
        assert!(!format!("{cfg:?}").contains("ghp_secret"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let errors = GithubConfig::from_raw(
            raw("repo: nope\nmode: project\ntoken: $MISSING\npriority: {}\n"),
            env,
        )
        .expect_err("invalid");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("tracker.repo")));
        assert!(errors.iter().any(|e| e.contains("tracker.project")));
        assert!(errors.iter().any(|e| e.contains("$MISSING")));
        assert!(errors.iter().any(|e| e.contains("tracker.priority")));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let r: Result<RawGithubConfig, _> = yaml_serde::from_str("repo: a/b\ncolumns: [x]\n");
        assert!(r.is_err());
    }
}
