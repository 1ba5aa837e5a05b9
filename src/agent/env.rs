//! The agent's environment, built from an explicit allowlist.
//!
//! karajan's own environment holds tracker credentials (`LINEAR_API_KEY`,
//! `GITHUB_TOKEN`, ...) that an agent — which runs arbitrary code in a clone — must never
//! see unless the workflow asks for it. So the agent inherits nothing by default: only a
//! small allowlist of harmless variables, the names the runner lists in `inherit_env`,
//! the runner's own `env`, and karajan's `KARAJAN_*` metadata, in that order, later
//! sources overriding earlier ones. Metadata comes last so a runner cannot spoof
//! `KARAJAN_RUN_ID`, which crash recovery trusts to recognise its own process groups.

use indexmap::IndexMap;

use crate::config::RunnerConfig;

/// Variables of karajan's own environment every agent inherits, when set.
pub const ALLOWLIST: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER", "SHELL", "TMPDIR",
];

/// The complete environment of an agent run, from karajan's own process environment.
pub fn build_env(runner: &RunnerConfig, metadata: &[(String, String)]) -> Vec<(String, String)> {
    build_env_from(runner, metadata, |name| std::env::var(name).ok())
}

/// [`build_env`] with the parent environment given as a lookup function (for tests and
/// for callers that hold a snapshot of the environment).
pub fn build_env_from(
    runner: &RunnerConfig,
    metadata: &[(String, String)],
    parent: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut env: IndexMap<String, String> = IndexMap::new();
    let inherited = ALLOWLIST
        .iter()
        .copied()
        .chain(runner.inherit_env.iter().map(String::as_str));
    for name in inherited {
        if let Some(value) = parent(name) {
            env.insert(name.to_string(), value);
        }
    }
    for (name, value) in &runner.env {
        env.insert(name.clone(), value.expose().to_string());
    }
    for (name, value) in metadata {
        env.insert(name.clone(), value.clone());
    }
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{RunnerKind, Secret};

    fn runner(inherit: &[&str], env: &[(&str, &str)]) -> RunnerConfig {
        RunnerConfig {
            name: "r".into(),
            kind: RunnerKind::Command,
            command: vec!["true".into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect::<BTreeMap<_, _>>(),
            inherit_env: inherit.iter().map(|s| s.to_string()).collect(),
            model: None,
            stall_timeout: None,
            turn_timeout: None,
            max_turns: None,
            cli: Default::default(),
        }
    }

    fn parent(name: &str) -> Option<String> {
        match name {
            "PATH" => Some("/usr/bin:/bin".into()),
            "HOME" => Some("/home/k".into()),
            "LINEAR_API_KEY" => Some("lin_api_secret".into()),
            "GITHUB_TOKEN" => Some("ghp_secret".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("aws".into()),
            "SSH_AUTH_SOCK" => Some("/tmp/ssh".into()),
            _ => None,
        }
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn only_allowlisted_variables_are_inherited() {
        let env = build_env_from(&runner(&[], &[]), &[], parent);
        assert_eq!(
            env,
            vec![
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                ("HOME".to_string(), "/home/k".to_string()),
            ]
        );
        assert_eq!(get(&env, "LINEAR_API_KEY"), None);
        assert_eq!(get(&env, "GITHUB_TOKEN"), None);
    }

    #[test]
    fn inherit_env_env_and_metadata_are_added_in_order() {
        let r = runner(
            &["SSH_AUTH_SOCK", "NOT_SET_ANYWHERE"],
            &[("ANTHROPIC_API_KEY", "sk-ant"), ("HOME", "/override")],
        );
        let meta = vec![
            ("KARAJAN_RUN_ID".to_string(), "run-1".to_string()),
            ("KARAJAN_ISSUE".to_string(), "ENG-1".to_string()),
        ];
        let env = build_env_from(&r, &meta, parent);
        assert_eq!(get(&env, "SSH_AUTH_SOCK"), Some("/tmp/ssh"));
        assert_eq!(get(&env, "NOT_SET_ANYWHERE"), None);
        assert_eq!(get(&env, "ANTHROPIC_API_KEY"), Some("sk-ant"));
        assert_eq!(get(&env, "HOME"), Some("/override"));
        assert_eq!(get(&env, "KARAJAN_RUN_ID"), Some("run-1"));
        assert_eq!(get(&env, "GITHUB_TOKEN"), None);
        assert_eq!(get(&env, "AWS_SECRET_ACCESS_KEY"), None);
        // No duplicates: each name once.
        let mut names: Vec<_> = env.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), env.len());
    }

    #[test]
    fn explicitly_listed_tracker_secret_is_passed() {
        let env = build_env_from(&runner(&["GITHUB_TOKEN"], &[]), &[], parent);
        assert_eq!(get(&env, "GITHUB_TOKEN"), Some("ghp_secret"));
        assert_eq!(get(&env, "LINEAR_API_KEY"), None);
    }

    #[test]
    fn metadata_cannot_be_spoofed_by_runner_env() {
        let r = runner(&[], &[("KARAJAN_RUN_ID", "spoofed")]);
        let meta = vec![("KARAJAN_RUN_ID".to_string(), "real".to_string())];
        let env = build_env_from(&r, &meta, parent);
        assert_eq!(get(&env, "KARAJAN_RUN_ID"), Some("real"));
    }

    #[test]
    fn real_process_environment_does_not_leak_unlisted_names() {
        // Whatever this test process has, only allowlisted names can come through.
        let env = build_env(&runner(&[], &[]), &[]);
        for (name, _) in &env {
            assert!(ALLOWLIST.contains(&name.as_str()), "{name} leaked");
        }
        assert_eq!(
            get(&env, "PATH").map(str::to_string),
            std::env::var("PATH").ok()
        );
    }
}
