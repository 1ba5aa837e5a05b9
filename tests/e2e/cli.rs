//! The CLI's contract: `init` writes a starter that `check` accepts and refuses to
//! overwrite; `check` reports every problem with exit code 3; `verify` without a store
//! fails; `schema` prints what `init` writes for editors.

use super::support::{stderr, stdout};

fn karajan(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    crate::e2e::support::command()
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn init_check_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = karajan(d, &["init", "."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.join("workflow.yaml").is_file() && d.join("tickets/EXAMPLE-1.md").is_file());
    let out = karajan(d, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok:"));

    let again = karajan(d, &["init", "."]);
    assert_eq!(again.status.code(), Some(1), "init does not overwrite");
    assert!(stderr(&again).contains("use --force"));

    let wf = std::fs::read_to_string(d.join("workflow.yaml")).unwrap();
    let broken =
        wf.replacen("max_rework:", "max_rewrk:", 1)
            .replacen("next: review", "next: reveiw", 1);
    std::fs::write(d.join("workflow.yaml"), broken).unwrap();
    let out = karajan(d, &["check"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("2 problems"), "{err}");
    assert!(err.contains("did you mean `max_rework`?"), "{err}");
    assert!(err.contains("did you mean `review`?"), "{err}");
    let out = karajan(d, &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "an invalid workflow never runs");

    let out = karajan(d, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no store"));
}

/// `karajan schema` prints the JSON Schema that `init` writes beside the workflow, which
/// the workflow names on its first line for the editor's YAML language server; the
/// starter validates against it, and a typo `check` refuses is refused by it too.
#[test]
fn schema_for_editors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = karajan(d, &["schema"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        printed["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );

    assert!(karajan(d, &["init", "."]).status.success());
    let wf = std::fs::read_to_string(d.join("workflow.yaml")).unwrap();
    assert_eq!(
        wf.lines().next(),
        Some("# yaml-language-server: $schema=./workflow.schema.json")
    );
    let written = std::fs::read_to_string(d.join("workflow.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(schema, printed);

    let validator = jsonschema::draft7::new(&schema).unwrap();
    let as_json = |yaml: &str| {
        let v: yaml_serde::Value = yaml_serde::from_str(yaml).unwrap();
        serde_json::to_value(v).unwrap()
    };
    let errors: Vec<String> = validator
        .iter_errors(&as_json(&wf))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let typo = wf.replacen("max_rework:", "max_rewrk:", 1);
    assert!(!validator.is_valid(&as_json(&typo)));
    std::fs::write(d.join("workflow.yaml"), typo).unwrap();
    assert_eq!(karajan(d, &["check"]).status.code(), Some(3));
}
