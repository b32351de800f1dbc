//! The mock's accounts service, `POST /api/token`: the `refresh_token` grant rotates both
//! tokens (the refresh token is single-use, as with PKCE) and the `authorization_code` grant
//! exchanges a code once. A code issued by [`authorize`] (the user allowing access on
//! Spotify's page) is checked like PKCE: the same client ID and redirect URI as the authorise
//! link, and base64url(sha256(code_verifier)) equal to its `code_challenge`. Errors use the
//! OAuth body `{"error","error_description"}`, not the Web API's. Also `GET /v1/me`, the
//! account. It only touches the token part of the state.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::server::{Body, Incoming, Reply};
use super::{State, Tokens};

/// What an issued code was bound to on the authorise page.
pub(super) struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    pub expired: bool,
}

/// The authorise page, minus the page: checks the link and issues a code.
pub(super) fn authorize(tokens: &mut Tokens, authorize_url: &str) -> Result<String, String> {
    let url = url::Url::parse(authorize_url).map_err(|e| format!("not a URL: {e}"))?;
    if url.path() != "/authorize" {
        return Err(format!(
            "the authorise path is /authorize, not {}",
            url.path()
        ));
    }
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("the authorise link has no `{name}`"))
    };
    let client_id = param("client_id")?;
    if tokens.client_id.as_ref().is_some_and(|c| *c != client_id) {
        return Err("INVALID_CLIENT: Invalid client".into());
    }
    if param("response_type")? != "code" || param("code_challenge_method")? != "S256" {
        return Err("response_type=code and code_challenge_method=S256 are required".into());
    }
    let redirect_uri = param("redirect_uri")?;
    let loopback = url::Url::parse(&redirect_uri)
        .is_ok_and(|r| r.scheme() == "http" && r.host_str() == Some("127.0.0.1"));
    if !loopback && !redirect_uri.starts_with("https://") {
        return Err("INVALID_CLIENT: Insecure redirect URI".into());
    }
    let code_challenge = param("code_challenge")?;
    let scope = param("scope")?;
    for needed in ["user-read-playback-state", "user-modify-playback-state"] {
        if !scope.split(' ').any(|s| s == needed) {
            return Err(format!("the scope lacks {needed}"));
        }
    }
    let state = param("state")?;
    tokens.serial += 1;
    let code = super::secret("code", tokens.serial);
    tokens.grants.insert(
        code.clone(),
        Grant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge,
            expired: false,
        },
    );
    let mut back = url::Url::parse(&redirect_uri).map_err(|e| e.to_string())?;
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state);
    Ok(back.into())
}

/// A PKCE exchange of a code [`authorize`] issued.
fn check_grant(grant: &Grant, form: &serde_json::Map<String, Value>) -> Result<(), Reply> {
    let field = |name: &str| form.get(name).and_then(Value::as_str);
    if field("client_id") != Some(grant.client_id.as_str()) {
        return Err(Reply::oauth_error(400, "invalid_client", "Invalid client"));
    }
    if field("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(Reply::oauth_error(
            400,
            "invalid_grant",
            "Invalid redirect URI",
        ));
    }
    let verifier = field("code_verifier").unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !(43..=128).contains(&verifier.len()) || challenge != grant.code_challenge {
        return Err(Reply::oauth_error(
            400,
            "invalid_grant",
            "code_verifier was incorrect",
        ));
    }
    if grant.expired {
        return Err(Reply::oauth_error(
            400,
            "invalid_grant",
            "Authorization code expired",
        ));
    }
    Ok(())
}

pub(super) fn me(state: &State) -> Reply {
    Reply::ok(json!({
        "id": "mock-user",
        "display_name": state.tokens.display_name,
        "product": state.tokens.product,
        "type": "user",
        "uri": "spotify:user:mock-user",
    }))
}

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
    if tokens.client_id.is_some()
        && field("client_id") != tokens.client_id.as_deref()
        && !basic_auth
    {
        return Reply::oauth_error(400, "invalid_client", "Invalid client");
    }
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
            if let Some(grant) = tokens.grants.get(code)
                && let Err(reply) = check_grant(grant, form)
            {
                return reply;
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
