//! One ring phase of an episode: the amplifier's settle time, Spotify's start within its
//! deadline, the fade-in, playback checks, and the fallbacks (local sound, then buzzer) until
//! a stop, a snooze or the maximum ring time. [`Ring`] owns the phase's tasks and timers;
//! [`Ring::next`] waits for the next of them and [`Ring::on_event`] handles it.
//!
//! Every Spotify call runs as a task, so the loop answers commands at once and aborting a task
//! cancels its request. That is how a late Spotify start can never overlap the fallback: the
//! start task is aborted at the deadline, and a play already sent is answered with a pause.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::episode::Episode;
use super::fade::Fade;
use super::machine::{Context, PhaseEnd};
use super::records::{EndedBy, RingPath};
use super::speakers::{Sounding, Spotify};
use super::{RunnerState, VolumeChange};
use crate::player::start::{PlayPlan, SharedReport};
use crate::player::{Playback, SpotifyError};
use crate::store::Snapshot;

/// At most one volume call this often during the fade.
pub(super) const VOLUME_STEP: Duration = Duration::from_secs(2);
/// The hardware volume is local and cheap: a smooth fade.
const HARDWARE_VOLUME_STEP: Duration = Duration::from_millis(250);
/// Spotify's volume while the I2C amplifier does the fade and the ceiling.
const SPOTIFY_LEVEL_WITH_HARDWARE_VOLUME: u32 = 100;
/// Consecutive failed playback checks before the fallback rings.
const CHECK_FAILURES: u32 = 3;
/// How long a pause may take when a ring ends.
pub(super) const PAUSE_TIMEOUT: Duration = Duration::from_secs(3);

/// What makes the sound right now.
enum Sound {
    /// The amplifier settles; nothing plays yet.
    Settling {
        until: Instant,
    },
    Starting,
    Spotify {
        device: String,
        playing_since: Instant,
    },
    Local(Sounding),
    Buzzer,
    Silent,
}

/// What a ring phase waits for.
pub(super) enum RingEvent {
    Settled,
    Started(Option<Result<String, SpotifyError>>),
    StartDeadline,
    VolumeStep,
    VolumeDone(Option<Result<(), SpotifyError>>),
    CheckDue,
    Checked(Option<Result<Option<Playback>, SpotifyError>>),
    SoundFailed(String),
    AutoStop,
}

pub(super) struct Ring {
    pub episode: Episode,
    snapshot: Arc<Snapshot>,
    fade: Fade,
    /// With an I2C amplifier the fade is done in hardware; Spotify plays at a fixed level.
    hardware_volume: bool,
    step: Duration,
    spotify: Option<Arc<dyn Spotify>>,
    report: SharedReport,
    sound: Sound,
    start_task: Option<JoinHandle<Result<String, SpotifyError>>>,
    start_deadline: Instant,
    volume_task: Option<JoinHandle<Result<(), SpotifyError>>>,
    check_task: Option<JoinHandle<Result<Option<Playback>, SpotifyError>>>,
    next_volume: Option<Instant>,
    last_volume: Option<u32>,
    next_check: Option<Instant>,
    check_failures: u32,
    not_playing: u32,
    /// The knob (or the API) took over from the fade.
    knob: bool,
    ring_end: Instant,
}

impl Ring {
    /// Journals the episode, switches the amplifier on and waits for it to settle.
    pub fn start(cx: &mut Context, mut episode: Episode) -> Ring {
        let snapshot = cx.store.snapshot();
        let config = &snapshot.config;
        let fade = Fade::for_alarm(config, &episode.alarm, cx.ceiling(config));
        let hardware_volume = cx.hardware.has_volume();
        let since = cx.clock.now();
        // A resumed ring keeps the end it had (a crash loop must not ring forever).
        let wall_end: DateTime<Utc> = episode
            .ring_deadline
            .take()
            .unwrap_or_else(|| since + episode.max_ring());
        episode.ringing_since = Some(since);
        episode.ring_deadline = Some(wall_end);
        cx.journal.save(&episode);
        episode.ring_deadline = None;
        cx.publish(RunnerState::Preparing {
            alarm_id: episode.alarm.id.clone(),
            label: episode.alarm.label.clone(),
            since,
        });
        tracing::info!(alarm = %episode.alarm.id, "ringing");
        if hardware_volume {
            cx.hardware
                .set_volume(fade.volume_at(episode.fade_elapsed()));
        }
        let now = Instant::now();
        let settle_until = now + cx.amplifier_on();
        let deadline = Duration::from_secs(config.spotify.start_deadline_seconds.into());
        Ring {
            last_volume: Some(fade.volume_at(episode.fade_elapsed())),
            episode,
            fade,
            hardware_volume,
            step: if hardware_volume {
                HARDWARE_VOLUME_STEP
            } else {
                VOLUME_STEP
            },
            spotify: None,
            report: SharedReport::default(),
            sound: Sound::Settling {
                until: settle_until,
            },
            start_task: None,
            start_deadline: settle_until + deadline,
            volume_task: None,
            check_task: None,
            next_volume: None,
            next_check: None,
            check_failures: 0,
            not_playing: 0,
            knob: false,
            ring_end: now + (wall_end - since).to_std().unwrap_or(Duration::ZERO),
            snapshot,
        }
    }

    /// The next timer or task result of this phase. Cancel-safe.
    pub async fn next(&mut self) -> RingEvent {
        let settle = match self.sound {
            Sound::Settling { until } => Some(until),
            _ => None,
        };
        tokio::select! {
            _ = sleep_until(settle.unwrap_or(self.ring_end)), if settle.is_some() => RingEvent::Settled,
            result = join(&mut self.start_task) => RingEvent::Started(result),
            _ = sleep_until(self.start_deadline), if self.start_task.is_some() => RingEvent::StartDeadline,
            _ = sleep_until(self.next_volume.unwrap_or(self.ring_end)),
                if self.next_volume.is_some() && self.volume_task.is_none() => RingEvent::VolumeStep,
            result = join(&mut self.volume_task) => RingEvent::VolumeDone(result),
            _ = sleep_until(self.next_check.unwrap_or(self.ring_end)),
                if self.next_check.is_some() && self.check_task.is_none() => RingEvent::CheckDue,
            result = join(&mut self.check_task) => RingEvent::Checked(result),
            reason = sound_failure(&mut self.sound) => RingEvent::SoundFailed(reason),
            _ = sleep_until(self.ring_end) => RingEvent::AutoStop,
        }
    }

    /// Handles one event; `Some` when the ring ends by itself.
    pub async fn on_event(&mut self, cx: &mut Context, event: RingEvent) -> Option<PhaseEnd> {
        match event {
            RingEvent::Settled => self.start_spotify(cx),
            RingEvent::Started(Some(Ok(device))) => {
                tracing::info!(alarm = %self.episode.alarm.id, %device, "Spotify is playing");
                self.episode.note_path(RingPath::Spotify);
                let now = Instant::now();
                self.sound = Sound::Spotify {
                    device: device.clone(),
                    playing_since: now,
                };
                self.next_volume = (!self.knob && !self.fade.is_done(self.episode.fade_elapsed()))
                    .then(|| now + self.step);
                let check_every = self.snapshot.config.spotify.playback_check_seconds;
                self.next_check = Some(now + Duration::from_secs(check_every.into()));
                if self.knob
                    && let (Some(volume), Some(spotify)) = (self.last_volume, &self.spotify)
                {
                    self.volume_task = Some(tokio::spawn(spotify.set_volume(&device, volume)));
                }
                // Say so at once, not at the next volume step or heartbeat.
                self.publish(cx);
            }
            RingEvent::Started(Some(Err(e))) => {
                // A play sent before the error may still start: no overlap.
                self.pause_all().await;
                self.fall_back(cx, e.to_string());
            }
            RingEvent::Started(None) => {
                self.fall_back(cx, "the Spotify start sequence crashed".into());
            }
            RingEvent::StartDeadline => {
                if let Some(task) = self.start_task.take() {
                    task.abort();
                }
                self.pause_all().await;
                let seconds = self.snapshot.config.spotify.start_deadline_seconds;
                self.fall_back(cx, missed_deadline(seconds, &self.report));
            }
            RingEvent::VolumeStep => self.volume_step(cx),
            RingEvent::VolumeDone(result) => {
                if let Some(Err(e)) = result {
                    // The music keeps playing at the previous volume.
                    tracing::warn!("volume step failed: {e}");
                }
            }
            RingEvent::CheckDue => {
                self.next_check = None;
                if let Some(spotify) = &self.spotify {
                    self.check_task = Some(tokio::spawn(spotify.playback()));
                }
            }
            RingEvent::Checked(result) => self.checked(cx, result).await,
            RingEvent::SoundFailed(reason) => self.last_resort(cx, reason),
            RingEvent::AutoStop => {
                tracing::info!(alarm = %self.episode.alarm.id, "maximum ring time reached: stopping");
                return Some(PhaseEnd::Stop(EndedBy::AutoStop));
            }
        }
        None
    }

    /// After the settle time: Spotify's start sequence as a task, or the fallback at once.
    fn start_spotify(&mut self, cx: &mut Context) {
        let config = &self.snapshot.config;
        let ring = &self.episode.alarm.ring;
        let plan = PlayPlan {
            device_id: ring
                .device_id
                .clone()
                .or_else(|| config.spotify.device_id.clone()),
            device_name: ring
                .device_name
                .clone()
                .or_else(|| config.spotify.device_name.clone()),
            source: ring.source.clone(),
            shuffle: ring.shuffle,
            start_percent: if self.hardware_volume {
                SPOTIFY_LEVEL_WITH_HARDWARE_VOLUME
            } else {
                self.fade.volume_at(self.episode.fade_elapsed())
            },
        };
        match cx.speakers.spotify(&config.spotify) {
            Ok(spotify) => {
                self.sound = Sound::Starting;
                let start = spotify.start(plan, self.report.clone(), self.start_deadline);
                self.start_task = Some(tokio::spawn(start));
                self.spotify = Some(spotify);
            }
            Err(e) => self.fall_back(cx, e.to_string()),
        }
    }

    /// The knob or the API sets the volume; the fade stops. Returns the volume applied.
    pub fn set_volume(&mut self, cx: &Context, change: VolumeChange) -> u32 {
        let current = self.last_volume.unwrap_or(self.fade.start_percent);
        let percent = change.apply(current, cx.ceiling(&self.snapshot.config));
        self.knob = true;
        self.next_volume = None;
        if self.hardware_volume {
            cx.hardware.set_volume(percent);
        } else if let (Sound::Spotify { device, .. }, Some(spotify)) = (&self.sound, &self.spotify)
        {
            if let Some(old) = self.volume_task.take() {
                old.abort();
            }
            self.volume_task = Some(tokio::spawn(spotify.set_volume(device, percent)));
        }
        // Otherwise applied when Spotify starts playing.
        self.last_volume = Some(percent);
        self.publish(cx);
        percent
    }

    fn volume_step(&mut self, cx: &Context) {
        let Sound::Spotify { device, .. } = &self.sound else {
            self.next_volume = None;
            return;
        };
        let elapsed = self.fade_elapsed();
        let volume = self.fade.volume_at(elapsed);
        if Some(volume) != self.last_volume {
            if self.hardware_volume {
                cx.hardware.set_volume(volume);
            } else if let Some(spotify) = &self.spotify {
                self.volume_task = Some(tokio::spawn(spotify.set_volume(device, volume)));
            }
            self.last_volume = Some(volume);
        }
        self.next_volume = (!self.fade.is_done(elapsed)
            || self.last_volume != Some(self.fade.target_percent))
        .then(|| Instant::now() + self.step);
        self.publish(cx);
    }

    async fn checked(
        &mut self,
        cx: &mut Context,
        result: Option<Result<Option<Playback>, SpotifyError>>,
    ) {
        let Sound::Spotify { device, .. } = &self.sound else {
            return;
        };
        match result {
            Some(Ok(Some(playback))) if playback.plays_on(device) => {
                self.check_failures = 0;
                self.not_playing = 0;
            }
            // Twice in a row: a track change or buffering is not a stop.
            Some(Ok(_)) if self.not_playing == 0 => self.not_playing = 1,
            Some(Ok(_)) => {
                let reason = "Spotify stopped playing during the ring".to_owned();
                return self.leave_spotify(cx, reason).await;
            }
            Some(Err(e)) => {
                self.check_failures += 1;
                tracing::warn!("playback check failed ({}): {e}", self.check_failures);
                if self.check_failures >= CHECK_FAILURES {
                    let reason = format!("Spotify cannot be reached during the ring ({e})");
                    return self.leave_spotify(cx, reason).await;
                }
            }
            None => {}
        }
        let check_every = self.snapshot.config.spotify.playback_check_seconds;
        self.next_check = Some(Instant::now() + Duration::from_secs(check_every.into()));
    }

    /// Starts the local sound; the reason is shown in the status and history.
    fn fall_back(&mut self, cx: &Context, reason: String) {
        tracing::error!(alarm = %self.episode.alarm.id, "FALLBACK SOUND: {reason}");
        self.episode.fallback_reason = Some(reason);
        self.episode.note_path(RingPath::LocalSound);
        self.sound = Sound::Local(cx.speakers.local_sound(&self.snapshot.config.fallback));
        self.publish(cx);
    }

    /// From Spotify to the fallback: pause first, so the two never overlap (bounded).
    async fn leave_spotify(&mut self, cx: &Context, reason: String) {
        self.episode.set_fade_elapsed(self.fade_elapsed());
        if let Sound::Spotify { device, .. } = &self.sound {
            pause_quietly(self.spotify.as_deref(), device).await;
        }
        self.next_volume = None;
        self.next_check = None;
        self.fall_back(cx, reason);
    }

    /// The local sound failed too: the buzzer, or a loud error if there is none.
    fn last_resort(&mut self, cx: &Context, sound_error: String) {
        let reason = format!(
            "{}; the local sound failed too ({sound_error})",
            self.episode
                .fallback_reason
                .as_deref()
                .unwrap_or("Spotify failed")
        );
        let buzzer = cx.hardware.has_buzzer();
        let reason = if buzzer {
            format!("{reason}; the buzzer rings")
        } else {
            // Why there is no buzzer belongs in the status too: "silent" must say all of it.
            format!(
                "{reason}; {}, so nothing can sound",
                cx.hardware.why_no_buzzer()
            )
        };
        self.episode.fallback_reason = Some(reason.clone());
        if buzzer {
            tracing::error!(alarm = %self.episode.alarm.id, "BUZZER: {reason}");
            cx.hardware.buzzer(true);
            self.episode.note_path(RingPath::Buzzer);
            self.sound = Sound::Buzzer;
        } else {
            tracing::error!(alarm = %self.episode.alarm.id, "THE ALARM IS SILENT: {reason}");
            self.episode.note_path(RingPath::Silent);
            self.sound = Sound::Silent;
        }
        self.publish(cx);
    }

    /// Releases everything this phase started, in order: sound off, then the amplifier (kept
    /// on through a snooze if configured). Returns the episode with its fade progress.
    pub async fn release(mut self, cx: &mut Context, snoozing: bool) -> Episode {
        let tasks = [
            self.start_task.take().map(|t| t.abort_handle()),
            self.volume_task.take().map(|t| t.abort_handle()),
            self.check_task.take().map(|t| t.abort_handle()),
        ];
        tasks.into_iter().flatten().for_each(|task| task.abort());
        self.episode.set_fade_elapsed(self.fade_elapsed());
        match std::mem::replace(&mut self.sound, Sound::Silent) {
            Sound::Buzzer => cx.hardware.buzzer(false),
            Sound::Local(sound) => drop(sound),
            Sound::Settling { .. } | Sound::Starting | Sound::Spotify { .. } | Sound::Silent => {}
        }
        // Every device that was sent a play, whatever happened since: nothing keeps playing.
        self.pause_all().await;
        let keep_on = snoozing
            && self
                .snapshot
                .config
                .hardware
                .amplifier
                .as_ref()
                .is_some_and(|a| !a.off_during_snooze);
        if !keep_on {
            cx.amplifier_idle();
        }
        self.episode
    }

    /// How far the fade got, counting only time Spotify played (the fallback has no volume).
    fn fade_elapsed(&self) -> Duration {
        if self.knob {
            return self.fade.duration;
        }
        match &self.sound {
            Sound::Spotify { playing_since, .. } => {
                self.episode.fade_elapsed() + playing_since.elapsed()
            }
            _ => self.episode.fade_elapsed(),
        }
    }

    /// The status while ringing (before Spotify plays: only the heartbeat).
    pub fn publish(&self, cx: &Context) {
        let (path, spotify) = match &self.sound {
            Sound::Settling { .. } | Sound::Starting => return cx.beat(),
            Sound::Spotify { .. } => (RingPath::Spotify, true),
            Sound::Local(_) => (RingPath::LocalSound, false),
            Sound::Buzzer => (RingPath::Buzzer, false),
            Sound::Silent => (RingPath::Silent, false),
        };
        let episode = &self.episode;
        cx.publish(RunnerState::Ringing {
            alarm_id: episode.alarm.id.clone(),
            label: episode.alarm.label.clone(),
            since: episode.ringing_since.unwrap_or(episode.started_at),
            path,
            fallback_reason: if spotify {
                None
            } else {
                episode.fallback_reason.clone()
            },
            volume_percent: if spotify { self.last_volume } else { None },
            fade_percent: if spotify {
                self.fade.percent_done(self.fade_elapsed())
            } else {
                0
            },
            snoozes_used: episode.snoozes_used,
        });
    }

    /// Pauses every device the start sequence sent a play to (each bounded).
    async fn pause_all(&self) {
        let sent = self
            .report
            .lock()
            .map(|r| r.play_sent_to.clone())
            .unwrap_or_default();
        for device in sent {
            pause_quietly(self.spotify.as_deref(), &device).await;
        }
    }
}

/// Why a start not confirmed by the deadline gave up: the deadline, and the last error the
/// start met, in words (an alarm's fallback reason and a sleep timer's history say the same).
pub(super) fn missed_deadline(seconds: u32, report: &SharedReport) -> String {
    match report.lock().ok().and_then(|r| r.last_error.clone()) {
        Some(e) => format!("Spotify did not start playing within {seconds} s ({e})"),
        None => format!("Spotify did not start playing within {seconds} s"),
    }
}

/// Best effort: a pause that fails or hangs must not hold up the stop.
pub(super) async fn pause_quietly(spotify: Option<&dyn Spotify>, device: &str) {
    let Some(spotify) = spotify else {
        return;
    };
    match tokio::time::timeout(PAUSE_TIMEOUT, spotify.pause(device)).await {
        Ok(Ok(())) => {}
        // Pausing what is already paused is refused with a 403: nothing to do.
        Ok(Err(SpotifyError::Restricted)) => {}
        Ok(Err(e)) => tracing::warn!(%device, "cannot pause Spotify: {e}"),
        Err(_) => tracing::warn!(%device, "cannot pause Spotify: no answer in time"),
    }
}

/// A task's result once it ends (`None` if it panicked or was aborted); then the slot is empty.
pub(super) async fn join<T>(task: &mut Option<JoinHandle<T>>) -> Option<T> {
    let Some(handle) = task else {
        return pending().await;
    };
    let result = handle.await.ok();
    *task = None;
    result
}

/// Resolves when the local sound reports that it cannot play.
async fn sound_failure(sound: &mut Sound) -> String {
    if let Sound::Local(sounding) = sound
        && let Some(failed) = &mut sounding.failed
    {
        let result = failed.await;
        // A resolved receiver must not be polled again.
        sounding.failed = None;
        if let Ok(reason) = result {
            return reason;
        }
    }
    pending().await
}
