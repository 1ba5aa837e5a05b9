//! `karajan schema`: the JSON Schema (draft 07, which editors' YAML language servers read
//! best) of `workflow.yaml`, derived from the raw structs the loader deserializes.
//!
//! Nothing here lists keys. The document is `RawWorkflow`'s derived schema: its sections,
//! their keys, types and descriptions (the `///` comments of `raw.rs`), and the fixed
//! values of a key as an `enum` read from the loader's own list (`extend("enum" = …)`
//! beside the field). What serde's shape cannot say is added from the same types:
//!
//! - **Keys per kind.** A state's keys depend on its `kind`, and so do a runner's and
//!   the forge's. Each such struct carries every kind's keys (as the loader reads them);
//!   a key that belongs to some kinds only says which with `x-kinds`, and
//!   [`keys_by_kind`] (the struct's schema transform) turns the tags into one
//!   `if kind = K then only K's keys` per kind of the `kind` property's `enum`.
//! - **The tracker section**, which each tracker adapter owns: its schema per kind comes
//!   from the adapter's own raw struct through [`Adapters::tracker_schema`], combined
//!   the same way on `tracker.kind`.
//! - **Optional blocks** refer to their definition, which also accepts null (see
//!   [`nullable_definitions`]), so a validator names the wrong key inside them.
//!
//! Tests (`workflow_load/tests/json_schema.rs`) check that the examples validate, that
//! the loader and the schema refuse the same wrong files, and that the schema's keys
//! equal the table of `schema.rs` that reports unknown keys.

use schemars::generate::SchemaSettings;
use schemars::{Schema, json_schema};
use serde_json::{Map, Value};

use super::adapters::Adapters;
use super::raw::RawWorkflow;

/// The extension by which a property names the kinds it belongs to.
const KINDS_TAG: &str = "x-kinds";

/// The JSON Schema of `workflow.yaml`, with the tracker section of each of the
/// `adapters`' kinds.
pub(crate) fn document(adapters: &dyn Adapters) -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    let kinds = adapters.tracker_kinds();
    // Before the root, so that the adapters' definitions land in the document too.
    let trackers: Vec<(&str, Schema)> = kinds
        .iter()
        .map(|k| (*k, adapters.tracker_schema(k, &mut generator)))
        .collect();
    let mut root = generator.root_schema_for::<RawWorkflow>().to_value();
    let placeholder = root
        .pointer_mut("/definitions")
        .and_then(Value::as_object_mut)
        .and_then(|d| d.remove("RawTracker"));
    let description = placeholder
        .as_ref()
        .and_then(|p| p.get("description"))
        .cloned()
        .unwrap_or(Value::Null);
    let tracker = by_kind(
        json_schema!({
            "description": description,
            "type": "object",
            "properties": { "kind": {
                "description": format!("The kind of tracker: {}.", kinds.join(", ")),
                "enum": kinds,
            } },
        }),
        trackers,
    );
    if let Some(p) = root.pointer_mut("/properties/tracker") {
        *p = tracker.to_value();
    }
    nullable_definitions(&mut root);
    root
}

/// An optional section or block (`Option<RawX>`) is derived as `anyOf: [X, null]`, and
/// a validator that finds no branch matching can only say so of the whole block.
/// Instead the block refers to `X` alone and `X` itself also accepts null (an empty
/// `polling:` is no section, as for the loader), so an error inside names its key. Only
/// mappings are rewritten so (`command`'s list-or-text keeps its `anyOf`).
fn nullable_definitions(root: &mut Value) {
    let Some(definitions) = root.get("definitions").and_then(Value::as_object) else {
        return;
    };
    let mappings: Vec<String> = definitions
        .iter()
        .filter(|(_, def)| def.get("type") == Some(&Value::from("object")))
        .map(|(name, _)| name.clone())
        .collect();
    let mut nullable = Vec::new();
    unwrap_optional_refs(root, &mappings, &mut nullable);
    let Some(definitions) = root.get_mut("definitions").and_then(Value::as_object_mut) else {
        return;
    };
    for name in nullable {
        if let Some(def) = definitions.get_mut(&name).and_then(Value::as_object_mut) {
            def.insert("type".into(), serde_json::json!(["object", "null"]));
        }
    }
}

fn unwrap_optional_refs(value: &mut Value, mappings: &[String], nullable: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let name = match map
                .get("anyOf")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                Some([one, null]) if null == &serde_json::json!({"type": "null"}) => one
                    .get("$ref")
                    .and_then(Value::as_str)
                    .map(|r| r.trim_start_matches("#/definitions/").to_string())
                    .filter(|name| mappings.contains(name)),
                _ => None,
            };
            if let Some(name) = name {
                map.remove("anyOf");
                let reference = Value::from(format!("#/definitions/{name}"));
                // Draft 07 ignores the siblings of `$ref` (a description): keep them
                // beside an `allOf` of the one reference.
                if map.is_empty() {
                    map.insert("$ref".into(), reference);
                } else {
                    let target = serde_json::json!({ "$ref": reference });
                    map.insert("allOf".into(), Value::Array(vec![target]));
                }
                nullable.push(name);
            }
            for v in map.values_mut() {
                unwrap_optional_refs(v, mappings, nullable);
            }
        }
        Value::Array(list) => list
            .iter_mut()
            .for_each(|v| unwrap_optional_refs(v, mappings, nullable)),
        _ => {}
    }
}

/// The `enum` of an optional key with fixed values: the values, or null (absent).
pub(crate) fn or_null(choices: &[&'static str]) -> Vec<Option<&'static str>> {
    choices.iter().map(|c| Some(*c)).chain([None]).collect()
}

/// A struct's schema transform: its properties tagged `x-kinds` apply to those kinds
/// only. Requires `kind`, and adds one `if kind = K then …` per kind of `kind`'s `enum`
/// whose `then` has the untagged keys and K's own, and no other. The tagged keys' schemas
/// move into the `then`s of their kinds, so an editor completes a gate with gate keys
/// only (the YAML language server completes from the branches that apply).
pub(crate) fn keys_by_kind(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let Some(Value::Object(props)) = object.remove("properties") else {
        return;
    };
    let kinds: Vec<String> = props
        .get("kind")
        .and_then(|k| k.get("enum"))
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let mut common = Map::new();
    let mut tagged: Vec<(String, Value, Vec<String>)> = Vec::new();
    for (key, mut prop) in props {
        match prop.as_object_mut().and_then(|p| p.remove(KINDS_TAG)) {
            Some(tag) => {
                let of = tag
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                tagged.push((key, prop, of));
            }
            None => {
                common.insert(key, prop);
            }
        }
    }
    let branches = kinds
        .iter()
        .map(|kind| {
            let mut allowed: Map<String, Value> = common
                .keys()
                .map(|k| (k.clone(), Value::Bool(true)))
                .collect();
            for (key, prop, of) in &tagged {
                if of.contains(kind) {
                    allowed.insert(key.clone(), prop.clone());
                }
            }
            let only = json_schema!({ "properties": allowed, "additionalProperties": false });
            (kind.as_str(), only)
        })
        .collect();
    // The `then`s refuse unknown keys; here they would refuse every tagged key.
    object.remove("additionalProperties");
    object.insert("properties".into(), Value::Object(common));
    *schema = by_kind(std::mem::take(schema), branches);
}

/// `base` (an object schema with a `kind` property) with `kind` required and one
/// `if kind = K then schema` per branch.
fn by_kind(mut base: Schema, branches: Vec<(&str, Schema)>) -> Schema {
    let all_of: Vec<Value> = branches
        .into_iter()
        .map(|(kind, then)| {
            serde_json::json!({
                "if": { "properties": { "kind": { "const": kind } }, "required": ["kind"] },
                "then": then,
            })
        })
        .collect();
    let object = base.ensure_object();
    let required = object
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = required.as_array_mut()
        && !list.iter().any(|k| k == "kind")
    {
        list.insert(0, Value::from("kind"));
    }
    if !all_of.is_empty() {
        object.insert("allOf".into(), Value::Array(all_of));
    }
    base
}
