//! The runner: the one component that rings. It owns the Spotify player, the fallback sound
//! and the hardware outputs; everyone else sends it commands through a [`RunnerHandle`]
//! (bounded channel) and reads its published [`RunnerStatus`] (`watch`).
//!
//! An actor on one task: idle, it waits for a firing from the scheduler or a command; ringing,
//! it runs one episode (`episode.rs`) to its end. The episode in progress is journaled, so a
//! restart resumes it; finished episodes go to the history.

mod episode;
mod fade;
mod outcome;
mod records;
mod sleep_timer;
mod snooze;

pub use fade::Fade;
pub use records::{EndedBy, HISTORY_FILE, HISTORY_LEN, HistoryEntry, JOURNAL_FILE, RingPath};
pub use sleep_timer::SleepTimerRequest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::clock::SharedClock;
use crate::hardware::Hardware;
use crate::player::TokenFile;
use crate::player::fallback::LocalSound;
use crate::scheduler::Firing;
use crate::store::ConfigStore;
use crate::store::RecordFile;
use records::{History, JournalEntry};

/// Commands waiting for the runner; a full queue answers "busy" rather than growing.
const COMMAND_QUEUE: usize = 16;
/// Longest wait for the runner to take a command.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Who asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Api,
    Button,
}

impl Actor {
    fn ended_by(self) -> EndedBy {
        match self {
            Actor::Api => EndedBy::Api,
            Actor::Button => EndedBy::Button,
        }
    }
}

#[derive(Debug)]
pub enum RunnerCommand {
    /// Ring an alarm now, as if it had fired (the "test this alarm" button).
    RingNow {
        alarm_id: String,
        reply: oneshot::Sender<Result<(), RunnerError>>,
    },
    Snooze {
        by: Actor,
        reply: oneshot::Sender<Result<(), RunnerError>>,
    },
    Stop {
        by: Actor,
        reply: oneshot::Sender<Result<(), RunnerError>>,
    },
    /// Play something now and stop after a while, fading out.
    SleepTimer {
        request: SleepTimerRequest,
        reply: oneshot::Sender<Result<(), RunnerError>>,
    },
    /// Take over the volume from the fade (knob, API); clamped to the ceiling.
    SetVolume {
        change: VolumeChange,
        reply: oneshot::Sender<Result<u32, RunnerError>>,
    },
    /// Wiring check: amplifier on, a buzzer beep, amplifier off (only when idle).
    HardwareTest {
        reply: oneshot::Sender<Result<Vec<String>, RunnerError>>,
    },
}

impl RunnerCommand {
    /// Answers a command the runner cannot take in its current state: one that would start
    /// something is refused as busy, one that acts on a ring as "nothing is ringing".
    fn refuse(self) {
        match self {
            RunnerCommand::RingNow { reply, .. } | RunnerCommand::SleepTimer { reply, .. } => {
                let _ = reply.send(Err(RunnerError::Busy));
            }
            RunnerCommand::HardwareTest { reply } => {
                let _ = reply.send(Err(RunnerError::Busy));
            }
            RunnerCommand::Snooze { reply, .. } | RunnerCommand::Stop { reply, .. } => {
                let _ = reply.send(Err(RunnerError::NotRinging));
            }
            RunnerCommand::SetVolume { reply, .. } => {
                let _ = reply.send(Err(RunnerError::NotRinging));
            }
        }
    }
}

/// A new volume: absolute (API) or relative (knob).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeChange {
    To(u32),
    By(i32),
}

impl VolumeChange {
    /// The resulting volume from `current`, within 0..=`ceiling`.
    pub fn apply(self, current: u32, ceiling: u32) -> u32 {
        let wanted = match self {
            VolumeChange::To(percent) => i64::from(percent),
            VolumeChange::By(delta) => i64::from(current) + i64::from(delta),
        };
        wanted.clamp(0, i64::from(ceiling)) as u32
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunnerError {
    #[error("nothing is ringing")]
    NotRinging,
    #[error("an alarm is already ringing")]
    Busy,
    #[error("no alarm with id {0:?}")]
    UnknownAlarm(String),
    #[error("the runner is not running")]
    Gone,
}

/// What the runner is doing, for `/api/status`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunnerState {
    Idle,
    /// Starting Spotify (before the deadline).
    Preparing {
        alarm_id: String,
        label: String,
        since: DateTime<Utc>,
    },
    Ringing {
        alarm_id: String,
        label: String,
        since: DateTime<Utc>,
        path: RingPath,
        /// Why Spotify is not what rings (`null` while Spotify plays).
        fallback_reason: Option<String>,
        volume_percent: Option<u32>,
        fade_percent: u32,
        snoozes_used: u32,
    },
    Snoozed {
        alarm_id: String,
        label: String,
        until: DateTime<Utc>,
        snoozes_used: u32,
    },
    SleepTimer {
        until: DateTime<Utc>,
        volume_percent: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RunnerStatus {
    #[serde(flatten)]
    pub state: RunnerState,
    /// Updated every few seconds while an episode runs: a stale heartbeat means a stuck runner.
    pub heartbeat: Option<DateTime<Utc>>,
    pub last_episode: Option<HistoryEntry>,
}

/// The clonable front of the runner.
#[derive(Clone, Debug)]
pub struct RunnerHandle {
    commands: mpsc::Sender<RunnerCommand>,
    status: watch::Receiver<RunnerStatus>,
    history: watch::Receiver<Vec<HistoryEntry>>,
}

impl RunnerHandle {
    pub fn status(&self) -> RunnerStatus {
        self.status.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<RunnerStatus> {
        self.status.clone()
    }

    pub fn history(&self) -> Vec<HistoryEntry> {
        self.history.borrow().clone()
    }

    pub async fn ring_now(&self, alarm_id: String) -> Result<(), RunnerError> {
        self.ask(|reply| RunnerCommand::RingNow { alarm_id, reply })
            .await?
    }

    pub async fn snooze(&self, by: Actor) -> Result<(), RunnerError> {
        self.ask(|reply| RunnerCommand::Snooze { by, reply })
            .await?
    }

    pub async fn stop(&self, by: Actor) -> Result<(), RunnerError> {
        self.ask(|reply| RunnerCommand::Stop { by, reply }).await?
    }

    pub async fn sleep_timer(&self, request: SleepTimerRequest) -> Result<(), RunnerError> {
        self.ask(|reply| RunnerCommand::SleepTimer { request, reply })
            .await?
    }

    pub async fn hardware_test(&self) -> Result<Vec<String>, RunnerError> {
        self.ask(|reply| RunnerCommand::HardwareTest { reply })
            .await?
    }

    /// Relative change (the knob), in percent points.
    pub async fn adjust_volume(&self, delta: i32) -> Result<u32, RunnerError> {
        self.ask(|reply| RunnerCommand::SetVolume {
            change: VolumeChange::By(delta),
            reply,
        })
        .await?
    }

    pub async fn set_volume(&self, percent: u32) -> Result<u32, RunnerError> {
        let change = VolumeChange::To(percent);
        self.ask(|reply| RunnerCommand::SetVolume { change, reply })
            .await?
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> RunnerCommand,
    ) -> Result<T, RunnerError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .try_send(command(reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => RunnerError::Busy,
                mpsc::error::TrySendError::Closed(_) => RunnerError::Gone,
            })?;
        // The runner answers at once (slow work runs in its own tasks); a runner that does not
        // is reported rather than hanging the caller.
        match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(RunnerError::Gone),
            Err(_) => Err(RunnerError::Busy),
        }
    }
}

/// Everything the runner owns.
pub struct Runner {
    store: ConfigStore,
    clock: SharedClock,
    hardware: Arc<dyn Hardware>,
    tokens: TokenFile,
    commands: mpsc::Receiver<RunnerCommand>,
    firings: mpsc::Receiver<Firing>,
    status: watch::Sender<RunnerStatus>,
    history_view: watch::Sender<Vec<HistoryEntry>>,
    journal: RecordFile,
    history: History,
}

impl Runner {
    /// Prepares the runner's files in `state_dir` (next to the config).
    pub fn new(
        store: ConfigStore,
        clock: SharedClock,
        hardware: Arc<dyn Hardware>,
        state_dir: &Path,
        firings: mpsc::Receiver<Firing>,
    ) -> std::io::Result<(Runner, RunnerHandle)> {
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let history = History::open(state_dir)?;
        let entries = history.entries();
        let (status, status_rx) = watch::channel(RunnerStatus {
            state: RunnerState::Idle,
            heartbeat: None,
            last_episode: entries.first().cloned(),
        });
        let (history_view, history_rx) = watch::channel(entries);
        let runner = Runner {
            store,
            clock,
            hardware,
            tokens: TokenFile::new(state_dir)?,
            commands,
            firings,
            status,
            history_view,
            journal: RecordFile::new(state_dir, JOURNAL_FILE)?,
            history,
        };
        let handle = RunnerHandle {
            commands: commands_tx,
            status: status_rx,
            history: history_rx,
        };
        Ok((runner, handle))
    }

    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) {
        self.resume_journaled_episode().await;
        loop {
            tokio::select! {
                firing = self.firings.recv() => match firing {
                    Some(f) => {
                        let episode = episode::Episode::new(f.alarm, Some(f.occurrence), self.clock.now());
                        self.ring(episode).await;
                    }
                    None => return,
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.idle_command(command).await,
                    None => return,
                },
            }
        }
    }

    async fn idle_command(&mut self, command: RunnerCommand) {
        match command {
            RunnerCommand::RingNow { alarm_id, reply } => {
                let config = self.store.snapshot().config.clone();
                match config.alarms.iter().find(|a| a.id == alarm_id) {
                    Some(alarm) => {
                        let _ = reply.send(Ok(()));
                        tracing::info!(alarm = %alarm.id, "ringing now on request");
                        let episode = episode::Episode::new(alarm.clone(), None, self.clock.now());
                        self.ring(episode).await;
                    }
                    None => {
                        let _ = reply.send(Err(RunnerError::UnknownAlarm(alarm_id)));
                    }
                }
            }
            RunnerCommand::SleepTimer { request, reply } => {
                let _ = reply.send(Ok(()));
                if let Some(firing) = self.sleep_timer(request).await {
                    let episode = episode::Episode::new(
                        firing.alarm,
                        Some(firing.occurrence),
                        self.clock.now(),
                    );
                    self.ring(episode).await;
                }
            }
            command @ (RunnerCommand::Snooze { .. }
            | RunnerCommand::Stop { .. }
            | RunnerCommand::SetVolume { .. }) => command.refuse(),
            RunnerCommand::HardwareTest { reply } => {
                let mut steps = Vec::new();
                let settle = self.hardware.amplifier_on();
                steps.push(format!("amplifier on (settle {} ms)", settle.as_millis()));
                tokio::time::sleep(settle).await;
                if self.hardware.has_buzzer() {
                    self.hardware.buzzer(true);
                    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                    self.hardware.buzzer(false);
                    steps.push("buzzer beeped".into());
                } else {
                    steps.push(self.hardware.why_no_buzzer());
                }
                self.hardware.amplifier_off();
                steps.push("amplifier off (after its idle delay)".into());
                let _ = reply.send(Ok(steps));
            }
        }
    }

    /// The volume ceiling in force now: the global one, or the night one in its hours.
    fn ceiling(&self, config: &crate::config::Config) -> u32 {
        let (zone, _) = crate::scheduler::resolve_zone(config);
        let local = self.clock.now().with_timezone(&zone).time();
        config.volume.ceiling_at(local)
    }

    /// After a crash or restart mid-episode: ring again (or keep snoozing) while the ring would
    /// still be running; otherwise record it as interrupted.
    async fn resume_journaled_episode(&mut self) {
        let entry: JournalEntry = match self.journal.load() {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(path = %self.journal.path().display(), "unreadable ring journal, ignored: {e}");
                let _ = self.journal.remove().await;
                return;
            }
        };
        let now = self.clock.now();
        let max_ring = chrono::Duration::minutes(entry.alarm.ring.max_ring_minutes.into());
        // Resume while the ring (or the one after the snooze) would still be running.
        let deadline = entry.ring_deadline.unwrap_or_else(|| {
            entry
                .snoozed_until
                .or(entry.ringing_since)
                .unwrap_or(entry.started_at)
                + max_ring
        });
        let resume = now < deadline;
        let episode = episode::Episode::from_journal(entry);
        if resume {
            tracing::warn!(alarm = %episode.alarm.id, "resuming the alarm that was ringing when the daemon stopped");
            self.ring(episode).await;
        } else {
            tracing::warn!(alarm = %episode.alarm.id, "the daemon was down too long to resume the alarm that was ringing");
            self.finish(episode, EndedBy::Interrupted).await;
        }
    }

    fn local_sound(&self) -> LocalSound {
        let config = self.store.snapshot();
        let fallback = &config.config.fallback;
        LocalSound {
            command: fallback.command.clone(),
            // None: the bundled sound, fed from memory (no file, so a full disk cannot stop it).
            sound: fallback.sound_file.as_ref().map(PathBuf::from),
        }
    }

    fn publish(&self, state: RunnerState) {
        let now = self.clock.now();
        self.status.send_modify(|s| {
            s.state = state;
            s.heartbeat = Some(now);
        });
    }
}
