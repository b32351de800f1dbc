//! The runner: the one component that rings. It owns the Spotify player, the fallback sound
//! and the hardware outputs (including the amplifier's idle-off deadline), and decides what a
//! button press or a knob turn means (`inputs.rs`); everyone else sends it commands through a
//! [`RunnerHandle`] (bounded channel) and reads its published [`RunnerStatus`] (`watch`).
//!
//! One actor, one state enum, one loop (`machine.rs`): the runner is always in one [`Phase`]
//! (idle, self-test, ringing, snoozed, sleep timer) and every command and firing is answered
//! by one handler for that phase. Slow work (Spotify calls, the self-test) runs in tasks whose
//! results come back to the loop as events, so a command is answered at once and a firing
//! never waits. The episode in progress is journaled (`episode.rs`), so a restart resumes it;
//! finished episodes go to the history (`records.rs`).
//!
//! [`Phase`]: machine::Phase

mod episode;
mod fade;
mod handle;
mod inputs;
mod machine;
mod records;
mod ring;
mod self_test;
mod sleep_timer;
pub mod speakers;
#[cfg(test)]
mod tests;

pub use episode::Episode;
pub use fade::Fade;
pub use handle::{ANSWER_TIMEOUT, RunnerHandle, SELF_TEST_TIMEOUT};
pub use machine::Runner;
pub use records::{EndedBy, HISTORY_FILE, HISTORY_LEN, HistoryEntry, JOURNAL_FILE, RingPath};
pub use sleep_timer::SleepTimerRequest;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;
use utoipa::ToSchema;

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
    /// Wiring check: amplifier on, a buzzer beep, amplifier off (only when idle). Taken at
    /// once; the steps follow on the inner channel when the beep is done.
    HardwareTest {
        reply: oneshot::Sender<Result<SelfTestAnswer, RunnerError>>,
    },
    /// Answered from the loop in every phase: proof for systemd's watchdog that it turns.
    Ping { reply: oneshot::Sender<()> },
    /// The daemon stops: release whatever sounds (Spotify paused, outputs off, the journal
    /// kept so a restart resumes the alarm) and refuse everything from then on.
    Shutdown { reply: oneshot::Sender<()> },
}

/// The self-test's steps, or why it did not finish (an alarm fired meanwhile).
pub type SelfTestAnswer = oneshot::Receiver<Result<Vec<String>, RunnerError>>;

impl RunnerCommand {
    /// Answers a command the runner cannot take in its current state: one that would start
    /// something is refused as busy, one that acts on a ring as "nothing is ringing".
    fn refuse(self) {
        tracing::debug!(command = self.name(), "refused in this phase");
        match self {
            // Never refused: the table answers them in every phase.
            RunnerCommand::Ping { reply } | RunnerCommand::Shutdown { reply } => {
                let _ = reply.send(());
            }
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

impl RunnerCommand {
    /// Answers a command once the daemon is stopping: nothing starts or changes any more.
    fn refuse_stopped(self) {
        tracing::debug!(command = self.name(), "refused: the daemon is stopping");
        match self {
            RunnerCommand::RingNow { reply, .. }
            | RunnerCommand::SleepTimer { reply, .. }
            | RunnerCommand::Snooze { reply, .. }
            | RunnerCommand::Stop { reply, .. } => {
                let _ = reply.send(Err(RunnerError::Gone));
            }
            RunnerCommand::SetVolume { reply, .. } => {
                let _ = reply.send(Err(RunnerError::Gone));
            }
            RunnerCommand::HardwareTest { reply } => {
                let _ = reply.send(Err(RunnerError::Gone));
            }
            RunnerCommand::Ping { reply } | RunnerCommand::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            RunnerCommand::RingNow { .. } => "ring-now",
            RunnerCommand::Snooze { .. } => "snooze",
            RunnerCommand::Stop { .. } => "stop",
            RunnerCommand::SleepTimer { .. } => "sleep-timer",
            RunnerCommand::SetVolume { .. } => "volume",
            RunnerCommand::HardwareTest { .. } => "hardware-test",
            RunnerCommand::Ping { .. } => "ping",
            RunnerCommand::Shutdown { .. } => "shutdown",
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
