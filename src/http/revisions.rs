//! `/api/config/revisions`: the kept revisions of the document, one of them, and restoring one.
//!
//! A restore is an ordinary write: it goes through `AppState::transaction` (owner-only fields
//! cannot change), honours `If-Match`, and commits the old document as a new, higher revision,
//! so the history only grows and a phone holding the old ETag is told it is stale. The
//! owner-only settings of today are kept, whatever the old revision had. Handlers read the
//! history through the store and never touch files.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::config::if_match;
use super::error::{ApiError, ErrorBody, PathText};
use super::{AppState, etag};
use crate::config::{Config, keep_owner_settings};
use crate::store::{HistoryReadError, RevisionInfo};

#[utoipa::path(
    get, path = "/api/config/revisions", tag = "config",
    responses((status = 200, description = "The kept revisions and the current one, newest first",
        body = Vec<RevisionInfo>))
)]
pub async fn list_revisions(State(app): State<AppState>) -> Json<Vec<RevisionInfo>> {
    Json(app.store.revisions().await)
}

#[utoipa::path(
    get, path = "/api/config/revisions/{revision}", tag = "config",
    params(("revision" = u64, Path, description = "A revision from the list (an ETag's number)")),
    responses(
        (status = 200, description = "That revision's document", body = Config),
        (status = 404, description = "Not kept (never existed, or pruned)", body = ErrorBody),
        (status = 422, description = "The kept file is no longer a valid document", body = ErrorBody),
        (status = 500, description = "The kept file cannot be read", body = ErrorBody),
    )
)]
pub async fn get_revision(
    State(app): State<AppState>,
    PathText(revision): PathText,
) -> Result<Json<Config>, ApiError> {
    Ok(Json(load(&app, &revision).await?))
}

#[utoipa::path(
    post, path = "/api/config/revisions/{revision}/restore", tag = "config",
    params(
        ("revision" = u64, Path, description = "The revision to go back to"),
        ("If-Match" = Option<String>, Header, description = "The revision the restore replaces (optional)"),
    ),
    responses(
        (status = 200, description = "Restored as a new revision; owner-only settings are today's",
            body = Config, headers(("ETag" = String, description = "The new revision"))),
        (status = 400, description = "A malformed If-Match (`bad_if_match`)", body = ErrorBody),
        (status = 404, description = "Not kept (never existed, or pruned)", body = ErrorBody),
        (status = 412, description = "The If-Match revision is stale", body = ErrorBody),
        (status = 422, description = "The kept document is no longer valid", body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    )
)]
pub async fn restore_revision(
    State(app): State<AppState>,
    PathText(revision): PathText,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?.flatten();
    let mut restored = load(&app, &revision).await?;
    let snapshot = app
        .transaction(expected, move |config| {
            keep_owner_settings(config, &mut restored);
            *config = restored;
            Ok(())
        })
        .await?;
    // The same answer as `PUT /api/config`.
    Ok((
        [(header::ETAG, etag(snapshot.revision))],
        Json(&snapshot.config),
    )
        .into_response())
}

/// The document of a revision named in a path; anything that is not a kept revision is 404.
async fn load(app: &AppState, revision: &str) -> Result<Config, ApiError> {
    let not_found = || ApiError::NotFound(format!("no kept revision {revision}"));
    let number = revision.parse::<u64>().map_err(|_| not_found())?;
    match app.store.revision_document(number).await {
        Ok(Some(config)) => Ok(config),
        Ok(None) => Err(not_found()),
        Err(HistoryReadError::Invalid(e)) => Err(e.into()),
        Err(HistoryReadError::Io(e)) => Err(ApiError::Internal(format!(
            "reading revision {number} failed: {e}"
        ))),
    }
}
