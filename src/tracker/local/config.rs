//! The `tracker:` section for `kind: local`: one key, `dir`, the folder of Markdown
//! tickets (relative to the workflow file, `~` and `$VAR` expanded).

use std::path::PathBuf;

use serde::Deserialize;
use yaml_serde::Value;

use crate::config::{TrackerConfig, TrackerSection};
use crate::settings::Section;

#[derive(Debug, Clone)]
pub struct LocalTrackerConfig {
    /// Folder of Markdown tickets (absolute).
    pub dir: PathBuf,
}

impl TrackerSection for LocalTrackerConfig {
    fn kind(&self) -> &'static str {
        "local"
    }
}

/// The section as written; keys of other tracker kinds are left to the schema walk.
#[derive(Debug, Deserialize)]
struct RawLocalTracker {
    dir: Option<String>,
}

/// The `tracker:` section of kind `local`, from its raw YAML.
pub fn section(value: &Value, cx: &mut Section) -> Option<TrackerConfig> {
    let raw: RawLocalTracker = cx.read(value, "tracker", "`local` tracker settings")?;
    let Some(dir) = raw.dir else {
        cx.push(
            "tracker.dir",
            "missing key: a local tracker needs `dir` (the tickets folder)",
        );
        return None;
    };
    let dir = cx.path("tracker.dir", &dir);
    Some(TrackerConfig::new(LocalTrackerConfig { dir }))
}
