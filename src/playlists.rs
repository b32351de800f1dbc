//! The linked user's own playlists, a convenience for choosing an alarm's source (a pasted
//! `open.spotify.com` link or `spotify:` URI stays the primary way). This owns the rules
//! around asking Spotify for them; `player::playlists` reads the answer.
//!
//! - Kept in memory for [`TTL`] per login (the same client ID, linking moment and account);
//!   `refresh` asks again; unlinking or linking again drops it ([`PlaylistCache::forget`]).
//! - Bounded: at most [`MAX_PAGES`] pages (200 playlists), each request [`CALL_TIMEOUT`], all of
//!   it [`BUDGET`].
//! - Never asked while an alarm or the sleep timer plays (a refresh could spend the single-use
//!   refresh token the ring relies on): the list kept is answered, whatever its age, or `Busy`.
//! - A 429's `Retry-After` is respected: until then the kept list is answered, or `RateLimited`.
//! - Development-mode apps may be refused the endpoint, and a login made before the daemon asked
//!   for `playlist-read-private` lacks the scope: both answer `available: false` with a
//!   sentence that says to paste a link, not an error.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::SpotifySettings;
use crate::player::playlists::Playlist;
use crate::player::{SpotifyError, SpotifyPlayer, StoredToken, TokenFile};
use crate::readiness::CALL_TIMEOUT;

/// How long a list is answered from memory.
pub const TTL: chrono::Duration = chrono::Duration::minutes(5);
/// Pages of 50 asked at most.
pub const MAX_PAGES: u32 = 4;
/// Longest wait for all pages together.
pub const BUDGET: Duration = Duration::from_secs(6);
/// The scope `GET /me/playlists` needs (asked since the linking flow exists).
pub const SCOPE: &str = "playlist-read-private";

const PASTE: &str = "paste a Spotify link instead (in Spotify: Share, then Copy link)";

/// What `GET /api/spotify/playlists` answers.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PlaylistList {
    /// False when Spotify does not let this app list the playlists; `message` says why and
    /// what to do instead, and `playlists` is empty.
    pub available: bool,
    /// A plain sentence when the list is unavailable or incomplete; `null` otherwise.
    pub message: Option<String>,
    pub playlists: Vec<Playlist>,
    /// More playlists exist than are listed (at most 200 are read).
    pub truncated: bool,
    /// When Spotify was asked for this list (answers come from memory for 5 minutes).
    pub fetched_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlaylistsError {
    #[error(
        "an alarm or the sleep timer is playing: ask for the playlists when it ends, or paste a link"
    )]
    Busy,
    /// Seconds left before Spotify may be asked again.
    #[error("Spotify asked to wait {0} s before the playlists are asked for again")]
    RateLimited(u64),
    #[error(transparent)]
    Spotify(SpotifyError),
}

/// What one request needs to know.
pub struct Ask<'a> {
    pub settings: &'a SpotifySettings,
    pub state_dir: &'a Path,
    /// The daemon's wall clock.
    pub now: DateTime<Utc>,
    /// Ask Spotify even when a list younger than [`TTL`] is kept.
    pub refresh: bool,
    /// An alarm or the sleep timer plays: Spotify must not be asked.
    pub busy: bool,
}

/// The list kept for the login it was read with. Cheap to share.
#[derive(Default)]
pub struct PlaylistCache {
    state: Mutex<Kept>,
    /// One fetch at a time: two would each refresh the login and spend each other's
    /// single-use refresh token; a second request waits and then finds the first's list.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Kept {
    list: Option<(Login, PlaylistList)>,
    /// Spotify's `Retry-After`: it applies to the app's client ID, so it outlives a relink.
    wait_until: Option<DateTime<Utc>>,
    /// Counts `forget` calls, so a fetch that overlapped one keeps nothing.
    generation: u64,
}

/// Which login a list belongs to. Unlinking and linking again also call `forget`: a new
/// login of the same account at the same second would otherwise look the same.
#[derive(Clone, Debug, PartialEq)]
struct Login {
    client_id: String,
    authorised_at: Option<DateTime<Utc>>,
    display_name: Option<String>,
}

impl PlaylistCache {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        // The guarded data stays consistent across a panic: each write is one assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the list (the account was unlinked or linked again).
    pub fn forget(&self) {
        let mut kept = self.kept();
        kept.list = None;
        kept.generation += 1;
    }

    /// The playlists of the linked account, following the rules of this module.
    pub async fn list(&self, ask: Ask<'_>) -> Result<PlaylistList, PlaylistsError> {
        let (login, token) = current_login(ask.settings, ask.state_dir)?;
        if let Some(answer) = self.without_spotify(&ask, &login) {
            return answer;
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched, or met a `Retry-After`, while this one waited.
        if let Some(answer) = self.without_spotify(&ask, &login) {
            return answer;
        }
        let generation = self.kept().generation;
        let fetched = if lacks_scope(&token) {
            Ok(unavailable(RELINK.to_owned(), ask.now))
        } else {
            fetch(ask.settings, ask.state_dir, ask.now).await
        };
        match fetched {
            Ok(Fetched { list, stopped_by }) => {
                // An incomplete list is answered, not kept: the next request tries again
                // (after a `Retry-After`, if that is what stopped it).
                let complete = stopped_by.is_none();
                if let Some(error) = stopped_by {
                    self.failed(error, ask.now);
                }
                let mut kept = self.kept();
                // Not when the account was unlinked or linked again meanwhile.
                if complete && kept.generation == generation {
                    kept.list = Some((login, list.clone()));
                }
                Ok(list)
            }
            Err(error) => match self.failed(error, ask.now) {
                // Better the list kept, however old, than nothing while Spotify says wait.
                refusal @ PlaylistsError::RateLimited(_) => {
                    self.kept_list(&login, ask.now, false).ok_or(refusal)
                }
                refusal => Err(refusal),
            },
        }
    }

    /// The answer when Spotify must not or need not be asked; `None` to ask it.
    fn without_spotify(
        &self,
        ask: &Ask<'_>,
        login: &Login,
    ) -> Option<Result<PlaylistList, PlaylistsError>> {
        if !ask.refresh
            && let Some(list) = self.kept_list(login, ask.now, true)
        {
            return Some(Ok(list));
        }
        let waiting = self.seconds_to_wait(ask.now);
        if ask.busy || waiting.is_some() {
            // Better an older list than none; `fetched_at` tells its age.
            let kept = self.kept_list(login, ask.now, false).map(Ok);
            let refusal = match waiting {
                Some(seconds) if !ask.busy => PlaylistsError::RateLimited(seconds),
                _ => PlaylistsError::Busy,
            };
            return Some(kept.unwrap_or(Err(refusal)));
        }
        None
    }

    /// The list kept for `login`; with `fresh`, only one younger than [`TTL`] (a clock set
    /// back makes it stale rather than fresh forever).
    fn kept_list(&self, login: &Login, now: DateTime<Utc>, fresh: bool) -> Option<PlaylistList> {
        let kept = self.kept();
        let (owner, list) = kept.list.as_ref()?;
        let age = now - list.fetched_at;
        let young = list.fetched_at <= now && age < TTL;
        (owner == login && (young || !fresh)).then(|| list.clone())
    }

    /// Seconds left of a `Retry-After`, if one runs.
    fn seconds_to_wait(&self, now: DateTime<Utc>) -> Option<u64> {
        let until = self.kept().wait_until?;
        let left = (until - now).num_seconds();
        // More left than any Retry-After accepted: the clock was set back; stop waiting.
        (left > 0 && left <= 3600).then_some(left.unsigned_abs())
    }

    fn failed(&self, error: SpotifyError, now: DateTime<Utc>) -> PlaylistsError {
        match error {
            SpotifyError::RateLimited(wait) | SpotifyError::RateLimitedPastDeadline(wait) => {
                let seconds = wait.as_secs().max(1);
                self.kept().wait_until = Some(now + chrono::Duration::seconds(seconds as i64));
                PlaylistsError::RateLimited(seconds)
            }
            other => PlaylistsError::Spotify(other),
        }
    }
}

const RELINK: &str = "this Spotify login was made before the daemon asked to read your playlists: \
    link Spotify again to list them, or paste a Spotify link instead (in Spotify: Share, then Copy link)";

/// The login as the token file has it, checked the way the player checks it.
fn current_login(
    settings: &SpotifySettings,
    state_dir: &Path,
) -> Result<(Login, StoredToken), PlaylistsError> {
    let client_id = settings
        .client_id
        .clone()
        .ok_or(PlaylistsError::Spotify(SpotifyError::NoClientId))?;
    let unreadable = |e: std::io::Error| {
        tracing::error!("cannot read the Spotify token: {e}");
        PlaylistsError::Spotify(SpotifyError::Unexpected(
            "the saved Spotify login cannot be read: link Spotify again".into(),
        ))
    };
    let token = TokenFile::new(state_dir)
        .and_then(|file| file.load())
        .map_err(unreadable)?
        .ok_or(PlaylistsError::Spotify(SpotifyError::NotLinked))?;
    let login = Login {
        client_id,
        authorised_at: token.authorised_at,
        display_name: token.display_name.clone(),
    };
    Ok((login, token))
}

/// The saved scopes say the playlists cannot be read. An empty scope (a file written by hand)
/// is unknown: Spotify is asked.
fn lacks_scope(token: &StoredToken) -> bool {
    !token.scope.trim().is_empty() && !token.scope.split_whitespace().any(|s| s == SCOPE)
}

/// What a fetch read: the list, and what stopped it early (a later page failed), if anything.
struct Fetched {
    list: PlaylistList,
    stopped_by: Option<SpotifyError>,
}

fn unavailable(message: String, now: DateTime<Utc>) -> Fetched {
    let list = PlaylistList {
        available: false,
        message: Some(message),
        playlists: Vec::new(),
        truncated: false,
        fetched_at: now,
    };
    Fetched {
        list,
        stopped_by: None,
    }
}

/// Reads up to [`MAX_PAGES`] pages. A failure of the first is the answer's; of a later one,
/// the pages read so far are answered with a sentence saying so.
async fn fetch(
    settings: &SpotifySettings,
    state_dir: &Path,
    now: DateTime<Utc>,
) -> Result<Fetched, SpotifyError> {
    let tokens = TokenFile::new(state_dir).map_err(|e| {
        SpotifyError::Unexpected(format!("the saved Spotify login cannot be read: {e}"))
    })?;
    let player = SpotifyPlayer::new(settings, tokens)?;
    let deadline = tokio::time::Instant::now() + BUDGET;
    let mut list = PlaylistList {
        available: true,
        message: None,
        playlists: Vec::new(),
        truncated: false,
        fetched_at: now,
    };
    let mut offset = 0;
    for page in 0..MAX_PAGES {
        let until = deadline.min(tokio::time::Instant::now() + CALL_TIMEOUT);
        // A refresh runs in its own task inside the player: giving up here never loses a
        // rotated refresh token.
        let answer = tokio::time::timeout_at(until, player.playlists(offset))
            .await
            .unwrap_or(Err(SpotifyError::Timeout));
        match answer {
            Ok(read) => {
                for playlist in read.playlists {
                    // A list that changes between pages may repeat an entry.
                    if !list.playlists.iter().any(|p| p.uri == playlist.uri) {
                        list.playlists.push(playlist);
                    }
                }
                match read.next_offset {
                    Some(next) if page + 1 < MAX_PAGES => offset = next,
                    Some(_) => list.truncated = true,
                    None => break,
                }
            }
            Err(error) if page == 0 => {
                return match degraded(&error) {
                    Some(message) => {
                        tracing::info!("Spotify does not list the playlists: {error}");
                        Ok(unavailable(message, now))
                    }
                    None => Err(error),
                };
            }
            Err(error) => {
                tracing::info!(page, "listing the playlists stopped early: {error}");
                list.truncated = true;
                list.message = Some(format!(
                    "only the first {} playlists could be read ({error}): ask again later, or {PASTE}",
                    list.playlists.len()
                ));
                return Ok(Fetched {
                    list,
                    stopped_by: Some(error),
                });
            }
        }
    }
    Ok(Fetched {
        list,
        stopped_by: None,
    })
}

/// Refusals that mean "this app may not list them": development-mode limits (a 403 other
/// than the allow-list or Premium, or the endpoint missing) and a login without the scope.
fn degraded(error: &SpotifyError) -> Option<String> {
    match error {
        SpotifyError::InsufficientScope => Some(RELINK.to_owned()),
        SpotifyError::Restricted
        | SpotifyError::DeviceNotFound(_)
        | SpotifyError::NoDevice
        | SpotifyError::Refused(404) => Some(format!(
            "Spotify does not let this app list your playlists (apps in development mode are \
             limited): {PASTE}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scope: &str) -> StoredToken {
        StoredToken {
            access_token: "a".into(),
            refresh_token: None,
            expires_at: Utc::now(),
            scope: scope.into(),
            authorised_at: None,
            display_name: None,
            product: None,
        }
    }

    #[test]
    fn a_login_without_the_playlist_scope_is_known_before_asking() {
        assert!(lacks_scope(&token(
            "user-modify-playback-state user-read-playback-state"
        )));
        assert!(!lacks_scope(&token(
            "playlist-read-private user-read-playback-state"
        )));
        // Written by hand: not known, so Spotify is asked.
        assert!(!lacks_scope(&token("")));
    }

    #[test]
    fn dev_mode_and_scope_refusals_degrade_and_others_stay_errors() {
        assert!(degraded(&SpotifyError::Restricted).is_some());
        assert!(
            degraded(&SpotifyError::InsufficientScope)
                .unwrap()
                .contains("link Spotify again")
        );
        for error in [
            SpotifyError::NotAllowed,
            SpotifyError::PremiumRequired,
            SpotifyError::Server(503),
            SpotifyError::Timeout,
            SpotifyError::RateLimited(Duration::from_secs(3)),
        ] {
            assert_eq!(degraded(&error), None, "{error:?}");
        }
    }
}
