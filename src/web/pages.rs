//! The dashboard: server-rendered HTML (MiniJinja templates embedded in the binary)
//! and one small script that listens to `/api/v1/events` and swaps the page's live
//! region in place, so it updates without reloads and works without a JS build step.

use crate::redact::encode_component;
use std::path::Path;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, chart, daily, diagram, headers, issues, respond, today};

/// How much of a prompt and of a log the ticket page shows.
const PROMPT_MAX: u64 = 64 * 1024;
const LOG_TAIL: u64 = 32 * 1024;

pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("ticket.html", include_str!("templates/ticket.html")),
        ("missing.html", include_str!("templates/missing.html")),
        ("error.html", include_str!("templates/error.html")),
        (
            "pull_request.html",
            include_str!("templates/pull_request.html"),
        ),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("embedded template {name}: {e}"));
    }
    env.add_filter("since", |at: String| {
        humanize(seconds_between(&at, Utc::now(), true))
    });
    env.add_filter("until", |at: String| {
        humanize(seconds_between(&at, Utc::now(), false))
    });
    env.add_filter("duration", |secs: i64| humanize(secs));
    env.add_filter("enc", |s: String| encode_component(&s));
    // A pull request's address as a link target: http(s) only, like a tracker link.
    env.add_filter("web_link", |s: String| {
        headers::tracker_link(&s).map(str::to_string)
    });
    env.add_filter("usd", |v: Option<f64>| match v {
        // `+ 0.0` turns a negative zero (a sum of nothing) into a plain zero.
        Some(v) => format!("${:.4}", v + 0.0),
        None => "—".to_string(),
    });
    env.add_filter("short", |s: String, n: Option<usize>| {
        s.chars().take(n.unwrap_or(12)).collect::<String>()
    });
    env.add_filter("sentence", |payload: Value, kind: String| {
        let p = serde_json::to_value(&payload).unwrap_or_default();
        super::timeline::sentence(&kind, &p)
    });
    env.add_filter("pretty", |v: Value| {
        serde_json::to_string_pretty(&v).unwrap_or_default()
    });
    env
}

fn seconds_between(at: &str, now: DateTime<Utc>, past: bool) -> i64 {
    let Ok(t) = DateTime::parse_from_rfc3339(at) else {
        return 0;
    };
    let d = now - t.with_timezone(&Utc);
    if past {
        d.num_seconds()
    } else {
        -d.num_seconds()
    }
    .max(0)
}

/// `75` → `1m 15s`.
fn humanize(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

fn render(st: &AppState, status: StatusCode, name: &str, ctx: Value) -> Response {
    let templates = st.templates.get_or_init(environment);
    match templates.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => respond::html(status, html),
        Err(e) => ApiError::internal(format!("rendering {name}: {e:#}")).into_response(),
    }
}

/// `value` for a template, with every secret blanked *before* the template escapes it.
fn clean<T: serde::Serialize + ?Sized>(st: &AppState, value: &T) -> Result<Value, ApiError> {
    let v = st.redactor.scrub(value).map_err(ApiError::internal)?;
    Ok(Value::from(minijinja::value::Serde(v)))
}

/// A raw string for a template, secrets blanked.
fn clean_text(st: &AppState, text: Option<String>) -> Option<String> {
    text.map(|t| st.redactor.raw(&t).into_owned())
}

pub(crate) async fn overview(
    State(st): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Result<Response, ApiError> {
    let view = st.handle.status();
    let spend = today::spend(&view);
    // The pictures: SVG written (and escaped) by karajan, inserted as is.
    let diagram = diagram::render(&view.config.machine, &diagram::counts(&view));
    let days = daily::figures(&st, daily::DEFAULT_DAYS).await?;
    let nodes = super::state::nodes(&st).await?;
    let ctx = context! {
        diagram => Value::from_safe_string(st.redactor.raw(&diagram).into_owned()),
        chart => Value::from_safe_string(chart::render(&days)),
        chart_days => days.len(),
        view => clean(&st, &*view)?,
        spend => clean(&st, &spend)?,
        nodes => clean(&st, &nodes)?,
        can_act => caller.is_some(),
        paused => view.paused,
    };
    Ok(render(&st, StatusCode::OK, "overview.html", ctx))
}

pub(crate) async fn ticket(
    State(st): State<AppState>,
    UrlPath(identifier): UrlPath<String>,
    caller: Option<Extension<Caller>>,
) -> Result<Response, ApiError> {
    let view = st.handle.status();
    let Some(d) = issues::detail(&st, &identifier).await? else {
        let ctx = context! {
            identifier => st.redactor.raw(&identifier).into_owned(),
            paused => view.paused,
            can_act => caller.is_some(),
        };
        return Ok(render(&st, StatusCode::NOT_FOUND, "missing.html", ctx));
    };
    let (prompt, stdout, stderr) = match &d.logs {
        Some(l) => (
            read_head(Path::new(&l.prompt), PROMPT_MAX),
            read_tail(Path::new(&l.stdout), LOG_TAIL),
            read_tail(Path::new(&l.stderr), LOG_TAIL),
        ),
        None => (None, None, None),
    };
    let url = clean_text(&st, d.url.clone());
    let proof = super::ticket_proof::build(&st.store, &d.recent_events).await?;
    let ctx = context! {
        proof => clean(&st, &proof)?,
        link => url.as_deref().and_then(headers::tracker_link),
        file_url => url.as_deref().and_then(headers::tracker_file),
        d => clean(&st, &d)?,
        prompt => clean_text(&st, prompt),
        stdout => clean_text(&st, stdout),
        stderr => clean_text(&st, stderr),
        can_act => caller.is_some(),
        paused => view.paused,
    };
    Ok(render(&st, StatusCode::OK, "ticket.html", ctx))
}

/// An error as a page, for a browser (see `error::negotiate`). `code` and `message`
/// are already scrubbed.
pub(crate) fn error_page(
    st: &AppState,
    status: StatusCode,
    code: &str,
    message: &str,
    signed_in: bool,
) -> Response {
    let ctx = context! {
        status => status.as_u16(),
        reason => status.canonical_reason().unwrap_or("error"),
        code => code,
        message => message,
        can_act => signed_in,
        paused => false,
        error_page => true,
    };
    render(st, status, "error.html", ctx)
}

fn read_head(path: &Path, max: u64) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The last `max` bytes of a file, from the first whole line.
fn read_tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(match (start, text.find('\n')) {
        (s, Some(i)) if s > 0 => text[i + 1..].to_string(),
        _ => text,
    })
}

pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/app.js"),
    )
        .into_response()
}

pub(crate) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/app.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_github_identifiers_and_humanizes_durations() {
        assert_eq!(encode_component("owner/repo#7"), "owner%2Frepo%237");
        assert_eq!(encode_component("QS-1"), "QS-1");
        assert_eq!(humanize(5), "5s");
        assert_eq!(humanize(75), "1m 15s");
        assert_eq!(humanize(3 * 3600 + 60), "3h 01m");
    }

    #[test]
    fn a_pull_request_is_a_link_only_to_http_and_escaped() {
        let mut env = environment();
        env.add_template(
            "t.html",
            r#"{% from "pull_request.html" import pr_link %}{{ pr_link(pr) }}"#,
        )
        .unwrap();
        let render = |url: &str| {
            let pr = context! { number => 7, url => url };
            env.get_template("t.html")
                .unwrap()
                .render(context! { pr => pr })
                .unwrap()
        };
        assert_eq!(
            render("https://github.com/acme/app/pull/7?a=1&b=\"x\""),
            "pull request <a href=\"https:&#x2f;&#x2f;github.com&#x2f;acme&#x2f;app&#x2f;pull&#x2f;7?a=1&amp;b=&quot;x&quot;\" rel=\"noreferrer noopener\">#7</a>"
        );
        assert_eq!(render("javascript:alert(1)"), "pull request #7");
    }

    #[test]
    fn every_embedded_template_compiles() {
        let env = environment();
        for name in [
            "base.html",
            "overview.html",
            "ticket.html",
            "missing.html",
            "error.html",
            "pull_request.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
