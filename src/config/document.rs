//! Turning JSON into a valid [`Config`], with errors that name the offending field.
//!
//! Two kinds of failure are kept apart because callers treat them differently: text that is
//! not JSON at all ([`DocumentError::Syntax`], HTTP 400) and JSON that is not a valid document
//! ([`DocumentError::Invalid`], HTTP 422).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Config, validate};

/// A problem with one field of an otherwise well-formed document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Stable machine code: `unknown_field`, `invalid_type`, `missing_field` or `invalid_value`.
    pub code: &'static str,
    /// Dotted path of the field, e.g. `hardware.buttons[0].pin`; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            code: "invalid_value",
            field: field.into(),
            message: message.into(),
        }
    }

    /// `field` belongs to the Pi's owner (`config::OWNER_ONLY`) and cannot be changed this way.
    pub fn owner_only(field: impl Into<String>) -> Self {
        FieldError {
            code: "owner_only",
            field: field.into(),
            message: "is an owner-only setting: change it on the Pi by editing the config file \
                      (see docs/configuration.md), not over HTTP"
                .into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

/// Parses and validates a document from raw bytes.
pub fn parse_document(bytes: &[u8]) -> Result<Config, DocumentError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| syntax_error(&e))?;
    Ok(parse_value(value)?)
}

/// A JSON syntax error, with its position kept apart from the message.
pub(crate) fn syntax_error(e: &serde_json::Error) -> DocumentError {
    DocumentError::Syntax {
        message: syntax_message(e),
        line: e.line(),
        column: e.column(),
    }
}

/// Deserializes and validates a document from a JSON value.
pub fn parse_value(value: Value) -> Result<Config, FieldError> {
    let config: Config = deserialize_strict(&value)?;
    validate(&config)?;
    Ok(config)
}

/// Deserializes a part of the document (or all of it) with the document's strictness: it must
/// be a JSON object, unknown fields are refused, errors name the field. Does not validate.
pub fn deserialize_strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, FieldError> {
    if !value.is_object() {
        return Err(FieldError {
            code: "invalid_type",
            field: String::new(),
            message: "must be a JSON object".into(),
        });
    }
    let parsed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        field_error(if path == "." { String::new() } else { path }, e.inner())
    })?;
    objects_are_objects(
        value,
        &serde_json::to_value(&parsed).expect("parsed values serialize"),
        "",
    )?;
    Ok(parsed)
}

/// serde's derived structs also accept a JSON array of their fields in order; a document
/// written that way is a mistake, not a format. Compares the input with what it parsed into.
fn objects_are_objects(input: &Value, parsed: &Value, path: &str) -> Result<(), FieldError> {
    let at = |key: &dyn std::fmt::Display, index: bool| match (path.is_empty(), index) {
        (_, true) => format!("{path}[{key}]"),
        (true, false) => key.to_string(),
        (false, false) => format!("{path}.{key}"),
    };
    match (input, parsed) {
        (Value::Object(input), Value::Object(parsed)) => {
            for (key, value) in input {
                if let Some(parsed) = parsed.get(key) {
                    objects_are_objects(value, parsed, &at(key, false))?;
                }
            }
            Ok(())
        }
        (Value::Array(input), Value::Array(parsed)) => {
            for (i, (value, parsed)) in input.iter().zip(parsed).enumerate() {
                objects_are_objects(value, parsed, &at(&i, true))?;
            }
            Ok(())
        }
        (_, Value::Object(_)) => Err(FieldError {
            code: "invalid_type",
            field: path.to_owned(),
            message: "invalid type: expected a JSON object".into(),
        }),
        _ => Ok(()),
    }
}

fn syntax_message(e: &serde_json::Error) -> String {
    // serde_json appends " at line X column Y"; the position is reported separately.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// Classifies a serde error and completes its path with the unknown or missing field's name,
/// which serde reports only inside the message.
fn field_error(path: String, e: &serde_json::Error) -> FieldError {
    let message = syntax_message(e);
    let quoted = message.split('`').nth(1).map(str::to_owned);
    let join = |name: String| {
        if path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    // serde_path_to_error already ends the path with an unknown field's name, not a missing one's.
    let (code, field) = if message.starts_with("unknown field") {
        ("unknown_field", path)
    } else if message.starts_with("missing field") {
        ("missing_field", quoted.map(join).unwrap_or(path))
    } else if message.starts_with("invalid type") {
        ("invalid_type", path)
    } else {
        ("invalid_value", path)
    };
    FieldError {
        code,
        field,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(text: &str) -> FieldError {
        match parse_document(text.as_bytes()) {
            Err(DocumentError::Invalid(e)) => e,
            other => panic!("expected a field error for {text}, got {other:?}"),
        }
    }

    #[test]
    fn empty_object_is_the_default_document() {
        assert_eq!(parse_document(b"{}").unwrap(), Config::default());
    }

    #[test]
    fn broken_json_is_a_syntax_error_with_position() {
        let err = parse_document(b"{\n  \"version\": 1,\n  oops\n}").unwrap_err();
        assert!(
            matches!(err, DocumentError::Syntax { line: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let e = invalid(r#"{"web": {"titel": "x"}}"#);
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "web.titel"));
        let e = invalid(r#"{"colour": "red"}"#);
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "colour"));
        let e = invalid(r#"{"hardware": {"buttons": [{"pin": 5, "pul": "up"}]}}"#);
        assert_eq!(e.field, "hardware.buttons[0].pul");
    }

    #[test]
    fn wrong_types_and_missing_fields_are_named() {
        let e = invalid(r#"{"volume": {"fade_seconds": "slow"}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("invalid_type", "volume.fade_seconds")
        );
        let e = invalid(r#"{"hardware": {"amplifier": {"active_low": true}}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("missing_field", "hardware.amplifier.pin")
        );
        let e = invalid(r#"{"hardware": {"backend": "gpio"}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("invalid_value", "hardware.backend")
        );
        let e = invalid("[]");
        assert_eq!((e.code, e.field.as_str()), ("invalid_type", ""));
        let e = invalid(r#"{"web": ["x"]}"#);
        assert_eq!((e.code, e.field.as_str()), ("invalid_type", "web"));
        let e = invalid(r#"{"hardware": {"buttons": [[5]]}}"#);
        assert_eq!(
            (e.code, e.field.as_str()),
            ("invalid_type", "hardware.buttons[0]")
        );
    }

    #[test]
    fn validation_runs_after_parsing() {
        let e = invalid(r#"{"volume": {"target_percent": 101}}"#);
        assert_eq!(e.field, "volume.target_percent");
    }
}
