//! The hardware self-test (`POST /api/hardware/test`): amplifier on, its settle time, a buzzer
//! beep, amplifier off. The wait and the beep run as a task so the runner keeps answering (the
//! settle time alone may be 5 s); the amplifier is switched by the runner around it, like for
//! any sound. A firing ends it at once and rings.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ring::join;
use super::{RunnerError, SelfTestAnswer};
use crate::hardware::Hardware;

/// How long the buzzer beeps.
const BEEP: Duration = Duration::from_millis(600);

pub(super) struct SelfTest {
    task: Option<JoinHandle<Vec<String>>>,
    reply: oneshot::Sender<Result<Vec<String>, RunnerError>>,
}

impl SelfTest {
    /// Starts the test; the answer carries its steps when it is done.
    /// The runner switched the amplifier on; `settle` is how long to wait before the beep.
    pub fn start(hardware: Arc<dyn Hardware>, settle: Duration) -> (SelfTest, SelfTestAnswer) {
        let (reply, answer) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut steps = Vec::new();
            steps.push(format!("amplifier on (settle {} ms)", settle.as_millis()));
            tokio::time::sleep(settle).await;
            if hardware.has_buzzer() {
                hardware.buzzer(true);
                tokio::time::sleep(BEEP).await;
                hardware.buzzer(false);
                steps.push("buzzer beeped".into());
            } else {
                steps.push(hardware.why_no_buzzer());
            }
            // The runner releases the amplifier when it reads these steps.
            steps.push("amplifier off (after its idle delay)".into());
            steps
        });
        let test = SelfTest {
            task: Some(task),
            reply,
        };
        (test, answer)
    }

    /// The steps once the test is done. Cancel-safe.
    pub async fn done(&mut self) -> Vec<String> {
        join(&mut self.task)
            .await
            .unwrap_or_else(|| vec!["the self-test crashed".into()])
    }

    pub fn answer(self, result: Result<Vec<String>, RunnerError>) {
        let _ = self.reply.send(result);
    }

    /// Ends the test now (an alarm fires): the buzzer off (the runner releases the amplifier),
    /// the caller told why.
    pub fn abort(mut self, hardware: &dyn Hardware) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        hardware.buzzer(false);
        self.answer(Err(RunnerError::Busy));
    }
}
