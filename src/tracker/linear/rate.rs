//! Linear's rate limits, read from response headers, and the pause they impose.
//!
//! Linear meters two budgets per key: requests and query complexity, each reported as
//! `x-ratelimit-{requests,complexity}-{limit,remaining,reset}` (reset in epoch
//! milliseconds). When either runs out it answers `RATELIMITED` (HTTP 400 with
//! `errors[].extensions.code`, or plain HTTP 429, possibly with `retry-after`). Then every
//! tracker call is refused locally until the reset, without a request: hammering a
//! limited key only delays its recovery. Running agents are not affected by a pause.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;

use crate::tracker::RateBudget;

/// One metered dimension as last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Meter {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<DateTime<Utc>>,
}

impl Meter {
    fn from_headers(headers: &HeaderMap, dimension: &str) -> Meter {
        let num = |suffix: &str| {
            headers
                .get(format!("x-ratelimit-{dimension}-{suffix}"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Meter {
            limit: num("limit"),
            remaining: num("remaining"),
            reset: num("reset").and_then(epoch_to_time),
        }
    }

    fn is_reported(&self) -> bool {
        self.limit.is_some() || self.remaining.is_some() || self.reset.is_some()
    }

    /// Remaining share of the budget, 1.0 when unknown.
    fn share_left(&self) -> f64 {
        match (self.remaining, self.limit) {
            (Some(r), Some(l)) if l > 0 => r as f64 / l as f64,
            (Some(0), _) => 0.0,
            _ => 1.0,
        }
    }
}

/// Linear documents reset as epoch milliseconds; accept seconds too, to be lenient.
fn epoch_to_time(value: u64) -> Option<DateTime<Utc>> {
    let millis = if value < 100_000_000_000 {
        value.checked_mul(1000)?
    } else {
        value
    };
    Utc.timestamp_millis_opt(i64::try_from(millis).ok()?)
        .single()
}

/// `retry-after`: delay seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(now + chrono::Duration::seconds(i64::try_from(secs).ok()?));
    }
    let when = httpdate_parse(raw)?;
    Some(when.max(now))
}

fn httpdate_parse(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(raw)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The adapter's view of its budget: the last headers seen and any active pause.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateState {
    pub requests: Meter,
    pub complexity: Meter,
    pub paused_until: Option<DateTime<Utc>>,
}

impl RateState {
    /// Records the budget reported by a response.
    pub fn observe(&mut self, headers: &HeaderMap) {
        let requests = Meter::from_headers(headers, "requests");
        if requests.is_reported() {
            self.requests = requests;
        }
        let complexity = Meter::from_headers(headers, "complexity");
        if complexity.is_reported() {
            self.complexity = complexity;
        }
    }

    /// The active pause, if calls must not go out at `now`.
    pub fn paused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.paused_until.filter(|until| *until > now)
    }

    /// Starts a pause after a `RATELIMITED` answer and returns its end: `retry-after`
    /// when given, else the reset of the exhausted budget, else `fallback` from now.
    pub fn pause(
        &mut self,
        headers: &HeaderMap,
        now: DateTime<Utc>,
        fallback: Duration,
    ) -> DateTime<Utc> {
        self.observe(headers);
        let exhausted_reset = [self.requests, self.complexity]
            .iter()
            .filter(|m| m.remaining == Some(0))
            .filter_map(|m| m.reset)
            .max();
        let until = retry_after(headers, now)
            .or(exhausted_reset.filter(|r| *r > now))
            .unwrap_or_else(|| {
                now + chrono::Duration::from_std(fallback).unwrap_or(chrono::Duration::seconds(60))
            });
        self.paused_until = Some(until);
        until
    }

    /// The budget shown in status output: the scarcer of the two dimensions.
    pub fn budget(&self, now: DateTime<Utc>) -> Option<RateBudget> {
        let paused_until = self.paused(now);
        let meter = match (self.requests.is_reported(), self.complexity.is_reported()) {
            (false, false) if paused_until.is_none() => return None,
            (true, true) if self.complexity.share_left() < self.requests.share_left() => {
                self.complexity
            }
            (false, true) => self.complexity,
            _ => self.requests,
        };
        Some(RateBudget {
            remaining: meter.remaining,
            limit: meter.limit,
            resets_at: meter.reset,
            paused_until,
        })
    }

    /// A one-line summary for logs.
    pub fn summary(&self) -> String {
        let show = |m: &Meter| match (m.remaining, m.limit) {
            (Some(r), Some(l)) => format!("{r}/{l}"),
            (Some(r), None) => format!("{r}"),
            _ => "?".to_string(),
        };
        format!(
            "requests {} complexity {}",
            show(&self.requests),
            show(&self.complexity)
        )
    }

    /// Whether either budget is below a tenth of its limit.
    pub fn is_low(&self) -> bool {
        self.requests.share_left() < 0.1 || self.complexity.share_left() < 0.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn reads_both_dimensions_and_reports_the_scarcer() {
        let mut s = RateState::default();
        s.observe(&headers(&[
            ("x-ratelimit-requests-limit", "1500"),
            ("x-ratelimit-requests-remaining", "1400"),
            ("x-ratelimit-requests-reset", "1700000060000"),
            ("x-ratelimit-complexity-limit", "250000"),
            ("x-ratelimit-complexity-remaining", "1000"),
            ("x-ratelimit-complexity-reset", "1700000120000"),
        ]));
        let b = s.budget(at(1_700_000_000)).unwrap();
        assert_eq!(b.remaining, Some(1000));
        assert_eq!(b.limit, Some(250_000));
        assert_eq!(b.resets_at, Some(at(1_700_000_120)));
        assert_eq!(b.paused_until, None);
        assert!(s.is_low());
        assert_eq!(s.summary(), "requests 1400/1500 complexity 1000/250000");
    }

    #[test]
    fn no_headers_no_budget() {
        assert_eq!(RateState::default().budget(at(0)), None);
    }

    #[test]
    fn retry_after_wins_then_exhausted_reset_then_fallback() {
        let now = at(1_700_000_000);
        let mut s = RateState::default();
        let until = s.pause(
            &headers(&[
                ("retry-after", "7"),
                ("x-ratelimit-requests-remaining", "0"),
                ("x-ratelimit-requests-reset", "1700000030000"),
            ]),
            now,
            Duration::from_secs(60),
        );
        assert_eq!(until, at(1_700_000_007));
        assert_eq!(s.paused(now), Some(until));
        assert_eq!(s.paused(at(1_700_000_008)), None);

        let mut s = RateState::default();
        let until = s.pause(
            &headers(&[
                ("x-ratelimit-requests-remaining", "0"),
                ("x-ratelimit-requests-reset", "1700000030000"),
            ]),
            now,
            Duration::from_secs(60),
        );
        assert_eq!(until, at(1_700_000_030));
        assert_eq!(s.budget(now).unwrap().paused_until, Some(until));

        let mut s = RateState::default();
        let until = s.pause(&HeaderMap::new(), now, Duration::from_secs(60));
        assert_eq!(until, at(1_700_000_060));
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = at(1_700_000_000);
        let h = headers(&[("retry-after", "Tue, 14 Nov 2023 22:13:40 GMT")]);
        assert_eq!(retry_after(&h, now), Some(at(1_700_000_020)));
    }
}
