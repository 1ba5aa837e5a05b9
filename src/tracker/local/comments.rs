//! The comments section at the end of a ticket file: find it, read it, append to it.
//!
//! The format (see the module doc of `local` for the user-facing description):
//!
//! ```markdown
//! ## Comments
//!
//! ### karajan · 2024-05-01T09:30:00.000Z
//!
//! > first line of the body
//! >
//! > ### a heading inside the body stays inside the quote
//! ```
//!
//! karajan quotes every body line with `> `, so nothing a body contains (headings,
//! `---`, fences, HTML comments with the hidden marker) can be mistaken for structure,
//! and the body reads back byte for byte (line endings normalized to `\n`). A block
//! whose non-blank lines all start with `>` is unquoted; anything else (a comment a
//! human typed without quoting) is taken as written, minus surrounding blank lines.
//!
//! The section is the *last* `## Comments` line outside fenced code blocks that is
//! followed only by blank lines before its first comment heading, so a description
//! that has its own "Comments" heading with prose under it is never swallowed.
//!
//! A comment heading is any `### ` line of the section outside a code fence. Humans
//! need not copy karajan's format exactly: `### bob` (no time) is bob's comment, with
//! the file's modification time; a time that does not parse (`### bob · yesterday`) is
//! logged (WARN, naming the file's line) and replaced the same way. No comment is ever
//! dropped or fails the whole ticket because of its heading.

use chrono::{DateTime, SecondsFormat, Utc};

use super::ticket_file::{content, lines_with_offsets, parse_time};
use crate::domain::Comment;

pub(crate) const SECTION_HEADING: &str = "## Comments";

/// A line of the body, classified.
struct Line<'a> {
    offset: usize,
    /// Without its line ending.
    text: &'a str,
    in_fence: bool,
}

/// Lines of `body` with whether they are inside a fenced code block, and the fence that
/// is still open at the end (if any).
fn classify(body: &str) -> (Vec<Line<'_>>, Option<String>) {
    let mut open: Option<String> = None;
    let mut out = Vec::new();
    for (offset, raw) in lines_with_offsets(body) {
        let text = content(raw);
        let fence = fence_of(text);
        let in_fence = match (&open, fence) {
            (None, Some(f)) => {
                open = Some(f);
                true
            }
            (Some(o), Some(f)) if f.starts_with(o.as_str()) && text.trim().len() == f.len() => {
                open = None;
                true
            }
            (Some(_), _) => true,
            (None, None) => false,
        };
        out.push(Line {
            offset,
            text,
            in_fence,
        });
    }
    (out, open)
}

/// The fence string (```` ``` ````, `~~~~`) a line opens or closes, if any.
fn fence_of(text: &str) -> Option<String> {
    let indent = text.len() - text.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let t = &text[indent..];
    for c in ['`', '~'] {
        let n = t.len() - t.trim_start_matches(c).len();
        if n >= 3 {
            return Some(c.to_string().repeat(n));
        }
    }
    None
}

fn is_heading(line: &Line<'_>) -> bool {
    !line.in_fence && line.text.trim_end() == SECTION_HEADING
}

fn is_comment_header(line: &Line<'_>) -> bool {
    !line.in_fence && line.text.starts_with("### ")
}

/// Index (into `lines`) of the comments heading, if the body has a comments section.
fn section_start(lines: &[Line<'_>]) -> Option<usize> {
    (0..lines.len())
        .rev()
        .filter(|&i| is_heading(&lines[i]))
        .find(|&i| {
            lines[i + 1..]
                .iter()
                .take_while(|l| !is_comment_header(l))
                .all(|l| l.text.trim().is_empty())
        })
}

/// `(description, comments section)` of a body; the section starts at its heading.
pub(crate) fn split_body(body: &str) -> (&str, Option<&str>) {
    let (lines, _) = classify(body);
    match section_start(&lines) {
        Some(i) => {
            let at = lines[i].offset;
            (&body[..at], Some(&body[at..]))
        }
        None => (body, None),
    }
}

/// The comments of a body, in file order. `first_line` is the file line number of the
/// body's first line (for warnings); `fallback` is the time of a comment whose heading
/// has none (the file's modification time).
pub(crate) fn parse(body: &str, first_line: usize, fallback: DateTime<Utc>) -> Vec<Comment> {
    parse_with(body, first_line, fallback, true)
}

/// The newest human comments of a body (`TicketSnapshot::recent_comments`), read with
/// the ticket on every scan: quietly, since a poll would repeat the same warnings every
/// few seconds (`comments()`, read when a full list is needed, warns).
pub(crate) fn recent(body: &str, fallback: DateTime<Utc>) -> Vec<Comment> {
    crate::domain::recent_human(parse_with(body, 1, fallback, false))
}

fn parse_with(body: &str, first_line: usize, fallback: DateTime<Utc>, warn: bool) -> Vec<Comment> {
    let (lines, _) = classify(body);
    let Some(start) = section_start(&lines) else {
        return Vec::new();
    };
    let mut comments = Vec::new();
    let mut current: Option<(String, DateTime<Utc>, Vec<&str>)> = None;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if is_comment_header(line) {
            if let Some(done) = current.take() {
                comments.push(finish(done));
            }
            let line_no = warn.then_some(first_line + i);
            let (author, at) = heading(&line.text["### ".len()..], line_no, fallback);
            current = Some((author, at, Vec::new()));
        } else if let Some((_, _, body_lines)) = current.as_mut() {
            body_lines.push(line.text);
        }
    }
    if let Some(done) = current.take() {
        comments.push(finish(done));
    }
    comments
}

/// The author and time of a heading (`author · time`, or just `author`). A time that
/// does not read is warned about when `line_no` (its file line) is given.
fn heading(rest: &str, line_no: Option<usize>, fallback: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let (author, at) = match rest.rsplit_once(" · ") {
        Some((author, at)) => match parse_time(at) {
            Some(t) => (author, Some(t)),
            None => {
                if let Some(line_no) = line_no {
                    tracing::warn!(
                        line = line_no,
                        heading = rest,
                        "comment heading does not end with an RFC 3339 time (`### author · 2024-05-01T09:30:00Z`); using the file's time"
                    );
                }
                (author, None)
            }
        },
        None => (rest, None),
    };
    let author = match author.trim() {
        "" => "unknown",
        a => a,
    };
    (author.to_string(), at.unwrap_or(fallback))
}

fn finish((author, created_at, mut lines): (String, DateTime<Utc>, Vec<&str>)) -> Comment {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let leading = lines.iter().take_while(|l| l.trim().is_empty()).count();
    let lines = &lines[leading..];
    let quoted = !lines.is_empty()
        && lines
            .iter()
            .all(|l| l.trim().is_empty() || l.starts_with('>'));
    let body = if quoted {
        lines
            .iter()
            .map(|l| {
                l.strip_prefix("> ")
                    .or_else(|| l.strip_prefix('>'))
                    .unwrap_or("")
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        lines.join("\n")
    };
    Comment {
        author,
        body,
        created_at,
    }
}

/// One comment block as karajan writes it, lines ended by `eol`.
pub(crate) fn format_comment(author: &str, at: DateTime<Utc>, body: &str, eol: &str) -> String {
    let author: String = author
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let author = match author.trim() {
        "" => "unknown",
        a => a,
    };
    let mut out = format!(
        "### {author} · {}{eol}{eol}",
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    );
    let body = body.replace("\r\n", "\n");
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('>');
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
        out.push_str(eol);
    }
    out
}

/// `text` (the whole file) with one comment appended, creating the section if needed.
/// The front matter and description are kept byte for byte (an unclosed code fence at
/// the end of the description is closed first, or the section would be inside it).
pub(crate) fn append(text: &str, body_start: usize, block: &str, eol: &str) -> String {
    let body = &text[body_start..];
    let (lines, open_fence) = classify(body);
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    if section_start(&lines).is_none() {
        if let Some(fence) = open_fence {
            out.push_str(&fence);
            out.push_str(eol);
        }
        if !out.ends_with(&format!("{eol}{eol}")) {
            out.push_str(eol);
        }
        out.push_str(SECTION_HEADING);
        out.push_str(eol);
    }
    if !out.ends_with(&format!("{eol}{eol}")) {
        out.push_str(eol);
    }
    out.push_str(block);
    out
}

/// The line ending the file already uses (`\r\n` when its first line has one).
pub(crate) fn eol_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).expect("time")
    }

    fn round_trip(text: &str, bodies: &[&str]) -> (String, Vec<Comment>) {
        let mut text = text.to_string();
        let eol = eol_of(&text);
        for (i, b) in bodies.iter().enumerate() {
            let when = at("2024-05-01T09:30:00Z") + chrono::Duration::seconds(i as i64);
            text = append(&text, 0, &format_comment("karajan", when, b, eol), eol);
        }
        let comments = parse(&text, 1, Utc::now());
        (text, comments)
    }

    const AWKWARD: &[&str] = &[
        "plain",
        "### karajan · 2024-05-01T09:30:00Z\nfake heading",
        "---\ntitle: x\n---",
        "## Comments\n\nnested",
        "<!-- karajan:{\"state\":\"build\"} -->\nDone.",
        "```\n### inside fence\n```",
        "```unclosed fence",
        "> quoted\n>> twice",
        "",
        "\n\nleading and trailing blank lines\n\n",
        "  indented\n\ttabbed",
        "ends with newline\n",
        "   ",
    ];

    #[test]
    fn awkward_bodies_round_trip() {
        let (text, comments) = round_trip("Description.\n", AWKWARD);
        assert_eq!(comments.len(), AWKWARD.len(), "{text}");
        for (c, b) in comments.iter().zip(AWKWARD) {
            assert_eq!(c.body, *b);
            assert_eq!(c.author, "karajan");
        }
        assert_eq!(split_body(&text).0, "Description.\n\n");
        assert!(
            comments
                .windows(2)
                .all(|w| w[0].created_at < w[1].created_at)
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let (text, comments) = round_trip("Description.\r\n", &["a\r\nb", "c"]);
        assert!(!text.replace("\r\n", "").contains('\n'), "{text:?}");
        assert_eq!(comments[0].body, "a\nb");
        assert_eq!(comments[1].body, "c");
    }

    #[test]
    fn hand_written_comments_are_read() {
        let body = "Desc\n\n## Comments\n\n### Alice Smith · 2024-05-01T10:00:00+02:00\nLooks good.\n\n### bob · 2024-05-02\n\n> quoted\n> reply\n";
        let comments = parse(body, 5, Utc::now());
        assert_eq!(comments.len(), 2);
        assert_eq!(comments[0].author, "Alice Smith");
        assert_eq!(comments[0].body, "Looks good.");
        assert_eq!(comments[0].created_at, at("2024-05-01T08:00:00Z"));
        assert_eq!(comments[1].body, "quoted\nreply");
    }

    #[test]
    fn headings_without_a_time_are_comments_too() {
        let mtime = at("2024-06-01T12:00:00Z");
        let body = "Desc\n\n## Comments\n\n### karajan · 2024-05-01T10:00:00Z\n\n> waiting\n\n### bob\n\nPlease also greet in French.\n\n### carol · yesterday\nme too\n";
        let comments = parse(body, 1, mtime);
        assert_eq!(comments.len(), 3, "{comments:?}");
        assert_eq!(comments[0].body, "waiting");
        assert_eq!(comments[1].author, "bob");
        assert_eq!(comments[1].body, "Please also greet in French.");
        assert_eq!(comments[1].created_at, mtime);
        assert_eq!(comments[2].author, "carol");
        assert_eq!(comments[2].body, "me too");
        assert_eq!(comments[2].created_at, mtime);
    }

    #[test]
    fn a_description_heading_with_prose_is_not_the_section() {
        let text = "Intro\n\n## Comments\n\nWe should support comments.\n";
        assert_eq!(split_body(text), (text, None));
        let (out, comments) = round_trip(text, &["first"]);
        assert_eq!(comments.len(), 1);
        assert!(split_body(&out).0.contains("We should support comments."));
        // The heading inside a fence is ignored; an unclosed fence is closed first.
        let fenced = "```\n## Comments\n";
        assert_eq!(split_body(fenced).1, None);
        let (out, comments) = round_trip(fenced, &["x"]);
        assert_eq!(comments.len(), 1, "{out}");
        assert!(out.starts_with("```\n## Comments\n```\n"));
    }

    proptest! {
        #[test]
        fn any_body_round_trips(bodies in proptest::collection::vec("[ -~\n]{0,60}", 1..4)) {
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            let (_, comments) = round_trip("d\n", &refs);
            let got: Vec<&str> = comments.iter().map(|c| c.body.as_str()).collect();
            prop_assert_eq!(got, refs);
        }
    }
}
