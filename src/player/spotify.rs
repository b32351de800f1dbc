//! `SpotifyPlayer`: the only code that talks to the Spotify Web API (through rspotify), with
//! the daemon's own token handling and error classification.
//!
//! rspotify does the requests; around it this adds what an alarm needs (see
//! `docs/spotify.md`): a 401 refreshes the token once and retries once (rspotify refreshes only
//! on local expiry); rotated refresh tokens are saved before use; every call has a timeout;
//! error bodies are classified into [`SpotifyError`]; the device list and the player state are
//! parsed leniently, so an unknown device type or extra field never breaks an alarm.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rspotify::clients::{BaseClient, OAuthClient};
use rspotify::http::{HttpError, Query};
use rspotify::model::{
    AlbumId, ArtistId, EpisodeId, PlayContextId, PlayableId, PlaylistId, ShowId, TrackId,
};
use rspotify::{AuthCodePkceSpotify, ClientError, ClientResult, Credentials, OAuth};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::ToSchema;

use super::error::{SpotifyError, classify};
use super::playlists::{PAGE_LIMIT, PlaylistPage, parse_page};
use super::tokens::{StoredToken, TokenFile};
use crate::config::{SpotifySettings, SpotifySource};

pub const DEFAULT_API_URL: &str = "https://api.spotify.com/v1/";
pub const DEFAULT_ACCOUNTS_URL: &str = "https://accounts.spotify.com/";
/// Override the config's base URLs (tests, demos, proxies).
pub const API_URL_ENV: &str = "REVEILLE_SPOTIFY_API_URL";
pub const ACCOUNTS_URL_ENV: &str = "REVEILLE_SPOTIFY_ACCOUNTS_URL";

/// Longest wait for one request; the ring sequence has its own, overall deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A Spotify Connect device as listed by the Web API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Device {
    pub id: Option<String>,
    pub name: String,
    /// Free text: Spotify adds new types over time.
    #[serde(rename = "type")]
    pub device_type: String,
    pub is_active: bool,
    pub is_restricted: bool,
    pub volume_percent: Option<u32>,
    pub supports_volume: bool,
}

/// The part of `GET /me/player` the ring sequence needs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Playback {
    pub is_playing: bool,
    pub device: Option<Device>,
}

impl Playback {
    pub fn plays_on(&self, device_id: &str) -> bool {
        self.is_playing
            && self
                .device
                .as_ref()
                .is_some_and(|d| d.id.as_deref() == Some(device_id))
    }
}

pub struct SpotifyPlayer {
    client: AuthCodePkceSpotify,
    /// For the commands rspotify can only send with a `{}` body (volume, shuffle, pause): the
    /// Web API describes them without a request body, so the daemon sends them itself.
    http: reqwest::Client,
    tokens: TokenFile,
    /// One refresh at a time: a refresh token is single-use.
    refreshing: Arc<Mutex<()>>,
}

impl SpotifyPlayer {
    /// A player for the linked account; fails if no account is linked yet.
    pub fn new(
        settings: &SpotifySettings,
        tokens: TokenFile,
    ) -> Result<SpotifyPlayer, SpotifyError> {
        let client_id = settings.client_id.clone().ok_or(SpotifyError::NoClientId)?;
        let token = tokens
            .load()
            .map_err(|e| {
                tracing::error!(path = %tokens.path().display(), "cannot read the Spotify token: {e}");
                SpotifyError::Unexpected(
                    "the saved Spotify login cannot be read: link Spotify again".into(),
                )
            })?
            .ok_or(SpotifyError::NotLinked)?;
        let config = rspotify::Config {
            api_base_url: base_url(
                API_URL_ENV,
                settings.api_base_url.as_deref(),
                DEFAULT_API_URL,
            ),
            auth_base_url: base_url(
                ACCOUNTS_URL_ENV,
                settings.accounts_base_url.as_deref(),
                DEFAULT_ACCOUNTS_URL,
            ),
            // The daemon owns the tokens and refreshes on a 401 as well as on expiry.
            token_cached: false,
            token_refreshing: false,
            ..Default::default()
        };
        let client = AuthCodePkceSpotify::from_token_with_config(
            token.to_rspotify(),
            Credentials::new_pkce(&client_id),
            OAuth::default(),
            config,
        );
        // Like rspotify's own client: rustls, and a 10 s bound below our per-call timeout.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SpotifyError::Unexpected(format!("cannot set up HTTP: {e}")))?;
        Ok(SpotifyPlayer {
            client,
            http,
            tokens,
            refreshing: Arc::new(Mutex::new(())),
        })
    }

    pub async fn devices(&self) -> Result<Vec<Device>, SpotifyError> {
        let body = self
            .call(|p| async move { p.client.api_get("me/player/devices", &Query::new()).await })
            .await?;
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            devices: Vec<serde_json::Value>,
        }
        let list: List = serde_json::from_str(&body).map_err(|e| unreadable("device list", &e))?;
        // One odd entry must not hide the others.
        Ok(list
            .devices
            .into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect())
    }

    /// One page of the user's own playlists, from `offset` (see `player::playlists`).
    pub async fn playlists(&self, offset: u32) -> Result<PlaylistPage, SpotifyError> {
        let (limit, offset_text) = (PAGE_LIMIT.to_string(), offset.to_string());
        let body = self
            .call(|p| {
                let mut query = Query::new();
                query.insert("limit", limit.as_str());
                query.insert("offset", offset_text.as_str());
                async move { p.client.api_get("me/playlists", &query).await }
            })
            .await?;
        parse_page(&body, offset).map_err(|e| unreadable("playlist list", &e))
    }

    /// The account's plan now (`product` of `GET /me`: `premium`, `free`, ...); `None` when
    /// Spotify leaves it out (it does without the `user-read-private` scope).
    pub async fn product(&self) -> Result<Option<String>, SpotifyError> {
        let body = self
            .call(|p| async move { p.client.api_get("me", &Query::new()).await })
            .await?;
        #[derive(Deserialize)]
        struct Me {
            #[serde(default)]
            product: Option<String>,
        }
        let me: Me = serde_json::from_str(&body).map_err(|e| unreadable("account", &e))?;
        Ok(me.product)
    }

    /// `None` when nothing is active (204).
    pub async fn playback(&self) -> Result<Option<Playback>, SpotifyError> {
        let body = self
            .call(|p| async move { p.client.api_get("me/player", &Query::new()).await })
            .await?;
        if body.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| unreadable("player state", &e))
    }

    pub async fn transfer(&self, device_id: &str) -> Result<(), SpotifyError> {
        self.call(|p| async move { p.client.transfer_playback(device_id, Some(false)).await })
            .await
    }

    pub async fn set_volume(&self, device_id: &str, percent: u32) -> Result<(), SpotifyError> {
        let percent = percent.min(100).to_string();
        let query = [
            ("volume_percent", percent.as_str()),
            ("device_id", device_id),
        ];
        self.call(|p| p.put_without_body("me/player/volume", &query))
            .await
    }

    pub async fn shuffle(&self, device_id: &str, on: bool) -> Result<(), SpotifyError> {
        let state = if on { "true" } else { "false" };
        let query = [("state", state), ("device_id", device_id)];
        self.call(|p| p.put_without_body("me/player/shuffle", &query))
            .await
    }

    /// Starts `source` on the device, or resumes what it played last when there is none.
    pub async fn play(
        &self,
        device_id: &str,
        source: Option<&SpotifySource>,
    ) -> Result<(), SpotifyError> {
        let target = match source {
            None => None,
            Some(s) => Some(parse_uri(s.uri()).ok_or_else(|| {
                SpotifyError::Unexpected(format!(
                    "the alarm's source {} is not something Spotify can play",
                    s.uri()
                ))
            })?),
        };
        self.call(|p| {
            let (target, c) = (target.clone(), &p.client);
            async move {
                match target {
                    None => c.resume_playback(Some(device_id), None).await,
                    Some(Target::Context(context)) => {
                        c.start_context_playback(context, Some(device_id), None, None)
                            .await
                    }
                    Some(Target::Item(item)) => {
                        c.start_uris_playback([item], Some(device_id), None, None)
                            .await
                    }
                }
            }
        })
        .await
    }

    pub async fn pause(&self, device_id: &str) -> Result<(), SpotifyError> {
        let query = [("device_id", device_id)];
        self.call(|p| p.put_without_body("me/player/pause", &query))
            .await
    }

    /// Runs one request: refreshes an expired token first, and on a 401 refreshes and retries
    /// once.
    async fn call<'a, T, F, Fut>(&'a self, op: F) -> Result<T, SpotifyError>
    where
        F: Fn(&'a SpotifyPlayer) -> Fut,
        Fut: Future<Output = ClientResult<T>> + 'a,
    {
        if self.token_expired().await {
            self.refresh().await?;
        }
        match self.attempt(&op).await {
            Err(SpotifyError::TokenExpired) => {
                self.refresh().await?;
                match self.attempt(&op).await {
                    Err(SpotifyError::TokenExpired) => Err(SpotifyError::Unauthorized(
                        "Spotify refused the login even after a refresh: link Spotify again".into(),
                    )),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn attempt<'a, T, F, Fut>(&'a self, op: &F) -> Result<T, SpotifyError>
    where
        F: Fn(&'a SpotifyPlayer) -> Fut,
        Fut: Future<Output = ClientResult<T>> + 'a,
    {
        match tokio::time::timeout(CALL_TIMEOUT, op(self)).await {
            Err(_) => Err(SpotifyError::Timeout),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(e).await),
        }
    }

    /// `PUT` with the arguments in the query string and no body at all, answered like
    /// rspotify's calls so [`classify`] and the 401 handling of [`Self::call`] apply.
    async fn put_without_body(&self, path: &str, query: &[(&str, &str)]) -> ClientResult<()> {
        let url = self.client.api_url(path);
        let token = self.access_token().await.ok_or(ClientError::InvalidToken)?;
        let response = self
            .http
            .put(url)
            .query(query)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| ClientError::Http(Box::new(HttpError::Client(e))))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ClientError::Http(Box::new(HttpError::StatusCode(response))))
        }
    }

    async fn token_expired(&self) -> bool {
        let token = self.client.get_token();
        let token = token
            .lock()
            .await
            .expect("the token mutex is never poisoned");
        token.as_ref().is_none_or(|t| t.is_expired())
    }

    /// Trades the refresh token for a new access token, saving the result (a rotated refresh
    /// token included) before it is used.
    ///
    /// The exchange runs in its own task: a refresh token is single-use, so an exchange must
    /// never be abandoned halfway because the caller was cancelled (a deadline, an aborted
    /// volume step) — Spotify would have spent the old token and the answer would be lost.
    pub async fn refresh(&self) -> Result<(), SpotifyError> {
        let seen = self.access_token().await;
        let (client, tokens, lock) = (
            self.client.clone(),
            self.tokens.clone(),
            self.refreshing.clone(),
        );
        tokio::spawn(async move { refresh_detached(client, tokens, lock, seen).await })
            .await
            .unwrap_or_else(|e| {
                tracing::error!("the Spotify token refresh task failed: {e}");
                Err(SpotifyError::Unexpected(
                    "the Spotify login could not be renewed (internal error)".into(),
                ))
            })
    }

    async fn access_token(&self) -> Option<String> {
        let token = self.client.get_token();
        let token = token
            .lock()
            .await
            .expect("the token mutex is never poisoned");
        token.as_ref().map(|t| t.access_token.clone())
    }
}

async fn refresh_detached(
    client: AuthCodePkceSpotify,
    tokens: TokenFile,
    lock: Arc<Mutex<()>>,
    seen: Option<String>,
) -> Result<(), SpotifyError> {
    let _one_at_a_time = lock.lock().await;
    let old_refresh = {
        let token = client.get_token();
        let token = token
            .lock()
            .await
            .expect("the token mutex is never poisoned");
        if token.as_ref().map(|t| &t.access_token) != seen.as_ref() {
            // Another caller refreshed while this one waited.
            return Ok(());
        }
        token.as_ref().and_then(|t| t.refresh_token.clone())
    };
    if old_refresh.is_none() {
        return Err(no_refresh_token());
    }
    // No timeout of ours: rspotify's HTTP timeout (10 s) bounds it.
    let fresh = match client.refetch_token().await {
        Ok(Some(token)) => token,
        Ok(None) => return Err(no_refresh_token()),
        Err(e) => {
            return Err(match classify(e).await {
                // The accounts service answers 400 invalid_grant for an expired or revoked
                // refresh token: only a new login helps.
                SpotifyError::Refused(400) => SpotifyError::Unauthorized(
                    "the Spotify login expired: link Spotify again".into(),
                ),
                // A 401 from the accounts service is about the client, not a stale access
                // token: refreshing again cannot help.
                SpotifyError::TokenExpired => SpotifyError::Unauthorized(
                    "Spotify refused the app's client ID: check spotify.client_id".into(),
                ),
                other => other,
            });
        }
    };
    let mut stored = StoredToken::from_rspotify(fresh);
    if stored.refresh_token.is_none() {
        // Not rotated: the old one stays valid.
        stored.refresh_token = old_refresh;
    }
    if let Err(e) = tokens.save_refreshed(&mut stored).await {
        // The old refresh token is spent: keep the new one in memory at least, so alarms go
        // on working until the next restart.
        tracing::error!(path = %tokens.path().display(), "cannot save the refreshed Spotify token (the account must be linked again after a restart): {e}");
    }
    let token = client.get_token();
    *token
        .lock()
        .await
        .expect("the token mutex is never poisoned") = Some(stored.to_rspotify());
    tracing::info!("Spotify access token refreshed");
    Ok(())
}

pub(super) fn base_url(env: &str, configured: Option<&str>, default: &str) -> String {
    std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| configured.map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

#[derive(Clone)]
enum Target {
    Context(PlayContextId<'static>),
    Item(PlayableId<'static>),
}

fn parse_uri(uri: &str) -> Option<Target> {
    let (kind, id) = uri.strip_prefix("spotify:")?.split_once(':')?;
    let id = id.to_owned();
    Some(match kind {
        "album" => Target::Context(PlayContextId::Album(AlbumId::from_id(id).ok()?)),
        "artist" => Target::Context(PlayContextId::Artist(ArtistId::from_id(id).ok()?)),
        "playlist" => Target::Context(PlayContextId::Playlist(PlaylistId::from_id(id).ok()?)),
        "show" => Target::Context(PlayContextId::Show(ShowId::from_id(id).ok()?)),
        "track" => Target::Item(PlayableId::Track(TrackId::from_id(id).ok()?)),
        "episode" => Target::Item(PlayableId::Episode(EpisodeId::from_id(id).ok()?)),
        _ => return None,
    })
}

fn no_refresh_token() -> SpotifyError {
    SpotifyError::Unauthorized("the Spotify login has no refresh token: link Spotify again".into())
}

fn unreadable(what: &str, error: &serde_json::Error) -> SpotifyError {
    tracing::warn!("cannot parse Spotify's {what}: {error}");
    SpotifyError::Unexpected(format!("Spotify sent a {what} the daemon cannot read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_parse_leniently() {
        let body = r#"{"id":"abc","name":"Kitchen","type":"Boombox3000","is_active":false,
            "is_restricted":false,"volume_percent":null,"supports_volume":true,"extra":[1]}"#;
        let device: Device = serde_json::from_str(body).unwrap();
        assert_eq!(device.device_type, "Boombox3000");
        assert_eq!(device.volume_percent, None);
    }

    #[test]
    fn spotify_uris_map_to_contexts_and_items() {
        assert!(matches!(
            parse_uri("spotify:playlist:37i9dQZF1DX0UrRvztWcAU"),
            Some(Target::Context(_))
        ));
        assert!(matches!(
            parse_uri("spotify:track:4uLU6hMCjMI75M1A2tKUQC"),
            Some(Target::Item(_))
        ));
        assert!(parse_uri("spotify:user:someone").is_none());
    }
}
