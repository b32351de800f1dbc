//! `/api/spotify/link`: link the Spotify account from a phone (PKCE with the user's own client
//! ID, see `player::link`), see whether one is linked and for how long, and unlink it. These
//! are user actions behind the usual guard. No answer carries a token: the handlers only pass
//! on the flow's own answer types, which have no token field.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{AppState, BODY_LIMIT};
use crate::config::deserialize_strict;
use crate::player::link::{LinkError, LinkStarted, LinkStatus, LinkedAccount, Linker, Unlinked};

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteLink {
    /// The whole address the phone's browser ended on (`http://127.0.0.1:8888/callback?...`).
    pub redirect_url: String,
}

fn linker(app: &AppState) -> Linker {
    Linker::new(app.store.files().dir(), app.scheduler.clock().clone())
}

fn refused(error: LinkError) -> ApiError {
    if let LinkError::Internal(detail) = &error {
        return ApiError::Internal(detail.clone());
    }
    ApiError::Refused {
        status: StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST),
        code: error.code(),
        message: error.to_string(),
    }
}

#[utoipa::path(get, path = "/api/spotify/link", tag = "spotify",
    responses((status = 200, description = "Whether an account is linked, which, and for how long", body = LinkStatus)))]
pub async fn link_status(State(app): State<AppState>) -> Result<Json<LinkStatus>, ApiError> {
    let settings = app.store.snapshot().config.spotify.clone();
    linker(&app).status(&settings).map(Json).map_err(refused)
}

#[utoipa::path(post, path = "/api/spotify/link", tag = "spotify",
    responses(
        (status = 200, description = "A login started: open `authorize_url` on the phone", body = LinkStarted),
        (status = 409, description = "spotify.client_id is not set (`no_client_id`)", body = ErrorBody),
    ))]
pub async fn start_link(State(app): State<AppState>) -> Result<Json<LinkStarted>, ApiError> {
    let settings = app.store.snapshot().config.spotify.clone();
    linker(&app)
        .start(&settings)
        .await
        .map(Json)
        .map_err(refused)
}

#[utoipa::path(post, path = "/api/spotify/link/complete", tag = "spotify",
    request_body = CompleteLink,
    responses(
        (status = 200, description = "Linked; the account as Spotify describes it", body = LinkedAccount),
        (status = 400, description = "`bad_redirect_url`, `unknown_login`, `access_denied`, `invalid_client`, `redirect_uri_not_registered`, `invalid_grant`, `spotify_refused`", body = ErrorBody),
        (status = 403, description = "The account is not on the app's user list (`not_allowed`)", body = ErrorBody),
        (status = 410, description = "The login is older than 10 minutes (`login_expired`)", body = ErrorBody),
        (status = 429, description = "Spotify asks to wait (`rate_limited`)", body = ErrorBody),
        (status = 502, description = "Spotify could not be reached (`spotify_unreachable`)", body = ErrorBody),
    ))]
pub async fn complete_link(
    State(app): State<AppState>,
    request: Request,
) -> Result<Json<LinkedAccount>, ApiError> {
    let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: BODY_LIMIT })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::from(crate::config::syntax_error(&e)))?;
    let complete: CompleteLink = deserialize_strict(&body)?;
    let settings = app.store.snapshot().config.spotify.clone();
    let account = linker(&app)
        .complete(&settings, &complete.redirect_url)
        .await
        .map_err(|e| {
            tracing::warn!(code = e.code(), "linking Spotify failed: {e}");
            refused(e)
        })?;
    Ok(Json(account))
}

#[utoipa::path(delete, path = "/api/spotify/link", tag = "spotify",
    responses((status = 200, description = "The tokens are deleted (or there were none)", body = Unlinked)))]
pub async fn unlink(State(app): State<AppState>) -> Result<Json<Unlinked>, ApiError> {
    linker(&app).unlink().await.map(Json).map_err(refused)
}
