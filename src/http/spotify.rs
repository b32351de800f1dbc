//! `/api/spotify/link`: link the Spotify account from a phone (PKCE with the user's own client
//! ID, see `player::link`), see whether one is linked and for how long, and unlink it. These
//! are user actions behind the usual guard. No answer carries a token: the handlers only pass
//! on the flow's own answer types, which have no token field. `/api/spotify/devices` lists the
//! account's receivers so the user can see which one the alarm would use. Linking and
//! unlinking drop the playlists kept in memory (`http::playlists`).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{AppState, BODY_LIMIT};
use crate::config::deserialize_strict;
use crate::player::SpotifyError;
use crate::player::link::{LinkError, LinkStarted, LinkStatus, LinkedAccount, Linker, Unlinked};
use crate::readiness::{is_configured, list_devices};

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
    responses(
        (status = 200, description = "Whether an account is linked, which, and for how long", body = LinkStatus),
        (status = 500, description = "The saved login cannot be read", body = ErrorBody),
    ))]
pub async fn link_status(State(app): State<AppState>) -> Result<Json<LinkStatus>, ApiError> {
    let settings = app.store.snapshot().config.spotify.clone();
    linker(&app).status(&settings).map(Json).map_err(refused)
}

#[utoipa::path(post, path = "/api/spotify/link", tag = "spotify",
    responses(
        (status = 200, description = "A login started: open `authorize_url` on the phone", body = LinkStarted),
        (status = 409, description = "spotify.client_id is not set (`no_client_id`)", body = ErrorBody),
        (status = 500, description = "The pending login could not be saved", body = ErrorBody),
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
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Not a `CompleteLink` object", body = ErrorBody),
        (status = 429, description = "Spotify asks to wait (`rate_limited`)", body = ErrorBody),
        (status = 500, description = "The login could not be saved", body = ErrorBody),
        (status = 502, description = "Spotify could not be reached (`spotify_unreachable`)", body = ErrorBody),
    ))]
pub async fn complete_link(
    State(app): State<AppState>,
    request: Request,
) -> Result<Json<LinkedAccount>, ApiError> {
    let complete = complete_link_body(request.into_body()).await?;
    let settings = app.store.snapshot().config.spotify.clone();
    let account = linker(&app)
        .complete(&settings, &complete.redirect_url)
        .await;
    // Another login (or none, after a refusal): the playlists kept belong to the old one.
    app.playlists.forget();
    let account = account.map_err(|e| {
        tracing::warn!(code = e.code(), "linking Spotify failed: {e}");
        refused(e)
    })?;
    Ok(Json(account))
}

/// The complete-link body, read here rather than by an extractor.
pub(super) async fn complete_link_body(body: axum::body::Body) -> Result<CompleteLink, ApiError> {
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: BODY_LIMIT })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::from(crate::config::syntax_error(&e)))?;
    Ok(deserialize_strict(&body)?)
}

#[utoipa::path(delete, path = "/api/spotify/link", tag = "spotify",
    responses(
        (status = 200, description = "The tokens are deleted (or there were none)", body = Unlinked),
        (status = 500, description = "The saved login could not be deleted", body = ErrorBody),
    ))]
pub async fn unlink(State(app): State<AppState>) -> Result<Json<Unlinked>, ApiError> {
    let unlinked = linker(&app).unlink().await;
    app.playlists.forget();
    unlinked.map(Json).map_err(refused)
}

/// A Spotify Connect receiver, as `GET /api/spotify/devices` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceEntry {
    /// `null` for a receiver Spotify lists without an id (it cannot be addressed).
    pub id: Option<String>,
    pub name: String,
    /// Free text (`Computer`, `Speaker`, ...): Spotify adds new types over time.
    #[serde(rename = "type")]
    pub device_type: String,
    pub is_active: bool,
    /// This is the receiver the config names (`spotify.device_id` or `spotify.device_name`).
    pub configured: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceEntry>,
    /// The configured receiver is online now: an alarm would play on it.
    pub configured_visible: bool,
}

pub(super) fn spotify_refused(error: SpotifyError) -> ApiError {
    let (status, code) = match &error {
        SpotifyError::NotLinked => (StatusCode::CONFLICT, "not_linked"),
        SpotifyError::NoClientId => (StatusCode::CONFLICT, "no_client_id"),
        SpotifyError::Unauthorized(_) | SpotifyError::InsufficientScope => {
            (StatusCode::CONFLICT, "link_again")
        }
        SpotifyError::NotAllowed => (StatusCode::FORBIDDEN, "not_allowed"),
        SpotifyError::PremiumRequired => (StatusCode::FORBIDDEN, "premium_required"),
        SpotifyError::RateLimited(_) | SpotifyError::RateLimitedPastDeadline(_) => {
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
        }
        _ => (StatusCode::BAD_GATEWAY, "spotify_unreachable"),
    };
    ApiError::Refused {
        status,
        code,
        message: error.to_string(),
    }
}

#[utoipa::path(get, path = "/api/spotify/devices", tag = "spotify",
    responses(
        (status = 200, description = "The account's receivers online now, the configured one marked", body = DeviceList),
        (status = 403, description = "`not_allowed` (not on the app's user list), `premium_required`", body = ErrorBody),
        (status = 409, description = "No account is linked (`not_linked`), no client ID (`no_client_id`), the login must be made again (`link_again`), or an alarm is playing (`busy_ringing`)", body = ErrorBody),
        (status = 429, description = "Spotify asks to wait (`rate_limited`)", body = ErrorBody),
        (status = 502, description = "Spotify could not be reached or did not answer in time (`spotify_unreachable`)", body = ErrorBody),
    ))]
pub async fn devices(State(app): State<AppState>) -> Result<Json<DeviceList>, ApiError> {
    // While an alarm or the sleep timer plays, its player holds the login: a refresh from here
    // could spend the single-use refresh token the ring depends on.
    if !matches!(app.runner.status().state, crate::runner::RunnerState::Idle) {
        return Err(ApiError::Conflict {
            code: "busy_ringing",
            message: "an alarm or the sleep timer is playing: ask for the devices when it ends"
                .into(),
        });
    }
    let settings = app.store.snapshot().config.spotify.clone();
    // Not beside a check: two players refreshing at once would spend each other's token.
    let listed = {
        let _one = app.readiness.exclusive().await;
        list_devices(&settings, app.store.files().dir()).await
    }
    .map_err(|e| {
        tracing::info!("listing the Spotify receivers failed: {e}");
        spotify_refused(e)
    })?;
    let devices: Vec<DeviceEntry> = listed
        .into_iter()
        .map(|d| DeviceEntry {
            configured: is_configured(&d, &settings),
            id: d.id,
            name: d.name,
            device_type: d.device_type,
            is_active: d.is_active,
        })
        .collect();
    let configured_visible = devices.iter().any(|d| d.configured);
    Ok(Json(DeviceList {
        devices,
        configured_visible,
    }))
}
