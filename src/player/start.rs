//! The start sequence: from "ring now" to music confirmed playing on the receiver.
//!
//! resolve the device → wake it (transfer, `play: false`) → set the start volume → shuffle →
//! play with `device_id` → confirm with `GET /me/player`. A receiver often starts at 100 %,
//! so Spotify never plays at a volume the daemon could not set: if the volume call keeps
//! failing (anything but "volume control not allowed"), the sequence ends with
//! [`SpotifyError::VolumeNotSet`] and the runner rings the local sound. Failures are retried as
//! the Spotify notes advise (re-resolve by name after "device not found", wait after a cold
//! receiver's 403, back off on 5xx and timeouts) until it works or the error is permanent;
//! a 429's `Retry-After` is waited out wherever it comes, unless it ends after `deadline`.
//! The runner drops this future at its deadline, which cancels the request in flight, and
//! reads [`StartReport`] to say why it fell back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::error::SpotifyError;
use super::spotify::SpotifyPlayer;
use crate::config::SpotifySource;

/// What to play, where, how loud.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayPlan {
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub source: Option<SpotifySource>,
    pub shuffle: bool,
    pub start_percent: u32,
}

/// Progress, readable after the sequence was cancelled.
#[derive(Clone, Debug, Default)]
pub struct StartReport {
    pub attempts: u32,
    /// Every device a play request was sent to: any may still start after a cancel.
    pub play_sent_to: std::collections::BTreeSet<String>,
    pub last_error: Option<SpotifyError>,
}

pub type SharedReport = Arc<Mutex<StartReport>>;

/// How long the receiver gets to report that it plays, after the play request.
const CONFIRM_POLLS: u32 = 8;
const CONFIRM_INTERVAL: Duration = Duration::from_millis(400);
/// The start volume is tried this often (a woken receiver may refuse it for a moment) before
/// the alarm goes to the local sound.
const VOLUME_TRIES: u32 = 3;

/// Runs until playback is confirmed (returns the device id) or a permanent error.
pub async fn start_playback(
    player: &SpotifyPlayer,
    plan: &PlayPlan,
    report: &SharedReport,
    deadline: Instant,
) -> Result<String, SpotifyError> {
    let mut backoff = Duration::from_millis(500);
    let mut known_id = plan.device_id.clone();
    loop {
        report.lock().expect("report lock").attempts += 1;
        let mut error = match attempt(player, plan, &mut known_id, report, deadline).await {
            Ok(id) => return Ok(id),
            Err(e) => e,
        };
        let wait = match &error {
            SpotifyError::RateLimited(after) => match wait_allowed(*after, deadline) {
                Ok(wait) => wait,
                Err(past) => {
                    error = past;
                    Duration::ZERO
                }
            },
            // A receiver that has just started refuses commands for a second or two.
            SpotifyError::Restricted => Duration::from_millis(1500),
            SpotifyError::DeviceNotFound(_) | SpotifyError::NoDevice => Duration::from_secs(1),
            _ => {
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(4));
                wait
            }
        };
        tracing::warn!("Spotify start attempt failed: {error}");
        report.lock().expect("report lock").last_error = Some(error.clone());
        if error.is_permanent() {
            return Err(error);
        }
        tokio::time::sleep(wait).await;
    }
}

/// `Retry-After` as a wait, or the reason to fall back now if it ends after the deadline.
fn wait_allowed(after: Duration, deadline: Instant) -> Result<Duration, SpotifyError> {
    if Instant::now() + after > deadline {
        Err(SpotifyError::RateLimitedPastDeadline(after))
    } else {
        Ok(after)
    }
}

/// Waits out a 429 in the middle of the sequence, so the next request is not refused too.
async fn wait_out(after: Duration, deadline: Instant) -> Result<(), SpotifyError> {
    tokio::time::sleep(wait_allowed(after, deadline)?).await;
    Ok(())
}

async fn attempt(
    player: &SpotifyPlayer,
    plan: &PlayPlan,
    known_id: &mut Option<String>,
    report: &SharedReport,
    deadline: Instant,
) -> Result<String, SpotifyError> {
    let (id, listed) = resolve(player, plan, known_id).await?;
    // A receiver that is not the active device may refuse the volume call (404): wake it
    // first. An idle receiver missing from the list refuses the transfer too ("device not
    // found") but wakes on a play addressed to it: its volume is set as soon as it plays.
    let awake = match player.transfer(&id).await {
        Ok(()) => true,
        Err(SpotifyError::DeviceNotFound(_)) if !listed => false,
        Err(e) => return Err(e),
    };
    if awake {
        set_start_volume(player, &id, plan.start_percent, deadline).await?;
    }
    if plan.source.is_some() {
        match player.shuffle(&id, plan.shuffle).await {
            Ok(()) => {}
            Err(e) if e.is_permanent() => return Err(e),
            Err(SpotifyError::RateLimited(after)) => wait_out(after, deadline).await?,
            // Shuffle is a nicety; the alarm does not wait for it.
            Err(e) => tracing::warn!("cannot set shuffle: {e}"),
        }
    }
    report
        .lock()
        .expect("report lock")
        .play_sent_to
        .insert(id.clone());
    player.play(&id, plan.source.as_ref()).await?;
    // Player commands are asynchronous: trust only the player state.
    for _ in 0..CONFIRM_POLLS {
        let playing = match player.playback().await {
            Ok(state) => state.is_some_and(|p| p.plays_on(&id)),
            Err(SpotifyError::RateLimited(after)) => {
                wait_out(after, deadline).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if playing {
            if !awake {
                // An error here ends the start; the runner pauses what was sent a play.
                set_start_volume(player, &id, plan.start_percent, deadline).await?;
            }
            return Ok(id);
        }
        tokio::time::sleep(CONFIRM_INTERVAL).await;
    }
    Err(SpotifyError::Unexpected(
        "the receiver accepted the play command but did not start playing".into(),
    ))
}

/// Sets the volume the alarm starts at, trying a few times; a fixed-volume receiver
/// (`VOLUME_CONTROL_DISALLOW`) is fine. Anything else that persists is
/// [`SpotifyError::VolumeNotSet`]: Spotify must not play at an unknown volume.
async fn set_start_volume(
    player: &SpotifyPlayer,
    id: &str,
    percent: u32,
    deadline: Instant,
) -> Result<(), SpotifyError> {
    let mut tries = 0;
    loop {
        let error = match player.set_volume(id, percent).await {
            Ok(()) | Err(SpotifyError::VolumeDisallowed) => return Ok(()),
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => e,
        };
        tries += 1;
        tracing::warn!(device = %id, "the start volume was not set ({tries}/{VOLUME_TRIES}): {error}");
        let wait = match &error {
            SpotifyError::RateLimited(after) => wait_allowed(*after, deadline)?,
            SpotifyError::Restricted => Duration::from_millis(1500),
            _ => Duration::from_millis(500) * tries,
        };
        if tries >= VOLUME_TRIES || Instant::now() + wait >= deadline {
            return Err(SpotifyError::volume_not_set(&error));
        }
        tokio::time::sleep(wait).await;
    }
}

/// The configured or last known id if listed; else the configured name; else the configured
/// id anyway (an idle librespot is often missing from the list but wakes when addressed; its
/// id is stable while its name is); else, when no receiver is configured at all, the only
/// device online. Returns the id and whether it is listed.
async fn resolve(
    player: &SpotifyPlayer,
    plan: &PlayPlan,
    known_id: &mut Option<String>,
) -> Result<(String, bool), SpotifyError> {
    let devices = match player.devices().await {
        Ok(devices) => devices,
        // A 429 is waited out by the caller, never answered with another request at once.
        Err(e) if e.is_permanent() || matches!(e, SpotifyError::RateLimited(_)) => {
            return Err(e);
        }
        Err(e) => match (&known_id, &plan.device_id) {
            (_, Some(id)) => {
                tracing::warn!("cannot list devices ({e}); trying the configured id");
                return Ok((id.clone(), false));
            }
            _ => return Err(e),
        },
    };
    let listed = |id: &str| devices.iter().any(|d| d.id.as_deref() == Some(id));
    if let Some(id) = known_id.as_deref().filter(|id| listed(id)) {
        return Ok((id.to_owned(), true));
    }
    if let Some(name) = &plan.device_name
        && let Some(id) = devices
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .and_then(|d| d.id.clone())
    {
        if known_id.as_deref() != Some(&id) {
            tracing::info!(device = %name, "receiver found by name under a new id");
        }
        *known_id = Some(id.clone());
        return Ok((id, true));
    }
    if let Some(id) = &plan.device_id {
        return Ok((id.clone(), false));
    }
    let usable: Vec<_> = devices.iter().filter_map(|d| d.id.clone()).collect();
    if plan.device_name.is_none()
        && let [only] = usable.as_slice()
    {
        return Ok((only.clone(), true));
    }
    Err(match (&plan.device_name, usable.len()) {
        (Some(name), _) => SpotifyError::DeviceNotFound(format!(
            "the receiver {name:?} was not found (is it switched on and logged in to Spotify?)"
        )),
        (None, 0) => SpotifyError::NoDevice,
        (None, n) => SpotifyError::DeviceNotFound(format!(
            "{n} Spotify receivers are online and none is chosen: set spotify.device_name"
        )),
    })
}
