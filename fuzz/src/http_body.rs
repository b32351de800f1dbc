//! The request body readers: arbitrary bytes with a `Content-Type` through the layers every
//! API request passes (the guard's media-type check, the 64 KiB body limit) to each reader
//! (`reveille::fuzzing::read_body`). Every answer is 200 or a 4xx with the JSON error body:
//! 415 exactly when a body is not declared JSON, 413 exactly when it is over the limit, 400
//! exactly when it is not JSON, 422 naming a field; what a reader accepted, sent again, reads
//! the same.
//!
//! Input: byte 0 picks the reader, byte 1 the `Content-Type` (bits 0-2: none, five fixed
//! ones, or the rest's first line) and whether the body is padded with spaces to within 4
//! bytes of the limit (bit 3; bits 4-6 say where); the rest is the body.

use reveille::fuzzing::{BODY_KINDS, BODY_LIMIT, BodyAnswer, BodyKind, read_body};
use serde_json::{Value, json};

use super::config_document::FIELD_CODES;

const TYPES: [&str; 5] = [
    "application/json",
    "application/merge-patch+json",
    "application/json; charset=utf-8",
    "text/plain",
    " Application/JSON ;x",
];

pub fn check(data: &[u8]) {
    let [kind, flags, rest @ ..] = data else {
        return;
    };
    let kind = BODY_KINDS[usize::from(*kind) % BODY_KINDS.len()];
    let (content_type, body): (Option<&[u8]>, &[u8]) = match flags & 7 {
        0 => (None, rest),
        i @ 1..=5 => (Some(TYPES[usize::from(i - 1)].as_bytes()), rest),
        _ => match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (Some(&rest[..end]), &rest[end + 1..]),
            None => (Some(rest), &[]),
        },
    };
    let mut body = body.to_vec();
    if flags & 8 != 0 {
        let length = BODY_LIMIT - 4 + usize::from(flags >> 4 & 7);
        body.resize(length.max(body.len()), b' ');
    }
    let Some(answer) = read_body(kind, content_type, body.clone()) else {
        return;
    };
    // The media type is what precedes the parameters, without HTTP's white space (spaces and
    // tabs; nothing else, e.g. U+00A0, is white space there).
    let declared_json = content_type.map(|t| {
        let media = t.split(|&b| b == b';').next().unwrap_or(b"");
        let media = media.trim_ascii().to_ascii_lowercase();
        media == b"application/json" || media == b"application/merge-patch+json"
    });
    let refused_media = match declared_json {
        Some(json) => !json,
        None => !body.is_empty(),
    };
    let BodyAnswer {
        status,
        body: answer,
    } = answer;
    let what = || {
        format!(
            "{kind:?}, {:?}, {} bytes",
            content_type.map(String::from_utf8_lossy),
            body.len()
        )
    };
    if refused_media {
        assert_eq!(status, 415, "{}: {answer}", what());
        return error_body(&answer, "unsupported_media_type");
    }
    if body.len() > BODY_LIMIT {
        assert_eq!(status, 413, "{}: {answer}", what());
        return error_body(&answer, "payload_too_large");
    }
    let json = serde_json::from_slice::<Value>(&body).is_ok();
    let empty_skip = kind == BodyKind::SkipNext && body.iter().all(u8::is_ascii_whitespace);
    match status {
        200 => {
            assert!(json || empty_skip, "{}: not JSON, yet read", what());
            reads_the_same_again(kind, answer);
        }
        400 => {
            assert!(!json && !empty_skip, "{}: JSON, yet {answer}", what());
            error_body(&answer, "malformed_json");
        }
        422 => {
            assert!(json, "{}: not JSON, yet {answer}", what());
            let code = answer["error"]["code"].as_str().unwrap_or_default();
            assert!(FIELD_CODES.contains(&code), "{}: {answer}", what());
            error_body(&answer, code);
            assert!(
                answer["error"]["field"].is_string(),
                "{}: no field in {answer}",
                what()
            );
        }
        _ => panic!("{}: answered {status} {answer}", what()),
    }
}

/// `{"error": {"code": …, "message": …, "field": …}}`, nothing else.
fn error_body(answer: &Value, code: &str) {
    let error = &answer["error"];
    assert_eq!(error["code"], code, "{answer}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    assert!(
        error["field"].is_null() || error["field"].is_string(),
        "{answer}"
    );
    let names = |v: &Value| v.as_object().map(|o| o.len());
    assert_eq!(
        (names(answer), names(error)),
        (Some(1), Some(3)),
        "{answer}"
    );
}

/// What a reader accepted, as JSON, is accepted again and read the same. Fractions may move
/// by a rounding step: serde_json (without `float_roundtrip`) does not always read back the
/// closest double it printed. No field of the API is a fraction, so only the plain JSON
/// reader sees one.
fn reads_the_same_again(kind: BodyKind, read: Value) {
    let resent = match kind {
        // The skip-next reader answers the flag, not the body.
        BodyKind::SkipNext => json!({ "skip_next": read }),
        _ => read.clone(),
    };
    let body = serde_json::to_vec(&resent).expect("JSON serializes");
    let again = read_body(kind, Some(b"application/json"), body).expect("a valid header");
    assert_eq!(again.status, 200, "{kind:?}: read again: {}", again.body);
    assert!(
        same(&again.body, &read),
        "{kind:?}: read again: {} is not {read}",
        again.body
    );
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
