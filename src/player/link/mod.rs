//! Linking a Spotify account from a phone: the authorisation-code flow with PKCE and the
//! user's own client ID (no secret). Spotify only redirects to HTTPS or a loopback literal, so
//! a phone cannot land on the Pi: the daemon shows the authorise link, the phone's browser ends
//! on the loopback [`redirect_uri`] (a page that fails to load), and the user pastes that
//! address back (or `reveille spotify login` catches it there, on the Pi or through a tunnel).
//!
//! A started login is a *pending login* (random `state`, PKCE verifier), kept durably in
//! `spotify-link-pending.json` (mode 0600) so a restart in between does not lose it; it lives
//! [`PENDING_LIFETIME`], is used once, and at most [`MAX_PENDING`] are kept. Completing it
//! exchanges the code, saves the tokens through [`TokenFile`] with `authorised_at` *before*
//! using them, and reads the account (`GET /me`). No answer of this module carries a token.

mod accounts;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::spotify::{
    ACCOUNTS_URL_ENV, API_URL_ENV, DEFAULT_ACCOUNTS_URL, DEFAULT_API_URL, base_url,
};
use super::tokens::TokenFile;
use crate::clock::SharedClock;
use crate::config::SpotifySettings;
use crate::store::RecordFile;

mod types;
pub use types::{LinkError, LinkStarted, LinkStatus, LinkedAccount, Unlinked};

pub const PENDING_FILE: &str = "spotify-link-pending.json";
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);
pub const MAX_PENDING: usize = 5;
/// What playback control needs (and `user-read-private` for the plan, `GET /me`).
pub const SCOPES: &str =
    "user-read-playback-state user-modify-playback-state user-read-private playlist-read-private";
/// Refresh tokens end six months after the login (Spotify, 2026); warn this many days before.
pub const LOGIN_MONTHS: u32 = 6;
pub const WARN_DAYS: i64 = 14;

/// One login in progress. The verifier is a secret until the exchange: never printed.
#[derive(Clone, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    code_verifier: String,
    client_id: String,
    redirect_uri: String,
    expires_at: DateTime<Utc>,
}

#[derive(Default, Serialize, Deserialize)]
struct PendingFile {
    logins: Vec<PendingLogin>,
}

/// One login's read-modify-write of the pending file and the token file at a time.
static LINKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The linking flow over the state directory. Cheap: build one per request.
pub struct Linker {
    dir: PathBuf,
    clock: SharedClock,
}

impl Linker {
    pub fn new(state_dir: &Path, clock: SharedClock) -> Linker {
        Linker {
            dir: state_dir.to_owned(),
            clock,
        }
    }

    fn pending(&self) -> Result<(RecordFile, PendingFile), LinkError> {
        let file = RecordFile::new(&self.dir, PENDING_FILE).map_err(storage)?;
        // An unreadable file only loses logins in progress: start afresh rather than fail.
        let pending = file.load().unwrap_or_else(|e| {
            tracing::warn!("the pending Spotify logins cannot be read, dropping them: {e}");
            None
        });
        Ok((file, pending.unwrap_or_default()))
    }

    fn tokens(&self) -> Result<TokenFile, LinkError> {
        TokenFile::new(&self.dir).map_err(storage)
    }

    /// `POST /api/spotify/link`: a new pending login and the link to open on the phone.
    pub async fn start(&self, settings: &SpotifySettings) -> Result<LinkStarted, LinkError> {
        let client_id = settings
            .client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or(LinkError::NoClientId)?;
        let now = self.clock.now();
        let login = PendingLogin {
            state: random_token(16)?,
            code_verifier: random_token(64)?,
            client_id: client_id.clone(),
            redirect_uri: redirect_uri(settings),
            expires_at: now + PENDING_LIFETIME,
        };
        let accounts = base_url(
            ACCOUNTS_URL_ENV,
            settings.accounts_base_url.as_deref(),
            DEFAULT_ACCOUNTS_URL,
        );
        let authorize = format!("{}/authorize", accounts.trim_end_matches('/'));
        let authorize_url = url::Url::parse_with_params(
            &authorize,
            [
                ("client_id", client_id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", login.redirect_uri.as_str()),
                ("code_challenge_method", "S256"),
                ("code_challenge", &code_challenge(&login.code_verifier)),
                ("state", login.state.as_str()),
                ("scope", SCOPES),
            ],
        )
        .map_err(|e| LinkError::Internal(format!("bad accounts URL {authorize}: {e}")))?;

        let _one = LINKING.lock().await;
        let (file, mut pending) = self.pending()?;
        pending.logins.retain(|l| l.expires_at > now);
        // Oldest first: a user who starts again and again keeps the newest ones.
        while pending.logins.len() >= MAX_PENDING {
            pending.logins.remove(0);
        }
        let expires_at = login.expires_at;
        pending.logins.push(login);
        file.save(&pending).await.map_err(storage)?;
        Ok(LinkStarted::new(
            authorize_url.into(),
            redirect_uri(settings),
            expires_at,
        ))
    }

    /// `POST /api/spotify/link/complete` with the address the browser ended on.
    pub async fn complete(
        &self,
        settings: &SpotifySettings,
        redirect_url: &str,
    ) -> Result<LinkedAccount, LinkError> {
        let pasted = parse_pasted(redirect_url)?;
        let state = pasted("state").ok_or(LinkError::BadRedirectUrl)?;
        let now = self.clock.now();

        let _one = LINKING.lock().await;
        let (file, mut pending) = self.pending()?;
        let Some(index) = pending.logins.iter().position(|l| l.state == state) else {
            return Err(LinkError::UnknownLogin);
        };
        // Used once, whatever happens next; expired ones go with it.
        let login = pending.logins.remove(index);
        pending.logins.retain(|l| l.expires_at > now);
        file.save(&pending).await.map_err(storage)?;
        if login.expires_at <= now {
            return Err(LinkError::Expired);
        }
        if let Some(error) = pasted("error") {
            tracing::info!(%error, "the Spotify login was not allowed");
            return Err(match error.as_str() {
                "access_denied" => LinkError::AccessDenied,
                _ => LinkError::Refused(400),
            });
        }
        let code = pasted("code").ok_or(LinkError::BadRedirectUrl)?;

        let accounts = base_url(
            ACCOUNTS_URL_ENV,
            settings.accounts_base_url.as_deref(),
            DEFAULT_ACCOUNTS_URL,
        );
        let mut token = accounts::exchange(
            accounts::Exchange {
                token_url: format!("{}/api/token", accounts.trim_end_matches('/')),
                code: &code,
                redirect_uri: &login.redirect_uri,
                client_id: &login.client_id,
                code_verifier: &login.code_verifier,
            },
            Utc::now(),
        )
        .await?;
        token.authorised_at = Some(now);
        let tokens = self.tokens()?;
        // Saved before the first use, like every token of the daemon's.
        tokens.save(&token).await.map_err(storage)?;
        tracing::info!("Spotify account linked");

        let api = base_url(
            API_URL_ENV,
            settings.api_base_url.as_deref(),
            DEFAULT_API_URL,
        );
        let me_url = format!("{}/me", api.trim_end_matches('/'));
        let me = match accounts::me(&me_url, &token.access_token).await {
            Ok(me) => me,
            Err(LinkError::NotAllowed) => {
                // Every call would fail the same way: do not keep a link that cannot play.
                tokens.remove().await.map_err(storage)?;
                return Err(LinkError::NotAllowed);
            }
            Err(e) => {
                tracing::warn!("linked, but the account could not be read: {e}");
                return Ok(LinkedAccount::from_token(&token, Some(e.to_string())));
            }
        };
        token.display_name = me.display_name;
        token.product = me.product;
        tokens.save(&token).await.map_err(storage)?;
        Ok(LinkedAccount::from_token(&token, None))
    }

    /// `GET /api/spotify/link`.
    pub fn status(&self, settings: &SpotifySettings) -> Result<LinkStatus, LinkError> {
        let token = self.tokens()?.load().map_err(storage)?;
        Ok(LinkStatus::new(
            token.as_ref(),
            settings.client_id.is_some(),
            redirect_uri(settings),
            self.clock.now(),
        ))
    }

    /// `DELETE /api/spotify/link`: forgets the tokens (and any login in progress).
    pub async fn unlink(&self) -> Result<Unlinked, LinkError> {
        let _one = LINKING.lock().await;
        let removed = self.tokens()?.remove().await.map_err(storage)?;
        let (file, _) = self.pending()?;
        file.remove().await.map_err(storage)?;
        tracing::info!(removed, "Spotify account unlinked");
        Ok(Unlinked::new(removed))
    }
}

/// The redirect URI to register on the dashboard: a loopback literal, since Spotify refuses
/// `localhost` and LAN names for plain HTTP. The port is `spotify.redirect_port` (8888 unless
/// the user's is taken), the path the one `reveille spotify login` listens on.
pub fn redirect_uri(settings: &SpotifySettings) -> String {
    format!("http://127.0.0.1:{}/callback", settings.redirect_port)
}

/// When the refresh token stops working: six months after the login.
pub fn login_expires_at(authorised_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    authorised_at.checked_add_months(Months::new(LOGIN_MONTHS))
}

/// The query of a pasted address. Accepts the whole address or just its `?...` part.
fn parse_pasted(pasted: &str) -> Result<impl Fn(&str) -> Option<String>, LinkError> {
    let pasted = pasted.trim();
    let url = url::Url::parse(pasted)
        .or_else(|_| {
            url::Url::parse(&format!(
                "http://127.0.0.1/callback?{}",
                pasted.trim_start_matches('?')
            ))
        })
        .map_err(|_| LinkError::BadRedirectUrl)?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    Ok(move |name: &str| {
        pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    })
}

/// `bytes` random bytes, base64url without padding (64 bytes: an 86-character verifier).
fn random_token(bytes: usize) -> Result<String, LinkError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::getrandom(&mut buffer)
        .map_err(|e| LinkError::Internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// S256: base64url(sha256(verifier)), no padding (RFC 7636).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn storage(e: std::io::Error) -> LinkError {
    LinkError::Internal(format!("cannot save the Spotify login: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // The example of RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = random_token(64).unwrap();
        assert!((43..=128).contains(&verifier.len()), "{}", verifier.len());
    }

    #[test]
    fn pasted_addresses_give_their_query() {
        let q = parse_pasted(" http://127.0.0.1:8888/callback?code=abc&state=xyz ").unwrap();
        assert_eq!(q("code").as_deref(), Some("abc"));
        assert_eq!(q("state").as_deref(), Some("xyz"));
        let q = parse_pasted("?error=access_denied&state=s").unwrap();
        assert_eq!(q("error").as_deref(), Some("access_denied"));
        assert_eq!(q("code"), None);
    }
}
