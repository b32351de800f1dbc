//! `GET /api/spotify/playlists`: the linked user's own playlists for the page's source picker
//! (`crate::playlists` owns the cache and the rules for asking Spotify). Unavailable listings
//! (development-mode apps, an old login's scopes) are a 200 with `available: false` and a
//! sentence, since pasting a link always works; the rest answers like the device list.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::spotify::spotify_refused;
use crate::playlists::{Ask, PlaylistList, PlaylistsError};
use crate::runner::RunnerState;

#[utoipa::path(get, path = "/api/spotify/playlists", tag = "spotify",
    params(("refresh" = Option<bool>, Query,
        description = "`true`: ask Spotify now rather than answer the list kept from the last 5 minutes")),
    responses(
        (status = 200, description = "The account's own and followed playlists (at most 200); `available: false` with a `message` when Spotify does not let this app list them (paste a link instead)", body = PlaylistList),
        (status = 400, description = "`refresh` is neither `true` nor `false` (`bad_query`)", body = ErrorBody),
        (status = 403, description = "`not_allowed` (not on the app's user list), `premium_required`", body = ErrorBody),
        (status = 409, description = "No account is linked (`not_linked`), no client ID (`no_client_id`), the login must be made again (`link_again`), or an alarm is playing and no list is kept (`busy_ringing`)", body = ErrorBody),
        (status = 429, description = "Spotify asks to wait (`rate_limited`) and no list is kept",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds before Spotify is asked again"))),
        (status = 502, description = "Spotify could not be reached or did not answer in time (`spotify_unreachable`)", body = ErrorBody),
    ))]
pub async fn playlists(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<PlaylistList>, Response> {
    let refresh = refresh_asked(query.as_deref()).map_err(IntoResponse::into_response)?;
    let settings = app.store.snapshot().config.spotify.clone();
    let busy = !matches!(app.runner.status().state, RunnerState::Idle);
    let ask = Ask {
        settings: &settings,
        state_dir: app.store.files().dir(),
        now: app.scheduler.clock().now(),
        refresh,
        busy,
    };
    app.playlists.list(ask).await.map(Json).map_err(|error| {
        if let PlaylistsError::Spotify(e) = &error {
            tracing::info!("listing the Spotify playlists failed: {e}");
        }
        refused(error)
    })
}

/// `?refresh=true|false`; anything else is named in a 400.
fn refresh_asked(query: Option<&str>) -> Result<bool, ApiError> {
    let given = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "refresh")
        .map(|(_, value)| value.into_owned());
    match given.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::BadRequest {
            code: "bad_query",
            message: "refresh must be true or false".into(),
        }),
    }
}

fn refused(error: PlaylistsError) -> Response {
    match error {
        PlaylistsError::Busy => ApiError::Conflict {
            code: "busy_ringing",
            message: error.to_string(),
        }
        .into_response(),
        PlaylistsError::RateLimited(seconds) => {
            let mut response = ApiError::Refused {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "rate_limited",
                message: format!(
                    "Spotify asks to wait {seconds} s (too many requests): try again then, or paste a Spotify link"
                ),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        PlaylistsError::Spotify(e) => spotify_refused(e).into_response(),
    }
}
