//! One alarm episode, from the firing to its end: ring phases (Spotify, else the local sound,
//! else the buzzer) separated by snoozes, each phase ending in a stop, a snooze or the
//! maximum ring time.
//!
//! Every slow call (the Spotify start sequence, volume steps, playback checks) runs as its own
//! task, so a stop is handled at once and aborting a task cancels its request in flight. That
//! is how a late Spotify start can never overlap the fallback: the start task is aborted at the
//! deadline, and a play request already sent is answered with a pause.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::fade::Fade;
use super::records::{EndedBy, JournalEntry, RingPath};
use super::{Actor, Runner, RunnerCommand, RunnerState};
use crate::config::Alarm;
use crate::player::fallback::PlayingSound;
use crate::player::start::{PlayPlan, SharedReport, start_playback};
use crate::player::{SpotifyError, SpotifyPlayer};

/// At most one volume call this often during the fade.
const VOLUME_STEP: Duration = Duration::from_secs(2);
/// The hardware volume is local and cheap: a smooth fade.
const HARDWARE_VOLUME_STEP: Duration = Duration::from_millis(250);
/// Spotify's volume while the I2C amplifier does the fade and the ceiling.
const SPOTIFY_LEVEL_WITH_HARDWARE_VOLUME: u32 = 100;
pub(super) const HEARTBEAT: Duration = Duration::from_secs(5);
/// Consecutive failed playback checks before the fallback rings.
const CHECK_FAILURES: u32 = 3;
/// How long a pause may take when a ring ends.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Episode {
    pub alarm: Alarm,
    pub occurrence: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub ringing_since: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub snoozes_used: u32,
    pub fade_elapsed: Duration,
    pub paths: Vec<RingPath>,
    pub fallback_reason: Option<String>,
    /// Set when resumed from the journal: the ring ends when it would have.
    pub ring_deadline: Option<DateTime<Utc>>,
}

impl Episode {
    pub fn new(alarm: Alarm, occurrence: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Episode {
        Episode {
            alarm,
            occurrence,
            started_at: now,
            ringing_since: None,
            snoozed_until: None,
            snoozes_used: 0,
            fade_elapsed: Duration::ZERO,
            paths: Vec::new(),
            fallback_reason: None,
            ring_deadline: None,
        }
    }

    pub fn from_journal(entry: JournalEntry) -> Episode {
        Episode {
            alarm: entry.alarm,
            occurrence: entry.occurrence,
            started_at: entry.started_at,
            ringing_since: entry.ringing_since,
            snoozed_until: entry.snoozed_until,
            snoozes_used: entry.snoozes_used,
            fade_elapsed: Duration::from_millis(entry.fade_elapsed_ms),
            paths: entry.paths,
            fallback_reason: entry.fallback_reason,
            ring_deadline: entry
                .ring_deadline
                .filter(|_| entry.snoozed_until.is_none()),
        }
    }

    pub(super) fn journal(&self) -> JournalEntry {
        JournalEntry {
            alarm: self.alarm.clone(),
            occurrence: self.occurrence,
            started_at: self.started_at,
            ringing_since: self.ringing_since,
            snoozed_until: self.snoozed_until,
            snoozes_used: self.snoozes_used,
            fade_elapsed_ms: self.fade_elapsed.as_millis() as u64,
            paths: self.paths.clone(),
            fallback_reason: self.fallback_reason.clone(),
            ring_deadline: None,
        }
    }

    fn note_path(&mut self, path: RingPath) {
        if self.paths.last() != Some(&path) {
            self.paths.push(path);
        }
    }
}

enum PhaseEnd {
    Stop(EndedBy),
    Snooze(Actor),
}

/// What is making the sound right now.
enum Mode {
    Starting,
    Spotify {
        device: String,
        playing_since: Instant,
    },
    Local(PlayingSound),
    Buzzer,
    Silent,
}

impl Runner {
    /// Rings `episode` until it ends, then records it.
    pub(super) async fn ring(&mut self, mut episode: Episode) {
        if let Some(until) = episode.snoozed_until
            && let Some(end) = self.snooze(&mut episode, until).await
        {
            return self.finish(episode, end).await;
        }
        loop {
            match self.ring_phase(&mut episode).await {
                PhaseEnd::Stop(by) => return self.finish(episode, by).await,
                PhaseEnd::Snooze(by) if episode.snoozes_used >= episode.alarm.ring.max_snoozes => {
                    tracing::info!(alarm = %episode.alarm.id, "snooze limit reached: stopping");
                    return self.finish(episode, by.ended_by()).await;
                }
                PhaseEnd::Snooze(_) => {
                    episode.snoozes_used += 1;
                    let minutes = episode.alarm.ring.snooze_minutes;
                    let until = self.clock.now() + chrono::Duration::minutes(minutes.into());
                    tracing::info!(alarm = %episode.alarm.id, %until, "snoozed");
                    if let Some(end) = self.snooze(&mut episode, until).await {
                        return self.finish(episode, end).await;
                    }
                }
            }
        }
    }

    async fn ring_phase(&mut self, episode: &mut Episode) -> PhaseEnd {
        let snapshot = self.store.snapshot();
        let config = &snapshot.config;
        let ceiling = self.ceiling(config);
        let fade = Fade::for_alarm(config, &episode.alarm, ceiling);
        // With an I2C amplifier the fade is done in hardware; Spotify plays at a fixed level.
        let hardware_volume = self.hardware.has_volume();
        let step = if hardware_volume {
            HARDWARE_VOLUME_STEP
        } else {
            VOLUME_STEP
        };
        let since = self.clock.now();
        // A resumed ring keeps the end it had (a crash loop must not ring forever).
        let wall_end = episode.ring_deadline.take().unwrap_or_else(|| {
            since + chrono::Duration::minutes(episode.alarm.ring.max_ring_minutes.into())
        });
        episode.ringing_since = Some(since);
        let (alarm_id, label) = (episode.alarm.id.clone(), episode.alarm.label.clone());
        self.publish(RunnerState::Preparing {
            alarm_id: alarm_id.clone(),
            label: label.clone(),
            since,
        });
        tracing::info!(alarm = %alarm_id, "ringing");
        self.save_journal(episode, wall_end).await;

        if hardware_volume {
            self.hardware
                .set_volume(fade.volume_at(episode.fade_elapsed));
        }
        let settle = self.hardware.amplifier_on();
        if !settle.is_zero() {
            tokio::time::sleep(settle).await;
        }
        let started = Instant::now();
        let deadline = started + Duration::from_secs(config.spotify.start_deadline_seconds.into());
        let ring_end = started + (wall_end - since).to_std().unwrap_or(Duration::ZERO);
        let check_every = Duration::from_secs(config.spotify.playback_check_seconds.into());

        let report = SharedReport::default();
        let ring = &episode.alarm.ring;
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
            start_percent: if hardware_volume {
                SPOTIFY_LEVEL_WITH_HARDWARE_VOLUME
            } else {
                fade.volume_at(episode.fade_elapsed)
            },
        };
        let mut mode = Mode::Starting;
        let mut player = None;
        let mut start_task: Option<JoinHandle<Result<String, SpotifyError>>> = None;
        match SpotifyPlayer::new(&config.spotify, self.tokens.clone()) {
            Ok(p) => {
                let p = Arc::new(p);
                player = Some(p.clone());
                let report = report.clone();
                start_task = Some(tokio::spawn(async move {
                    start_playback(&p, &plan, &report, deadline).await
                }));
            }
            Err(e) => mode = self.fall_back(episode, e.to_string()),
        }

        let mut volume_task: Option<JoinHandle<Result<(), SpotifyError>>> = None;
        let mut check_task: Option<
            JoinHandle<Result<Option<crate::player::Playback>, SpotifyError>>,
        > = None;
        let mut next_volume = None::<Instant>;
        let mut last_volume = Some(fade.volume_at(episode.fade_elapsed));
        let mut next_check = None::<Instant>;
        let mut check_failures = 0;
        let mut not_playing = 0;
        let mut knob = false;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);

        let end = loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(RunnerCommand::Stop { by, reply }) => {
                        let _ = reply.send(Ok(()));
                        break PhaseEnd::Stop(by.ended_by());
                    }
                    Some(RunnerCommand::Snooze { by, reply }) => {
                        let _ = reply.send(Ok(()));
                        break PhaseEnd::Snooze(by);
                    }
                    Some(command @ (RunnerCommand::RingNow { .. }
                    | RunnerCommand::SleepTimer { .. }
                    | RunnerCommand::HardwareTest { .. })) => command.refuse(),
                    Some(RunnerCommand::SetVolume { change, reply }) => {
                        let current = last_volume.unwrap_or(fade.start_percent);
                        let percent = change.apply(current, self.ceiling(config));
                        let _ = reply.send(Ok(percent));
                        // The knob takes over from the fade.
                        knob = true;
                        next_volume = None;
                        if hardware_volume {
                            self.hardware.set_volume(percent);
                            last_volume = Some(percent);
                        } else if let (Mode::Spotify { device, .. }, Some(p)) = (&mode, &player) {
                            if let Some(old) = volume_task.take() { old.abort(); }
                            let (p, device) = (p.clone(), device.clone());
                            volume_task = Some(tokio::spawn(async move { p.set_volume(&device, percent).await }));
                            last_volume = Some(percent);
                        } else {
                            // Applied when Spotify starts playing.
                            last_volume = Some(percent);
                        }
                        self.publish_ringing(episode, &mode, last_volume, fade.percent_done(fade_elapsed(episode, &mode, knob, &fade)));
                    }
                    None => break PhaseEnd::Stop(EndedBy::Api),
                },
                Some(firing) = self.firings.recv() => {
                    self.overlapped(firing, &alarm_id).await;
                }
                result = join(&mut start_task), if start_task.is_some() => {
                    start_task = None;
                    match result {
                        Some(Ok(device)) => {
                            tracing::info!(alarm = %alarm_id, %device, "Spotify is playing");
                            episode.note_path(RingPath::Spotify);
                            mode = Mode::Spotify { device, playing_since: Instant::now() };
                            next_volume = (!knob && !fade.is_done(episode.fade_elapsed)).then(|| Instant::now() + step);
                            next_check = Some(Instant::now() + check_every);
                            if knob && let (Some(volume), Some(p), Mode::Spotify { device, .. }) = (last_volume, &player, &mode) {
                                let (p, device) = (p.clone(), device.clone());
                                volume_task = Some(tokio::spawn(async move { p.set_volume(&device, volume).await }));
                            }
                            // Say so at once, not at the next volume step or heartbeat.
                            self.publish_ringing(episode, &mode, last_volume, fade.percent_done(episode.fade_elapsed));
                        }
                        Some(Err(e)) => {
                            // A play sent before the error may still start: no overlap.
                            pause_all(player.as_deref(), &report).await;
                            mode = self.fall_back(episode, e.to_string());
                        }
                        None => mode = self.fall_back(episode, "the Spotify start sequence crashed".into()),
                    }
                }
                _ = sleep_until(deadline), if start_task.is_some() => {
                    if let Some(task) = start_task.take() { task.abort(); }
                    pause_all(player.as_deref(), &report).await;
                    let last = report.lock().expect("report lock").last_error.clone();
                    let seconds = config.spotify.start_deadline_seconds;
                    let reason = match last {
                        Some(e) => format!("Spotify did not start playing within {seconds} s ({e})"),
                        None => format!("Spotify did not start playing within {seconds} s"),
                    };
                    mode = self.fall_back(episode, reason);
                }
                _ = sleep_until(next_volume.unwrap_or(ring_end)), if next_volume.is_some() && volume_task.is_none() => {
                    let Mode::Spotify { device, playing_since } = &mode else { next_volume = None; continue };
                    let elapsed = episode.fade_elapsed + playing_since.elapsed();
                    let volume = fade.volume_at(elapsed);
                    if Some(volume) != last_volume {
                        if hardware_volume {
                            self.hardware.set_volume(volume);
                        } else if let Some(p) = &player {
                            let (p, device) = (p.clone(), device.clone());
                            volume_task = Some(tokio::spawn(async move { p.set_volume(&device, volume).await }));
                        }
                        last_volume = Some(volume);
                    }
                    next_volume = (!fade.is_done(elapsed) || last_volume != Some(fade.target_percent))
                        .then(|| Instant::now() + step);
                    self.publish_ringing(episode, &mode, last_volume, fade.percent_done(elapsed));
                }
                result = join(&mut volume_task), if volume_task.is_some() => {
                    volume_task = None;
                    if let Some(Err(e)) = result {
                        // The music keeps playing at the previous volume.
                        tracing::warn!("volume step failed: {e}");
                    }
                }
                _ = sleep_until(next_check.unwrap_or(ring_end)), if next_check.is_some() && check_task.is_none() => {
                    next_check = None;
                    if let Some(p) = &player {
                        let p = p.clone();
                        check_task = Some(tokio::spawn(async move { p.playback().await }));
                    }
                }
                result = join(&mut check_task), if check_task.is_some() => {
                    check_task = None;
                    let Mode::Spotify { device, .. } = &mode else { continue };
                    let device = device.clone();
                    match result {
                        Some(Ok(Some(playback))) if playback.plays_on(&device) => {
                            check_failures = 0;
                            not_playing = 0;
                        }
                        // Twice in a row: a track change or buffering is not a stop.
                        Some(Ok(_)) if not_playing == 0 => not_playing = 1,
                        Some(Ok(_)) => {
                            mode = self.leave_spotify(episode, mode, &fade, player.as_deref(), "Spotify stopped playing during the ring".into()).await;
                            continue;
                        }
                        Some(Err(e)) => {
                            check_failures += 1;
                            tracing::warn!("playback check failed ({check_failures}): {e}");
                            if check_failures >= CHECK_FAILURES {
                                let reason = format!("Spotify cannot be reached during the ring ({e})");
                                mode = self.leave_spotify(episode, mode, &fade, player.as_deref(), reason).await;
                                continue;
                            }
                        }
                        None => {}
                    }
                    next_check = Some(Instant::now() + check_every);
                }
                reason = sound_failure(&mut mode), if matches!(mode, Mode::Local(_)) => {
                    mode = self.last_resort(episode, reason);
                }
                _ = sleep_until(ring_end) => {
                    tracing::info!(alarm = %alarm_id, "maximum ring time reached: stopping");
                    break PhaseEnd::Stop(EndedBy::AutoStop);
                }
                _ = heartbeat.tick() => {
                    let elapsed = fade_elapsed(episode, &mode, knob, &fade);
                    if !matches!(mode, Mode::Starting) {
                        self.publish_ringing(episode, &mode, last_volume, fade.percent_done(elapsed));
                    } else {
                        let now = self.clock.now();
                        self.status.send_modify(|s| s.heartbeat = Some(now));
                    }
                }
            }
        };

        // Release everything this phase started, in order: sound off, then the amplifier.
        if let Some(task) = start_task.take() {
            task.abort();
        }
        if let Some(task) = volume_task.take() {
            task.abort();
        }
        if let Some(task) = check_task.take() {
            task.abort();
        }
        episode.fade_elapsed = fade_elapsed(episode, &mode, knob, &fade);
        match mode {
            Mode::Buzzer => self.hardware.buzzer(false),
            Mode::Local(sound) => sound.stop(),
            Mode::Spotify { .. } | Mode::Starting | Mode::Silent => {}
        }
        // Every device that was sent a play, whatever happened since: nothing keeps playing.
        pause_all(player.as_deref(), &report).await;
        let keep_on = matches!(end, PhaseEnd::Snooze(_))
            && config
                .hardware
                .amplifier
                .as_ref()
                .is_some_and(|a| !a.off_during_snooze);
        if !keep_on {
            self.hardware.amplifier_off();
        }
        end
    }

    /// Starts the local sound; the reason is shown in the status and history.
    fn fall_back(&mut self, episode: &mut Episode, reason: String) -> Mode {
        tracing::error!(alarm = %episode.alarm.id, "FALLBACK SOUND: {reason}");
        episode.fallback_reason = Some(reason);
        episode.note_path(RingPath::LocalSound);
        let mode = Mode::Local(self.local_sound().start());
        self.publish_ringing(episode, &mode, None, 0);
        mode
    }

    /// From Spotify to the fallback: pause first, so the two never overlap.
    async fn leave_spotify(
        &mut self,
        episode: &mut Episode,
        mode: Mode,
        fade: &Fade,
        player: Option<&SpotifyPlayer>,
        reason: String,
    ) -> Mode {
        episode.fade_elapsed = fade_elapsed(episode, &mode, false, fade);
        if let Mode::Spotify { device, .. } = &mode {
            pause_quietly(player, Some(device)).await;
        }
        self.fall_back(episode, reason)
    }

    /// The local sound failed too: the buzzer, or a loud error if there is none.
    fn last_resort(&mut self, episode: &mut Episode, sound_error: String) -> Mode {
        let reason = format!(
            "{}; the local sound failed too ({sound_error})",
            episode
                .fallback_reason
                .as_deref()
                .unwrap_or("Spotify failed")
        );
        let buzzer = self.hardware.has_buzzer();
        let reason = if buzzer {
            format!("{reason}; the buzzer rings")
        } else {
            // Why there is no buzzer belongs in the status too: "silent" must say all of it.
            format!(
                "{reason}; {}, so nothing can sound",
                self.hardware.why_no_buzzer()
            )
        };
        episode.fallback_reason = Some(reason.clone());
        let mode = if buzzer {
            tracing::error!(alarm = %episode.alarm.id, "BUZZER: {reason}");
            self.hardware.buzzer(true);
            episode.note_path(RingPath::Buzzer);
            Mode::Buzzer
        } else {
            tracing::error!(alarm = %episode.alarm.id, "THE ALARM IS SILENT: {reason}");
            episode.note_path(RingPath::Silent);
            Mode::Silent
        };
        self.publish_ringing(episode, &mode, None, 0);
        mode
    }

    fn publish_ringing(
        &self,
        episode: &Episode,
        mode: &Mode,
        volume: Option<u32>,
        fade_percent: u32,
    ) {
        let path = match mode {
            Mode::Starting | Mode::Spotify { .. } => RingPath::Spotify,
            Mode::Local(_) => RingPath::LocalSound,
            Mode::Buzzer => RingPath::Buzzer,
            Mode::Silent => RingPath::Silent,
        };
        let spotify = matches!(mode, Mode::Spotify { .. });
        self.publish(RunnerState::Ringing {
            alarm_id: episode.alarm.id.clone(),
            label: episode.alarm.label.clone(),
            since: episode.ringing_since.unwrap_or(episode.started_at),
            path,
            fallback_reason: if spotify {
                None
            } else {
                episode.fallback_reason.clone()
            },
            volume_percent: if spotify { volume } else { None },
            fade_percent,
            snoozes_used: episode.snoozes_used,
        });
    }
}

/// How far the fade got, counting only time Spotify played (the fallback has no volume).
fn fade_elapsed(episode: &Episode, mode: &Mode, knob: bool, fade: &Fade) -> Duration {
    if knob {
        return fade.duration;
    }
    match mode {
        Mode::Spotify { playing_since, .. } => episode.fade_elapsed + playing_since.elapsed(),
        _ => episode.fade_elapsed,
    }
}

/// Best effort: a pause that fails or hangs must not hold up the stop.
async fn pause_quietly(player: Option<&SpotifyPlayer>, device: Option<&str>) {
    let (Some(player), Some(device)) = (player, device) else {
        return;
    };
    match tokio::time::timeout(PAUSE_TIMEOUT, player.pause(device)).await {
        Ok(Ok(())) => {}
        // Pausing what is already paused is refused with a 403: nothing to do.
        Ok(Err(SpotifyError::Restricted)) => {}
        Ok(Err(e)) => tracing::warn!(%device, "cannot pause Spotify: {e}"),
        Err(_) => tracing::warn!(%device, "cannot pause Spotify: no answer in time"),
    }
}

async fn join<T>(task: &mut Option<JoinHandle<T>>) -> Option<T> {
    match task {
        Some(task) => task.await.ok(),
        None => pending().await,
    }
}

/// Resolves when the local sound reports that it cannot play.
async fn sound_failure(mode: &mut Mode) -> String {
    if let Mode::Local(sound) = mode
        && let Some(failed) = &mut sound.failed
    {
        let result = failed.await;
        // A resolved receiver must not be polled again.
        sound.failed = None;
        if let Ok(reason) = result {
            return reason;
        }
    }
    pending().await
}

/// Pauses every device the start sequence sent a play to.
async fn pause_all(player: Option<&SpotifyPlayer>, report: &SharedReport) {
    let sent = report.lock().expect("report lock").play_sent_to.clone();
    for device in sent {
        pause_quietly(player, Some(&device)).await;
    }
}
