//! The `tracker:` section of `workflow.yaml` when `kind: linear`, in two phases like the
//! rest of the config: `RawLinearTracker` (serde, unknown keys rejected) and the typed,
//! validated `LinearConfig` the adapter is built from.
//!
//! ```yaml
//! tracker:
//!   kind: linear
//!   api_key: $LINEAR_API_KEY      # always a `$VAR`; never the key itself
//!   project: 3f2a9c1b7d4e          # the project's slugId (the tail of its URL), and/or
//!   team: ENG                      # the team key (the ENG of ENG-42)
//!   endpoint: https://api.linear.app/graphql   # optional
//!   terminal_sweep: 10m            # optional: how often terminal tickets are swept
//!   pass_api_key_to_agents: false  # optional: THE opt-in to give agents the key
//! ```
//!
//! `pass_api_key_to_agents` is the one and only key that lets agents see the Linear API
//! key (as `LINEAR_API_KEY` in their environment). It defaults to `false`: agents never
//! inherit tracker credentials unless the workflow says so explicitly.

use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use yaml_serde::Value;

use crate::config::{TrackerConfig, TrackerSection};
use crate::settings::{Secret, Section};

/// Linear's public GraphQL endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://api.linear.app/graphql";
/// The environment variable the key comes from when `api_key` is not given.
pub const DEFAULT_API_KEY_VAR: &str = "$LINEAR_API_KEY";
/// The name under which agents see the key when `pass_api_key_to_agents: true`.
pub const AGENT_ENV_VAR: &str = "LINEAR_API_KEY";

// The YAML `tracker:` section for `kind: linear`, as written. Its `///` comments are the
// descriptions of `karajan schema` (editors show them), so they are written for the user.
/// Linear issues (`kind: linear`) of a project and/or a team.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLinearTracker {
    /// `linear`.
    pub kind: String,
    /// A `$VAR` holding the API key, never the key itself. Default `$LINEAR_API_KEY`.
    pub api_key: Option<String>,
    /// The GraphQL endpoint. Default `https://api.linear.app/graphql`.
    pub endpoint: Option<String>,
    /// The project's `slugId` (the tail of its URL); `project` and/or `team` is required.
    pub project: Option<String>,
    /// The team key (the `ENG` of `ENG-42`).
    pub team: Option<String>,
    /// Give agents the API key as `LINEAR_API_KEY` (the only opt-in). Default `false`.
    #[serde(default)]
    pub pass_api_key_to_agents: bool,
    /// How often tickets finished while karajan was down are swept, e.g. `10m`. Default
    /// `10m`.
    pub terminal_sweep: Option<String>,
}

/// Retry policy for 5xx responses and timeouts: `max_attempts` tries in all, waiting
/// `base_delay`, then twice that, ... capped at `max_delay` (plus a little jitter).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything the Linear adapter needs. `Debug` is safe to print: the key is a `Secret`.
#[derive(Debug, Clone)]
pub struct LinearConfig {
    pub endpoint: String,
    pub api_key: Secret,
    /// Project `slugId`; candidates are the project's issues.
    pub project: Option<String>,
    /// Team key; candidates are the team's issues (and the project's, if both are set).
    pub team: Option<String>,
    /// The tracker columns of the workflow's terminal states (filled in by the loader
    /// from the machine); the terminal sweep reads tickets in these columns.
    pub terminal_columns: Vec<String>,
    /// How often the engine should run the terminal sweep.
    pub terminal_sweep: Duration,
    /// How far back the terminal sweep looks (by `updatedAt`).
    pub terminal_lookback: Duration,
    /// The opt-in: agents get the key as `LINEAR_API_KEY` only when this is true.
    pub pass_api_key_to_agents: bool,
    /// Issues per page (Linear's maximum useful page is 50).
    pub page_size: u32,
    /// Identifiers per refresh request (at most 50).
    pub refresh_batch: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// How long to pause when Linear rate-limits us without saying until when.
    pub default_rate_limit_pause: Duration,
}

impl LinearConfig {
    /// A config with every default, for `api_key` and a project or team.
    pub fn new(api_key: Secret) -> Self {
        LinearConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            api_key,
            project: None,
            team: None,
            terminal_columns: Vec::new(),
            terminal_sweep: Duration::from_secs(600),
            terminal_lookback: Duration::from_secs(7 * 24 * 3600),
            pass_api_key_to_agents: false,
            page_size: 50,
            refresh_batch: 50,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            default_rate_limit_pause: Duration::from_secs(60),
        }
    }

    /// Builds the typed config, reporting every problem at once. `expand_env` resolves a
    /// `$VAR` reference to its value (the loader's expansion, so tests can inject one).
    /// `terminal_columns` starts empty; set it from the workflow's terminal states.
    pub fn from_raw(
        raw: &RawLinearTracker,
        expand_env: impl Fn(&str) -> Result<String, String>,
    ) -> Result<LinearConfig, Vec<String>> {
        let mut errors = Vec::new();
        if raw.kind != "linear" {
            errors.push(format!(
                "tracker.kind: expected `linear`, got `{}`",
                raw.kind
            ));
        }
        let reference = raw.api_key.as_deref().unwrap_or(DEFAULT_API_KEY_VAR);
        let api_key = if !reference.starts_with('$') {
            // Never echo the value: it may well be the key itself.
            errors.push(
                "tracker.api_key: must reference an environment variable (e.g. `$LINEAR_API_KEY`), not hold the key itself"
                    .to_string(),
            );
            Secret::default()
        } else {
            match expand_env(reference) {
                Ok(value) if value.trim().is_empty() => {
                    errors.push(format!("tracker.api_key: {reference} is empty"));
                    Secret::default()
                }
                Ok(value) => Secret::new(value.trim()),
                Err(e) => {
                    errors.push(format!("tracker.api_key: {e}"));
                    Secret::default()
                }
            }
        };
        let non_empty = |field: &str, v: &Option<String>, errors: &mut Vec<String>| match v {
            Some(s) if s.trim().is_empty() => {
                errors.push(format!("tracker.{field}: must not be empty"));
                None
            }
            Some(s) => Some(s.trim().to_string()),
            None => None,
        };
        let project = non_empty("project", &raw.project, &mut errors);
        let team = non_empty("team", &raw.team, &mut errors);
        if raw.project.is_none() && raw.team.is_none() {
            errors.push(
                "tracker: linear needs `project` (the project's slugId) and/or `team` (the team key)"
                    .to_string(),
            );
        }
        let endpoint = match &raw.endpoint {
            None => DEFAULT_ENDPOINT.to_string(),
            Some(e) if e.starts_with("https://") || e.starts_with("http://") => e.clone(),
            Some(e) => {
                errors.push(format!("tracker.endpoint: `{e}` is not an http(s) URL"));
                String::new()
            }
        };
        let mut config = LinearConfig::new(api_key);
        if let Some(s) = &raw.terminal_sweep {
            match humantime::parse_duration(s) {
                Ok(d) if d.is_zero() => {
                    errors.push("tracker.terminal_sweep: must be longer than 0s".to_string())
                }
                Ok(d) => config.terminal_sweep = d,
                Err(e) => errors.push(format!(
                    "tracker.terminal_sweep: `{s}` is not a duration like `10m`: {e}"
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        config.endpoint = endpoint;
        config.project = project;
        config.team = team;
        config.pass_api_key_to_agents = raw.pass_api_key_to_agents;
        Ok(config)
    }

    /// Sets the columns of the workflow's terminal states (for the terminal sweep).
    pub fn with_terminal_columns(mut self, columns: Vec<String>) -> Self {
        self.terminal_columns = columns;
        self
    }

    /// The variables agents get from this tracker: empty unless the workflow opted in
    /// with `pass_api_key_to_agents: true`.
    pub fn agent_env(&self) -> Vec<(String, Secret)> {
        if self.pass_api_key_to_agents {
            vec![(AGENT_ENV_VAR.to_string(), self.api_key.clone())]
        } else {
            Vec::new()
        }
    }
}

impl TrackerSection for LinearConfig {
    fn kind(&self) -> &'static str {
        "linear"
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.api_key]
    }

    fn agent_env(&self) -> Vec<(String, Secret)> {
        LinearConfig::agent_env(self)
    }
}

/// The JSON Schema of the section (`karajan schema`).
pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<RawLinearTracker>()
}

/// The `tracker:` section of kind `linear`, from its raw YAML (the loader hands it over
/// with the error context): every problem is reported under `tracker.*`.
pub fn section(value: &Value, cx: &mut Section) -> Option<TrackerConfig> {
    let raw: RawLinearTracker = cx.read(value, "tracker", "`linear` tracker settings")?;
    let built = LinearConfig::from_raw(&raw, |s| cx.expand(s));
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

    fn raw(yaml: &str) -> RawLinearTracker {
        yaml_serde::from_str(yaml).expect("valid raw tracker yaml")
    }

    fn env(var: &str) -> Result<String, String> {
        match var {
            "$LINEAR_API_KEY" | "$OTHER" => Ok("lin_api_k3y".to_string()),
            "$EMPTY" => Ok(String::new()),
            other => Err(format!("{other} is not set")),
        }
    }

    #[test]
    fn minimal_project_config_gets_defaults() {
        let c = LinearConfig::from_raw(&raw("kind: linear\nproject: abc123\n"), env).unwrap();
        assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(c.api_key.expose(), "lin_api_k3y");
        assert_eq!(c.project.as_deref(), Some("abc123"));
        assert_eq!(c.team, None);
        assert_eq!(c.page_size, 50);
        assert!(!c.pass_api_key_to_agents);
        assert!(c.agent_env().is_empty());
        assert_eq!(c.terminal_sweep, Duration::from_secs(600));
    }

    #[test]
    fn full_config_is_read() {
        let c = LinearConfig::from_raw(
            &raw("kind: linear\napi_key: $OTHER\nteam: ENG\nendpoint: http://127.0.0.1:9/graphql\npass_api_key_to_agents: true\nterminal_sweep: 2m\n"),
            env,
        )
        .unwrap();
        assert_eq!(c.team.as_deref(), Some("ENG"));
        assert_eq!(c.endpoint, "http://127.0.0.1:9/graphql");
        assert_eq!(c.terminal_sweep, Duration::from_secs(120));
        let agent_env = c.agent_env();
        assert_eq!(agent_env.len(), 1);
        assert_eq!(agent_env[0].0, "LINEAR_API_KEY");
        assert_eq!(agent_env[0].1.expose(), "lin_api_k3y");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = yaml_serde::from_str::<RawLinearTracker>("kind: linear\nteam: ENG\nprojct: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("projct"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once_and_the_key_never_echoed() {
        let errors = LinearConfig::from_raw(
            &raw("kind: linear\napi_key: lin_api_literal_value\nendpoint: ftp://x\nterminal_sweep: soon\n"),
            env,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        let all = errors.join("\n");
        assert!(all.contains("api_key"));
        assert!(all.contains("project"));
        assert!(all.contains("endpoint"));
        assert!(all.contains("terminal_sweep"));
        assert!(!all.contains("lin_api_literal_value"));
    }

    #[test]
    fn missing_or_empty_variable_is_an_error() {
        let errors = LinearConfig::from_raw(&raw("kind: linear\nteam: ENG\napi_key: $NOPE\n"), env)
            .unwrap_err();
        assert_eq!(
            errors,
            vec!["tracker.api_key: $NOPE is not set".to_string()]
        );
        let errors =
            LinearConfig::from_raw(&raw("kind: linear\nteam: ENG\napi_key: $EMPTY\n"), env)
                .unwrap_err();
        assert_eq!(errors, vec!["tracker.api_key: $EMPTY is empty".to_string()]);
    }

    #[test]
    fn debug_redacts_the_key() {
        let c = LinearConfig::from_raw(&raw("kind: linear\nteam: ENG\n"), env).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("lin_api_k3y"), "{debug}");
        assert!(debug.contains("ENG"));
    }
}
