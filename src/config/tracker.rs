//! The `tracker:` section. `kind` picks the adapter; the local tracker's one key is
//! read here, and the Linear and GitHub adapters validate their own settings (their
//! typed configs live beside them, in `tracker::<kind>::config`), reporting every
//! problem under `tracker.*`.

use serde::de::DeserializeOwned;

use super::expand;
use super::raw::RawWorkflow;
use super::suggest;
use super::validate::Ctx;
use super::workflow::{LocalTrackerConfig, TrackerConfig};
use crate::tracker::github::config::{GithubConfig, RawGithubConfig};
use crate::tracker::linear::config::{LinearConfig, RawLinearTracker};

const KINDS: [&str; 3] = ["local", "linear", "github"];

pub(crate) fn tracker(cx: &mut Ctx, raw: &RawWorkflow) -> Option<TrackerConfig> {
    let Some(t) = &raw.tracker else {
        cx.errors.push(
            "tracker",
            "missing section `tracker` (e.g. `kind: local` and `dir: ./tickets`)",
        );
        return None;
    };
    match t.kind.as_deref() {
        Some("local") => {
            let Some(dir) = t.dir.as_deref() else {
                cx.errors.push(
                    "tracker.dir",
                    "missing key: a local tracker needs `dir` (the tickets folder)",
                );
                return None;
            };
            let dir = cx.path("tracker.dir", Some(dir), dir);
            Some(TrackerConfig::Local(LocalTrackerConfig { dir }))
        }
        Some("github") => {
            let raw: RawGithubConfig = adapter_section(cx, raw)?;
            let env = cx.env;
            let built = GithubConfig::from_raw(raw, |s| {
                expand::expand_vars(s, env).map_err(|e| e.to_string())
            });
            match built {
                Ok(c) => Some(TrackerConfig::Github(Box::new(c))),
                Err(problems) => {
                    for p in problems {
                        push_prefixed(cx, &p);
                    }
                    None
                }
            }
        }
        Some("linear") => {
            let raw: RawLinearTracker = adapter_section(cx, raw)?;
            let env = cx.env;
            let built = LinearConfig::from_raw(&raw, |s| {
                expand::expand_vars(s, env).map_err(|e| e.to_string())
            });
            match built {
                Ok(c) => Some(TrackerConfig::Linear(Box::new(c))),
                Err(problems) => {
                    for p in problems {
                        push_prefixed(cx, &p);
                    }
                    None
                }
            }
        }
        Some(k) => {
            cx.errors.push(
                "tracker.kind",
                format!(
                    "unknown tracker kind `{k}`; expected one of local, linear, github{}",
                    suggest::hint(k, KINDS)
                ),
            );
            None
        }
        None => {
            cx.errors
                .push("tracker.kind", "missing key: one of local, linear, github");
            None
        }
    }
}

/// Deserialize the whole section into an adapter's raw struct (which rejects keys of
/// other kinds).
fn adapter_section<T: DeserializeOwned>(cx: &mut Ctx, raw: &RawWorkflow) -> Option<T> {
    let value = raw.tracker_value.clone()?;
    match yaml_serde::from_value::<T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let kind = raw
                .tracker
                .as_ref()
                .and_then(|t| t.kind.clone())
                .unwrap_or_default();
            cx.errors
                .push("tracker", format!("invalid `{kind}` tracker settings: {e}"));
            None
        }
    }
}

/// Adapter messages may already start with their key (`tracker.repo: ...`).
fn push_prefixed(cx: &mut Ctx, message: &str) {
    match message.split_once(": ") {
        Some((key, rest)) if key.starts_with("tracker") && !key.contains(' ') => {
            cx.errors.push(key.to_string(), rest.to_string());
        }
        _ => cx.errors.push("tracker", message.to_string()),
    }
}
