//! `/api/config`: read, replace (PUT) and merge-patch (PATCH, RFC 7396) the whole document.
//!
//! The revision is the `ETag`; writes honour `If-Match` so two phones editing at once never
//! lose each other's change (a stale revision gets 412). Handlers only translate HTTP to a
//! store transaction and back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::schemas::ConfigPatch;
use super::{AppState, BODY_LIMIT, etag};
use crate::config::{Config, FieldError, fill_owner_settings, parse_value};
use crate::store::Snapshot;

#[utoipa::path(
    get, path = "/api/config", tag = "config",
    responses((status = 200, description = "The current document", body = Config,
        headers(("ETag" = String, description = "The revision, quoted"))))
)]
pub async fn get_config(State(app): State<AppState>) -> Response {
    document_response(&app.store.snapshot())
}

#[utoipa::path(
    put, path = "/api/config", tag = "config",
    request_body(content = Config, description = "The whole new document; missing fields take their defaults, \
        except owner-only ones, which keep their current values"),
    params(("If-Match" = String, Header, description = "The revision the change is based on (required)")),
    responses(
        (status = 200, description = "Saved", body = Config,
            headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 403, description = "Would change an owner-only setting", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a valid document", body = ErrorBody),
        (status = 428, description = "No If-Match", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    )
)]
pub async fn put_config(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.ok_or(ApiError::PreconditionRequired)?;
    let body = json_body(body)?;
    let snapshot = app
        .transaction(expected, move |config| replace_document(config, body))
        .await?;
    Ok(document_response(&snapshot))
}

#[utoipa::path(
    patch, path = "/api/config", tag = "config",
    request_body(content = ConfigPatch, content_type = "application/merge-patch+json",
        description = "A JSON merge patch (RFC 7396); `null` resets a field to its default"),
    params(("If-Match" = Option<String>, Header, description = "The revision the change is based on (optional)")),
    responses(
        (status = 200, description = "Saved", body = Config,
            headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "Not JSON (`malformed_json`), or a malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 403, description = "Would change an owner-only setting", body = ErrorBody),
        (status = 412, description = "The revision is stale", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "The result is not a valid document", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    )
)]
pub async fn patch_config(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    let patch = json_body(body)?;
    let snapshot = app
        .transaction(expected, move |config| patch_document(config, &patch))
        .await?;
    Ok(document_response(&snapshot))
}

/// `PUT`'s change: the body becomes the document. Owner-only fields left out keep their
/// values; ones sent must not change them (checked by `AppState::transaction`).
pub(super) fn replace_document(config: &mut Config, mut body: Value) -> Result<(), FieldError> {
    fill_owner_settings(&mut body, config);
    *config = parse_value(body)?;
    Ok(())
}

/// `PATCH`'s change: the merge patch (RFC 7396) applied to the document, then parsed and
/// validated as a whole.
pub(super) fn patch_document(config: &mut Config, patch: &Value) -> Result<(), FieldError> {
    let mut document = serde_json::to_value(&*config).expect("Config serializes to JSON");
    removes_nothing_unknown(patch, &document, "")?;
    json_patch::merge(&mut document, patch);
    *config = parse_value(document)?;
    Ok(())
}

fn document_response(snapshot: &Snapshot) -> Response {
    (
        [(header::ETAG, etag(snapshot.revision))],
        Json(&snapshot.config),
    )
        .into_response()
}

/// A merge patch's `null` removes a field; a name the document does not have would be removed
/// from nothing and the typo go unnoticed (`{"enabeld": null}`), so it is refused like any
/// unknown field. Other unknown names are caught when the merged document is parsed.
pub(super) fn removes_nothing_unknown(
    patch: &Value,
    document: &Value,
    at: &str,
) -> Result<(), FieldError> {
    let (Value::Object(patch), Value::Object(document)) = (patch, document) else {
        return Ok(());
    };
    for (name, value) in patch {
        let field = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        match document.get(name) {
            None if value.is_null() => {
                return Err(FieldError {
                    code: "unknown_field",
                    message: format!("unknown field `{name}`: there is nothing to remove"),
                    field,
                });
            }
            Some(current) => removes_nothing_unknown(value, current, &field)?,
            None => {}
        }
    }
    Ok(())
}

/// Reads a request body as JSON: 413 past the limit, 400 when it is not JSON.
pub(super) fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|e| ApiError::from_body(e, BODY_LIMIT))?;
    serde_json::from_slice(&body).map_err(|e| ApiError::from(crate::config::syntax_error(&e)))
}

/// `None`: no header. `Some(None)`: `*`, any revision. `Some(Some(r))`: exactly revision `r`.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<Option<u64>>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest {
        code: "bad_if_match",
        message: "If-Match must be a revision as the ETag gives it, e.g. \"7\"".into(),
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(Some(None));
    }
    // A weak validator never matches under If-Match (RFC 9110 13.1.1), and ours are strong.
    if text.starts_with("W/") {
        return Err(bad());
    }
    let revision = text.trim_matches('"').parse::<u64>().map_err(|_| bad())?;
    Ok(Some(Some(revision)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Option<Option<u64>>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, value.parse().unwrap());
        if_match(&headers)
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(parse("\"12\"").unwrap(), Some(Some(12)));
        assert_eq!(parse("12").unwrap(), Some(Some(12)));
        assert_eq!(parse("*").unwrap(), Some(None));
        assert!(parse("W/\"12\"").is_err());
        assert!(parse("\"twelve\"").is_err());
    }

    #[test]
    fn a_patch_may_remove_only_fields_the_document_has() {
        let document = serde_json::json!({"a": 1, "b": {"c": null}, "list": [1]});
        for fine in [
            serde_json::json!({"a": null, "b": {"c": null}}),
            serde_json::json!({"new": 1, "b": {"new": {"x": null}}}),
            serde_json::json!({"list": [{"x": null}]}),
        ] {
            assert!(
                removes_nothing_unknown(&fine, &document, "").is_ok(),
                "{fine}"
            );
        }
        let e = removes_nothing_unknown(&serde_json::json!({"b": {"d": null}}), &document, "")
            .unwrap_err();
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "b.d"));
        let e = removes_nothing_unknown(&serde_json::json!({"": null}), &document, "").unwrap_err();
        assert_eq!(e.field, "");
    }
}
