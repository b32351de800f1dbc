//! What the linking flow answers, as the API shows it: none of these types has a field that
//! could hold a token. [`LinkError`]'s `Display` is for a person; `code` and `status` are for
//! the API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{WARN_DAYS, login_expires_at};
use crate::player::tokens::StoredToken;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("set spotify.client_id first: the client ID of your own app on developer.spotify.com")]
    NoClientId,
    #[error(
        "that address is not the one the browser ended on: paste the whole address, starting with http://127.0.0.1"
    )]
    BadRedirectUrl,
    #[error(
        "this login is not one the daemon started (or it was used already): start linking again"
    )]
    UnknownLogin,
    #[error("this login took longer than 10 minutes and expired: start linking again")]
    Expired,
    #[error("Spotify was not allowed access (\"Cancel\" on Spotify's page): nothing was linked")]
    AccessDenied,
    #[error(
        "Spotify does not know this client ID: check spotify.client_id against your app on developer.spotify.com"
    )]
    InvalidClient,
    /// The redirect URI the login used.
    #[error(
        "the redirect URI is not registered in your Spotify app: add {0} in the app's settings on developer.spotify.com"
    )]
    RedirectNotRegistered(String),
    #[error(
        "Spotify did not accept the login (it expired or was used already): start linking again"
    )]
    InvalidGrant,
    #[error(
        "this Spotify account may not use your app: add it under User Management on developer.spotify.com, then link again"
    )]
    NotAllowed,
    #[error("Spotify asks to wait {0} s (too many requests, or the app's quota is used up)")]
    RateLimited(u64),
    #[error("Spotify could not be reached: {0}")]
    Unreachable(String),
    #[error("Spotify refused the login (HTTP {0})")]
    Refused(u16),
    /// Logged where it is answered; the API shows fixed words.
    #[error("{0}")]
    Internal(String),
}

impl LinkError {
    pub fn status(&self) -> u16 {
        match self {
            LinkError::NoClientId => 409,
            LinkError::Expired => 410,
            LinkError::NotAllowed => 403,
            LinkError::RateLimited(_) => 429,
            LinkError::Unreachable(_) => 502,
            LinkError::Internal(_) => 500,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            LinkError::NoClientId => "no_client_id",
            LinkError::BadRedirectUrl => "bad_redirect_url",
            LinkError::UnknownLogin => "unknown_login",
            LinkError::Expired => "login_expired",
            LinkError::AccessDenied => "access_denied",
            LinkError::InvalidClient => "invalid_client",
            LinkError::RedirectNotRegistered(_) => "redirect_uri_not_registered",
            LinkError::InvalidGrant => "invalid_grant",
            LinkError::NotAllowed => "not_allowed",
            LinkError::RateLimited(_) => "rate_limited",
            LinkError::Unreachable(_) => "spotify_unreachable",
            LinkError::Refused(_) => "spotify_refused",
            LinkError::Internal(_) => "internal",
        }
    }
}

/// A started login: open `authorize_url` on the phone.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStarted {
    pub authorize_url: String,
    /// Register exactly this in the Spotify app's settings.
    pub redirect_uri: String,
    /// Paste the address back before this.
    pub expires_at: DateTime<Utc>,
    pub steps: Vec<String>,
}

impl LinkStarted {
    pub(super) fn new(
        authorize_url: String,
        redirect_uri: String,
        expires_at: DateTime<Utc>,
    ) -> LinkStarted {
        LinkStarted {
            authorize_url,
            redirect_uri,
            expires_at,
            steps: vec![
                "Once: on developer.spotify.com, create an app (Web API), add the redirect URI \
                 shown here, add your Spotify account under User Management, and copy its \
                 client ID into spotify.client_id."
                    .into(),
                "Open the authorise link on your phone and allow access.".into(),
                "The browser then ends on a page at 127.0.0.1 that does not load: that is \
                 expected. Copy that whole address."
                    .into(),
                "Paste it here within 10 minutes.".into(),
            ],
        }
    }
}

/// The account just linked.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedAccount {
    pub display_name: Option<String>,
    pub product: Option<String>,
    /// Playback control needs Premium.
    pub premium: bool,
    pub warning: Option<String>,
}

impl LinkedAccount {
    pub(super) fn from_token(token: &StoredToken, warning: Option<String>) -> LinkedAccount {
        let premium = token.product.as_deref() == Some("premium");
        let warning = warning.or_else(|| {
            (token.product.is_some() && !premium).then(|| {
                "this account has no Spotify Premium: alarms will ring the local sound".to_owned()
            })
        });
        LinkedAccount {
            display_name: token.display_name.clone(),
            product: token.product.clone(),
            premium,
            warning,
        }
    }
}

/// Whether an account is linked, and for how long the login lasts.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStatus {
    pub linked: bool,
    pub client_id_set: bool,
    /// The redirect URI to register in the Spotify app (`spotify.redirect_port`).
    pub redirect_uri: String,
    pub display_name: Option<String>,
    pub product: Option<String>,
    pub premium: Option<bool>,
    pub authorised_at: Option<DateTime<Utc>>,
    /// Six months after `authorised_at`: Spotify then refuses the refresh token.
    pub login_expires_at: Option<DateTime<Utc>>,
    pub days_left: Option<i64>,
    /// From 14 days before the login expires (and when its age is unknown).
    pub warning: Option<String>,
}

impl LinkStatus {
    pub(super) fn new(
        token: Option<&StoredToken>,
        client_id_set: bool,
        redirect_uri: String,
        now: DateTime<Utc>,
    ) -> LinkStatus {
        let Some(token) = token else {
            return LinkStatus {
                linked: false,
                client_id_set,
                redirect_uri,
                display_name: None,
                product: None,
                premium: None,
                authorised_at: None,
                login_expires_at: None,
                days_left: None,
                warning: None,
            };
        };
        let expires = token.authorised_at.and_then(login_expires_at);
        let days_left = expires.map(|e| (e - now).num_days().max(0));
        let warning = match (expires, days_left) {
            (Some(e), _) if e <= now => {
                Some("the Spotify login has expired: link Spotify again".to_owned())
            }
            (Some(_), Some(days)) if days <= WARN_DAYS => Some(format!(
                "the Spotify login ends in {days} days: link Spotify again before then"
            )),
            (None, _) => Some(
                "when this login was made is unknown: link Spotify again to see when it ends"
                    .to_owned(),
            ),
            _ => None,
        };
        LinkStatus {
            linked: true,
            client_id_set,
            redirect_uri,
            display_name: token.display_name.clone(),
            product: token.product.clone(),
            premium: token.product.as_ref().map(|p| p == "premium"),
            authorised_at: token.authorised_at,
            login_expires_at: expires,
            days_left,
            warning,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unlinked {
    /// False when no account was linked.
    pub unlinked: bool,
    pub message: String,
}

impl Unlinked {
    pub(super) fn new(removed: bool) -> Unlinked {
        let message = if removed {
            "the Spotify account is unlinked; its tokens are deleted from the Pi".into()
        } else {
            "no Spotify account was linked".into()
        };
        Unlinked {
            unlinked: removed,
            message,
        }
    }
}
