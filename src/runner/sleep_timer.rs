//! The sleep timer: play something now, fade it out over the last minutes, then pause and
//! release the amplifier. Not an alarm: if Spotify cannot start, no fallback sound plays (the
//! status and history say why). An alarm that fires meanwhile ends the timer and rings.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep_until};
use utoipa::ToSchema;

use super::records::{EndedBy, HistoryEntry, RingPath};
use super::{Runner, RunnerCommand, RunnerState};
use crate::config::SpotifySource;
use crate::player::SpotifyPlayer;
use crate::player::start::{PlayPlan, SharedReport, start_playback};
use crate::scheduler::Firing;

/// A volume call that takes longer is given up (the actor must stay responsive).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// At most one volume call this often during the fade-out.
const VOLUME_STEP: Duration = Duration::from_secs(2);

/// `POST /api/sleep-timer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepTimerRequest {
    /// What to play; `null` resumes what the receiver played last.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub source: Option<SpotifySource>,
    /// Volume, 0 to 100 (clamped to the ceiling); default `volume.target_percent`.
    #[serde(default)]
    pub volume_percent: Option<u32>,
    /// How long it plays, 1 to 240.
    pub duration_minutes: u32,
    /// The last minutes fade to silence, 0 to `duration_minutes` (default 5, or the duration).
    #[serde(default)]
    pub fade_out_minutes: Option<u32>,
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum TimerEnd {
    Stopped(EndedBy),
    Expired,
    Firing(Box<Firing>),
    Failed(String),
}

impl Runner {
    /// Runs a sleep timer to its end; returns a firing that interrupted it, to ring next.
    pub(super) async fn sleep_timer(&mut self, request: SleepTimerRequest) -> Option<Firing> {
        let snapshot = self.store.snapshot();
        let config = &snapshot.config;
        let ceiling = self.ceiling(config);
        let volume = request
            .volume_percent
            .unwrap_or(config.volume.target_percent)
            .min(ceiling);
        let total = Duration::from_secs(u64::from(request.duration_minutes) * 60);
        let fade = Duration::from_secs(
            u64::from(
                request
                    .fade_out_minutes
                    .unwrap_or(5)
                    .min(request.duration_minutes),
            ) * 60,
        );
        let started_at = self.clock.now();
        let until = started_at + chrono::Duration::from_std(total).unwrap_or_default();
        self.publish_timer(until, volume);
        tracing::info!(%until, volume, "sleep timer");

        let settle = self.hardware.amplifier_on();
        if !settle.is_zero() {
            tokio::time::sleep(settle).await;
        }
        let start = Instant::now();
        let end_at = start + total;
        let fade_from = end_at - fade;
        let mut device = None;
        let player = SpotifyPlayer::new(&config.spotify, self.tokens.clone()).map(Arc::new);
        let end = match &player {
            Err(e) => TimerEnd::Failed(e.to_string()),
            Ok(player) => {
                let plan = PlayPlan {
                    device_id: config.spotify.device_id.clone(),
                    device_name: config.spotify.device_name.clone(),
                    source: request.source.clone(),
                    shuffle: false,
                    start_percent: volume,
                };
                let report = SharedReport::default();
                let deadline = Duration::from_secs(config.spotify.start_deadline_seconds.into());
                let started = self
                    .start_timer_playback(player, plan, &report, deadline)
                    .await;
                match started {
                    Ok(id) => {
                        device = Some(id.clone());
                        self.run_timer(player, &id, volume, fade_from, end_at, until)
                            .await
                    }
                    Err(end) => {
                        // Nothing started may play on: pause what was sent a play.
                        let sent = report.lock().expect("report lock").play_sent_to.clone();
                        for device in sent {
                            let _ = tokio::time::timeout(CALL_TIMEOUT, player.pause(&device)).await;
                        }
                        end
                    }
                }
            }
        };
        if let (Ok(player), Some(device)) = (&player, &device) {
            let _ = tokio::time::timeout(Duration::from_secs(3), player.pause(device)).await;
        }
        self.hardware.amplifier_off();

        let (ended_by, reason, firing) = match end {
            TimerEnd::Stopped(by) => (by, None, None),
            TimerEnd::Expired => (EndedBy::Timer, None, None),
            TimerEnd::Firing(f) => (EndedBy::Alarm, None, Some(*f)),
            TimerEnd::Failed(reason) => {
                tracing::error!("sleep timer: {reason}");
                (EndedBy::Timer, Some(reason), None)
            }
        };
        let ended_at = self.clock.now();
        let entry = HistoryEntry {
            alarm_id: None,
            label: "Sleep timer".into(),
            occurrence: None,
            started_at,
            ended_at,
            ended_by,
            paths: if device.is_some() {
                vec![RingPath::Spotify]
            } else {
                vec![RingPath::Silent]
            },
            fallback_reason: reason,
            snoozes: 0,
            duration_seconds: (ended_at - started_at).num_seconds(),
        };
        self.record(entry).await;
        firing
    }

    /// The Spotify start as its own task, so a stop or a firing is handled at once.
    async fn start_timer_playback(
        &mut self,
        player: &Arc<SpotifyPlayer>,
        plan: PlayPlan,
        report: &SharedReport,
        deadline: Duration,
    ) -> Result<String, TimerEnd> {
        let give_up = Instant::now() + deadline;
        let task = {
            let (player, report) = (player.clone(), report.clone());
            tokio::spawn(async move { start_playback(&player, &plan, &report, give_up).await })
        };
        // Aborted when this returns early: the request in flight is cancelled.
        let mut task = AbortOnDrop(task);
        loop {
            tokio::select! {
                result = &mut task.0 => return match result {
                    Ok(Ok(id)) => Ok(id),
                    Ok(Err(e)) => Err(TimerEnd::Failed(e.to_string())),
                    Err(e) => Err(TimerEnd::Failed(format!("the Spotify start crashed: {e}"))),
                },
                _ = sleep_until(give_up) => {
                    return Err(TimerEnd::Failed(format!(
                        "Spotify did not start playing within {} s",
                        deadline.as_secs()
                    )));
                }
                command = self.commands.recv() => match command {
                    Some(RunnerCommand::Stop { by, reply }) => {
                        let _ = reply.send(Ok(()));
                        return Err(TimerEnd::Stopped(by.ended_by()));
                    }
                    Some(command) => command.refuse(),
                    None => return Err(TimerEnd::Stopped(EndedBy::Api)),
                },
                Some(firing) = self.firings.recv() => {
                    tracing::info!(alarm = %firing.alarm.id, "an alarm fires: the sleep timer ends");
                    return Err(TimerEnd::Firing(Box::new(firing)));
                }
            }
        }
    }

    async fn run_timer(
        &mut self,
        player: &Arc<SpotifyPlayer>,
        device: &str,
        volume: u32,
        fade_from: Instant,
        end_at: Instant,
        until: DateTime<Utc>,
    ) -> TimerEnd {
        let mut last_sent = volume;
        let mut next_step = fade_from;
        // The fade-out goes linearly from the volume at its start (the knob may change it).
        let mut fade_base = None;
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(RunnerCommand::Stop { by, reply }) => {
                        let _ = reply.send(Ok(()));
                        return TimerEnd::Stopped(by.ended_by());
                    }
                    Some(command @ (RunnerCommand::SleepTimer { .. }
                    | RunnerCommand::RingNow { .. }
                    | RunnerCommand::HardwareTest { .. }
                    | RunnerCommand::Snooze { .. })) => command.refuse(),
                    Some(RunnerCommand::SetVolume { change, reply }) => {
                        let ceiling = self.ceiling(&self.store.snapshot().config);
                        let percent = change.apply(last_sent, ceiling);
                        let _ = reply.send(Ok(percent));
                        match tokio::time::timeout(CALL_TIMEOUT, player.set_volume(device, percent)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::warn!("sleep timer volume: {e}"),
                            Err(_) => tracing::warn!("sleep timer volume: no answer in time"),
                        }
                        last_sent = percent;
                        self.publish_timer(until, percent);
                    }
                    None => return TimerEnd::Stopped(EndedBy::Api),
                },
                Some(firing) = self.firings.recv() => {
                    tracing::info!(alarm = %firing.alarm.id, "an alarm fires: the sleep timer ends");
                    return TimerEnd::Firing(Box::new(firing));
                }
                _ = sleep_until(end_at) => return TimerEnd::Expired,
                _ = sleep_until(next_step), if next_step < end_at => {
                    let left = end_at.saturating_duration_since(Instant::now());
                    let span = end_at.saturating_duration_since(fade_from).max(Duration::from_millis(1));
                    let base = *fade_base.get_or_insert(last_sent);
                    let target = (f64::from(base) * left.as_secs_f64() / span.as_secs_f64()).floor() as u32;
                    let target = target.min(last_sent);
                    if target != last_sent {
                        match tokio::time::timeout(CALL_TIMEOUT, player.set_volume(device, target)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::warn!("sleep timer fade-out: {e}"),
                            Err(_) => tracing::warn!("sleep timer fade-out: no answer in time"),
                        }
                        last_sent = target;
                        self.publish_timer(until, target);
                    }
                    next_step = Instant::now() + VOLUME_STEP;
                }
            }
        }
    }

    fn publish_timer(&self, until: DateTime<Utc>, volume_percent: u32) {
        self.publish(RunnerState::SleepTimer {
            until,
            volume_percent,
        });
    }
}
