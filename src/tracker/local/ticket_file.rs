//! One ticket file: split the YAML front matter from the body, read the fields, and
//! rewrite the `state:` line without touching anything else.
//!
//! Parsing is two-step on purpose: the YAML is first read as a plain value so a file
//! whose fields are wrong can still say which identifier it claims (a requested ticket
//! whose file is broken must be an error, never silently absent), then read again into
//! a strict struct that rejects unknown keys, so a typo such as `lables:` is reported
//! with its line instead of being ignored.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};

use super::comments;

/// The fields of a well-formed ticket file (before file-system facts are added).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TicketFile {
    pub identifier: String,
    pub title: String,
    pub state: String,
    pub priority: Option<u8>,
    pub labels: Vec<String>,
    pub blocked_by: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub url: Option<String>,
    pub branch_name: Option<String>,
    pub description: String,
}

/// Why a file is not a ticket, and which identifier it claims (its `id:` when that
/// much could be read, else the file stem).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseFailure {
    pub claimed_id: String,
    pub message: String,
}

/// Where the front matter and the body are in the file text.
struct Layout {
    /// Byte range of the YAML between the two delimiter lines.
    yaml: std::ops::Range<usize>,
    /// Byte offset where the body starts (after the closing delimiter line).
    body_start: usize,
}

/// Lines of `text` with their byte offsets; each line keeps its `\n`.
pub(crate) fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0usize, |offset, line| {
        let start = *offset;
        *offset += line.len();
        Some((start, line))
    })
}

/// A line without its line ending (`\n` or `\r\n`).
pub(crate) fn content(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn layout(text: &str) -> Result<Layout, String> {
    let mut lines = lines_with_offsets(text);
    let first = lines.next().map(|(_, l)| content(l));
    let first = first.map(|l| l.strip_prefix('\u{feff}').unwrap_or(l));
    if first.map(str::trim_end) != Some("---") {
        return Err("no front matter: the file must start with a `---` line".to_string());
    }
    let yaml_start = text.find('\n').map_or(text.len(), |i| i + 1);
    for (offset, line) in lines {
        let c = content(line).trim_end();
        if c == "---" || c == "..." {
            return Ok(Layout {
                yaml: yaml_start..offset,
                body_start: offset + line.len(),
            });
        }
    }
    Err("front matter is not closed: no `---` line after the opening one".to_string())
}

/// A YAML scalar read as text: strings and numbers are accepted (`id: 42`).
#[derive(Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match yaml_serde::Value::deserialize(d)? {
            yaml_serde::Value::String(s) => Ok(Text(s)),
            yaml_serde::Value::Number(n) => Ok(Text(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected text, found {}",
                describe(&other)
            ))),
        }
    }
}

fn describe(value: &yaml_serde::Value) -> &'static str {
    match value {
        yaml_serde::Value::Null => "nothing",
        yaml_serde::Value::Bool(_) => "a boolean",
        yaml_serde::Value::Number(_) => "a number",
        yaml_serde::Value::String(_) => "text",
        yaml_serde::Value::Sequence(_) => "a list",
        yaml_serde::Value::Mapping(_) => "a mapping",
        yaml_serde::Value::Tagged(_) => "a tagged value",
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<Text>,
    title: Option<Text>,
    state: Option<Text>,
    priority: Option<i64>,
    labels: Option<Vec<Text>>,
    blocked_by: Option<Vec<Text>>,
    created_at: Option<Text>,
    url: Option<Text>,
    branch_name: Option<Text>,
}

/// The YAML text with its lines numbered as in the file (the opening `---` is line 1),
/// so parser errors point at the right line of the file.
fn yaml_of(text: &str, layout: &Layout) -> String {
    format!("\n{}", &text[layout.yaml.clone()])
}

/// Read a ticket file. `stem` is the file name without `.md` (the default identifier).
pub(crate) fn parse(text: &str, stem: &str) -> Result<TicketFile, ParseFailure> {
    let fail = |claimed_id: &str, message: String| ParseFailure {
        claimed_id: claimed_id.to_string(),
        message,
    };
    let layout = layout(text).map_err(|m| fail(stem, m))?;
    let yaml = yaml_of(text, &layout);
    let value: yaml_serde::Value =
        yaml_serde::from_str(&yaml).map_err(|e| fail(stem, format!("invalid YAML: {e}")))?;
    let claimed = match &value {
        yaml_serde::Value::Mapping(map) => match map.get("id") {
            Some(yaml_serde::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(yaml_serde::Value::Number(n)) => n.to_string(),
            _ => stem.to_string(),
        },
        yaml_serde::Value::Null => {
            return Err(fail(stem, "front matter is empty".to_string()));
        }
        other => {
            return Err(fail(
                stem,
                format!("front matter must be a mapping, found {}", describe(other)),
            ));
        }
    };
    let fm: FrontMatter =
        yaml_serde::from_str(&yaml).map_err(|e| fail(&claimed, format!("front matter: {e}")))?;
    let required = |field: Option<Text>, name: &str| -> Result<String, ParseFailure> {
        match field.map(|t| t.0.trim().to_string()) {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(fail(&claimed, format!("`{name}` is empty"))),
            None => Err(fail(&claimed, format!("`{name}` is missing"))),
        }
    };
    let identifier = match fm.id {
        None => stem.to_string(),
        id => required(id, "id")?,
    };
    let title = required(fm.title, "title")?;
    let state = required(fm.state, "state")?;
    let priority = match fm.priority {
        None | Some(0) => None,
        Some(p @ 1..=4) => Some(p as u8),
        Some(p) => {
            return Err(fail(
                &claimed,
                format!("`priority` must be 0 (none) or 1 (urgent) to 4 (low), got {p}"),
            ));
        }
    };
    let created_at = match fm.created_at {
        None => None,
        Some(t) => Some(parse_time(&t.0).ok_or_else(|| {
            fail(
                &claimed,
                format!(
                    "`created_at` {:?} is not an RFC 3339 time (2024-05-01T09:30:00Z) or a date",
                    t.0
                ),
            )
        })?),
    };
    let body = &text[layout.body_start..];
    let (description, _) = comments::split_body(body);
    Ok(TicketFile {
        identifier,
        title,
        state,
        priority,
        labels: dedup(
            fm.labels
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.0.trim().to_lowercase()),
        ),
        blocked_by: dedup(
            fm.blocked_by
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.0.trim().to_string()),
        ),
        created_at,
        url: fm
            .url
            .map(|t| t.0.trim().to_string())
            .filter(|s| !s.is_empty()),
        branch_name: fm
            .branch_name
            .map(|t| t.0.trim().to_string())
            .filter(|s| !s.is_empty()),
        description: trim_blank_lines(description).to_string(),
    })
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// RFC 3339, or a bare date (midnight UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Drop blank lines at the start and whitespace at the end.
fn trim_blank_lines(s: &str) -> &str {
    let mut start = 0;
    for (offset, line) in lines_with_offsets(s) {
        if !line.trim().is_empty() {
            start = offset;
            break;
        }
        start = offset + line.len();
    }
    s[start..].trim_end()
}

/// The body of the file (everything after the front matter), if it has front matter.
pub(crate) fn body(text: &str) -> Option<&str> {
    layout(text).ok().map(|l| &text[l.body_start..])
}

/// `text` with the front matter's `state:` line replaced by `state: <column>`; every
/// other byte is kept. A value continued on indented lines is replaced with it.
pub(crate) fn rewrite_state(text: &str, column: &str) -> Result<String, String> {
    let layout = layout(text)?;
    let yaml = &text[layout.yaml.clone()];
    let mut found: Option<(usize, usize, &str)> = None; // start, end, line ending
    let mut iter = lines_with_offsets(yaml).peekable();
    while let Some((offset, line)) = iter.next() {
        let c = content(line);
        let Some(rest) = c.strip_prefix("state") else {
            continue;
        };
        if !rest.trim_start().starts_with(':') {
            continue;
        }
        if found.is_some() {
            return Err("the front matter has two `state:` lines".to_string());
        }
        let mut end = offset + line.len();
        while let Some((next_offset, next)) = iter.peek() {
            if next.starts_with(' ') || next.starts_with('\t') {
                end = next_offset + next.len();
                iter.next();
            } else {
                break;
            }
        }
        let ending = &line[c.len()..];
        found = Some((offset, end, ending));
    }
    let (start, end, ending) =
        found.ok_or_else(|| "the front matter has no top-level `state:` line".to_string())?;
    let base = layout.yaml.start;
    let ending = if ending.is_empty() { "\n" } else { ending };
    Ok(format!(
        "{}state: {}{}{}",
        &text[..base + start],
        yaml_scalar(column),
        ending,
        &text[base + end..]
    ))
}

/// `s` as a YAML scalar: plain when that reads back as the same text, else double-quoted
/// (a JSON string is a valid YAML double-quoted scalar).
pub(crate) fn yaml_scalar(s: &str) -> String {
    let plain_chars = s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '/' | '(' | ')'));
    let first_ok = s.chars().next().is_some_and(char::is_alphanumeric);
    if plain_chars && first_ok && s.trim() == s {
        let reads_back = yaml_serde::from_str::<yaml_serde::Value>(&format!("k: {s}"))
            .ok()
            .and_then(|v| v.get("k").and_then(|v| v.as_str()).map(str::to_string));
        if reads_back.as_deref() == Some(s) {
            return s.to_string();
        }
    }
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> TicketFile {
        parse(text, "stem").unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
    }

    fn bad(text: &str) -> ParseFailure {
        match parse(text, "stem") {
            Ok(t) => panic!("parsed {t:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_every_field() {
        let t = ok(
            "---\nid: ENG-1\ntitle: Fix login\nstate: Todo\npriority: 2\nlabels: [Bug, UI, bug]\nblocked_by: [ENG-0]\ncreated_at: 2024-05-01T09:30:00+02:00\nurl: https://x/1\nbranch_name: eng-1\n---\n\nThe body.\n\nMore.\n",
        );
        assert_eq!(t.identifier, "ENG-1");
        assert_eq!(t.title, "Fix login");
        assert_eq!(t.state, "Todo");
        assert_eq!(t.priority, Some(2));
        assert_eq!(t.labels, vec!["bug", "ui"]);
        assert_eq!(t.blocked_by, vec!["ENG-0"]);
        assert_eq!(
            t.created_at.map(|t| t.to_rfc3339()),
            Some("2024-05-01T07:30:00+00:00".into())
        );
        assert_eq!(t.url.as_deref(), Some("https://x/1"));
        assert_eq!(t.branch_name.as_deref(), Some("eng-1"));
        assert_eq!(t.description, "The body.\n\nMore.");
    }

    #[test]
    fn defaults_and_numbers() {
        let t = ok("---\ntitle: 42\nstate: Todo\npriority: 0\n---\n");
        assert_eq!(t.identifier, "stem");
        assert_eq!(t.title, "42");
        assert_eq!(t.priority, None);
        assert!(t.labels.is_empty() && t.blocked_by.is_empty());
        assert_eq!(t.description, "");
        assert_eq!(ok("---\nid: 7\ntitle: t\nstate: s\n---\n").identifier, "7");
        assert!(
            ok("---\ntitle: t\nstate: s\ncreated_at: 2024-01-02\n---\n")
                .created_at
                .is_some()
        );
        // CRLF and a byte-order mark.
        let t = ok("\u{feff}---\r\ntitle: t\r\nstate: In Progress\r\n---\r\nbody\r\n");
        assert_eq!(t.state, "In Progress");
        assert_eq!(t.description, "body");
    }

    #[test]
    fn reports_what_is_wrong() {
        assert!(bad("title: t\n").message.contains("must start with"));
        assert!(
            bad("---\ntitle: t\nstate: s\n")
                .message
                .contains("not closed")
        );
        assert!(bad("---\n---\n").message.contains("empty"));
        assert!(bad("---\n- a\n---\n").message.contains("mapping"));
        assert!(
            bad("---\nstate: s\n---\n")
                .message
                .contains("`title` is missing")
        );
        assert!(
            bad("---\ntitle: t\n---\n")
                .message
                .contains("`state` is missing")
        );
        assert!(
            bad("---\ntitle: ' '\nstate: s\n---\n")
                .message
                .contains("`title` is empty")
        );
        assert!(
            bad("---\ntitle: t\nstate: s\npriority: 5\n---\n")
                .message
                .contains("priority")
        );
        assert!(
            bad("---\ntitle: t\nstate: s\ncreated_at: soon\n---\n")
                .message
                .contains("created_at")
        );
        let e = bad("---\nid: ENG-9\ntitle: t\nstate: s\nlables: [x]\n---\n");
        assert_eq!(e.claimed_id, "ENG-9");
        assert!(
            e.message.contains("lables") && e.message.contains("line 5"),
            "{}",
            e.message
        );
        let e = bad("---\ntitle: t\nstate: [s\n---\n");
        assert_eq!(e.claimed_id, "stem");
        assert!(e.message.contains("invalid YAML"), "{}", e.message);
        assert!(
            bad("---\ntitle: t\nstate: true\n---\n")
                .message
                .contains("boolean")
        );
    }

    #[test]
    fn rewrite_touches_only_the_state_line() {
        let text =
            "---\nid: A  # keep\nstate: Todo   # comment\ntitle: \"x\"\n---\nstate: not this\n";
        let out = rewrite_state(text, "In Progress").expect("rewrite");
        assert_eq!(
            out,
            "---\nid: A  # keep\nstate: In Progress\ntitle: \"x\"\n---\nstate: not this\n"
        );
        let crlf = "---\r\ntitle: t\r\nstate: Todo\r\n---\r\n";
        assert_eq!(
            rewrite_state(crlf, "Done").expect("crlf"),
            "---\r\ntitle: t\r\nstate: Done\r\n---\r\n"
        );
        let folded = "---\nstate: >\n  In\n  Review\ntitle: t\n---\n";
        assert_eq!(
            rewrite_state(folded, "Done").expect("folded"),
            "---\nstate: Done\ntitle: t\n---\n"
        );
        assert!(rewrite_state("---\ntitle: t\n---\n", "x").is_err());
        assert!(rewrite_state("---\n  state: x\n---\n", "x").is_err());
    }

    #[test]
    fn scalars_read_back_exactly() {
        for s in [
            "Todo",
            "In Progress",
            "true",
            "null",
            "123",
            "1e3",
            "a: b",
            "#x",
            "- x",
            "x #y",
            "'q'",
            "\"q\"",
            "tab\there",
            "line\nbreak",
            " lead",
            "trail ",
            "~",
            "",
            "ünïcode",
            "yes",
            "a\\b",
            "{x}",
            "[x]",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
            "`x",
        ] {
            let quoted = yaml_scalar(s);
            let v: yaml_serde::Value = yaml_serde::from_str(&format!("k: {quoted}")).expect("yaml");
            assert_eq!(
                v.get("k").and_then(|v| v.as_str()),
                Some(s),
                "{s:?} -> {quoted}"
            );
        }
        assert_eq!(yaml_scalar("In Progress"), "In Progress");
        assert_eq!(yaml_scalar("true"), "\"true\"");
    }
}
