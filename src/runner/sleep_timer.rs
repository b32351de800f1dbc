//! The sleep timer phase: play something now, fade it out over the last minutes, then pause
//! and release the amplifier. Not an alarm: if Spotify cannot start, no fallback sound plays
//! (the status and history say why). An alarm that fires meanwhile ends the timer and rings.
//! Like a ring phase, it owns its tasks and timers ([`Timer::next`]) and the loop hands their
//! events to [`Timer::on_event`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use utoipa::ToSchema;

use super::machine::Context;
use super::records::{EndedBy, HistoryEntry, RingPath};
use super::ring::{VOLUME_STEP, join, missed_deadline, pause_quietly};
use super::speakers::Spotify;
use super::{RunnerState, VolumeChange};
use crate::config::SpotifySource;
use crate::player::SpotifyError;
use crate::player::start::{PlayPlan, SharedReport};

/// `POST /api/sleep-timer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepTimerRequest {
    /// What to play; `null` resumes what the receiver played last.
    #[serde(default)]
    pub source: Option<SpotifySource>,
    /// Volume, 0 to 100 (clamped to the ceiling); default `volume.target_percent`.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub volume_percent: Option<u32>,
    /// How long it plays, 1 to 240.
    #[schema(minimum = 1, maximum = 240)]
    pub duration_minutes: u32,
    /// The last minutes fade to silence, 0 to `duration_minutes` (default 5, or the duration).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 240)]
    pub fade_out_minutes: Option<u32>,
}

pub(super) enum TimerEnd {
    Stopped(EndedBy),
    Expired,
    /// An alarm fired.
    Alarm,
    Failed(String),
}

pub(super) enum TimerEvent {
    Settled,
    Started(Option<Result<String, SpotifyError>>),
    StartDeadline,
    Step,
    VolumeDone,
    Expired,
}

pub(super) struct Timer {
    started_at: DateTime<Utc>,
    until: DateTime<Utc>,
    request: SleepTimerRequest,
    settle_until: Option<Instant>,
    spotify: Option<Arc<dyn Spotify>>,
    report: SharedReport,
    start_task: Option<JoinHandle<Result<String, SpotifyError>>>,
    start_deadline: Instant,
    device: Option<String>,
    volume_task: Option<JoinHandle<Result<(), SpotifyError>>>,
    last_sent: u32,
    total: Duration,
    fade: Duration,
    /// Set once the amplifier has settled: the timer runs from then.
    end_at: Instant,
    next_step: Instant,
    /// The fade-out goes linearly from the volume at its start (the knob may change it).
    fade_base: Option<u32>,
}

impl Timer {
    pub fn start(cx: &mut Context, request: SleepTimerRequest) -> Timer {
        let snapshot = cx.store.snapshot();
        let config = &snapshot.config;
        let volume = request
            .volume_percent
            .unwrap_or(config.volume.target_percent)
            .min(cx.ceiling(config));
        let total = Duration::from_secs(u64::from(request.duration_minutes) * 60);
        let fade_minutes = request.fade_out_minutes.unwrap_or(5);
        let fade = Duration::from_secs(u64::from(fade_minutes.min(request.duration_minutes)) * 60);
        let started_at = cx.clock.now();
        let until = started_at + chrono::Duration::from_std(total).unwrap_or_default();
        let timer_state = RunnerState::SleepTimer {
            until,
            volume_percent: volume,
        };
        cx.publish(timer_state);
        tracing::info!(%until, volume, "sleep timer");
        let settle_until = Instant::now() + cx.amplifier_on();
        let never = settle_until + total;
        Timer {
            started_at,
            until,
            request,
            settle_until: Some(settle_until),
            spotify: None,
            report: SharedReport::default(),
            start_task: None,
            start_deadline: never,
            device: None,
            volume_task: None,
            last_sent: volume,
            total,
            fade,
            end_at: never,
            next_step: never,
            fade_base: None,
        }
    }

    /// The next timer or task result of this phase. Cancel-safe.
    pub async fn next(&mut self) -> TimerEvent {
        let playing = self.device.is_some();
        tokio::select! {
            _ = sleep_until(self.settle_until.unwrap_or(self.end_at)), if self.settle_until.is_some() => TimerEvent::Settled,
            result = join(&mut self.start_task) => TimerEvent::Started(result),
            _ = sleep_until(self.start_deadline), if self.start_task.is_some() => TimerEvent::StartDeadline,
            _ = join(&mut self.volume_task) => TimerEvent::VolumeDone,
            _ = sleep_until(self.next_step),
                if playing && self.next_step < self.end_at && self.volume_task.is_none() => TimerEvent::Step,
            _ = sleep_until(self.end_at), if playing => TimerEvent::Expired,
        }
    }

    /// Handles one event; `Some` when the timer ends.
    pub fn on_event(&mut self, cx: &mut Context, event: TimerEvent) -> Option<TimerEnd> {
        match event {
            TimerEvent::Settled => {
                self.settle_until = None;
                let snapshot = cx.store.snapshot();
                let config = &snapshot.config;
                let now = Instant::now();
                self.end_at = now + self.total;
                self.next_step = self.end_at - self.fade;
                let deadline = Duration::from_secs(config.spotify.start_deadline_seconds.into());
                self.start_deadline = now + deadline;
                let spotify = match cx.speakers.spotify(&config.spotify) {
                    Ok(spotify) => spotify,
                    Err(e) => return Some(TimerEnd::Failed(e.to_string())),
                };
                let plan = PlayPlan {
                    device_id: config.spotify.device_id.clone(),
                    device_name: config.spotify.device_name.clone(),
                    source: self.request.source.clone(),
                    shuffle: false,
                    start_percent: self.last_sent,
                };
                let start = spotify.start(plan, self.report.clone(), self.start_deadline);
                self.start_task = Some(tokio::spawn(start));
                self.spotify = Some(spotify);
                None
            }
            TimerEvent::Started(Some(Ok(device))) => {
                self.device = Some(device);
                None
            }
            TimerEvent::Started(Some(Err(e))) => Some(TimerEnd::Failed(e.to_string())),
            TimerEvent::Started(None) => Some(TimerEnd::Failed("the Spotify start crashed".into())),
            TimerEvent::StartDeadline => {
                let seconds = cx.store.snapshot().config.spotify.start_deadline_seconds;
                Some(TimerEnd::Failed(missed_deadline(seconds, &self.report)))
            }
            TimerEvent::VolumeDone => None,
            TimerEvent::Step => {
                self.fade_step(cx);
                None
            }
            TimerEvent::Expired => Some(TimerEnd::Expired),
        }
    }

    fn fade_step(&mut self, cx: &Context) {
        let now = Instant::now();
        let left = self.end_at.saturating_duration_since(now);
        let span = self.fade.max(Duration::from_millis(1));
        let base = *self.fade_base.get_or_insert(self.last_sent);
        let target = (f64::from(base) * left.as_secs_f64() / span.as_secs_f64()).floor() as u32;
        let target = target.min(self.last_sent);
        if target != self.last_sent {
            self.send_volume(target);
            self.publish(cx);
        }
        self.next_step = now + VOLUME_STEP;
    }

    /// The knob or the API; returns the volume applied.
    pub fn set_volume(&mut self, cx: &Context, change: VolumeChange) -> u32 {
        let percent = change.apply(self.last_sent, cx.ceiling(&cx.store.snapshot().config));
        if let Some(old) = self.volume_task.take() {
            old.abort();
        }
        self.send_volume(percent);
        self.publish(cx);
        percent
    }

    fn send_volume(&mut self, percent: u32) {
        if let (Some(spotify), Some(device)) = (&self.spotify, &self.device) {
            self.volume_task = Some(tokio::spawn(spotify.set_volume(device, percent)));
        }
        self.last_sent = percent;
    }

    fn publish(&self, cx: &Context) {
        cx.publish(RunnerState::SleepTimer {
            until: self.until,
            volume_percent: self.last_sent,
        });
    }

    /// Ends the timer: nothing it started plays on, the amplifier goes off, the history says how.
    pub async fn finish(mut self, cx: &mut Context, end: TimerEnd) {
        if let Some(task) = self.start_task.take() {
            task.abort();
        }
        if let Some(task) = self.volume_task.take() {
            task.abort();
        }
        let mut sent = self
            .report
            .lock()
            .map(|r| r.play_sent_to.clone())
            .unwrap_or_default();
        sent.extend(self.device.clone());
        for device in sent {
            pause_quietly(self.spotify.as_deref(), &device).await;
        }
        cx.amplifier_idle();
        let (ended_by, reason) = match end {
            TimerEnd::Stopped(by) => (by, None),
            TimerEnd::Expired => (EndedBy::Timer, None),
            TimerEnd::Alarm => (EndedBy::Alarm, None),
            TimerEnd::Failed(reason) => {
                tracing::error!("sleep timer: {reason}");
                (EndedBy::Timer, Some(reason))
            }
        };
        let ended_at = cx.clock.now();
        cx.record(HistoryEntry {
            alarm_id: None,
            label: "Sleep timer".into(),
            occurrence: None,
            started_at: self.started_at,
            ended_at,
            ended_by,
            paths: if self.device.is_some() {
                vec![RingPath::Spotify]
            } else {
                vec![RingPath::Silent]
            },
            fallback_reason: reason,
            snoozes: 0,
            duration_seconds: (ended_at - self.started_at).num_seconds(),
        });
    }
}
