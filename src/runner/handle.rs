//! The runner's front: a clonable [`RunnerHandle`] that sends [`RunnerCommand`]s on a bounded
//! channel and reads the published status and history. It never waits long: a full queue is
//! "busy", a runner that does not answer within [`ANSWER_TIMEOUT`] is reported, not awaited.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Actor, HistoryEntry, RunnerCommand, RunnerError, RunnerStatus, SleepTimerRequest};
use super::{SelfTestAnswer, VolumeChange};

/// Commands waiting for the runner; a full queue answers "busy" rather than growing.
pub(super) const COMMAND_QUEUE: usize = 16;
/// Longest wait for the runner to take a command. The runner answers every command from its
/// loop at once (slow work runs in tasks), so this only trips on a stuck runner.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the self-test's steps once the runner took it: the amplifier's settle time
/// (at most 5 s) plus the beep, with room to spare.
pub const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The clonable front of the runner.
#[derive(Clone, Debug)]
pub struct RunnerHandle {
    pub(super) commands: mpsc::Sender<RunnerCommand>,
    pub(super) status: watch::Receiver<RunnerStatus>,
    pub(super) history: watch::Receiver<Vec<HistoryEntry>>,
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

    /// The runner takes the test at once; its steps follow when the beep is done.
    pub async fn hardware_test(&self) -> Result<Vec<String>, RunnerError> {
        let steps: SelfTestAnswer = self
            .ask(|reply| RunnerCommand::HardwareTest { reply })
            .await??;
        match tokio::time::timeout(SELF_TEST_TIMEOUT, steps).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RunnerError::Gone),
            Err(_) => Err(RunnerError::Busy),
        }
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

    /// Whether the runner's loop answers within `within`: systemd's watchdog asks before each
    /// keep-alive. A full queue counts as long as it stays full; a runner that ended never
    /// answers.
    pub async fn answers(&self, within: Duration) -> bool {
        self.ask_within(within, |reply| RunnerCommand::Ping { reply })
            .await
    }

    /// Asks the runner to release what sounds and refuse everything from then on (the daemon
    /// stops). Whether it confirmed within `within`.
    pub async fn shut_down(&self, within: Duration) -> bool {
        self.ask_within(within, |reply| RunnerCommand::Shutdown { reply })
            .await
    }

    /// Waits for room in the queue too, all within `within`.
    async fn ask_within(
        &self,
        within: Duration,
        command: impl FnOnce(oneshot::Sender<()>) -> RunnerCommand,
    ) -> bool {
        let (reply, answer) = oneshot::channel();
        let asked =
            async { self.commands.send(command(reply)).await.is_ok() && answer.await.is_ok() };
        tokio::time::timeout(within, asked).await.unwrap_or(false)
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
        match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(RunnerError::Gone),
            Err(_) => Err(RunnerError::Busy),
        }
    }
}
