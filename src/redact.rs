//! "No secret ever leaves the process": every configured secret value (sensitive runner
//! `env` values, the tracker key, the operator token) is replaced by `[redacted]` before
//! anything leaves the process: the dashboard's pages, API, SSE and metrics (`web`),
//! and, in the orchestrator, every recorded event, every tracker comment, and the run
//! outcomes that logs, `history` and comments quote (an agent that prints a secret it
//! was given must not carry it into the record). [`Redactor::scrub_in_place`] does it
//! for typed values.
//!
//! Redaction must happen on the *raw* text, before any escaping: once a value is
//! HTML-escaped (`/` → `&#x2f;`, `&` → `&amp;`), JSON-escaped (`"` → `\"`), both, or
//! percent-encoded, the secret's bytes are no longer in the body and a scan of the
//! body misses it (a base64 key with `/` or `+` is enough). So there are two passes:
//!
//! 1. [`Redactor::scrub`]: the data itself, before it is serialized or handed to a
//!    template. Every string (and map key) of its JSON form is blanked. This is the
//!    pass that holds whatever escaping or truncation a template applies later.
//! 2. [`Redactor::redact`]: the finished body, for text that did not come through
//!    pass 1 (an error message naming a path, a log file). It blanks the raw secret
//!    and its HTML-, JSON-, JSON-then-HTML- and percent-encoded forms.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::config::Workflow;

/// Secrets shorter than this are not scanned for: they would blank ordinary words.
const MIN_LEN: usize = 6;

const BLANK: &str = "[redacted]";

pub(crate) struct Redactor {
    /// The raw values, longest first, so a secret containing another is blanked whole.
    secrets: Vec<String>,
    /// The raw values and every escaped form of them, longest first.
    forms: Vec<String>,
    /// Each raw value as it appears inside a JSON string (`"` → `\"`, ...): what a
    /// typed value's JSON text holds where one of its strings holds the secret.
    json: Vec<String>,
}

impl Redactor {
    pub fn new(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|s| s.chars().count() >= MIN_LEN);
        longest_first(&mut secrets);
        let mut forms: Vec<String> = secrets.iter().flat_map(|s| escaped_forms(s)).collect();
        longest_first(&mut forms);
        let json = secrets.iter().map(|s| json_inner(s)).collect();
        Redactor {
            secrets,
            forms,
            json,
        }
    }

    /// Blank every secret in a finished body, raw or escaped.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        blank(text, &self.forms)
    }

    /// The JSON form of `value` with every secret blanked in every string and key,
    /// ready to be serialized or rendered (which may then escape it safely).
    pub fn scrub<T: Serialize + ?Sized>(&self, value: &T) -> Result<Value, serde_json::Error> {
        let mut v = serde_json::to_value(value)?;
        let _blanked = self.scrub_value(&mut v);
        Ok(v)
    }

    /// Whether there is nothing to blank (no secret of a scannable length).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Blank every secret in a typed value (every string of its serde form), keeping
    /// its type: the value is rebuilt only when something was blanked.
    pub fn scrub_in_place<T: Serialize + serde::de::DeserializeOwned>(&self, value: &mut T) {
        if self.is_empty() || !self.may_hold_a_secret(&*value) {
            return;
        }
        let Ok(mut form) = serde_json::to_value(&*value) else {
            return;
        };
        if self.scrub_value(&mut form)
            && let Ok(clean) = serde_json::from_value(form)
        {
            *value = clean;
        }
    }

    /// Whether some string or key of `value` may hold a secret: its JSON text holds a
    /// secret's JSON-escaped form. JSON escapes each character on its own, so a string
    /// holding a secret holds its escaped form once serialized; a match elsewhere (across
    /// two strings) only sends the value down the exact path. One serialization into a
    /// buffer, where building the value's JSON tree to scan it allocates every string
    /// again: nearly every event holds no secret (issue 11: the recorder scrubbed each
    /// event this way, 2.8 % of a drain's instructions).
    fn may_hold_a_secret<T: Serialize + ?Sized>(&self, value: &T) -> bool {
        let Ok(text) = serde_json::to_string(value) else {
            return true;
        };
        self.json
            .iter()
            .any(|s| text.len() >= s.len() && text.contains(s.as_str()))
    }

    /// Blank raw secrets in a plain string (before it is escaped).
    pub fn raw<'a>(&self, text: &'a str) -> Cow<'a, str> {
        blank(text, &self.secrets)
    }

    /// Blank every secret in `v`; whether anything was blanked.
    fn scrub_value(&self, v: &mut Value) -> bool {
        match v {
            Value::String(s) => match self.raw(s) {
                Cow::Owned(clean) => {
                    *s = clean;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, x| self.scrub_value(x) | changed),
            Value::Object(map) => {
                let mut changed = false;
                if map.keys().any(|k| matches!(self.raw(k), Cow::Owned(_))) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.raw(&k).into_owned(), v))
                        .collect();
                    changed = true;
                }
                map.values_mut()
                    .fold(changed, |changed, x| self.scrub_value(x) | changed)
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
}

fn longest_first(list: &mut Vec<String>) {
    list.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    list.dedup();
}

fn blank<'a>(text: &'a str, needles: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for s in needles {
        // Most strings scrubbed are shorter than any secret: no search to set up.
        if out.len() >= s.len() && out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), BLANK));
        }
    }
    out
}

/// The raw secret and the forms the dashboard's encoders turn it into.
fn escaped_forms(secret: &str) -> Vec<String> {
    let json = json_inner(secret);
    vec![
        secret.to_string(),
        html(secret),
        html(&json),
        json,
        encode_component(secret),
    ]
}

/// Percent-encode everything but RFC 3986 unreserved characters (`owner/repo#7` →
/// `owner%2Frepo%237`).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// MiniJinja's HTML auto-escape (the templates' escaping).
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

/// The body of a JSON string literal (serde_json's escaping), without the quotes.
fn json_inner(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

/// Every secret value a workflow holds: the sensitive runner `env` values (from `$VAR`
/// or marked `{secret: …}`, in profiles and per-state overrides), the configured server
/// token, the webhook signing secret, the notification targets' URLs, the tracker's key and a Postgres `store.url` (and
/// its password). A literal `env` value is not a secret: the workflow shows it to anyone
/// who reads it.
pub fn secrets_of(wf: &Workflow) -> Vec<String> {
    let sensitive = |env: &std::collections::BTreeMap<String, crate::config::Secret>| {
        env.values()
            .filter(|s| s.is_sensitive())
            .map(|s| s.expose().to_string())
            .collect::<Vec<_>>()
    };
    let mut out: Vec<String> = wf
        .runners
        .values()
        .flat_map(|r| sensitive(&r.env))
        .collect();
    for name in wf.states.keys() {
        if let Some(a) = wf.agent_state(name) {
            out.extend(sensitive(&a.runner.env));
        }
    }
    if let Some(t) = &wf.server.token {
        out.push(t.expose().to_string());
    }
    if let Some(w) = &wf.server.webhooks {
        out.push(w.secret.expose().to_string());
    }
    if let Some(url) = &wf.store.postgres {
        out.extend(url.secrets());
    }
    for secret in wf.tracker.secrets() {
        out.push(secret.expose().to_string());
    }
    if let Some(token) = wf.forge.as_ref().and_then(|f| f.token()) {
        out.push(token.expose().to_string());
    }
    for t in &wf.notify.targets {
        out.push(t.url.expose().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"ab/c+d&e<f>g"h\i"#;

    #[test]
    fn blanks_every_occurrence_longest_first_and_ignores_short_values() {
        let r = Redactor::new(vec!["abc".into(), "s3cr3t-value".into(), "s3cr3t".into()]);
        assert_eq!(
            r.redact("a s3cr3t-value and s3cr3t, abc"),
            "a [redacted] and [redacted], abc"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_forms_of_a_secret_are_blanked_too() {
        let r = Redactor::new(vec![HOSTILE.into()]);
        let page = format!(
            "<p>{}</p><code>{}</code><a href=\"/t/{}\">{}</a>",
            html(HOSTILE),
            html(&json_inner(HOSTILE)),
            super::encode_component(HOSTILE),
            json_inner(HOSTILE),
        );
        assert_eq!(
            r.redact(&page),
            "<p>[redacted]</p><code>[redacted]</code><a href=\"/t/[redacted]\">[redacted]</a>"
        );
    }

    #[test]
    fn scrub_blanks_strings_and_keys_before_serialization() {
        let r = Redactor::new(vec![HOSTILE.into()]);
        let data = serde_json::json!({
            "title": format!("greeting {HOSTILE}"),
            "nested": [{ "message": HOSTILE, "n": 3 }],
            HOSTILE: true,
        });
        let clean = r.scrub(&data).unwrap();
        assert_eq!(
            clean,
            serde_json::json!({
                "title": "greeting [redacted]",
                "nested": [{ "message": "[redacted]", "n": 3 }],
                "[redacted]": true,
            })
        );
    }

    /// The shipped starter workflow (whose `implement` state sets the literal
    /// `KARAJAN_STAGE: implement`), with a marked secret added to the runner's env.
    fn starter_with_a_marked_secret() -> Workflow {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflow.example.yaml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "      KARAJAN_DEMO:",
            "      MARKED: {secret: a-literal-secret}\n      KARAJAN_DEMO:",
            1,
        );
        assert!(text.contains("MARKED"));
        crate::workflow_load::load_str(&text, &path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_sensitive_env_values_are_secrets() {
        let wf = starter_with_a_marked_secret();
        // (`$VAR` values are sensitive too: see `config::expand`'s tests.)
        let secrets = secrets_of(&wf);
        assert!(
            secrets.contains(&"a-literal-secret".to_string()),
            "{secrets:?}"
        );
        assert!(!secrets.contains(&"implement".to_string()), "{secrets:?}");
    }

    /// A typed value like an event's: strings, a map keyed by strings, a list.
    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    struct Typed {
        title: String,
        tags: Vec<String>,
        by_name: std::collections::BTreeMap<String, u32>,
        n: u32,
    }

    fn typed(text: &str) -> Typed {
        Typed {
            title: format!("t {text} t"),
            tags: vec!["plain".into(), text.to_string()],
            by_name: [(text.to_string(), 1), ("k".to_string(), 2)].into(),
            n: 7,
        }
    }

    fn holds(t: &Typed, secret: &str) -> bool {
        t.title.contains(secret)
            || t.tags.iter().any(|x| x.contains(secret))
            || t.by_name.keys().any(|k| k.contains(secret))
    }

    #[test]
    fn scrub_in_place_blanks_a_secret_that_json_escapes_and_leaves_the_rest() {
        let r = Redactor::new(vec![HOSTILE.into(), "tab\there\u{1}".into()]);
        for secret in [HOSTILE, "tab\there\u{1}"] {
            let mut t = typed(secret);
            r.scrub_in_place(&mut t);
            assert!(!holds(&t, secret), "{t:?}");
            assert_eq!(t.title, "t [redacted] t");
            assert!(t.by_name.contains_key("[redacted]"));
        }
        let clean = typed("nothing secret here");
        let mut same = clean.clone();
        r.scrub_in_place(&mut same);
        assert_eq!(same, clean);
    }

    proptest::proptest! {
        /// Whatever the secret and its neighbours (quotes, backslashes, control
        /// characters, any Unicode), a typed value holding it never keeps it.
        #[test]
        fn scrub_in_place_never_keeps_a_secret(
            secret in "[a-z\"\\\\/<>&+\u{0}-\u{1f}\u{e9}\u{2028}\u{1f600}]{6,14}",
            before in "\\PC{0,8}",
            after in "[\"\\\\\u{0}-\u{1f}a-z]{0,8}",
        ) {
            let r = Redactor::new(vec![secret.clone()]);
            let mut t = typed(&format!("{before}{secret}{after}"));
            r.scrub_in_place(&mut t);
            proptest::prop_assert!(!holds(&t, &secret), "{:?}", t);
        }
    }
}
