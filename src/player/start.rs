//! The start sequence: from "ring now" to music confirmed playing on the receiver.
//!
//! resolve the device → set the start volume → transfer → shuffle → play with `device_id` →
//! confirm with `GET /me/player`. Failures are retried as the Spotify notes advise (re-resolve
//! by name after "device not found", wait after a cold receiver's 403 or a 429's Retry-After,
//! back off on 5xx and timeouts) until it works or the error is permanent. There is no
//! deadline in here: the runner drops this future at its deadline, which cancels the request in
//! flight, and reads [`StartReport`] to say why it fell back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Runs until playback is confirmed (returns the device id) or a permanent error.
pub async fn start_playback(
    player: &SpotifyPlayer,
    plan: &PlayPlan,
    report: &SharedReport,
) -> Result<String, SpotifyError> {
    let mut backoff = Duration::from_millis(500);
    let mut known_id = plan.device_id.clone();
    loop {
        report.lock().expect("report lock").attempts += 1;
        let error = match attempt(player, plan, &mut known_id, report).await {
            Ok(id) => return Ok(id),
            Err(e) => e,
        };
        tracing::warn!("Spotify start attempt failed: {error}");
        report.lock().expect("report lock").last_error = Some(error.clone());
        if error.is_permanent() {
            return Err(error);
        }
        let wait = match &error {
            SpotifyError::RateLimited(after) => *after,
            // A receiver that has just started refuses commands for a second or two.
            SpotifyError::Restricted(_) => Duration::from_millis(1500),
            SpotifyError::DeviceNotFound(_) | SpotifyError::NoDevice => Duration::from_secs(1),
            _ => {
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(4));
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

async fn attempt(
    player: &SpotifyPlayer,
    plan: &PlayPlan,
    known_id: &mut Option<String>,
    report: &SharedReport,
) -> Result<String, SpotifyError> {
    let (id, listed) = resolve(player, plan, known_id).await?;
    // An idle receiver missing from the list refuses volume and transfer ("device not
    // found") but wakes on a play addressed to it: go on to the play, set the volume after.
    let tolerate = |e: &SpotifyError| !listed && matches!(e, SpotifyError::DeviceNotFound(_));
    let mut volume_pending = false;
    match player.set_volume(&id, plan.start_percent).await {
        // A receiver with a fixed volume: nothing to set.
        Ok(()) | Err(SpotifyError::VolumeDisallowed) => {}
        Err(e) if tolerate(&e) => volume_pending = true,
        Err(e) => return Err(e),
    }
    match player.transfer(&id).await {
        Ok(()) => {}
        Err(e) if tolerate(&e) => {}
        Err(e) => return Err(e),
    }
    if plan.source.is_some() {
        match player.shuffle(&id, plan.shuffle).await {
            Ok(()) => {}
            Err(e) if e.is_permanent() => return Err(e),
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
        if player.playback().await?.is_some_and(|p| p.plays_on(&id)) {
            if volume_pending {
                match player.set_volume(&id, plan.start_percent).await {
                    Ok(()) | Err(SpotifyError::VolumeDisallowed) => {}
                    Err(e) => {
                        tracing::warn!("cannot set the start volume after waking the receiver: {e}")
                    }
                }
            }
            return Ok(id);
        }
        tokio::time::sleep(CONFIRM_INTERVAL).await;
    }
    Err(SpotifyError::Unexpected(format!(
        "the receiver accepted play but does not report playing on device {id}"
    )))
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
        Err(e) if e.is_permanent() => return Err(e),
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
        (Some(name), _) => {
            SpotifyError::DeviceNotFound(format!("no receiver named {name:?} is online"))
        }
        (None, 0) => SpotifyError::NoDevice,
        (None, n) => SpotifyError::DeviceNotFound(format!(
            "{n} receivers are online and none is configured: set spotify.device_name"
        )),
    })
}
