//! The check itself: each path that can sound, one problem per thing wrong. Reads what the
//! daemon has (config, saved login, scheduler and runner status, hardware) and asks Spotify
//! for the plan (`GET /me`) and the receivers, bounded; never runs programs and never posts
//! anything (that is the automatic task's, before an alarm).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::Trigger;
use super::{CALL_TIMEOUT, Check, Problem, Readiness, ReadinessState, SPOTIFY_BUDGET, Severity};
use crate::config::{Config, SpotifySettings};
use crate::hardware::HardwareView;
use crate::player::fallback;
use crate::player::link::{LinkStatus, Linker};
use crate::player::{Device, SpotifyError, SpotifyPlayer, TokenFile};
use crate::runner::{RunnerHandle, RunnerState};
use crate::schedule::Decision;
use crate::scheduler::{SchedulerHandle, SchedulerStatus};
use crate::store::ConfigStore;

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
    pub trigger: Trigger,
}

/// Where a check's inputs come from: the daemon's handles, as HTTP and the automatic task
/// both hold them.
pub struct Sources<'a> {
    pub store: &'a ConfigStore,
    pub scheduler: &'a SchedulerHandle,
    pub runner: &'a RunnerHandle,
    pub hardware: Option<&'a HardwareView>,
}

impl Sources<'_> {
    pub(super) async fn check(&self, trigger: Trigger) -> Readiness {
        let snapshot = self.store.snapshot();
        let config = &snapshot.config;
        let runner = self.runner.status();
        let buzzer_open = self.hardware.map(|h| {
            let status = h.status(&config.hardware);
            status.error.is_none() && !status.unavailable.iter().any(|u| u.device == "buzzer")
        });
        let clock = self.scheduler.clock();
        let dir = self.store.files().dir();
        // The next firing from this snapshot, not as the scheduler last published it: a check
        // right after a save must not race the scheduler's own look at the change.
        let mut scheduler = self.scheduler.status();
        scheduler.next_firing = self
            .scheduler
            .upcoming(config, 16)
            .into_iter()
            .find(|f| f.decision == Decision::Ring);
        check(Inputs {
            config,
            state_dir: dir,
            linker: Linker::new(dir, clock.clone()),
            scheduler,
            runner: &runner.state,
            buzzer_open,
            now: clock.now(),
            trigger,
        })
        .await
    }
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

/// A player over the saved login.
fn open_player(
    settings: &SpotifySettings,
    state_dir: &Path,
) -> Result<SpotifyPlayer, SpotifyError> {
    let tokens = TokenFile::new(state_dir).map_err(|e| {
        SpotifyError::Unexpected(format!("the saved Spotify login cannot be read: {e}"))
    })?;
    SpotifyPlayer::new(settings, tokens)
}

/// The device list, each request bounded by [`CALL_TIMEOUT`].
pub async fn list_devices(
    settings: &SpotifySettings,
    state_dir: &Path,
) -> Result<Vec<Device>, SpotifyError> {
    let player = open_player(settings, state_dir)?;
    // A refresh runs in its own task inside the player, so giving up here never loses a
    // rotated refresh token.
    bounded(player.devices()).await
}

async fn bounded<T>(
    call: impl Future<Output = Result<T, SpotifyError>>,
) -> Result<T, SpotifyError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or(Err(SpotifyError::Timeout))
}

pub async fn check(inputs: Inputs<'_>) -> Readiness {
    let mut problems = Vec::new();
    let spotify = spotify(&inputs, &mut problems).await;

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

    let state = if spotify.ok {
        ReadinessState::Ready
    } else if local_ok || buzzer_ok {
        ReadinessState::Degraded
    } else {
        ReadinessState::Broken
    };
    Readiness {
        state,
        checked_at: inputs.now,
        trigger: inputs.trigger,
        next_check_at: None,
        next_alarm: inputs.scheduler.next_firing.clone(),
        problems,
        repair: None,
        webhook: None,
        receiver_missing: spotify.receiver_missing,
    }
}

struct SpotifyAnswer {
    /// Spotify would play the alarm as far as can be told now.
    ok: bool,
    /// Spotify answered, and the receiver the alarm needs is not among the online ones.
    receiver_missing: bool,
}

/// The Spotify checks.
async fn spotify(inputs: &Inputs<'_>, problems: &mut Vec<Problem>) -> SpotifyAnswer {
    let not_ok = SpotifyAnswer {
        ok: false,
        receiver_missing: false,
    };
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
            return not_ok;
        }
    };
    let login_ok = login(&status, inputs.now, problems);
    if !status.linked {
        return not_ok;
    }
    if !matches!(inputs.runner, RunnerState::Idle) {
        let premium_ok = premium(status.premium, problems);
        problems.push(problem(
            Check::SpotifyDevice,
            Severity::Info,
            "an alarm or the sleep timer is running, so Spotify was not asked now: check again when it ends",
        ));
        return SpotifyAnswer {
            ok: login_ok && premium_ok,
            receiver_missing: false,
        };
    }
    // One player for both requests: if the access token is due, they share one refresh.
    let asked = tokio::time::timeout(SPOTIFY_BUDGET, async {
        let player = open_player(settings, inputs.state_dir)?;
        let (product, devices) = tokio::join!(bounded(player.product()), bounded(player.devices()));
        Ok::<_, SpotifyError>((product, devices))
    })
    .await
    .unwrap_or(Err(SpotifyError::Timeout));
    let (product, listed) = match asked {
        Ok(answers) => answers,
        Err(e) => (Err(e.clone()), Err(e)),
    };
    // Asked now, so a plan changed since linking counts; the saved one if Spotify did not say.
    let live = match product {
        Ok(Some(product)) => Some(product == "premium"),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!("readiness: GET /me failed, using the plan saved at linking: {e}");
            None
        }
    };
    let premium_ok = premium(live.or(status.premium), problems);
    let ok = login_ok && premium_ok;
    match listed {
        Ok(devices) => {
            let online = device(settings, &devices, problems);
            // Several online and none chosen is for the user to settle, not for a restart.
            let named = settings.device_id.is_some() || settings.device_name.is_some();
            let none_online = !devices.iter().any(|d| d.id.is_some());
            SpotifyAnswer {
                ok: online && ok,
                receiver_missing: !online && (named || none_online),
            }
        }
        Err(e) => {
            let (check, severity) = match &e {
                SpotifyError::NotLinked
                | SpotifyError::NoClientId
                | SpotifyError::Unauthorized(_)
                | SpotifyError::InsufficientScope
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
            SpotifyAnswer {
                ok: ok && severity != Severity::Error,
                receiver_missing: false,
            }
        }
    }
}

/// `Some(true)`: Premium; `None`: not known (a hand-written token, and `/me` did not say).
fn premium(premium: Option<bool>, problems: &mut Vec<Problem>) -> bool {
    match premium {
        Some(true) => true,
        Some(false) => {
            problems.push(problem(
                Check::SpotifyPremium,
                Severity::Error,
                "this Spotify account has no Premium, which alarms need to control playback: the local sound rings instead",
            ));
            false
        }
        None => {
            problems.push(problem(
                Check::SpotifyPremium,
                Severity::Warning,
                "whether this Spotify account has Premium is not known: link Spotify again to check",
            ));
            true
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

/// Whether the receiver the alarm would use is online among `devices`, quietly.
pub(super) fn receiver_online(settings: &SpotifySettings, devices: &[Device]) -> bool {
    device(settings, devices, &mut Vec::new())
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
