//! The mock's accounts service, `POST /api/token`: the `refresh_token` grant rotates both
//! tokens (the refresh token is single-use, as with PKCE) and the `authorization_code` grant
//! exchanges a code once. Errors use the OAuth body `{"error","error_description"}`, not the
//! Web API's. It only touches the token part of the state.

use serde_json::{Value, json};

use super::State;
use super::server::{Body, Incoming, Reply};

const SCOPE: &str = "user-read-playback-state user-modify-playback-state playlist-read-private";

pub(super) fn token(state: &mut State, authorization: Option<&str>, incoming: &Incoming) -> Reply {
    let Body::Json(Value::Object(form)) = &incoming.body else {
        return Reply::oauth_error(
            400,
            "unsupported_grant_type",
            "grant_type parameter is missing",
        );
    };
    let field = |name: &str| {
        form.get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    };
    let basic_auth = authorization.is_some_and(|a| a.starts_with("Basic "));
    if field("client_id").is_none() && !basic_auth {
        return Reply::oauth_error(400, "invalid_request", "client_id required");
    }
    let tokens = &mut state.tokens;
    match field("grant_type") {
        Some("refresh_token") => {
            if field("refresh_token") != Some(tokens.refresh.as_str()) {
                return Reply::oauth_error(400, "invalid_grant", "Invalid refresh token");
            }
        }
        Some("authorization_code") => {
            let Some(code) = field("code") else {
                return Reply::oauth_error(400, "invalid_request", "code required");
            };
            if field("redirect_uri").is_none() {
                return Reply::oauth_error(400, "invalid_grant", "Invalid redirect URI");
            }
            if field("code_verifier").is_none() && !basic_auth {
                return Reply::oauth_error(400, "invalid_grant", "code_verifier required");
            }
            let expected = tokens.expected_code.as_deref().is_none_or(|c| c == code);
            if !expected || !tokens.used_codes.insert(code.to_owned()) {
                return Reply::oauth_error(400, "invalid_grant", "Invalid authorization code");
            }
        }
        Some(_) | None => {
            return Reply::oauth_error(
                400,
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            );
        }
    }
    tokens.rotate();
    Reply::ok(json!({
        "access_token": tokens.access,
        "token_type": "Bearer",
        "scope": SCOPE,
        "expires_in": 3600,
        "refresh_token": tokens.refresh,
    }))
}
