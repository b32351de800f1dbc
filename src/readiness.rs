//! "Will it ring?": one check of everything the next alarm needs, answered before the morning
//! rather than at it. A silently expired login or a receiver that is gone is how a Spotify
//! alarm clock misses a morning, so the check looks at each path that can sound (Spotify, the
//! local sound, the buzzer) and says in one plain sentence per problem what is wrong and what
//! to do. The overall `state` says which path the alarm would take: `ready` (Spotify),
//! `degraded` (the local sound or the buzzer instead) or `broken` (nothing audible).
//!
//! The check is bounded: the Spotify part (a refresh if due, then the device list) has
//! [`SPOTIFY_BUDGET`] in all and each request [`CALL_TIMEOUT`], so the page asking never hangs.
//! It never asks Spotify while an alarm runs: the ring sequence holds its own copy of the
//! login, and a refresh here would spend the single-use refresh token it relies on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::config::{Config, SpotifySettings};
use crate::player::fallback;
use crate::player::link::{LinkStatus, Linker};
use crate::player::{Device, SpotifyError, SpotifyPlayer, TokenFile};
use crate::runner::RunnerState;
use crate::scheduler::{SchedulerStatus, UpcomingFiring};

/// Longest wait for one Spotify request during a check (shorter than the ring sequence's: a
/// person is waiting for the answer).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for the whole Spotify part of a check.
pub const SPOTIFY_BUDGET: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    /// Spotify would play the alarm.
    Ready,
    /// Spotify would not: the local sound (or the buzzer) rings instead.
    Degraded,
    /// Neither Spotify, nor the local sound, nor a buzzer can sound.
    Broken,
}

/// What a problem is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Linked, and the login still refreshable (it ends six months after linking).
    SpotifyLogin,
    SpotifyPremium,
    /// The configured receiver is online now (by id, or found by name).
    SpotifyDevice,
    SpotifyReachable,
    Clock,
    LocalSound,
    Buzzer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// This path cannot sound now.
    Error,
    /// It works, but needs attention (soon).
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    pub check: Check,
    pub severity: Severity,
    /// One plain sentence: what is wrong and what to do.
    pub message: String,
}

/// The answer of one check.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub state: ReadinessState,
    pub checked_at: DateTime<Utc>,
    /// The alarm this is about; `null` when none is set.
    pub next_alarm: Option<UpcomingFiring>,
    /// Empty when all is well.
    pub problems: Vec<Problem>,
}

/// The last result, kept for `/api/status` and announced to the page's event streams, and
/// one check at a time: two checks refreshing the login at once would each spend the other's
/// single-use refresh token.
#[derive(Default)]
pub struct LastCheck {
    last: watch::Sender<Option<Arc<Readiness>>>,
    running: tokio::sync::Mutex<()>,
}

impl LastCheck {
    pub fn last(&self) -> Option<Arc<Readiness>> {
        self.last.borrow().clone()
    }

    /// Each new result, as it is kept.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Readiness>>> {
        self.last.subscribe()
    }

    /// Runs a check (waiting for one in progress) and keeps its result.
    pub async fn run(&self, inputs: Inputs<'_>) -> Arc<Readiness> {
        let _one = self.running.lock().await;
        let result = Arc::new(check(inputs).await);
        self.last.send_replace(Some(Arc::clone(&result)));
        result
    }
}

/// What a check reads; all of it the daemon already has.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub linker: Linker,
    pub scheduler: SchedulerStatus,
    pub runner: &'a RunnerState,
    /// Whether the buzzer's line is open (`None`: the daemon runs without GPIO).
    pub buzzer_open: Option<bool>,
    pub now: DateTime<Utc>,
}

/// Whether `device` is the receiver the config names (its id, or its name, as the ring
/// sequence finds it).
pub fn is_configured(device: &Device, settings: &SpotifySettings) -> bool {
    let by_id = settings.device_id.is_some() && device.id == settings.device_id;
    let by_name = settings
        .device_name
        .as_deref()
        .is_some_and(|name| device.name.eq_ignore_ascii_case(name));
    by_id || by_name
}

/// The device list, each request bounded by [`CALL_TIMEOUT`].
pub async fn list_devices(
    settings: &SpotifySettings,
    state_dir: &Path,
) -> Result<Vec<Device>, SpotifyError> {
    let tokens = TokenFile::new(state_dir).map_err(|e| {
        SpotifyError::Unexpected(format!("the saved Spotify login cannot be read: {e}"))
    })?;
    let player = SpotifyPlayer::new(settings, tokens)?;
    // A refresh runs in its own task inside the player, so giving up here never loses a
    // rotated refresh token.
    tokio::time::timeout(CALL_TIMEOUT, player.devices())
        .await
        .unwrap_or(Err(SpotifyError::Timeout))
}

pub async fn check(inputs: Inputs<'_>) -> Readiness {
    let mut problems = Vec::new();
    let spotify_ok = spotify(&inputs, &mut problems).await;

    if let Some(warning) = &inputs.scheduler.clock_warning {
        problems.push(problem(Check::Clock, Severity::Warning, warning));
    }

    let local = fallback::check(&inputs.config.fallback);
    let local_ok = local.error.is_none();
    if let Some(error) = &local.error {
        problems.push(problem(
            Check::LocalSound,
            Severity::Error,
            &format!("the local sound cannot play: {error}"),
        ));
    }
    if let Some(error) = &local.sound_error {
        problems.push(problem(
            Check::LocalSound,
            Severity::Warning,
            &format!("the configured sound file cannot be played, the bundled beeps ring instead: {error}"),
        ));
    }

    let buzzer_ok = match (inputs.config.hardware.buzzer.is_some(), inputs.buzzer_open) {
        (false, _) => {
            problems.push(problem(
                Check::Buzzer,
                Severity::Info,
                "no buzzer is configured, so nothing sounds if both Spotify and the local sound fail",
            ));
            false
        }
        (true, Some(true)) => true,
        (true, Some(false)) => {
            problems.push(problem(
                Check::Buzzer,
                Severity::Error,
                "the buzzer's GPIO line could not be opened: see hardware in the status",
            ));
            false
        }
        (true, None) => {
            problems.push(problem(
                Check::Buzzer,
                Severity::Error,
                "a buzzer is configured but the daemon runs without GPIO, so it cannot sound",
            ));
            false
        }
    };

    let state = if spotify_ok {
        ReadinessState::Ready
    } else if local_ok || buzzer_ok {
        ReadinessState::Degraded
    } else {
        ReadinessState::Broken
    };
    Readiness {
        state,
        checked_at: inputs.now,
        next_alarm: inputs.scheduler.next_firing.clone(),
        problems,
    }
}

/// The Spotify checks; true when Spotify would play the alarm as far as can be told now.
async fn spotify(inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> bool {
    let settings = &inputs.config.spotify;
    let status = match inputs.linker.status(settings) {
        Ok(status) => status,
        Err(e) => {
            tracing::warn!("readiness: cannot read the Spotify login: {e}");
            problems.push(problem(
                Check::SpotifyLogin,
                Severity::Error,
                "the saved Spotify login cannot be read: link Spotify again",
            ));
            return false;
        }
    };
    let mut ok = login(&status, inputs.now, problems);
    if !status.linked {
        return false;
    }
    match status.premium {
        Some(true) => {}
        Some(false) => {
            ok = false;
            problems.push(problem(
                Check::SpotifyPremium,
                Severity::Error,
                "this Spotify account has no Premium, which alarms need to control playback: the local sound rings instead",
            ));
        }
        None => problems.push(problem(
            Check::SpotifyPremium,
            Severity::Warning,
            "whether this Spotify account has Premium is not known: link Spotify again to check",
        )),
    }
    if !matches!(inputs.runner, RunnerState::Idle) {
        problems.push(problem(
            Check::SpotifyDevice,
            Severity::Info,
            "an alarm or the sleep timer is running, so Spotify was not asked now: check again when it ends",
        ));
        return ok;
    }
    let listed = tokio::time::timeout(SPOTIFY_BUDGET, list_devices(settings, inputs.state_dir))
        .await
        .unwrap_or(Err(SpotifyError::Timeout));
    match listed {
        Ok(devices) => device(settings, &devices, problems) && ok,
        Err(e) => {
            let (check, severity) = match &e {
                SpotifyError::NotLinked
                | SpotifyError::NoClientId
                | SpotifyError::Unauthorized(_)
                | SpotifyError::NotAllowed => (Check::SpotifyLogin, Severity::Error),
                SpotifyError::PremiumRequired => (Check::SpotifyPremium, Severity::Error),
                // Spotify answered: it is there, only busy; the alarm's start waits it out.
                SpotifyError::RateLimited(_) | SpotifyError::RateLimitedPastDeadline(_) => {
                    (Check::SpotifyReachable, Severity::Warning)
                }
                _ => (Check::SpotifyReachable, Severity::Error),
            };
            let message = match check {
                Check::SpotifyReachable if severity == Severity::Error => format!(
                    "Spotify cannot be reached now ({e}): if this lasts until the alarm, the local sound rings instead"
                ),
                _ => format!("{e}: the receiver could not be checked"),
            };
            problems.push(problem(check, severity, &message));
            ok && severity != Severity::Error
        }
    }
}

/// Linked, and for how long: the login ends six months after linking.
fn login(status: &LinkStatus, now: DateTime<Utc>, problems: &mut Vec<Problem>) -> bool {
    if !status.linked {
        let message = if status.client_id_set {
            "no Spotify account is linked: link Spotify in the settings, or the local sound rings instead"
        } else {
            "Spotify is not set up: set spotify.client_id and link Spotify, or the local sound rings instead"
        };
        problems.push(problem(Check::SpotifyLogin, Severity::Error, message));
        return false;
    }
    let expired = status.login_expires_at.is_some_and(|end| end <= now);
    match (&status.warning, expired) {
        (Some(_), true) => {
            problems.push(problem(
                Check::SpotifyLogin,
                Severity::Error,
                "the Spotify login has expired: link Spotify again, or the local sound rings instead",
            ));
            false
        }
        (Some(warning), false) => {
            problems.push(problem(Check::SpotifyLogin, Severity::Warning, warning));
            true
        }
        (None, _) => true,
    }
}

/// Whether the receiver the alarm would use is online now.
fn device(settings: &SpotifySettings, devices: &[Device], problems: &mut Vec<Problem>) -> bool {
    if devices.iter().any(|d| is_configured(d, settings)) {
        return true;
    }
    let configured = settings
        .device_name
        .as_ref()
        .or(settings.device_id.as_ref());
    let message = match configured {
        Some(name) => format!(
            "the Spotify receiver {name:?} is not online now: switch it on and log it in to Spotify, or the local sound rings instead"
        ),
        None => match devices.iter().filter(|d| d.id.is_some()).count() {
            // With nothing configured, the ring sequence takes the only receiver online.
            1 => return true,
            0 => {
                "no Spotify receiver is online now: switch one on, or the local sound rings instead"
                    .to_owned()
            }
            n => format!(
                "{n} Spotify receivers are online and none is chosen: set spotify.device_name, or the local sound rings instead"
            ),
        },
    };
    problems.push(problem(Check::SpotifyDevice, Severity::Error, &message));
    false
}

fn problem(check: Check, severity: Severity, message: &str) -> Problem {
    Problem {
        check,
        severity,
        message: message.to_owned(),
    }
}
