//! A value that must never be printed: `Debug` and `Display` redact it. Only
//! `expose()` reveals it, at the one place it is used (a header, a child's environment).
//!
//! A `Secret` also says whether it is *sensitive*, i.e. whether the dashboard must blank
//! it wherever it appears. Tracker keys and tokens always are. A runner `env` value is
//! sensitive when it came from `$VAR` expansion or when the workflow marks it with
//! `NAME: {secret: value}`; a plain literal (`KARAJAN_STAGE: implement`) is written in
//! the workflow for anyone to read, and blanking it would blank ordinary words on every
//! page.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    sensitive: bool,
}

impl Secret {
    /// A sensitive value (a key, a token).
    pub fn new(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            sensitive: true,
        }
    }

    /// A value kept out of logs like any other, but not blanked on the dashboard: a
    /// literal written in the workflow.
    pub fn plain(value: impl Into<String>) -> Self {
        Secret {
            value: value.into(),
            sensitive: false,
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Must this value be blanked wherever it would be shown?
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A runner `env` value as written: a scalar (`NAME: value`, `$VAR` allowed), or
/// `NAME: {secret: value}` to mark a literal as secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEnvValue {
    pub text: String,
    /// Written as `{secret: …}`.
    pub marked: bool,
}

impl<'de> Deserialize<'de> for RawEnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number, or `{secret: value}`")
            }
            fn visit_str<E>(self, v: &str) -> Result<RawEnvValue, E> {
                Ok(RawEnvValue {
                    text: v.to_string(),
                    marked: false,
                })
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawEnvValue, E> {
                Ok(RawEnvValue {
                    text: v.to_string(),
                    marked: false,
                })
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawEnvValue, E> {
                Ok(RawEnvValue {
                    text: v.to_string(),
                    marked: false,
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawEnvValue, E> {
                Ok(RawEnvValue {
                    text: v.to_string(),
                    marked: false,
                })
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawEnvValue, E> {
                Ok(RawEnvValue {
                    text: v.to_string(),
                    marked: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEnvValue, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "secret" {
                        return Err(de::Error::custom(format!(
                            "unknown key `{key}`: write `NAME: value`, or `NAME: {{secret: value}}` to mark a value as secret"
                        )));
                    }
                    if text.is_some() {
                        return Err(de::Error::custom("`secret` is given twice"));
                    }
                    let super::Scalar(v) = map.next_value()?;
                    text = Some(v);
                }
                let text = text.ok_or_else(|| {
                    de::Error::custom("`{secret: value}` needs its value: `NAME: {secret: value}`")
                })?;
                Ok(RawEnvValue { text, marked: true })
            }
        }
        d.deserialize_any(V)
    }
}

/// What [`RawEnvValue`]'s `Deserialize` accepts: a scalar, or `{secret: scalar}`.
impl schemars::JsonSchema for RawEnvValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value (`$VAR` and `${VAR}` are secrets from karajan's environment), or `{secret: value}` to mark a literal as secret.",
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                {
                    "type": "object",
                    "properties": {
                        "secret": {
                            "type": ["string", "number", "boolean"],
                            "description": "A literal value, blanked on the dashboard."
                        }
                    },
                    "required": ["secret"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{RawEnvValue, Secret};

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("lin_api_supersecret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "lin_api_supersecret");
        assert!(s.is_sensitive());
        let p = Secret::plain("implement");
        assert_eq!(format!("{p:?}"), "Secret(***)");
        assert!(!p.is_sensitive());
    }

    #[test]
    fn env_values_are_scalars_or_marked_secrets() {
        let parse = |y: &str| yaml_serde::from_str::<RawEnvValue>(y);
        let v = parse("implement").unwrap();
        assert_eq!((v.text.as_str(), v.marked), ("implement", false));
        assert_eq!(parse("42").unwrap().text, "42");
        let v = parse("{secret: 'ab/c+d&e<f>g\"h\\i'}").unwrap();
        assert_eq!((v.text.as_str(), v.marked), ("ab/c+d&e<f>g\"h\\i", true));
        assert_eq!(parse("{secret: 7}").unwrap().text, "7");
        let e = parse("{secrte: x}").unwrap_err().to_string();
        assert!(e.contains("unknown key `secrte`"), "{e}");
        let e = parse("{}").unwrap_err().to_string();
        assert!(e.contains("needs its value"), "{e}");
        assert!(parse("{secret: [a]}").is_err());
    }
}
