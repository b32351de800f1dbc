//! The two Spotify calls of a login, made with plain reqwest (rspotify's PKCE helper keeps the
//! verifier in memory and hides the accounts service's error body): the code exchange at
//! `POST {accounts}/api/token` and the account at `GET {api}/me`. Their failures become
//! [`LinkError`]s in words; the technical detail (Spotify's own `error_description`) is logged
//! here and never travels further.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::LinkError;
use crate::player::tokens::StoredToken;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the exchange needs from the pending login and the pasted address.
pub(super) struct Exchange<'a> {
    pub token_url: String,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub client_id: &'a str,
    pub code_verifier: &'a str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: i64,
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `GET /me`, the part the settings page shows.
#[derive(Deserialize, Default)]
pub(super) struct Me {
    pub display_name: Option<String>,
    pub product: Option<String>,
}

fn client() -> Result<reqwest::Client, LinkError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| LinkError::Internal(format!("cannot set up HTTP: {e}")))
}

fn unreachable(e: &reqwest::Error) -> LinkError {
    tracing::warn!("Spotify's accounts service could not be reached: {e:#}");
    if e.is_timeout() {
        LinkError::Unreachable("Spotify did not answer in time".into())
    } else {
        LinkError::Unreachable("no connection to Spotify".into())
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(30)
}

/// Trades the authorisation code for tokens. `now` is the real time (the access token's
/// lifetime is Spotify's, not the daemon's clock).
pub(super) async fn exchange(
    request: Exchange<'_>,
    now: DateTime<Utc>,
) -> Result<StoredToken, LinkError> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", request.code),
        ("redirect_uri", request.redirect_uri),
        ("client_id", request.client_id),
        ("code_verifier", request.code_verifier),
    ];
    let response = client()?
        .post(&request.token_url)
        .form(&form)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status().as_u16();
    if status == 429 {
        return Err(LinkError::RateLimited(retry_after(&response)));
    }
    if !response.status().is_success() {
        let error: OAuthError = response.json().await.unwrap_or_default();
        tracing::warn!(
            status,
            error = %error.error,
            description = %error.error_description,
            "Spotify refused the login's code exchange"
        );
        return Err(classify_token_error(status, &error, request.redirect_uri));
    }
    let answer: TokenAnswer = response.json().await.map_err(|e| {
        tracing::warn!("cannot read Spotify's token answer: {e}");
        LinkError::Unreachable("Spotify sent an answer the daemon cannot read".into())
    })?;
    let mut scopes: Vec<&str> = answer.scope.split_whitespace().collect();
    scopes.sort_unstable();
    Ok(StoredToken {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: now + chrono::Duration::seconds(answer.expires_in.clamp(0, 86_400)),
        scope: scopes.join(" "),
        authorised_at: None,
        display_name: None,
        product: None,
    })
}

fn classify_token_error(status: u16, error: &OAuthError, redirect_uri: &str) -> LinkError {
    let description = error.error_description.to_ascii_lowercase();
    match error.error.as_str() {
        "invalid_client" => LinkError::InvalidClient,
        "invalid_grant" if description.contains("redirect") => {
            LinkError::RedirectNotRegistered(redirect_uri.to_owned())
        }
        "invalid_grant" => LinkError::InvalidGrant,
        _ if status >= 500 => {
            LinkError::Unreachable(format!("Spotify has a problem (HTTP {status})"))
        }
        _ => LinkError::Refused(status),
    }
}

/// The account behind a fresh access token.
pub(super) async fn me(url: &str, access_token: &str) -> Result<Me, LinkError> {
    let response = client()?
        .get(url)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status().as_u16();
    match status {
        200 => response.json().await.map_err(|e| {
            tracing::warn!("cannot read Spotify's account answer: {e}");
            LinkError::Unreachable("Spotify sent an account the daemon cannot read".into())
        }),
        403 => {
            let body = response.text().await.unwrap_or_default();
            tracing::warn!(%body, "GET /me refused: the account is not on the app's user list");
            Err(LinkError::NotAllowed)
        }
        429 => Err(LinkError::RateLimited(retry_after(&response))),
        _ => {
            tracing::warn!(status, "GET /me failed");
            Err(LinkError::Refused(status))
        }
    }
}
