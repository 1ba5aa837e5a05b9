//! "Did you mean …?" hints for misspelled keys, state names and runner names, so a typo
//! in `workflow.yaml` is fixed from the error message alone.

/// The candidate closest to `word`, if one is close enough to be a plausible typo.
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &'a str)> = None;
    for cand in candidates {
        let score = strsim::jaro_winkler(&word.to_lowercase(), &cand.to_lowercase());
        let edits = strsim::damerau_levenshtein(word, cand);
        let close = score >= 0.8 || edits <= 2.min(cand.len().saturating_sub(1));
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean `x`?"` or the empty string.
pub(crate) fn hint<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["prompt", "runner", "next", "session"];
        assert_eq!(closest("promt", keys), Some("prompt"));
        assert_eq!(closest("runer", keys), Some("runner"));
        assert_eq!(closest("nxet", keys), Some("next"));
        assert_eq!(closest("banana", keys), None);
        assert_eq!(hint("sesion", keys), "; did you mean `session`?");
        assert_eq!(hint("zzz", keys), "");
    }
}
