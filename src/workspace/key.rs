//! Turning a ticket identifier into a directory name.
//!
//! Identifiers come from trackers (`ENG-42`, `owner/repo#7`, `tickets/fix login.md`) and
//! must become one safe path component under the workspace root: no separators, no
//! `..`, no hidden names. Characters outside `[A-Za-z0-9._-]` become `_`, and a leading
//! `.` becomes `_` (so `.` / `..` and hidden names are impossible). Because that mapping
//! is lossy (`a/b` and `a:b` both give `a_b`), whenever it changed anything a suffix of
//! 16 hex characters is appended: the first 8 bytes of SHA-256 of the original
//! identifier. SHA-256 is fixed by its standard, so keys are stable across Rust releases
//! and platforms (std's `DefaultHasher` is not).

use sha2::{Digest, Sha256};

/// The directory name of the workspace for `identifier`.
pub fn sanitize_key(identifier: &str) -> String {
    let mut key: String = identifier
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.starts_with('.') {
        key.replace_range(0..1, "_");
    }
    if key.is_empty() {
        key.push('_');
    }
    if key != identifier {
        let digest = Sha256::digest(identifier.as_bytes());
        key.push('-');
        key.push_str(&hex::encode(&digest[..8]));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::sanitize_key;
    use proptest::prelude::*;

    #[test]
    fn clean_identifiers_are_kept() {
        assert_eq!(sanitize_key("ENG-42"), "ENG-42");
        assert_eq!(sanitize_key("fix_login.md"), "fix_login.md");
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

    proptest! {
        #[test]
        fn keys_are_single_safe_components(id in ".{0,40}") {
            let k = sanitize_key(&id);
            prop_assert!(!k.is_empty());
            prop_assert!(!k.starts_with('.'));
            prop_assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        }
    }
}
