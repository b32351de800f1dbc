//! Playing sound: Spotify playback through the Web API ([`SpotifyPlayer`]), the start sequence
//! that gets an alarm playing on the receiver within a deadline ([`start`]), and the local
//! fallback sound ([`fallback`]); the user's playlists for the source picker ([`playlists`]).
//! Only this module knows Spotify URLs.
//!
//! Nothing here decides *when* to play; that is the runner's job.

mod error;
pub mod fallback;
pub mod link;
pub mod playlists;
mod spotify;
pub mod start;
mod tokens;

pub use error::SpotifyError;
pub use spotify::{
    ACCOUNTS_URL_ENV, API_URL_ENV, DEFAULT_ACCOUNTS_URL, DEFAULT_API_URL, Device, Playback,
    SpotifyPlayer,
};
pub use tokens::{StoredToken, TOKEN_FILE, TokenFile};
