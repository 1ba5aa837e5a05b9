//! Canonical JSON: the byte-stable text form of an event payload that goes into its hash.
//!
//! The hash of an event must not depend on how a database happens to store JSON (SQLite
//! keeps our text verbatim; a JSON column type such as Postgres `jsonb` would reorder
//! keys and drop whitespace, so a second backend must not change the hash either), nor on
//! the insertion order of a `serde_json::Map` (this crate enables `preserve_order`). So
//! the hash input is not "the payload as stored" but `canonical(parse(stored))`, defined
//! here exactly:
//!
//! - **objects**: `{`, members sorted by key in ascending byte order of the keys' UTF-8
//!   encoding (Rust's `str` ordering), each member written as `key:value`, members
//!   separated by `,`, then `}`. Keys are unique (a JSON object parsed by serde_json keeps
//!   the last of duplicate keys).
//! - **arrays**: `[`, elements in their order separated by `,`, then `]`.
//! - **strings** (keys included): serde_json's escaping: `"` and `\` are escaped as
//!   `\"` and `\\`; the control characters U+0008, U+0009, U+000A, U+000C, U+000D as
//!   `\b`, `\t`, `\n`, `\f`, `\r`; the other control characters below U+0020 as `\u00XX`
//!   with lowercase hex; everything else (including `/`, U+007F and all non-ASCII) is
//!   written as its raw UTF-8 bytes.
//! - **numbers**: serde_json's `Number` display: integers (`u64`/`i64`) in plain decimal
//!   with a leading `-` when negative; floats in the shortest form that round-trips (ryu),
//!   always with a `.` or an exponent (`1.0`, `1.5e-7`, `1e+300`). Parsing uses
//!   serde_json's `float_roundtrip` feature (enabled in Cargo.toml), so the text of a
//!   float parses back to the very same `f64`: without it `canonical(parse(text))` could
//!   differ from `text` by one digit and `verify` would report breaks nobody caused.
//! - **literals**: `null`, `true`, `false`.
//! - **no whitespace** anywhere outside strings.
//!
//! The encoder is total and pure; `canonical(parse(canonical(x))) == canonical(x)` holds
//! for every value (property-tested below).

use serde_json::Value;

/// The canonical text of `value` (see the module doc for the exact rules).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// serde_json's string escaping, spelled out so the format is ours and cannot drift.
/// The runs between escapes are copied whole (every escaped character is ASCII, so
/// each escape sits on a character boundary).
fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{:04x}", b));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, 2.5, {"z": null, "a": true}], "a": "x" }"#)
                .expect("valid json");
        assert_eq!(
            canonical_json(&v),
            r#"{"a":"x","b":[1,2.5,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn escapes_like_serde_json() {
        let s = "q\"b\\s/\u{08}\t\n\u{0c}\r\u{01}\u{1f}\u{7f}é✓😀";
        let v = Value::String(s.to_string());
        assert_eq!(
            canonical_json(&v),
            serde_json::to_string(&v).expect("serializes")
        );
        assert_eq!(
            canonical_json(&v),
            "\"q\\\"b\\\\s/\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é✓😀\""
        );
    }

    #[test]
    fn numbers_use_serde_json_display() {
        let v = json!([0, -1, u64::MAX, i64::MIN, 1.0, 1.5e-7, 1e300, -0.25]);
        assert_eq!(
            canonical_json(&v),
            "[0,-1,18446744073709551615,-9223372036854775808,1.0,1.5e-7,1e+300,-0.25]"
        );
    }

    #[test]
    fn keys_sort_by_bytes_not_by_chars_or_case() {
        let v = json!({"b": 1, "B": 2, "é": 3, "a": 4, "aa": 5});
        assert_eq!(canonical_json(&v), r#"{"B":2,"a":4,"aa":5,"b":1,"é":3}"#);
    }

    pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The same value with every object's members in reverse insertion order.
    fn reorder(v: &Value) -> Value {
        match v {
            Value::Array(items) => Value::Array(items.iter().map(reorder).collect()),
            Value::Object(map) => {
                let mut kv: Vec<(String, Value)> =
                    map.iter().map(|(k, v)| (k.clone(), reorder(v))).collect();
                kv.reverse();
                Value::Object(kv.into_iter().collect())
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn canonical_is_a_fixed_point(v in arb_json()) {
            let once = canonical_json(&v);
            let parsed: Value = serde_json::from_str(&once).expect("canonical text parses");
            prop_assert_eq!(canonical_json(&parsed), once);
        }

        #[test]
        fn key_order_does_not_matter(v in arb_json()) {
            prop_assert_eq!(canonical_json(&reorder(&v)), canonical_json(&v));
        }

        #[test]
        fn canonical_is_valid_json_equal_to_input(v in arb_json()) {
            let parsed: Value = serde_json::from_str(&canonical_json(&v)).expect("parses");
            prop_assert_eq!(parsed, v);
        }
    }
}
