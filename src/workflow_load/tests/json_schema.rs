//! `karajan schema` against the loader: the shipped workflows validate against the schema
//! and load; deliberately wrong files (an unknown key, a wrong type or value, a key of
//! another kind) are refused by both, at the same place; and the schema's keys are exactly the
//! table of `config/schema.rs` that reports unknown keys, so the two cannot drift apart.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::config::schema::{ROOT, STATE_COMMON, STATE_KINDS, Shape};
use crate::workflow_load::json_schema;

/// YAML text as the JSON instance a validator sees (merge keys applied, as the loader
/// does).
fn instance(yaml: &str) -> Value {
    let mut v: yaml_serde::Value = yaml_serde::from_str(yaml).expect("YAML");
    v.apply_merge().expect("merge keys");
    serde_json::to_value(&v).expect("JSON")
}

fn validator() -> jsonschema::Validator {
    let schema = json_schema();
    assert_eq!(
        schema["$schema"], "http://json-schema.org/draft-07/schema#",
        "editors read draft 07 best"
    );
    jsonschema::draft7::meta::validate(&schema).expect("the schema is a valid draft 07 schema");
    jsonschema::draft7::new(&schema).expect("the schema compiles")
}

/// Each schema error as `pointer: message`.
fn schema_errors(v: &jsonschema::Validator, yaml: &str) -> Vec<(String, String)> {
    let doc = instance(yaml);
    v.iter_errors(&doc)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

/// Every workflow karajan ships: the example `init` writes and the examples folder.
fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("workflow.example.yaml")];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let wf = entry.unwrap().path().join("workflow.yaml");
        if wf.is_file() {
            files.push(wf);
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_workflow_validates_against_the_schema_and_loads() {
    let v = validator();
    let files = shipped();
    assert!(files.len() >= 4, "found only {files:?}");
    // The examples' `$VAR`s (tokens, API keys) are set to a placeholder.
    let placeholder = |_: &str| Some("placeholder-value-0123456789".to_string());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let errors = schema_errors(&v, &text);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        if let Err(e) = load_str_with_env(&text, &file, &placeholder) {
            panic!("{}: {e}", file.display());
        }
    }
}

#[test]
fn the_loader_and_the_schema_accept_the_same_right_files() {
    let v = validator();
    let f = Fixture::new();
    let plus = |tail: &str| BASE.to_string() + tail;
    for yaml in [
        BASE.to_string(),
        // Empty sections and null values are absent ones.
        plus("polling:\nbudget:\nagent: ~\n"),
        with("    next: review\n", "    next: review\n    session: ~\n"),
        // A command as a list, an env value marked secret, a duration in hours.
        with(
            "    command: ./agent.sh\n",
            "    command: [./agent.sh, --fast]\n",
        )
        .replace("$DEMO_TOKEN", "{ secret: s3cr3t }"),
        plus("polling:\n  interval: 1h30m\nforge:\n  kind: git\n  remote: /srv/app.git\n"),
        // Kind-specific keys where they belong.
        with(
            "    kind: command\n    command: ./agent.sh\n",
            "    kind: codex\n    sandbox: read-only\n    extra_args: [--x]\n",
        ),
        with(
            "    rework: implement\n",
            "    rework: implement\n    max_rework: 2\n",
        ),
    ] {
        let errors = schema_errors(&v, &yaml);
        assert!(errors.is_empty(), "{errors:#?}\n{yaml}");
        if let Err(e) = f.load(&yaml) {
            panic!("{e}\n{yaml}");
        }
    }
}

/// A wrong file: the YAML, the key path of the loader's error and the JSON pointer of
/// the schema's.
struct Wrong {
    what: &'static str,
    yaml: String,
    key: &'static str,
    pointer: &'static str,
}

fn wrong(what: &'static str, yaml: String, key: &'static str, pointer: &'static str) -> Wrong {
    Wrong {
        what,
        yaml,
        key,
        pointer,
    }
}

fn wrong_files() -> Vec<Wrong> {
    let plus = |tail: &str| BASE.to_string() + tail;
    let github = "  kind: github\n  repo: acme/app\n  token: $DEMO_TOKEN\n";
    vec![
        // Unknown keys, at every depth.
        wrong("unknown section", plus("trackr: {}\n"), "trackr", ""),
        wrong(
            "unknown section key",
            plus("polling:\n  intervall: 30s\n"),
            "polling.intervall",
            "/polling",
        ),
        wrong(
            "unknown runner key",
            with("    kind: command\n", "    kind: command\n    modle: x\n"),
            "runners.demo.modle",
            "/runners/demo",
        ),
        wrong(
            "unknown state key",
            with(
                "    rework: implement\n",
                "    rework: implement\n    max_rewrk: 2\n",
            ),
            "states.review.max_rewrk",
            "/states/review",
        ),
        wrong(
            "unknown nested key",
            with(
                "    next: review\n",
                "    next: review\n    runner_settings: { modl: x }\n",
            ),
            "states.implement.runner_settings.modl",
            "/states/implement/runner_settings",
        ),
        wrong(
            "unknown env value key",
            with("{ TOKEN: $DEMO_TOKEN }", "{ TOKEN: { secrett: x } }"),
            "runners.demo.env.TOKEN",
            "/runners/demo/env/TOKEN",
        ),
        // Wrong types.
        wrong(
            "text for an integer",
            plus("agent:\n  max_concurrent: many\n"),
            "agent.max_concurrent",
            "/agent/max_concurrent",
        ),
        wrong(
            "a duration without its unit",
            plus("polling:\n  interval: 30\n"),
            "polling.interval",
            "/polling/interval",
        ),
        wrong(
            "text for a list",
            plus("columns:\n  terminal: Canceled\n"),
            "columns.terminal",
            "/columns/terminal",
        ),
        wrong(
            "text for a section",
            plus("budget: lots\n"),
            "budget",
            "/budget",
        ),
        wrong(
            "a value that is not one of the choices",
            with(
                "    next: review\n",
                "    next: review\n    session: fersh\n",
            ),
            "states.implement.session",
            "/states/implement/session",
        ),
        wrong(
            "a runner's value that is not one of the choices",
            with(
                "    kind: command\n    command: ./agent.sh\n",
                "    kind: claude\n    permission_mode: skipp\n",
            ),
            "runners.demo.permission_mode",
            "/runners/demo/permission_mode",
        ),
        wrong(
            "a tracker's value that is not one of the choices",
            with(
                "  kind: local\n  dir: ./tickets\n",
                &format!("{github}  mode: label\n"),
            ),
            "tracker.mode",
            "/tracker/mode",
        ),
        // Keys of another kind.
        wrong(
            "an agent key on a gate",
            with(
                "    approve: done\n",
                "    approve: done\n    runner: demo\n",
            ),
            "states.review.runner",
            "/states/review",
        ),
        wrong(
            "a gate key on an agent state",
            with(
                "    next: review\n",
                "    next: review\n    max_rework: 2\n",
            ),
            "states.implement.max_rework",
            "/states/implement",
        ),
        wrong(
            "a key on a terminal state",
            with(
                "    kind: terminal\n",
                "    kind: terminal\n    next: implement\n",
            ),
            "states.done.next",
            "/states/done",
        ),
        wrong(
            "a codex key on a command runner",
            with(
                "    kind: command\n",
                "    kind: command\n    sandbox: read-only\n",
            ),
            "runners.demo.sandbox",
            "/runners/demo",
        ),
        wrong(
            "a github key on a git forge",
            plus("forge:\n  kind: git\n  repo: acme/app\n"),
            "forge.repo",
            "/forge",
        ),
        wrong(
            "a github key on a local tracker",
            with("  dir: ./tickets\n", "  dir: ./tickets\n  repo: acme/app\n"),
            "tracker",
            "/tracker",
        ),
        wrong(
            "a local key on a github tracker",
            with("  kind: local\n", &format!("{github}  dir: ./tickets\n")).replacen(
                "  dir: ./tickets\n",
                "",
                1,
            ),
            "tracker",
            "/tracker",
        ),
        // Kinds.
        wrong(
            "an unknown state kind",
            with("    kind: gate\n", "    kind: gateway\n"),
            "states.review.kind",
            "/states/review/kind",
        ),
        wrong(
            "a state without a kind",
            with("    kind: gate\n", ""),
            "states.review.kind",
            "/states/review",
        ),
        wrong(
            "an unknown runner kind",
            with("    kind: command\n", "    kind: comand\n"),
            "runners.demo.kind",
            "/runners/demo/kind",
        ),
        wrong(
            "an unknown tracker kind",
            with("  kind: local\n", "  kind: jira\n"),
            "tracker.kind",
            "/tracker/kind",
        ),
    ]
}

#[test]
fn the_loader_and_the_schema_refuse_the_same_wrong_files() {
    let v = validator();
    let f = Fixture::new();
    for w in wrong_files() {
        let loader = f.errors(&w.yaml);
        assert!(
            loader.iter().any(|e| e.key == w.key),
            "{}: the loader has no error at `{}`: {loader:#?}\n{}",
            w.what,
            w.key,
            w.yaml
        );
        let schema = schema_errors(&v, &w.yaml);
        assert!(
            schema.iter().any(|(p, _)| p == w.pointer),
            "{}: the schema has no error at `{}`: {schema:#?}\n{}",
            w.what,
            w.pointer,
            w.yaml
        );
    }
}

/// The schema a `$ref` (`#/definitions/X`) points to, and the non-null branch of an
/// optional value (`anyOf: [X, null]`).
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/definitions/");
        return resolve(root, &root["definitions"][name]);
    }
    for list in ["anyOf", "allOf"] {
        if let Some(Value::Array(branches)) = schema.get(list)
            && schema.get("properties").is_none()
        {
            let real: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
            if let [one] = real[..] {
                return resolve(root, one);
            }
        }
    }
    schema
}

fn keys(schema: &Value) -> BTreeSet<String> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The `then` of each `if kind = K` of an object schema, by kind.
fn kinds<'a>(root: &'a Value, schema: &'a Value) -> Vec<(String, &'a Value)> {
    let Some(Value::Array(all)) = schema.get("allOf") else {
        return Vec::new();
    };
    all.iter()
        .filter_map(|b| {
            let kind = b["if"]["properties"]["kind"]["const"].as_str()?;
            Some((kind.to_string(), resolve(root, &b["then"])))
        })
        .collect()
}

/// The schema of `key` in an object schema: in its `properties`, else in the `then` of
/// a kind that has it.
fn property<'a>(root: &'a Value, schema: &'a Value, key: &str) -> Option<&'a Value> {
    schema["properties"].get(key).or_else(|| {
        kinds(root, schema)
            .into_iter()
            .filter_map(|(_, then)| then["properties"].get(key))
            .find(|p| p.is_object())
    })
}

fn names(fields: &[(&str, Shape)]) -> BTreeSet<String> {
    fields.iter().map(|(k, _)| k.to_string()).collect()
}

/// Every difference between the table's `shape` and the schema at `path`.
fn differences(root: &Value, shape: &Shape, schema: &Value, path: &str, out: &mut Vec<String>) {
    let schema = resolve(root, schema);
    match shape {
        Shape::Leaf => {}
        Shape::Dict(inner) => match schema.get("additionalProperties") {
            Some(values) if values.is_object() => {
                differences(root, inner, values, &format!("{path}.*"), out)
            }
            _ => out.push(format!("{path}: the schema has no mapping of names")),
        },
        Shape::Fields(fields) => {
            // A section whose keys depend on its kind (the tracker): the union of the
            // kinds' keys.
            let mut have = keys(schema);
            for (_, then) in kinds(root, schema) {
                have.extend(keys(then));
            }
            let want = names(fields);
            compare(path, &want, &have, out);
            for (key, inner) in fields.iter() {
                if let Some(sub) = property(root, schema, key) {
                    differences(root, inner, sub, &format!("{path}.{key}"), out);
                }
            }
        }
        Shape::State => {
            let per_kind = kinds(root, schema);
            let have: BTreeSet<String> = per_kind.iter().map(|(k, _)| k.clone()).collect();
            let want: BTreeSet<String> = STATE_KINDS.iter().map(|(k, _)| k.to_string()).collect();
            compare(&format!("{path} kinds"), &want, &have, out);
            for (kind, fields) in STATE_KINDS {
                let mut want = names(STATE_COMMON);
                want.extend(names(fields));
                let have = per_kind
                    .iter()
                    .find(|(k, _)| k == kind)
                    .map(|(_, then)| keys(then))
                    .unwrap_or_default();
                compare(&format!("{path}[{kind}]"), &want, &have, out);
                for (key, inner) in STATE_COMMON.iter().chain(fields.iter()) {
                    if let Some(sub) = property(root, schema, key) {
                        differences(root, inner, sub, &format!("{path}.{key}"), out);
                    }
                }
            }
            compare(
                &format!("{path} (kinds in common)"),
                &names(STATE_COMMON),
                &keys(schema),
                out,
            );
        }
    }
}

fn compare(path: &str, want: &BTreeSet<String>, have: &BTreeSet<String>, out: &mut Vec<String>) {
    for k in want.difference(have) {
        out.push(format!("{path}: `{k}` is in the table, not in the schema"));
    }
    for k in have.difference(want) {
        out.push(format!("{path}: `{k}` is in the schema, not in the table"));
    }
}

#[test]
fn the_schema_has_exactly_the_keys_of_the_table() {
    let root = json_schema();
    let mut out = Vec::new();
    differences(&root, &ROOT, &root, "", &mut out);
    assert!(out.is_empty(), "{}", out.join("\n"));
}

#[test]
fn the_comparison_sees_a_missing_and_an_extra_key() {
    let mut root = json_schema();
    let props = root["properties"].as_object_mut().unwrap();
    props.remove("budget");
    props.insert("budgett".into(), serde_json::json!({}));
    root["definitions"]["RawState"]["allOf"][1]["then"]["properties"]
        .as_object_mut()
        .unwrap()
        .insert("runner".into(), Value::Bool(true));
    let mut out = Vec::new();
    differences(&root, &ROOT, &root, "", &mut out);
    out.sort();
    assert_eq!(
        out,
        [
            ".states.*[gate]: `runner` is in the schema, not in the table",
            ": `budget` is in the table, not in the schema",
            ": `budgett` is in the schema, not in the table",
        ]
    );
}

#[test]
fn descriptions_come_from_the_doc_comments() {
    let root = json_schema();
    let gate = &root["definitions"]["RawState"]["allOf"][1];
    assert_eq!(gate["if"]["properties"]["kind"]["const"], "gate");
    assert_eq!(
        gate["then"]["properties"]["approve"]["description"],
        "Where an approval leads. Required."
    );
    let github = &root["definitions"]["RawGithubConfig"];
    assert!(
        github["properties"]["close_on_terminal"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Close the issue")),
        "{github:#}"
    );
    // No tag of the derivation is left for editors to trip on.
    assert!(!root.to_string().contains("x-kinds"));
}
