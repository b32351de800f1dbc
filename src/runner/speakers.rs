//! What the runner plays through: Spotify and the local sound, behind [`Speakers`]. The daemon
//! uses [`WebSpeakers`] (the Web API through `player/`, the sound command through
//! `player::fallback`); the runner's in-process tests use a fake, so the whole state machine
//! runs in tokio's paused time without a socket (a paused clock and a real HTTP mock do not
//! mix: the clock jumps while a task waits on a socket).
//!
//! This is the IO boundary only: no retry policy, deadline or fade lives here.

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::{FallbackSettings, SpotifySettings};
use crate::player::fallback::LocalSound;
use crate::player::start::{PlayPlan, SharedReport, start_playback};
use crate::player::{Playback, SpotifyError, SpotifyPlayer, TokenFile};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Spotify as the runner drives it. Every call is a `'static` future, so the runner can run it
/// as a task and abort it (which cancels the request in flight).
pub trait Spotify: Send + Sync + 'static {
    /// The start sequence (`player::start`): the device id once it plays.
    fn start(
        &self,
        plan: PlayPlan,
        report: SharedReport,
        deadline: Instant,
    ) -> BoxFuture<Result<String, SpotifyError>>;
    fn set_volume(&self, device: &str, percent: u32) -> BoxFuture<Result<(), SpotifyError>>;
    fn playback(&self) -> BoxFuture<Result<Option<Playback>, SpotifyError>>;
    fn pause(&self, device: &str) -> BoxFuture<Result<(), SpotifyError>>;
}

/// A local sound playing; dropping it stops it.
pub struct Sounding {
    /// Fires if the sound cannot play; `None` once read.
    pub failed: Option<oneshot::Receiver<String>>,
    _playing: Box<dyn Any + Send + Sync>,
}

impl Sounding {
    pub fn new(failed: oneshot::Receiver<String>, playing: impl Any + Send + Sync) -> Sounding {
        Sounding {
            failed: Some(failed),
            _playing: Box::new(playing),
        }
    }
}

/// Everything that makes a sound, apart from the GPIO outputs.
pub trait Speakers: Send + Sync + 'static {
    /// A Spotify client for these settings, or why there is none (not linked, no client id).
    fn spotify(&self, settings: &SpotifySettings) -> Result<Arc<dyn Spotify>, SpotifyError>;
    /// Starts the local fallback sound at once, in a loop.
    fn local_sound(&self, settings: &FallbackSettings) -> Sounding;
}

/// The real speakers: Spotify's Web API and the configured sound command.
pub struct WebSpeakers {
    pub tokens: TokenFile,
}

struct WebSpotify(Arc<SpotifyPlayer>);

impl Spotify for WebSpotify {
    fn start(
        &self,
        plan: PlayPlan,
        report: SharedReport,
        deadline: Instant,
    ) -> BoxFuture<Result<String, SpotifyError>> {
        let player = self.0.clone();
        Box::pin(async move { start_playback(&player, &plan, &report, deadline).await })
    }

    fn set_volume(&self, device: &str, percent: u32) -> BoxFuture<Result<(), SpotifyError>> {
        let (player, device) = (self.0.clone(), device.to_owned());
        Box::pin(async move { player.set_volume(&device, percent).await })
    }

    fn playback(&self) -> BoxFuture<Result<Option<Playback>, SpotifyError>> {
        let player = self.0.clone();
        Box::pin(async move { player.playback().await })
    }

    fn pause(&self, device: &str) -> BoxFuture<Result<(), SpotifyError>> {
        let (player, device) = (self.0.clone(), device.to_owned());
        Box::pin(async move { player.pause(&device).await })
    }
}

impl Speakers for WebSpeakers {
    fn spotify(&self, settings: &SpotifySettings) -> Result<Arc<dyn Spotify>, SpotifyError> {
        let player = SpotifyPlayer::new(settings, self.tokens.clone())?;
        Ok(Arc::new(WebSpotify(Arc::new(player))))
    }

    fn local_sound(&self, settings: &FallbackSettings) -> Sounding {
        let sound = LocalSound {
            command: settings.command.clone(),
            // None: the bundled sound, fed from memory (no file, so a full disk cannot stop it).
            sound: settings.sound_file.as_ref().map(PathBuf::from),
        };
        let mut playing = sound.start();
        let failed = playing
            .failed
            .take()
            .unwrap_or_else(|| oneshot::channel().1);
        Sounding::new(failed, playing)
    }
}
