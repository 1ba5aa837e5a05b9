//! The price table behind the cost of runs whose CLI does not report one (Codex,
//! Gemini, and a Claude run stopped before its final result).
//!
//! Prices are the vendors' published list prices in USD per million tokens, dated
//! [`PRICES_AS_OF`]. Models are matched by vendor, line (Opus, Sonnet, Haiku; GPT-5,
//! GPT-5 mini and nano; Gemini Pro, Flash, Flash-Lite) and version, never by a loose
//! substring, so a new model never silently takes an old model's row
//! (`claude-opus-4-8` is an Opus 4.5-or-later model, not an "opus").
//!
//! A model the table does not know is never priced silently:
//! - a new version of a known line (`claude-opus-5`, `gpt-5.2`) is priced like the
//!   newest row of its line and the cost is marked [`CostBasis::Estimated`];
//! - a run whose model is not named at all (Codex does not say which model it used,
//!   and no `model` is configured) is estimated at the runner kind's default row;
//! - a model of no known line (`o3`, `my-local-llama`) has no price: the cost is
//!   [`CostBasis::Unknown`].
//!
//! Each of these logs a WARN once per model and process. The runner's `price` override
//! (`runners.<name>.price`) prices every model of that runner ([`CostBasis::Override`]).
//!
//! Output prices include thinking tokens: every vendor bills thinking as output, and
//! the stream parsers count it there. Gemini Pro prices are those of prompts up to
//! 200k tokens (longer prompts cost more, which the aggregated stats cannot tell).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::config::RunnerKind;
use crate::domain::TokenUsage;
use crate::domain::run::CostBasis;

/// The date the prices below were checked against the vendors' published prices.
pub const PRICES_AS_OF: &str = "2026-12-03";

/// USD per million tokens (declared in `config`, where a runner's `price` override lives).
pub use crate::config::Price;

impl Price {
    /// The cost of `tokens` at this price.
    pub fn cost(&self, tokens: &TokenUsage) -> f64 {
        let m = |n: u64, p: f64| n as f64 * p / 1_000_000.0;
        m(tokens.input, self.input)
            + m(tokens.output, self.output)
            + m(tokens.cache_read, self.cache_read)
            + m(tokens.cache_write, self.cache_write)
    }
}

const fn p(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
    Price {
        input,
        output,
        cache_read,
        cache_write,
    }
}

/// A model line: the vendor's product line whose versions share a price pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Opus,
    Sonnet,
    Haiku,
    Gpt,
    GptMini,
    GptNano,
    GeminiPro,
    GeminiFlash,
    GeminiFlashLite,
}

/// A version as (major, minor): `4-5` and `4.5` are `(4, 5)`, `4` is `(4, 0)`.
pub type Version = (u32, u32);

/// One row: a line, an inclusive version range, and its price.
#[derive(Debug, Clone, Copy)]
pub struct PriceRow {
    pub line: Line,
    pub from: Version,
    pub to: Version,
    /// How the row is named in messages.
    pub name: &'static str,
    pub price: Price,
}

const fn row(line: Line, from: Version, to: Version, name: &'static str, price: Price) -> PriceRow {
    PriceRow {
        line,
        from,
        to,
        name,
        price,
    }
}

const ANY_MINOR: u32 = u32::MAX;

/// The table, dated [`PRICES_AS_OF`]. For each line, the LAST row is its newest (the
/// one a newer, unknown version is estimated with).
pub const PRICES: &[PriceRow] = &[
    row(
        Line::Opus,
        (4, 0),
        (4, 1),
        "Claude Opus 4/4.1",
        p(15.0, 75.0, 1.5, 18.75),
    ),
    row(
        Line::Opus,
        (4, 5),
        (4, ANY_MINOR),
        "Claude Opus 4.5+",
        p(5.0, 25.0, 0.5, 6.25),
    ),
    row(
        Line::Sonnet,
        (4, 0),
        (4, ANY_MINOR),
        "Claude Sonnet 4.x",
        p(3.0, 15.0, 0.3, 3.75),
    ),
    row(
        Line::Haiku,
        (3, 5),
        (3, 5),
        "Claude Haiku 3.5",
        p(0.8, 4.0, 0.08, 1.0),
    ),
    row(
        Line::Haiku,
        (4, 5),
        (4, 5),
        "Claude Haiku 4.5",
        p(1.0, 5.0, 0.1, 1.25),
    ),
    row(
        Line::Gpt,
        (5, 0),
        (5, 1),
        "GPT-5/5.1",
        p(1.25, 10.0, 0.125, 0.0),
    ),
    row(
        Line::GptMini,
        (5, 0),
        (5, 0),
        "GPT-5 mini",
        p(0.25, 2.0, 0.025, 0.0),
    ),
    row(
        Line::GptNano,
        (5, 0),
        (5, 0),
        "GPT-5 nano",
        p(0.05, 0.4, 0.005, 0.0),
    ),
    row(
        Line::GeminiPro,
        (2, 5),
        (2, 5),
        "Gemini 2.5 Pro",
        p(1.25, 10.0, 0.31, 0.0),
    ),
    row(
        Line::GeminiPro,
        (3, 0),
        (3, 0),
        "Gemini 3 Pro",
        p(2.0, 12.0, 0.2, 0.0),
    ),
    row(
        Line::GeminiFlash,
        (2, 5),
        (2, 5),
        "Gemini 2.5 Flash",
        p(0.3, 2.5, 0.075, 0.0),
    ),
    row(
        Line::GeminiFlashLite,
        (2, 5),
        (2, 5),
        "Gemini 2.5 Flash-Lite",
        p(0.1, 0.4, 0.025, 0.0),
    ),
];

/// The line and version a model name denotes, if it belongs to a known line. The
/// version is `None` for an alias without one (`opus`, `sonnet`).
pub fn parse(model: &str) -> Option<(Line, Option<Version>)> {
    let m = model.to_ascii_lowercase();
    // `claude-opus-4-8[1m]`: the bracket names a context window, not the model.
    let m = m.split('[').next().unwrap_or("");
    // Provider prefixes: `anthropic/…`, `us.anthropic.claude-…`, `models/gemini-…`.
    let m = m.rsplit('/').next().unwrap_or("");
    if let Some(at) = m.find("claude").or_else(|| {
        ["opus", "sonnet", "haiku"]
            .iter()
            .any(|w| m.starts_with(w))
            .then_some(0)
    }) {
        return claude(&m[at..]);
    }
    if let Some(at) = m.find("gpt-") {
        return gpt(&m[at + 4..]);
    }
    if let Some(at) = m.find("gemini-") {
        return gemini(&m[at + 7..]);
    }
    None
}

/// `claude-opus-4-5-20251101`, `claude-3-5-haiku-20241022`, `opus`.
fn claude(m: &str) -> Option<(Line, Option<Version>)> {
    let parts: Vec<&str> = m.split(['-', '.', '@', ':']).collect();
    let line = parts.iter().find_map(|p| match *p {
        "opus" => Some(Line::Opus),
        "sonnet" => Some(Line::Sonnet),
        "haiku" => Some(Line::Haiku),
        _ => None,
    })?;
    // Version numbers are short; dates (8 digits) and suffixes (`v1`) are not.
    let nums: Vec<u32> = parts
        .iter()
        .filter(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|p| p.parse().ok())
        .collect();
    let version = nums
        .first()
        .map(|major| (*major, nums.get(1).copied().unwrap_or(0)));
    Some((line, version))
}

/// After `gpt-`: `5`, `5-codex`, `5.1-codex-mini`, `5-nano`.
fn gpt(m: &str) -> Option<(Line, Option<Version>)> {
    let mut parts = m.split('-');
    let version = dotted(parts.next()?)?;
    let rest: Vec<&str> = parts.collect();
    let line = if rest.contains(&"mini") {
        Line::GptMini
    } else if rest.contains(&"nano") {
        Line::GptNano
    } else if rest
        .iter()
        .all(|p| ["codex", "max", "chat", "latest"].contains(p) || is_date(p))
    {
        Line::Gpt
    } else {
        // `gpt-5-pro` and other lines priced differently.
        return None;
    };
    Some((line, Some(version)))
}

/// After `gemini-`: `2.5-pro`, `2.5-flash-lite`, `3-pro-preview`.
fn gemini(m: &str) -> Option<(Line, Option<Version>)> {
    let (v, rest) = m.split_once('-')?;
    let version = dotted(v)?;
    let line = if rest.starts_with("flash-lite") {
        Line::GeminiFlashLite
    } else if rest.starts_with("flash") {
        Line::GeminiFlash
    } else if rest.starts_with("pro") {
        Line::GeminiPro
    } else {
        return None;
    };
    Some((line, Some(version)))
}

/// `5` → (5, 0), `2.5` → (2, 5).
fn dotted(s: &str) -> Option<Version> {
    let (a, b) = s.split_once('.').unwrap_or((s, "0"));
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn is_date(p: &str) -> bool {
    p.len() >= 4 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The row for a line and version: exact, or the newest of the line (estimated).
fn row_for(line: Line, version: Option<Version>) -> (PriceRow, bool) {
    let mut rows = PRICES.iter().filter(|r| r.line == line);
    if let Some(v) = version {
        if let Some(r) = rows.clone().find(|r| r.from <= v && v <= r.to) {
            return (*r, true);
        }
    }
    // Every line has at least one row.
    let newest = rows.next_back().copied().unwrap_or(PRICES[0]);
    (newest, false)
}

/// The model a runner kind falls back to when no model is named.
fn kind_default(kind: RunnerKind) -> Option<Line> {
    match kind {
        RunnerKind::Claude => Some(Line::Sonnet),
        RunnerKind::Codex => Some(Line::Gpt),
        RunnerKind::Gemini => Some(Line::GeminiPro),
        RunnerKind::Command => None,
    }
}

/// The price of one model and how sure it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub price: Option<Price>,
    pub basis: CostBasis,
}

/// The price of `model` on a runner of `kind`: the override when set, else the table
/// (exact, estimated or unknown; see the module doc). Logs a WARN once per model the
/// table does not know.
pub fn quote(kind: RunnerKind, model: Option<&str>, over: Option<&Price>) -> Quote {
    if let Some(p) = over {
        return Quote {
            price: Some(*p),
            basis: CostBasis::Override,
        };
    }
    let parsed = match model {
        Some(m) => parse(m),
        None => kind_default(kind).map(|l| (l, None)),
    };
    let Some((line, version)) = parsed else {
        warn_once(kind, model, None);
        return Quote {
            price: None,
            basis: CostBasis::Unknown,
        };
    };
    let (row, exact) = row_for(line, version);
    if !exact || model.is_none() {
        warn_once(kind, model, Some(row.name));
        return Quote {
            price: Some(row.price),
            basis: CostBasis::Estimated,
        };
    }
    Quote {
        price: Some(row.price),
        basis: CostBasis::Priced,
    }
}

/// The price of `model`, however sure (for callers that only need a figure).
pub fn price_for(kind: RunnerKind, model: Option<&str>, over: Option<&Price>) -> Option<Price> {
    quote(kind, model, over).price
}

fn warn_once(kind: RunnerKind, model: Option<&str>, like: Option<&str>) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let key = format!("{}/{}", kind.as_str(), model.unwrap_or(""));
    let first = SEEN
        .get_or_init(Default::default)
        .lock()
        .map(|mut seen| seen.insert(key))
        .unwrap_or(true);
    if !first {
        return;
    }
    match (model, like) {
        (Some(m), Some(like)) => tracing::warn!(
            runner = kind.as_str(),
            model = m,
            "model `{m}` is not in the price table of {PRICES_AS_OF}; its cost is ESTIMATED at {like} prices (set `price` on the runner for exact figures)"
        ),
        (None, Some(like)) => tracing::warn!(
            runner = kind.as_str(),
            "no model is named for this {} runner; its cost is ESTIMATED at {like} prices (set `model` or `price` on the runner)",
            kind.as_str()
        ),
        (m, None) => tracing::warn!(
            runner = kind.as_str(),
            model = m.unwrap_or(""),
            "model `{}` is not in the price table of {PRICES_AS_OF}; its cost is UNKNOWN (set `price` on the runner)",
            m.unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(kind: RunnerKind, m: &str) -> (CostBasis, Option<f64>) {
        let q = quote(kind, Some(m), None);
        (q.basis, q.price.map(|p| p.input))
    }

    #[test]
    fn opus_4_8_is_priced_as_current_opus_not_the_old_row() {
        let q = quote(RunnerKind::Claude, Some("claude-opus-4-8[1m]"), None);
        assert_eq!(q.basis, CostBasis::Priced);
        assert_eq!(q.price, Some(p(5.0, 25.0, 0.5, 6.25)));
        // The real sample: 5486 in, 147 out cost $0.031105 by Claude Code's own figure.
        let t = TokenUsage {
            input: 5486,
            output: 147,
            ..Default::default()
        };
        assert!((q.price.expect("price").cost(&t) - 0.031105).abs() < 1e-9);
    }

    #[test]
    fn families_and_versions() {
        use CostBasis::*;
        let c = RunnerKind::Claude;
        assert_eq!(basis(c, "claude-opus-4-5-20251101"), (Priced, Some(5.0)));
        assert_eq!(basis(c, "claude-opus-4-6"), (Priced, Some(5.0)));
        assert_eq!(basis(c, "claude-opus-4-1-20250805"), (Priced, Some(15.0)));
        assert_eq!(basis(c, "claude-opus-4-20250514"), (Priced, Some(15.0)));
        assert_eq!(
            basis(c, "us.anthropic.claude-opus-4-7-v1:0"),
            (Priced, Some(5.0))
        );
        assert_eq!(basis(c, "claude-sonnet-4-5-20250929"), (Priced, Some(3.0)));
        assert_eq!(basis(c, "claude-sonnet-4-20250514"), (Priced, Some(3.0)));
        assert_eq!(basis(c, "claude-haiku-4-5"), (Priced, Some(1.0)));
        assert_eq!(basis(c, "claude-3-5-haiku-20241022"), (Priced, Some(0.8)));
        let x = RunnerKind::Codex;
        assert_eq!(basis(x, "gpt-5"), (Priced, Some(1.25)));
        assert_eq!(basis(x, "gpt-5-codex"), (Priced, Some(1.25)));
        assert_eq!(basis(x, "gpt-5.1-codex"), (Priced, Some(1.25)));
        assert_eq!(basis(x, "gpt-5.1"), (Priced, Some(1.25)));
        assert_eq!(basis(x, "gpt-5-mini"), (Priced, Some(0.25)));
        assert_eq!(basis(x, "gpt-5-nano"), (Priced, Some(0.05)));
        let g = RunnerKind::Gemini;
        assert_eq!(basis(g, "gemini-2.5-pro"), (Priced, Some(1.25)));
        assert_eq!(basis(g, "gemini-2.5-flash"), (Priced, Some(0.3)));
        assert_eq!(basis(g, "Gemini-2.5-Flash-Lite"), (Priced, Some(0.1)));
        assert_eq!(basis(g, "gemini-3-pro-preview"), (Priced, Some(2.0)));
    }

    #[test]
    fn unknown_models_are_estimated_or_unknown_never_silently_priced() {
        use CostBasis::*;
        // A newer version of a known line: the line's newest row, marked estimated.
        assert_eq!(
            basis(RunnerKind::Claude, "claude-opus-5"),
            (Estimated, Some(5.0))
        );
        assert_eq!(
            basis(RunnerKind::Claude, "claude-haiku-4-6"),
            (Estimated, Some(1.0))
        );
        assert_eq!(basis(RunnerKind::Claude, "opus"), (Estimated, Some(5.0)));
        assert_eq!(
            basis(RunnerKind::Codex, "gpt-5.2-codex"),
            (Estimated, Some(1.25))
        );
        assert_eq!(
            basis(RunnerKind::Gemini, "gemini-3.8-flash"),
            (Estimated, Some(0.3))
        );
        // No line at all: no price.
        assert_eq!(basis(RunnerKind::Codex, "o3"), (Unknown, None));
        assert_eq!(basis(RunnerKind::Codex, "gpt-5-pro"), (Unknown, None));
        assert_eq!(basis(RunnerKind::Gemini, "my-local-llama"), (Unknown, None));
        // No model named: the kind's default row, estimated.
        let q = quote(RunnerKind::Codex, None, None);
        assert_eq!(
            (q.basis, q.price.map(|p| p.output)),
            (Estimated, Some(10.0))
        );
        assert_eq!(quote(RunnerKind::Command, None, None).price, None);
    }

    #[test]
    fn the_override_prices_everything() {
        let over = p(1.0, 2.0, 3.0, 4.0);
        for m in [Some("gpt-5"), Some("o3"), None] {
            let q = quote(RunnerKind::Codex, m, Some(&over));
            assert_eq!((q.price, q.basis), (Some(over), CostBasis::Override));
        }
    }

    #[test]
    fn every_line_has_a_row_and_rows_do_not_overlap() {
        for line in [
            Line::Opus,
            Line::Sonnet,
            Line::Haiku,
            Line::Gpt,
            Line::GptMini,
            Line::GptNano,
            Line::GeminiPro,
            Line::GeminiFlash,
            Line::GeminiFlashLite,
        ] {
            let rows: Vec<_> = PRICES.iter().filter(|r| r.line == line).collect();
            assert!(!rows.is_empty(), "{line:?}");
            for w in rows.windows(2) {
                assert!(
                    w[0].to < w[1].from,
                    "{line:?} rows overlap or are unordered"
                );
            }
        }
    }
}
