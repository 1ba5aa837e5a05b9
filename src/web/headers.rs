//! Headers every response carries, whatever produced it (a page, the API, an error,
//! a redirect, the live stream).
//!
//! - `Content-Security-Policy`: nothing may frame the dashboard (`frame-ancestors
//!   'none'`: a page on another port of 127.0.0.1 is same-site, so the session cookie
//!   would be sent and a click in a frame would act), and scripts, styles and
//!   connections come from this origin only. The pages have no inline script, style or
//!   handler, so no `unsafe-inline` and no hashes are needed; a script or style injected
//!   into a page would not run.
//! - `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.
//! - `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (the sign-in URL
//!   carries the token; no page should pass its address on).

use axum::http::HeaderValue;
use axum::http::header::{self, HeaderName};
use axum::response::Response;

pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    res
}

/// The address a page may link to for a ticket's tracker URL: `http` and `https`
/// only. A local ticket file can say `url: javascript:…`, which as a link would run in
/// the dashboard's origin with the operator's session. Browsers ignore leading and
/// trailing blanks and tabs or newlines inside a URL, so any of those disqualifies it.
pub(crate) fn tracker_link(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once(':')?;
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let clean = !url.chars().any(|c| c.is_control() || c.is_whitespace());
    (web && clean && rest.starts_with("//") && rest.len() > 2).then_some(url)
}

/// A URL shown as text beside the ticket (not a link): the local tracker's `file://`
/// address of the ticket file.
pub(crate) fn tracker_file(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    scheme.eq_ignore_ascii_case("file").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_links() {
        assert_eq!(
            tracker_link("https://x.example/1"),
            Some("https://x.example/1")
        );
        assert_eq!(
            tracker_link("HTTP://x.example/1"),
            Some("HTTP://x.example/1")
        );
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "https://x.example/\nx",
            " https://x.example/1",
            "data:text/html,hi",
            "file:///t/QS-1.md",
            "https:x",
            "https://",
            "//evil.example/",
            "no scheme",
        ] {
            assert_eq!(tracker_link(bad), None, "{bad:?}");
        }
        assert_eq!(tracker_file("file:///t/QS-1.md"), Some("file:///t/QS-1.md"));
        assert_eq!(tracker_file("javascript:x"), None);
    }
}
