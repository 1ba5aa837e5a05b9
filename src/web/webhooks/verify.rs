//! Signature checks, exactly as Linear and GitHub sign their deliveries: an
//! HMAC-SHA256 of the raw request body, keyed with the webhook's signing secret.
//!
//! - Linear: `Linear-Signature: <hex>`.
//! - GitHub: `X-Hub-Signature-256: sha256=<hex>`.
//!
//! The comparison is constant-time (`Mac::verify_slice`). Only the raw bytes count:
//! the body is never parsed before its signature is checked.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The hex HMAC-SHA256 of `body` under `secret` (what a sender puts in its header).
#[cfg(test)]
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn matches(secret: &[u8], body: &[u8], hex_sig: &str) -> bool {
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// A `Linear-Signature` header value.
pub(crate) fn linear(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    header.is_some_and(|h| matches(secret, body, h))
}

/// An `X-Hub-Signature-256` header value.
pub(crate) fn github(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    header
        .and_then(|h| h.trim().strip_prefix("sha256="))
        .is_some_and(|h| matches(secret, body, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    const RFC_KEY: &[u8] = b"Jefe";
    const RFC_DATA: &[u8] = b"what do ya want for nothing?";
    const RFC_MAC: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    /// GitHub's documented example ("Validating webhook deliveries").
    const GH_SECRET: &[u8] = b"It's a Secret to Everybody";
    const GH_BODY: &[u8] = b"Hello, World!";
    const GH_HEADER: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn signing_matches_the_rfc_4231_vector() {
        assert_eq!(sign(RFC_KEY, RFC_DATA), RFC_MAC);
    }

    #[test]
    fn linear_signatures_are_the_bare_hex_hmac_of_the_body() {
        assert!(linear(RFC_KEY, RFC_DATA, Some(RFC_MAC)));
        assert!(linear(RFC_KEY, RFC_DATA, Some(&RFC_MAC.to_uppercase())));
        assert!(!linear(
            RFC_KEY,
            b"what do ya want for nothing!",
            Some(RFC_MAC)
        ));
        assert!(!linear(b"jefe", RFC_DATA, Some(RFC_MAC)));
        assert!(!linear(RFC_KEY, RFC_DATA, None));
        assert!(!linear(RFC_KEY, RFC_DATA, Some("")));
        assert!(!linear(RFC_KEY, RFC_DATA, Some("not hex")));
        assert!(
            !linear(RFC_KEY, RFC_DATA, Some(&RFC_MAC[..62])),
            "truncated"
        );
        assert!(
            !linear(RFC_KEY, RFC_DATA, Some(&format!("sha256={RFC_MAC}"))),
            "Linear sends no prefix"
        );
    }

    #[test]
    fn github_signatures_carry_the_sha256_prefix() {
        assert!(github(GH_SECRET, GH_BODY, Some(GH_HEADER)));
        assert!(!github(GH_SECRET, b"Hello, World?", Some(GH_HEADER)));
        assert!(!github(b"another secret", GH_BODY, Some(GH_HEADER)));
        assert!(
            !github(GH_SECRET, GH_BODY, Some(&GH_HEADER["sha256=".len()..])),
            "the prefix is required"
        );
        assert!(!github(GH_SECRET, GH_BODY, Some("sha1=757107ea")));
        assert!(!github(GH_SECRET, GH_BODY, None));
    }
}
