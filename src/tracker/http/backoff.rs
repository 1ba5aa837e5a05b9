//! Exponential backoff with jitter for the shared tracker HTTP layer.
//!
//! Retries of reads wait `base · 2^(n-1)`, capped at `max`, plus up to a quarter more
//! picked at random, so several tickets' calls that failed together do not retry in
//! lockstep against a tracker that is already struggling.

use std::time::Duration;

/// How often and how patiently a failed read is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failure.
    pub base: Duration,
    /// No single wait (before jitter) exceeds this.
    pub max: Duration,
}

impl Backoff {
    /// The deterministic part of the wait after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The wait after failed attempt `attempt`: the ceiling plus 0–25 % jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let capped = self.ceiling(attempt);
        capped + capped.mul_f64(rand::random::<f64>() * 0.25)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_bounded_jitter() {
        let b = Backoff {
            max_attempts: 8,
            base: Duration::from_millis(100),
            max: Duration::from_millis(700),
        };
        let ceilings: Vec<u128> = (1..=5).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 700, 700]);
        let mut jittered = std::collections::BTreeSet::new();
        for n in 1..=5 {
            for _ in 0..50 {
                let d = b.delay(n);
                assert!(d >= b.ceiling(n), "{d:?}");
                assert!(d <= b.ceiling(n).mul_f64(1.25), "{d:?}");
                jittered.insert(d);
            }
        }
        assert!(jittered.len() > 5, "jitter varies the waits");
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let b = Backoff {
            max_attempts: u32::MAX,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
        };
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(30));
        assert_eq!(b.ceiling(0), Duration::from_secs(1));
    }
}
