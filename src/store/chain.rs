//! The hash chain, as pure functions: what exactly is hashed, byte for byte.
//!
//! Every event row links to its predecessor: `hash = SHA-256(input)` where `input` is the
//! concatenation of, in this order,
//!
//! | field      | encoding                                                              |
//! |------------|-----------------------------------------------------------------------|
//! | domain tag | `u64be(16)` ++ `b"karajan/event/v1"`                                   |
//! | prev_hash  | `u64be(32)` ++ the previous row's 32 hash bytes (genesis: 32 zeros)    |
//! | seq        | 8 bytes, the seq as a big-endian two's-complement `i64`                |
//! | at         | `u64be(len)` ++ the UTF-8 of the stored `at` text                      |
//! | issue      | `0x00` when absent; `0x01` ++ `u64be(len)` ++ UTF-8 when present        |
//! | kind       | `u64be(len)` ++ the UTF-8 of the kind tag (`run_started`, ...)         |
//! | payload    | `u64be(len)` ++ [`canonical_json`] of the payload                      |
//!
//! `u64be(n)` is `n` as 8 big-endian bytes. Every variable-length field is length-prefixed,
//! so no two different rows can produce the same input by shifting bytes between fields.
//! The hash is computed here, never by a database, so it depends only on the event,
//! not on the backend that stores it (SQLite is the only store today; any other
//! backend must produce identical hashes for identical events). `at` is hashed as the exact text
//! stored (RFC 3339, UTC, microseconds: `2026-11-21T07:00:00.123456Z`, see [`format_at`]).

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::canonical::canonical_json;

/// The domain tag that starts every hash input; bump the version to change the layout.
pub const DOMAIN_TAG: &[u8] = b"karajan/event/v1";

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first event.
pub const GENESIS: Hash = [0u8; 32];

/// The hashed fields of one event row. `payload` is the JSON of the event without its
/// `kind` tag; it is canonicalized when hashed.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub prev_hash: &'a Hash,
    pub seq: i64,
    pub at: &'a str,
    pub issue: Option<&'a str>,
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
}

/// The exact bytes that are hashed for `link` (see the module doc).
pub fn hash_input(link: &Link<'_>) -> Vec<u8> {
    let canonical = canonical_json(link.payload);
    hash_input_canonical(link, &canonical)
}

fn hash_input_canonical(link: &Link<'_>, canonical: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        128 + link.at.len() + link.kind.len() + canonical.len() + link.issue.map_or(0, str::len),
    );
    field(&mut out, DOMAIN_TAG);
    field(&mut out, link.prev_hash);
    out.extend_from_slice(&link.seq.to_be_bytes());
    field(&mut out, link.at.as_bytes());
    match link.issue {
        None => out.push(0),
        Some(issue) => {
            out.push(1);
            field(&mut out, issue.as_bytes());
        }
    }
    field(&mut out, link.kind.as_bytes());
    field(&mut out, canonical.as_bytes());
    out
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    // usize -> u64 is lossless on every platform Rust supports.
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The hash of one event row.
pub fn event_hash(link: &Link<'_>) -> Hash {
    Sha256::digest(hash_input(link)).into()
}

/// The hash of one event row whose payload is already canonical text (saves a second
/// encoding on the append path). `canonical` must be `canonical_json(payload)`.
pub fn event_hash_canonical(link: &Link<'_>, canonical: &str) -> Hash {
    Sha256::digest(hash_input_canonical(link, canonical)).into()
}

/// The stored text of an event time: RFC 3339, UTC, exactly six fractional digits, `Z`.
pub fn format_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parse a 64-hex-digit hash.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    let bytes = hex::decode(hex_text).ok()?;
    bytes.try_into().ok()
}

/// Lower-case hex of `bytes` (the `hex` crate's encoder goes through a `char` iterator:
/// about 1,900 instructions for a 32-byte hash, called four times per event).
pub(crate) fn hex_of(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn sample() -> (Hash, String, Value) {
        (
            [7u8; 32],
            "2026-11-21T07:00:00.123456Z".to_string(),
            json!({"run_id": "r1", "tokens": {"input": 3, "output": 4}, "cost_usd": 0.5}),
        )
    }

    #[test]
    fn input_layout_is_as_documented() {
        let (prev, at, payload) = sample();
        let link = Link {
            prev_hash: &prev,
            seq: 258,
            at: &at,
            issue: Some("ENG-1"),
            kind: "run_started",
            payload: &payload,
        };
        let canonical = r#"{"cost_usd":0.5,"run_id":"r1","tokens":{"input":3,"output":4}}"#;
        let mut want = Vec::new();
        want.extend_from_slice(&16u64.to_be_bytes());
        want.extend_from_slice(b"karajan/event/v1");
        want.extend_from_slice(&32u64.to_be_bytes());
        want.extend_from_slice(&[7u8; 32]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        want.extend_from_slice(&27u64.to_be_bytes());
        want.extend_from_slice(at.as_bytes());
        want.push(1);
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(b"ENG-1");
        want.extend_from_slice(&11u64.to_be_bytes());
        want.extend_from_slice(b"run_started");
        want.extend_from_slice(&(canonical.len() as u64).to_be_bytes());
        want.extend_from_slice(canonical.as_bytes());
        assert_eq!(hash_input(&link), want);
        let digest: Hash = Sha256::digest(&want).into();
        assert_eq!(event_hash(&link), digest);
        assert_eq!(event_hash_canonical(&link, canonical), digest);
    }

    #[test]
    fn absent_issue_differs_from_empty_issue() {
        let (prev, at, payload) = sample();
        let base = Link {
            prev_hash: &prev,
            seq: 1,
            at: &at,
            issue: None,
            kind: "daemon_started",
            payload: &payload,
        };
        let empty = Link {
            issue: Some(""),
            ..base
        };
        assert_ne!(event_hash(&base), event_hash(&empty));
    }

    #[test]
    fn format_at_has_microseconds_and_z() {
        let at = DateTime::parse_from_rfc3339("2026-11-21T07:00:00.123456789Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(format_at(at), "2026-11-21T07:00:00.123456Z");
        let whole = DateTime::parse_from_rfc3339("2026-11-21T07:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(format_at(whole), "2026-11-21T07:00:00.000000Z");
    }

    proptest! {
        #[test]
        fn hex_of_is_the_hex_crates_encoding(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(hex_of(&bytes), hex::encode(&bytes));
        }
    }

    #[test]
    fn parse_hash_roundtrips_and_rejects_bad_text() {
        let h = [0xabu8; 32];
        assert_eq!(parse_hash(&hex::encode(h)), Some(h));
        assert_eq!(parse_hash("abcd"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }

    #[derive(Debug, Clone)]
    struct Row {
        prev: Hash,
        seq: i64,
        at: String,
        issue: Option<String>,
        kind: String,
        payload: Value,
    }

    impl Row {
        fn hash(&self) -> Hash {
            event_hash(&Link {
                prev_hash: &self.prev,
                seq: self.seq,
                at: &self.at,
                issue: self.issue.as_deref(),
                kind: &self.kind,
                payload: &self.payload,
            })
        }
    }

    fn arb_row() -> impl Strategy<Value = Row> {
        (
            any::<[u8; 32]>(),
            any::<i64>(),
            "[0-9:TZ.-]{0,30}",
            proptest::option::of(".{0,12}"),
            "[a-z_]{0,16}",
            crate::store::canonical::tests::arb_json(),
        )
            .prop_map(|(prev, seq, at, issue, kind, payload)| Row {
                prev,
                seq,
                at,
                issue,
                kind,
                payload,
            })
    }

    fn reversed_keys(v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(reversed_keys).collect()),
            Value::Object(map) => {
                let mut kv: Vec<(String, Value)> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), reversed_keys(v)))
                    .collect();
                kv.reverse();
                Value::Object(kv.into_iter().collect())
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn key_order_does_not_change_the_hash(row in arb_row()) {
            let mut other = row.clone();
            other.payload = reversed_keys(&row.payload);
            prop_assert_eq!(row.hash(), other.hash());
        }

        #[test]
        fn stored_payload_text_rehashes_identically(row in arb_row()) {
            let stored = canonical_json(&row.payload);
            let mut reread = row.clone();
            reread.payload = serde_json::from_str(&stored).expect("canonical parses");
            prop_assert_eq!(row.hash(), reread.hash());
        }

        #[test]
        fn any_single_field_change_changes_the_hash(
            row in arb_row(),
            which in 0usize..6,
            byte in any::<u8>(),
        ) {
            let mut other = row.clone();
            match which {
                0 => other.prev[usize::from(byte) % 32] ^= 1,
                1 => other.seq = row.seq.wrapping_add(1 + i64::from(byte)),
                2 => other.at.push(char::from(b'0' + byte % 10)),
                3 => other.issue = match &row.issue {
                    None => Some(String::new()),
                    Some(s) if byte % 2 == 0 => Some(format!("{s}x")),
                    Some(_) => None,
                },
                4 => other.kind.push('x'),
                _ => other.payload = json!({"wrapped": row.payload.clone()}),
            }
            prop_assert_ne!(row.hash(), other.hash());
        }

        #[test]
        fn bytes_cannot_shift_between_at_and_kind(a in "[a-z]{1,8}", b in "[a-z]{1,8}") {
            let payload = json!({});
            let prev = GENESIS;
            let one = Link { prev_hash: &prev, seq: 1, at: &format!("{a}{b}"), issue: None, kind: "", payload: &payload };
            let two = Link { prev_hash: &prev, seq: 1, at: &a, issue: None, kind: &b, payload: &payload };
            prop_assert_ne!(event_hash(&one), event_hash(&two));
        }
    }
}
