//! What went wrong talking to Spotify, classified the way the ring sequence must react
//! (see `docs/spotify.md`): retry, re-resolve the device, wait, or give up and fall back.

use std::time::Duration;

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpotifyError {
    #[error("no Spotify account is linked (no token in the state directory)")]
    NotLinked,
    #[error("Spotify client id is not set (spotify.client_id)")]
    NoClientId,
    #[error("Spotify refused the login ({0}): link the account again")]
    Unauthorized(String),
    /// 401 once: the caller refreshes and retries once.
    #[error("access token expired or revoked")]
    TokenExpired,
    #[error("Spotify Premium is required for remote playback ({0})")]
    PremiumRequired(String),
    #[error(
        "this Spotify account may not use the app ({0}): add it to the app's users on developer.spotify.com"
    )]
    NotAllowed(String),
    /// 403 "Restriction violated", typically a receiver that has just started.
    #[error("Spotify refused the command ({0})")]
    Restricted(String),
    #[error("the receiver does not allow volume control")]
    VolumeDisallowed,
    #[error("device not found ({0})")]
    DeviceNotFound(String),
    #[error("no Spotify Connect device is available")]
    NoDevice,
    #[error("rate limited by Spotify (retry after {0:?})")]
    RateLimited(Duration),
    #[error("Spotify server error {0}")]
    Server(u16),
    #[error("no answer from Spotify in time")]
    Timeout,
    #[error("cannot reach Spotify: {0}")]
    Network(String),
    /// 400: the request was refused as malformed; from the accounts service, a refresh token
    /// that is expired or revoked (`invalid_grant`).
    #[error("Spotify refused the request ({0})")]
    BadRequest(String),
    #[error("unexpected answer from Spotify: {0}")]
    Unexpected(String),
}

impl SpotifyError {
    /// Retrying cannot help: fall back at once and tell the user.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SpotifyError::NotLinked
                | SpotifyError::NoClientId
                | SpotifyError::Unauthorized(_)
                | SpotifyError::PremiumRequired(_)
                | SpotifyError::NotAllowed(_)
        )
    }

    /// Classifies an HTTP error answer from the Web API.
    pub fn from_status(status: u16, retry_after: Option<&str>, body: &str) -> SpotifyError {
        let (message, reason) = parse_error_body(body);
        let text = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message.clone()
        };
        match status {
            400 => SpotifyError::BadRequest(text),
            401 => SpotifyError::TokenExpired,
            403 if reason == "PREMIUM_REQUIRED" || message.contains("Premium") => {
                SpotifyError::PremiumRequired(text)
            }
            403 if reason == "VOLUME_CONTROL_DISALLOW" => SpotifyError::VolumeDisallowed,
            // Development-mode apps answer users missing from the allowlist like this.
            403 if message.contains("registered") || message.contains("developer.spotify.com") => {
                SpotifyError::NotAllowed(text)
            }
            403 => SpotifyError::Restricted(text),
            404 if reason == "NO_ACTIVE_DEVICE" => SpotifyError::NoDevice,
            404 => SpotifyError::DeviceNotFound(text),
            429 => SpotifyError::RateLimited(Duration::from_secs(
                retry_after
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 3600),
            )),
            500..=599 => SpotifyError::Server(status),
            _ => SpotifyError::Unexpected(format!("HTTP {status}: {text}")),
        }
    }
}

/// `{"error": {"status", "message", "reason"?}}`; rspotify's own error type does not parse it.
fn parse_error_body(body: &str) -> (String, String) {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        message: String,
        #[serde(default)]
        reason: String,
    }
    serde_json::from_str::<Body>(body)
        .map(|b| (b.error.message, b.error.reason))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_are_classified_like_the_spotify_notes_say() {
        let body = |m: &str, r: &str| {
            format!(r#"{{"error":{{"status":0,"message":"{m}","reason":"{r}"}}}}"#)
        };
        let cases = [
            (
                401,
                None,
                body("The access token expired", ""),
                SpotifyError::TokenExpired,
            ),
            (
                403,
                None,
                body(
                    "Player command failed: Premium required",
                    "PREMIUM_REQUIRED",
                ),
                SpotifyError::PremiumRequired("Player command failed: Premium required".into()),
            ),
            (
                403,
                None,
                body("Player command failed: Restriction violated", ""),
                SpotifyError::Restricted("Player command failed: Restriction violated".into()),
            ),
            (
                403,
                None,
                body("x", "VOLUME_CONTROL_DISALLOW"),
                SpotifyError::VolumeDisallowed,
            ),
            (
                404,
                None,
                body("Device not found", ""),
                SpotifyError::DeviceNotFound("Device not found".into()),
            ),
            (
                404,
                None,
                body(
                    "Player command failed: No active device found",
                    "NO_ACTIVE_DEVICE",
                ),
                SpotifyError::NoDevice,
            ),
            (
                429,
                Some("7"),
                body("API rate limit exceeded", ""),
                SpotifyError::RateLimited(Duration::from_secs(7)),
            ),
            (503, None, String::new(), SpotifyError::Server(503)),
            (
                400,
                None,
                r#"{"error":"invalid_grant","error_description":"Refresh token revoked"}"#.into(),
                SpotifyError::BadRequest("HTTP 400".into()),
            ),
        ];
        for (status, retry, text, expected) in cases {
            assert_eq!(
                SpotifyError::from_status(status, retry, &text),
                expected,
                "{status} {text}"
            );
        }
        assert!(SpotifyError::PremiumRequired(String::new()).is_permanent());
        assert!(!SpotifyError::Restricted(String::new()).is_permanent());
        assert!(!SpotifyError::DeviceNotFound(String::new()).is_permanent());
    }
}
