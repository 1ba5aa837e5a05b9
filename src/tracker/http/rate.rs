//! The one rate-limit state of a tracker client, fed by every response's headers.
//!
//! Linear meters two budgets per key, requests and query complexity, reported as
//! `x-ratelimit-{requests,complexity}-{limit,remaining,reset}` (reset in epoch
//! milliseconds). GitHub reports its primary limit as `x-ratelimit-{limit,remaining,reset}`
//! (reset in epoch seconds); its secondary limits only say `retry-after`, or nothing
//! ("wait at least a minute"). When a limit is hit, the state holds a pause: every call
//! of that tracker waits for it (when short) or is refused locally without a request
//! (when long), so a limited key is not hammered and recovers at the reset.
//!
//! A pause is kept twice: as a wall-clock time (what status output and errors report)
//! and as a `tokio::time::Instant` (what calls wait on), so the waits follow tokio's
//! clock and are testable on a paused one.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::tracker::RateBudget;

/// Which tracker's headers to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dialect {
    /// `x-ratelimit-{requests,complexity}-*`, reset in epoch milliseconds.
    Linear,
    /// `x-ratelimit-*` (primary limit), reset in epoch seconds.
    Github,
}

/// One metered dimension as last reported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Meter {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset: Option<DateTime<Utc>>,
}

impl Meter {
    fn read(headers: &HeaderMap, prefix: &str) -> Meter {
        let num = |suffix: &str| {
            headers
                .get(format!("{prefix}{suffix}"))
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

/// An epoch time in seconds or milliseconds (told apart by size).
fn epoch_to_time(value: u64) -> Option<DateTime<Utc>> {
    let millis = if value < 100_000_000_000 {
        value.checked_mul(1000)?
    } else {
        value
    };
    Utc.timestamp_millis_opt(i64::try_from(millis).ok()?)
        .single()
}

/// `retry-after`: delay seconds, or an HTTP date (never earlier than `now`).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(now + chrono::Duration::seconds(i64::try_from(secs).ok()?));
    }
    let when = DateTime::parse_from_rfc2822(raw)
        .ok()
        .map(|d| d.with_timezone(&Utc))?;
    Some(when.max(now))
}

/// An active pause: until when (wall clock) and the instant calls wait for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pause {
    pub until: DateTime<Utc>,
    pub deadline: Instant,
}

/// The client's view of its budget: the last headers seen and any active pause.
#[derive(Debug, Clone)]
pub struct RateState {
    dialect: Dialect,
    /// Linear: requests, complexity. GitHub: the primary limit.
    meters: [Meter; 2],
    pause: Option<Pause>,
}

impl RateState {
    pub fn new(dialect: Dialect) -> RateState {
        RateState {
            dialect,
            meters: [Meter::default(); 2],
            pause: None,
        }
    }

    /// Records the budget reported by a response.
    pub fn observe(&mut self, headers: &HeaderMap) {
        let prefixes: &[&str] = match self.dialect {
            Dialect::Linear => &["x-ratelimit-requests-", "x-ratelimit-complexity-"],
            Dialect::Github => &["x-ratelimit-"],
        };
        for (slot, prefix) in prefixes.iter().enumerate() {
            let meter = Meter::read(headers, prefix);
            if meter.is_reported() {
                self.meters[slot] = meter;
            }
        }
    }

    /// Records a budget reported in a response body (GitHub's GraphQL `rateLimit`).
    pub fn set_primary(&mut self, meter: Meter) {
        let slot = &mut self.meters[0];
        slot.remaining = meter.remaining.or(slot.remaining);
        slot.limit = meter.limit.or(slot.limit);
        slot.reset = meter.reset.or(slot.reset);
    }

    /// The active pause, if calls must not go out at `now`.
    pub fn paused(&self, now: Instant) -> Option<Pause> {
        self.pause.filter(|p| p.deadline > now)
    }

    /// Starts a pause after a rate-limit answer and returns it: `retry-after` when
    /// given, else the reset of an exhausted budget, else `fallback` from now.
    pub fn pause(
        &mut self,
        headers: &HeaderMap,
        now: DateTime<Utc>,
        clock: Instant,
        fallback: Duration,
    ) -> Pause {
        self.observe(headers);
        let exhausted_reset = self
            .meters
            .iter()
            .filter(|m| m.remaining == Some(0))
            .filter_map(|m| m.reset)
            .max();
        let until = retry_after(headers, now)
            .or(exhausted_reset.filter(|r| *r > now))
            .unwrap_or_else(|| {
                now + chrono::Duration::from_std(fallback).unwrap_or(chrono::Duration::seconds(60))
            });
        let pause = Pause {
            until,
            deadline: clock + (until - now).to_std().unwrap_or_default(),
        };
        // A pause never shortens one already running.
        let pause = match self.paused(clock) {
            Some(old) if old.deadline > pause.deadline => old,
            _ => pause,
        };
        self.pause = Some(pause);
        pause
    }

    /// The budget shown in status output: the scarcer dimension.
    pub fn budget(&self, clock: Instant) -> Option<RateBudget> {
        let paused_until = self.paused(clock).map(|p| p.until);
        let reported: Vec<&Meter> = self.meters.iter().filter(|m| m.is_reported()).collect();
        let meter = reported.iter().copied().min_by(|a, b| {
            a.share_left()
                .partial_cmp(&b.share_left())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let meter = match meter {
            Some(m) => *m,
            None if paused_until.is_some() => Meter::default(),
            None => return None,
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
        match self.dialect {
            Dialect::Linear => format!(
                "requests {} complexity {}",
                show(&self.meters[0]),
                show(&self.meters[1])
            ),
            Dialect::Github => format!("primary {}", show(&self.meters[0])),
        }
    }

    /// Whether any budget is below a tenth of its limit.
    pub fn is_low(&self) -> bool {
        self.meters.iter().any(|m| m.share_left() < 0.1)
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
    fn linear_reads_both_dimensions_and_reports_the_scarcer() {
        let mut s = RateState::new(Dialect::Linear);
        s.observe(&headers(&[
            ("x-ratelimit-requests-limit", "1500"),
            ("x-ratelimit-requests-remaining", "1400"),
            ("x-ratelimit-requests-reset", "1700000060000"),
            ("x-ratelimit-complexity-limit", "250000"),
            ("x-ratelimit-complexity-remaining", "1000"),
            ("x-ratelimit-complexity-reset", "1700000120000"),
        ]));
        let b = s.budget(Instant::now()).unwrap();
        assert_eq!(b.remaining, Some(1000));
        assert_eq!(b.limit, Some(250_000));
        assert_eq!(b.resets_at, Some(at(1_700_000_120)));
        assert_eq!(b.paused_until, None);
        assert!(s.is_low());
        assert_eq!(s.summary(), "requests 1400/1500 complexity 1000/250000");
    }

    #[test]
    fn github_reads_the_primary_limit_in_seconds() {
        let mut s = RateState::new(Dialect::Github);
        s.observe(&headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "4990"),
            ("x-ratelimit-reset", "1700000300"),
            ("x-ratelimit-requests-remaining", "1"),
        ]));
        let b = s.budget(Instant::now()).unwrap();
        assert_eq!(
            (b.remaining, b.limit, b.resets_at),
            (Some(4990), Some(5000), Some(at(1_700_000_300)))
        );
        assert!(!s.is_low());
        assert_eq!(s.summary(), "primary 4990/5000");
    }

    #[test]
    fn no_headers_no_budget() {
        assert_eq!(RateState::new(Dialect::Linear).budget(Instant::now()), None);
        assert_eq!(RateState::new(Dialect::Github).budget(Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_wins_then_exhausted_reset_then_fallback() {
        let now = at(1_700_000_000);
        let clock = Instant::now();
        let mut s = RateState::new(Dialect::Linear);
        let p = s.pause(
            &headers(&[
                ("retry-after", "7"),
                ("x-ratelimit-requests-remaining", "0"),
                ("x-ratelimit-requests-reset", "1700000030000"),
            ]),
            now,
            clock,
            Duration::from_secs(60),
        );
        assert_eq!(p.until, at(1_700_000_007));
        assert_eq!(p.deadline, clock + Duration::from_secs(7));
        assert_eq!(s.paused(clock), Some(p));
        assert_eq!(s.paused(clock + Duration::from_secs(7)), None);

        let mut s = RateState::new(Dialect::Github);
        let p = s.pause(
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000030"),
            ]),
            now,
            clock,
            Duration::from_secs(60),
        );
        assert_eq!(p.until, at(1_700_000_030));
        assert_eq!(s.budget(clock).unwrap().paused_until, Some(p.until));
        assert_eq!(s.budget(clock).unwrap().remaining, Some(0));

        let mut s = RateState::new(Dialect::Github);
        let p = s.pause(&HeaderMap::new(), now, clock, Duration::from_secs(60));
        assert_eq!(p.until, at(1_700_000_060));
        assert_eq!(s.budget(clock).unwrap().paused_until, Some(p.until));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_pause_never_cuts_a_longer_one() {
        let now = at(1_700_000_000);
        let clock = Instant::now();
        let mut s = RateState::new(Dialect::Github);
        let long = s.pause(
            &headers(&[("retry-after", "120")]),
            now,
            clock,
            Duration::ZERO,
        );
        let short = s.pause(
            &headers(&[("retry-after", "1")]),
            now,
            clock,
            Duration::ZERO,
        );
        assert_eq!(short, long);
    }

    #[test]
    fn retry_after_as_http_date_or_seconds() {
        let now = at(1_700_000_000);
        let h = headers(&[("retry-after", "Tue, 14 Nov 2023 22:13:40 GMT")]);
        assert_eq!(retry_after(&h, now), Some(at(1_700_000_020)));
        // A date in the past means "now", never a negative wait.
        let h = headers(&[("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT")]);
        assert_eq!(retry_after(&h, now), Some(now));
        let h = headers(&[("retry-after", " 30 ")]);
        assert_eq!(retry_after(&h, now), Some(at(1_700_000_030)));
        let h = headers(&[("retry-after", "soon")]);
        assert_eq!(retry_after(&h, now), None);
    }
}
