//! The GitHub tracker against an in-process fake GitHub (`fake.rs`), in both modes.

mod combined;
mod conformance;
mod cost;
mod dry_run;
mod e2e;
mod example;
pub(crate) mod fake;
mod feedback;
mod forge_check;
mod forge_tls;
mod human;
mod incremental;
mod labels;
mod limits;
mod pr_gates;
mod pr_pace;
mod pr_recover;
mod pr_review;
mod pr_scratch;
mod pr_seen;
mod pr_status;
mod project;
pub(crate) mod pulls;
pub(crate) mod scratch;
mod transient;

use std::time::Duration;

use karajan::tracker::github::config::{HttpPolicy, RawGithubConfig};
use karajan::tracker::github::{GithubConfig, GithubTracker};

use fake::Fake;

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A config for the fake; `extra` is appended to the YAML.
fn config(fake: &Fake, mode: &str, extra: &str) -> GithubConfig {
    let project = if mode == "project" {
        "project: {owner: acme, number: 7}\n"
    } else {
        ""
    };
    let yaml = format!(
        "kind: github\nrepo: acme/app\nmode: {mode}\n{project}token: $GITHUB_TOKEN\napi_url: {}\n{extra}",
        fake.url
    );
    let raw: RawGithubConfig = yaml_serde::from_str(&yaml).expect("yaml");
    let mut cfg = GithubConfig::from_raw(raw, |s| {
        if s == "$GITHUB_TOKEN" {
            Ok(fake::TOKEN.to_string())
        } else {
            Err(format!("{s} unset"))
        }
    })
    .expect("valid config")
    .with_terminal_columns(columns(&["Done"]));
    cfg.http = HttpPolicy {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_retries: 3,
        base_backoff: Duration::from_millis(5),
        max_inline_wait: Duration::from_secs(2),
    };
    cfg
}

fn tracker(fake: &Fake, mode: &str, extra: &str) -> GithubTracker {
    GithubTracker::new(config(fake, mode, extra)).expect("tracker")
}
