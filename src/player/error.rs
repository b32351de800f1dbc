//! What went wrong talking to Spotify, classified the way the ring sequence must react
//! (see `docs/spotify.md`): retry, re-resolve the device, wait, or give up and fall back.
//! Also the one place a failed request is turned into words ([`classify`]): the detail is
//! logged here, and only the words travel on.

use std::time::Duration;

use rspotify::ClientError;
use rspotify::http::HttpError;
use serde::Deserialize;

/// `Display` is what a person reads at 6 a.m. (status `fallback_reason`, history): plain
/// words, what to do if anything, an HTTP status at most; never a URL or a token. The
/// technical detail (error chains with URLs, Spotify's messages) goes to the log where the
/// error is classified.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpotifyError {
    #[error("no Spotify account is linked: link Spotify in the settings")]
    NotLinked,
    #[error("the Spotify client ID is not set (spotify.client_id)")]
    NoClientId,
    /// The words say what to do (link again, check the client id).
    #[error("{0}")]
    Unauthorized(String),
    /// 401 once: the caller refreshes and retries once.
    #[error("the Spotify access token expired")]
    TokenExpired,
    /// 401/403 about a scope: the login was made before the daemon asked for this permission.
    /// A refresh keeps the scopes, so only a new login helps.
    #[error("the Spotify login lacks a permission this needs: link Spotify again")]
    InsufficientScope,
    #[error("Spotify Premium is needed to control playback")]
    PremiumRequired,
    #[error(
        "this Spotify account may not use the app: add it to the app's users on developer.spotify.com"
    )]
    NotAllowed,
    /// 403 "Restriction violated", typically a receiver that has just started.
    #[error("the receiver refused the command (HTTP 403; it may still be starting up)")]
    Restricted,
    #[error("the receiver does not allow volume control")]
    VolumeDisallowed,
    /// The words name the receiver when it is known.
    #[error("{0}")]
    DeviceNotFound(String),
    #[error("no Spotify receiver is online")]
    NoDevice,
    #[error("Spotify asked to wait {} s (too many requests)", .0.as_secs())]
    RateLimited(Duration),
    /// A `Retry-After` that ends after the start deadline: fall back now rather than wait.
    #[error(
        "Spotify asked to wait {} s (too many requests), longer than the start deadline allows",
        .0.as_secs()
    )]
    RateLimitedPastDeadline(Duration),
    #[error("Spotify has a server problem (HTTP {0})")]
    Server(u16),
    /// Any other refusal (400, 415, ...): the status is what support needs.
    #[error("Spotify refused the request (HTTP {0})")]
    Refused(u16),
    #[error("Spotify did not answer in time")]
    Timeout,
    /// The words say what failed (no network, refused, TLS).
    #[error("Spotify could not be reached: {0}")]
    Network(String),
    /// The start volume could not be set: no ceiling can be enforced, so Spotify must not
    /// play. Built by [`SpotifyError::volume_not_set`].
    #[error("{0}")]
    VolumeNotSet(String),
    #[error("{0}")]
    Unexpected(String),
}

impl SpotifyError {
    /// Retrying within this start cannot help: fall back at once and tell the user.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            SpotifyError::NotLinked
                | SpotifyError::NoClientId
                | SpotifyError::Unauthorized(_)
                | SpotifyError::InsufficientScope
                | SpotifyError::PremiumRequired
                | SpotifyError::NotAllowed
                | SpotifyError::VolumeNotSet(_)
                | SpotifyError::RateLimitedPastDeadline(_)
        )
    }

    /// The reason for not playing Spotify when the start volume stays refused.
    pub fn volume_not_set(cause: &SpotifyError) -> SpotifyError {
        let what = match cause {
            SpotifyError::Refused(status) => {
                format!("Spotify refused the volume change (HTTP {status})")
            }
            SpotifyError::Restricted => "Spotify refused the volume change (HTTP 403)".into(),
            SpotifyError::DeviceNotFound(_) | SpotifyError::NoDevice => {
                "Spotify refused the volume change (HTTP 404: receiver not found)".into()
            }
            SpotifyError::RateLimited(_) => {
                "Spotify refused the volume change (HTTP 429: too many requests)".into()
            }
            other => format!("the volume could not be set ({other})"),
        };
        SpotifyError::VolumeNotSet(format!(
            "{what}; the local sound rings instead of Spotify at an unknown volume"
        ))
    }

    /// Classifies an HTTP error answer from the Web API.
    pub fn from_status(status: u16, retry_after: Option<&str>, body: &str) -> SpotifyError {
        let (message, reason) = parse_error_body(body);
        let lowered = message.to_ascii_lowercase();
        let about_scope = lowered.contains("scope") || lowered.contains("permissions missing");
        match status {
            401 | 403 if about_scope => SpotifyError::InsufficientScope,
            401 => SpotifyError::TokenExpired,
            403 if reason == "PREMIUM_REQUIRED" || message.contains("Premium") => {
                SpotifyError::PremiumRequired
            }
            403 if reason == "VOLUME_CONTROL_DISALLOW" => SpotifyError::VolumeDisallowed,
            // Development-mode apps answer users missing from the allowlist like this.
            403 if message.contains("registered") || message.contains("developer.spotify.com") => {
                SpotifyError::NotAllowed
            }
            403 => SpotifyError::Restricted,
            404 if reason == "NO_ACTIVE_DEVICE" => SpotifyError::NoDevice,
            404 => SpotifyError::DeviceNotFound(
                "the receiver was not found (is it switched on and logged in to Spotify?)".into(),
            ),
            429 => SpotifyError::RateLimited(Duration::from_secs(
                retry_after
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 3600),
            )),
            500..=599 => SpotifyError::Server(status),
            _ => SpotifyError::Refused(status),
        }
    }
}

/// Turns a failed request into a [`SpotifyError`]; the technical detail (Spotify's message,
/// the error chain with its URL) is logged here and stays out of the error's words.
pub(super) async fn classify(error: ClientError) -> SpotifyError {
    match error {
        ClientError::Http(http) => match *http {
            HttpError::StatusCode(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.text().await.unwrap_or_default();
                let error = SpotifyError::from_status(status, retry_after.as_deref(), &body);
                // An error body holds Spotify's message and reason, never a token.
                let body: String = body.chars().take(300).collect();
                tracing::warn!(status, ?retry_after, %body, "Spotify answered: {error}");
                error
            }
            HttpError::Client(e) if e.is_timeout() => {
                tracing::warn!("Spotify request timed out: {}", error_chain(&e));
                SpotifyError::Timeout
            }
            HttpError::Client(e) => {
                let words = network_words(&e);
                tracing::warn!("Spotify request failed ({words}): {}", error_chain(&e));
                SpotifyError::Network(words.into())
            }
        },
        other => {
            tracing::warn!("Spotify request failed: {other}");
            SpotifyError::Unexpected("the Spotify request failed (see the log)".into())
        }
    }
}

/// What went wrong on the way to Spotify, in words: the io error kinds first, then what
/// hyper and rustls say in their messages (DNS and TLS errors carry no kind).
fn network_words(error: &reqwest::Error) -> &'static str {
    use std::io::ErrorKind;
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return "the connection was refused",
                ErrorKind::NetworkUnreachable
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkDown => return "no network connection",
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof => return "the connection broke off",
                ErrorKind::TimedOut => return "no answer in time",
                _ => {}
            }
        }
        source = cause.source();
    }
    let chain = error_chain(error).to_ascii_lowercase();
    if chain.contains("dns error") || chain.contains("lookup") {
        "no network connection (Spotify's address cannot be looked up)"
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        "the secure connection failed (is the clock set right?)"
    } else {
        "the connection failed"
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
                body("Insufficient client scope", ""),
                SpotifyError::InsufficientScope,
            ),
            (
                401,
                None,
                body("Permissions missing", ""),
                SpotifyError::InsufficientScope,
            ),
            (
                403,
                None,
                body(
                    "Player command failed: Premium required",
                    "PREMIUM_REQUIRED",
                ),
                SpotifyError::PremiumRequired,
            ),
            (
                403,
                None,
                body("Player command failed: Restriction violated", ""),
                SpotifyError::Restricted,
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
            (415, None, String::new(), SpotifyError::Refused(415)),
            (
                400,
                None,
                r#"{"error":"invalid_grant","error_description":"Refresh token revoked"}"#.into(),
                SpotifyError::Refused(400),
            ),
        ];
        assert!(matches!(
            SpotifyError::from_status(404, None, &body("Device not found", "")),
            SpotifyError::DeviceNotFound(_)
        ));
        for (status, retry, text, expected) in cases {
            assert_eq!(
                SpotifyError::from_status(status, retry, &text),
                expected,
                "{status} {text}"
            );
        }
        assert!(SpotifyError::PremiumRequired.is_permanent());
        assert!(SpotifyError::InsufficientScope.is_permanent());
        assert!(!SpotifyError::Restricted.is_permanent());
        assert!(!SpotifyError::DeviceNotFound(String::new()).is_permanent());
    }
}

#[cfg(test)]
mod wording {
    use super::*;

    /// What the status and the history say, for the main cases: words, no `HTTP n: HTTP n`.
    #[test]
    fn reasons_read_as_sentences_a_person_understands() {
        let said = |e: SpotifyError| e.to_string();
        assert_eq!(
            said(SpotifyError::from_status(
                403,
                None,
                r#"{"error":{"status":403,"message":"Premium required","reason":"PREMIUM_REQUIRED"}}"#
            )),
            "Spotify Premium is needed to control playback"
        );
        assert_eq!(
            said(SpotifyError::volume_not_set(&SpotifyError::from_status(
                415, None, ""
            ))),
            "Spotify refused the volume change (HTTP 415); the local sound rings instead of \
             Spotify at an unknown volume"
        );
        assert_eq!(
            said(SpotifyError::from_status(415, None, "")),
            "Spotify refused the request (HTTP 415)"
        );
        assert_eq!(
            said(SpotifyError::from_status(429, Some("30"), "")),
            "Spotify asked to wait 30 s (too many requests)"
        );
        assert_eq!(
            said(SpotifyError::Network("no network connection".into())),
            "Spotify could not be reached: no network connection"
        );
        assert_eq!(
            said(SpotifyError::from_status(502, None, "")),
            "Spotify has a server problem (HTTP 502)"
        );
    }
}
