//! The `tracker:` section. Config checks that it is there and that `kind` names a tracker
//! adapter (with a "did you mean"); the adapter of that kind validates the rest from the
//! section's raw YAML (see [`super::Adapters::tracker`]), reporting every problem under
//! `tracker.*`.

use super::adapters::TrackerConfig;
use super::raw::RawWorkflow;
use super::suggest;
use super::validate::Ctx;

pub(crate) fn tracker(cx: &mut Ctx, raw: &RawWorkflow) -> Option<TrackerConfig> {
    let Some(t) = &raw.tracker else {
        cx.errors.push(
            "tracker",
            "missing section `tracker` (e.g. `kind: local` and `dir: ./tickets`)",
        );
        return None;
    };
    let kinds = cx.adapters.tracker_kinds();
    match t.kind.as_deref() {
        Some(k) if kinds.contains(&k) => {
            let value = raw.tracker_value.as_ref()?;
            let adapters = cx.adapters;
            adapters.tracker(k, value, &mut cx.section())
        }
        Some(k) => {
            cx.errors.push(
                "tracker.kind",
                format!(
                    "unknown tracker kind `{k}`; expected one of {}{}",
                    kinds.join(", "),
                    suggest::hint(k, kinds.iter().copied())
                ),
            );
            None
        }
        None => {
            cx.errors.push(
                "tracker.kind",
                format!("missing key: one of {}", kinds.join(", ")),
            );
            None
        }
    }
}
