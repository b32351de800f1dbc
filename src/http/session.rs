//! `/api/session`: log in with the owner's password, log out, and ask whether a login is
//! needed. Open without a session (the guard lets it through) but still behind the host,
//! origin and JSON checks, so another site cannot log a browser in or out.
//!
//! A login answers with an HttpOnly, SameSite=Strict cookie; attempts are limited per client
//! address (an IPv6 /64 counts as one client, since a host can pick any address in it), and
//! one argon2 check runs at a time.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::config::json_body;
use super::error::{ApiError, ErrorBody};
use super::guard::{SESSION_COOKIE, client_address, session_cookies};
use crate::auth::{PasswordFile, SESSION_LIFETIME};
use crate::config::deserialize_strict;

#[derive(Serialize, ToSchema)]
pub struct SessionState {
    /// The owner set a password (`reveille password` on the Pi): the API needs a login.
    pub password_set: bool,
    /// This request carried an open session (always true without a password).
    pub logged_in: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub password: String,
}

#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, description = "Whether a login is needed, and whether this client has one", body = SessionState)))]
pub async fn session_state(State(app): State<AppState>, request: Request) -> Json<SessionState> {
    let hash = app.access.password.current();
    let logged_in = hash
        .as_ref()
        .is_none_or(|hash| app.access.has_session(request.headers(), hash));
    Json(SessionState {
        password_set: hash.is_some(),
        logged_in,
    })
}

#[utoipa::path(post, path = "/api/session", tag = "session",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in; the session is in an HttpOnly cookie", body = SessionState,
            headers(("Set-Cookie" = String, description = "reveille_session=...; HttpOnly; SameSite=Strict"))),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Wrong password", body = ErrorBody),
        (status = 409, description = "No password is set: nothing to log in to", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No password in the body", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        (status = 503, description = "Another login is being checked; try again", body = ErrorBody),
    ))]
pub async fn log_in(
    State(app): State<AppState>,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let client = client_key(client_address(&extensions));
    let login: Login = deserialize_strict(&json_body(body)?)?;
    let Some(hash) = app.access.password.current() else {
        return Err(ApiError::Conflict {
            code: "no_password",
            message: "no password is set on this daemon; `reveille password` on the Pi sets one"
                .into(),
        });
    };
    let now = tokio::time::Instant::now();
    app.access
        .limiter
        .lock()
        .expect("the limiter lock is never poisoned")
        .attempt(client, now)
        .map_err(|wait| ApiError::TooManyRequests {
            retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        })?;
    let permit = tokio::time::timeout(
        Duration::from_secs(10),
        app.access.verifying.clone().acquire_owned(),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| ApiError::Unavailable("another login is being checked; try again".into()))?;
    let checked_hash = hash.clone();
    // The permit goes with the check: a client that hangs up does not free the slot while
    // argon2 still runs, so checks never pile up.
    let correct = tokio::task::spawn_blocking(move || {
        let correct = PasswordFile::verify(&checked_hash, &login.password);
        drop(permit);
        correct
    })
    .await
    .unwrap_or(false);
    if !correct {
        tracing::warn!(%client, "a login with a wrong password");
        return Err(ApiError::Refused {
            status: StatusCode::UNAUTHORIZED,
            code: "wrong_password",
            message: "wrong password".into(),
        });
    }
    let id = app
        .access
        .sessions
        .lock()
        .expect("the sessions lock is never poisoned")
        .open(&hash, tokio::time::Instant::now());
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    Ok((
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a hex session id makes a valid header"),
        )],
        Json(SessionState {
            password_set: true,
            logged_in: true,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 204, description = "Logged out (also when there was no session)",
        headers(("Set-Cookie" = String, description = "An expired session cookie")))))]
pub async fn log_out(State(app): State<AppState>, request: Request) -> Response {
    let mut sessions = app
        .access
        .sessions
        .lock()
        .expect("the sessions lock is never poisoned");
    for id in session_cookies(request.headers()) {
        sessions.close(id);
    }
    drop(sessions);
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a fixed cookie is a valid header"),
        )],
    )
        .into_response()
}

/// Login attempts are counted per address; an IPv6 host can use any address of its /64.
fn client_key(address: Option<IpAddr>) -> IpAddr {
    match address {
        Some(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        Some(v4) => v4,
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    }
}
