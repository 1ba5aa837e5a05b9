//! The one MiniJinja environment every karajan template is rendered with, and the
//! translation of MiniJinja errors into messages that name the file, the line and the
//! failing expression.
//!
//! Undefined variables are errors (`UndefinedBehavior::Strict`): a prompt that silently
//! renders `{{ issue.titel }}` as an empty string sends an agent off with half a brief.
//! Loading a workflow uses [`compile`] (through `workflow_load`) to reject templates with
//! syntax errors at load time.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

pub use crate::settings::TemplateError;

/// A fresh environment: strict undefined, never HTML-escaped (prompts are plain text,
/// whatever their file extension), debug info on for precise errors.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(true);
    env
}

/// Checks that `source` compiles (syntax only; undefined names surface at render time).
pub(crate) fn compile(name: &str, source: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_named_str(name, source)
        .map(|_| ())
        .map_err(|e| describe(name, &e))
}

/// Templates compiled by [`render`], each in an environment of its own (as a fresh
/// environment per render had it: an `include` of another template finds nothing),
/// keyed by name, with the source it was compiled from.
type Compiled = HashMap<String, (String, Environment<'static>)>;

static COMPILED: Mutex<Option<Compiled>> = Mutex::new(None);

/// How many templates are kept compiled; past it the cache starts over (a workflow
/// has a handful: its prompts and its branch name).
const KEPT: usize = 64;

/// Renders `source` (named `name` in errors) with `ctx`.
///
/// The compiled template is kept for the next render of the same name and source:
/// the same few templates render for every run, and compiling them each time was
/// about a third of a render's instructions (callgrind over a drain's 100 renders:
/// 12.0 → 8.0 million; issue 11). A changed source (a reload) is compiled again in its
/// place.
pub(crate) fn render<S: serde::Serialize>(
    name: &str,
    source: &str,
    ctx: &S,
) -> Result<String, TemplateError> {
    let mut guard = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    let compiled = guard.get_or_insert_with(HashMap::new);
    if compiled.get(name).is_none_or(|(kept, _)| kept != source) {
        let mut env = environment();
        env.add_template_owned(name.to_string(), source.to_string())
            .map_err(|e| describe(name, &e))?;
        if compiled.len() >= KEPT {
            compiled.clear();
        }
        compiled.insert(name.to_string(), (source.to_string(), env));
    }
    let (_, env) = &compiled[name];
    let tmpl = env.get_template(name).map_err(|e| describe(name, &e))?;
    tmpl.render(minijinja::value::Serde(ctx))
        .map_err(|e| describe(name, &e))
}

/// A message naming what failed: the error kind, its detail, and the source text of the
/// failing expression (`undefined value: `issue.nope``).
pub(crate) fn describe(name: &str, err: &minijinja::Error) -> TemplateError {
    let mut message = err.kind().to_string();
    if let Some(detail) = err.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    // A syntax error's span is where parsing stopped, not an expression worth quoting.
    let expr = match (err.kind(), err.template_source(), err.range()) {
        (ErrorKind::SyntaxError, _, _) => None,
        (_, Some(src), Some(range)) => src.get(range).map(str::trim),
        _ => None,
    };
    if let Some(expr) = expr.filter(|e| !e.is_empty() && !message.contains(&format!("`{e}`"))) {
        message.push_str(&format!(" in `{expr}`"));
    }
    TemplateError {
        template: err.name().unwrap_or(name).to_string(),
        line: err.line(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undefined_variables_are_errors_that_name_file_line_and_expression() {
        let err = render(
            "prompts/x.md",
            "hello\n{{ issue.nope }}\n",
            &json!({"issue": {"title": "t"}}),
        )
        .unwrap_err();
        assert_eq!(err.template, "prompts/x.md");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("undefined"), "{}", err.message);
        assert!(err.message.contains("nope"), "{}", err.message);
        let shown = err.to_string();
        assert!(shown.starts_with("prompts/x.md:2: "), "{shown}");
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let err = compile("prompts/y.md", "ok\nok\n{% if x %}\nno end").unwrap_err();
        assert_eq!(err.template, "prompts/y.md");
        assert!(err.line.is_some_and(|l| l >= 3), "{err:?}");
        assert!(err.message.contains("syntax error"), "{}", err.message);
        assert!(compile("fine.md", "{{ issue.title }}").is_ok());
    }

    #[test]
    fn a_kept_template_follows_its_source_and_sees_no_other() {
        // Names of this test's own: the cache is the process's.
        let ctx = json!({"a": 1});
        let name = "prompts/kept-a.md";
        assert_eq!(render(name, "one {{ a }}", &ctx).unwrap(), "one 1");
        assert_eq!(render(name, "one {{ a }}", &ctx).unwrap(), "one 1");
        // A reload changed the file: the new source renders.
        assert_eq!(render(name, "two {{ a }}", &ctx).unwrap(), "two 1");
        // A syntax error is reported, and the good source still renders after it.
        let err = render(name, "{% if %}", &ctx).unwrap_err();
        assert!(err.message.contains("syntax error"), "{}", err.message);
        assert_eq!(render(name, "two {{ a }}", &ctx).unwrap(), "two 1");
        // Another kept template is not reachable by include, as with a fresh
        // environment per render.
        let err = render(
            "prompts/kept-b.md",
            "{% include 'prompts/kept-a.md' %}",
            &ctx,
        )
        .unwrap_err();
        assert!(err.message.contains("not found"), "{}", err.message);
    }

    #[test]
    fn renders_without_html_escaping() {
        let out = render("prompts/a.html", "<b>{{ a }}</b>", &json!({"a": "&"})).unwrap();
        assert_eq!(out, "<b>&</b>");
    }
}
