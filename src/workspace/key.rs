//! Turning a ticket identifier into a directory name (the workspace, the run logs).
//!
//! Identifiers come from trackers (`ENG-42`, `owner/repo#7`, `tickets/fix login.md`) and
//! must become one safe path component under the workspace root: no separators, no
//! `..`, no hidden names, at most [`MAX_KEY_BYTES`] bytes (a file name may have 255, and
//! karajan derives longer names from the key, such as the clone's temporary directory).
//!
//! # The encoding, and why two tickets never share a key
//!
//! An identifier that is already *plain* is its own key. Plain means: only
//! `[A-Za-z0-9._-]`, not starting with `.`, not empty, at most [`MAX_KEY_BYTES`] bytes,
//! and not ending in `-` followed by 16 lowercase hex digits. Every other identifier is
//! *hashed*: its characters outside `[A-Za-z0-9._-]` become `_`, a leading `.` becomes
//! `_`, the result is cut to leave room, and `-` plus 16 hex digits (the first 8 bytes of
//! SHA-256 of the identifier) are appended.
//!
//! The mapping is injective (up to a 64-bit SHA-256 collision): a plain key never ends in
//! `-<16 hex>` and a hashed key always does, so no plain identifier can take a hashed
//! identifier's key (`x_y-bd3c9047d6816c31`, the key of `x/y`, is itself hashed); two
//! plain identifiers have distinct keys because each is its own key; two hashed ones
//! differ in their hash. SHA-256 is fixed by its standard, so keys are stable across Rust
//! releases and platforms (std's `DefaultHasher` is not).
//!
//! Compatibility: before this encoding, a clean identifier that ended in `-<16 hex>` or
//! was longer than [`MAX_KEY_BYTES`] was its own key. Such a ticket now gets a new key: a
//! new workspace is cloned, and the old directory (and its logs folder) are left in
//! place for a human to remove. Every other key is unchanged.

use sha2::{Digest, Sha256};

/// The longest key, in bytes. Leaves room under the 255-byte file name limit for the
/// names karajan derives from a key (`.clone-<key>-<16 hex>`).
pub const MAX_KEY_BYTES: usize = 200;

/// `-` and 16 hex digits.
const SUFFIX_BYTES: usize = 17;

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Whether `s` ends in `-` followed by 16 lowercase hex digits (the hashed form).
fn has_hash_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= SUFFIX_BYTES
        && b[b.len() - SUFFIX_BYTES] == b'-'
        && b[b.len() - 16..]
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_BYTES
        && !id.starts_with('.')
        && id.chars().all(is_safe)
        && !has_hash_suffix(id)
}

/// `-` and the first 8 bytes of SHA-256 of `text`, in hex.
pub(crate) fn hash_suffix(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!("-{}", hex::encode(&digest[..8]))
}

/// The directory name of the workspace for `identifier`.
pub fn sanitize_key(identifier: &str) -> String {
    if is_plain(identifier) {
        return identifier.to_string();
    }
    let mut key: String = identifier
        .chars()
        .map(|c| if is_safe(c) { c } else { '_' })
        .take(MAX_KEY_BYTES - SUFFIX_BYTES)
        .collect();
    if key.starts_with('.') {
        key.replace_range(0..1, "_");
    }
    if key.is_empty() {
        key.push('_');
    }
    key.push_str(&hash_suffix(identifier));
    key
}

#[cfg(test)]
mod tests {
    use super::{MAX_KEY_BYTES, sanitize_key};
    use proptest::prelude::*;

    #[test]
    fn clean_identifiers_are_kept() {
        assert_eq!(sanitize_key("ENG-42"), "ENG-42");
        assert_eq!(sanitize_key("fix_login.md"), "fix_login.md");
        // Hex-looking, but not the hashed form: kept.
        assert_eq!(sanitize_key("build-cafe"), "build-cafe");
        assert_eq!(sanitize_key("x-0123456789ABCDEF"), "x-0123456789ABCDEF");
    }

    #[test]
    fn unsafe_characters_are_replaced_and_hashed() {
        let k = sanitize_key("owner/repo#7");
        assert!(k.starts_with("owner_repo_7-"), "{k}");
        assert_eq!(k.len(), "owner_repo_7-".len() + 16);
        // Stable: the first 8 bytes of SHA-256("owner/repo#7").
        assert_eq!(k, sanitize_key("owner/repo#7"));
        assert_eq!(k, "owner_repo_7-56c2db445b419892");
    }

    #[test]
    fn lookalikes_get_different_keys() {
        let a = sanitize_key("a/b");
        let b = sanitize_key("a:b");
        assert!(a.starts_with("a_b-") && b.starts_with("a_b-"));
        assert_ne!(a, b);
        assert_ne!(sanitize_key("a_b"), a);
    }

    #[test]
    fn a_clean_id_that_looks_like_a_hashed_key_gets_its_own() {
        let hashed = sanitize_key("x/y");
        assert_eq!(hashed, "x_y-bd3c9047d6816c31");
        let lookalike = sanitize_key(&hashed);
        assert_ne!(
            lookalike, hashed,
            "`x/y` and `{hashed}` must not share a workspace"
        );
        assert!(
            lookalike.starts_with("x_y-bd3c9047d6816c31-"),
            "{lookalike}"
        );
    }

    #[test]
    fn long_identifiers_are_bounded_and_stay_distinct() {
        let a = "a".repeat(240);
        let b = format!("{}b", "a".repeat(239));
        let (ka, kb) = (sanitize_key(&a), sanitize_key(&b));
        assert!(ka.len() <= MAX_KEY_BYTES && kb.len() <= MAX_KEY_BYTES);
        assert_ne!(ka, kb);
        let wide = "é".repeat(300);
        assert!(sanitize_key(&wide).len() <= MAX_KEY_BYTES);
        let exact = "z".repeat(MAX_KEY_BYTES);
        assert_eq!(sanitize_key(&exact), exact);
    }

    #[test]
    fn dot_names_are_neutralized() {
        for id in [".", "..", ".hidden", ""] {
            let k = sanitize_key(id);
            assert!(!k.starts_with('.'), "{id:?} -> {k}");
            assert!(!k.is_empty());
            assert_ne!(k, ".");
            assert_ne!(k, "..");
        }
        assert_ne!(sanitize_key("."), sanitize_key(".."));
    }

    /// Identifiers built to collide: plain ones, unsafe ones, and keys of others.
    fn identifier() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_./:-]{0,6}",
            "[a-z]{1,3}[/:_ ][a-z]{1,3}",
            "[a-f0-9_-]{0,20}",
            ".{0,40}",
            "[a-z]{190,210}",
        ]
    }

    proptest! {
        #[test]
        fn keys_are_single_safe_bounded_components(id in ".{0,300}") {
            let k = sanitize_key(&id);
            prop_assert!(!k.is_empty());
            prop_assert!(!k.starts_with('.'));
            prop_assert!(k.len() <= MAX_KEY_BYTES);
            prop_assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        }

        /// Injective: distinct identifiers (including one that is the key of the
        /// other, or of a transformed other) never share a key.
        #[test]
        fn distinct_identifiers_never_share_a_key(a in identifier(), b in identifier()) {
            for (x, y) in [(a.clone(), b.clone()), (a.clone(), sanitize_key(&b)), (sanitize_key(&a), b.clone())] {
                if x != y {
                    prop_assert_ne!(sanitize_key(&x), sanitize_key(&y), "{:?} vs {:?}", x, y);
                }
            }
        }
    }
}
