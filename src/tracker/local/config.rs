//! The `tracker:` section for `kind: local`: one key, `dir`, the folder of Markdown
//! tickets (relative to the workflow file, `~` and `$VAR` expanded). A key of another
//! tracker kind is refused, as the other adapters do.

use std::path::PathBuf;

use schemars::{JsonSchema, Schema, SchemaGenerator};
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

// The section as written. Its `///` comments are the descriptions of `karajan schema`
// (editors show them), so they are written for the user.
/// A folder of Markdown tickets (`kind: local`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLocalTracker {
    /// `local`.
    #[allow(dead_code)] // read by `config` to pick this adapter
    kind: Option<String>,
    /// The tickets folder, relative to the workflow's folder. Required.
    dir: Option<String>,
}

/// The JSON Schema of the section (`karajan schema`).
pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<RawLocalTracker>()
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
