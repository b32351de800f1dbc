//! The (phase, hardware event) table: what a press or a turn of the knob means, decided in
//! the runner's loop from its own phase, so the answer cannot race a phase change. The
//! button's actions and the encoder's step are read from the config snapshot at each event,
//! so a hand edit applies to the next press.
//!
//! | button action | ringing / starting | snoozed | sleep timer | idle, self-test |
//! |---------------|--------------------|---------|-------------|-----------------|
//! | `snooze`      | snooze             | —       | —           | —               |
//! | `stop`        | stop               | stop    | stop        | —               |
//! | `sleep_timer` | stop               | stop    | stop        | idle: start a 30-minute sleep timer |
//! | `nothing`     | —                  | —       | —           | —               |
//!
//! The encoder's push switch is a button with short = snooze, long = stop. A turn is
//! `detents × step_percent` on the volume while something plays (ringing, sleep timer), and
//! nothing otherwise.

use tokio::sync::oneshot;

use crate::config::{ButtonAction, HardwareSettings};
use crate::hardware::{ButtonId, HardwareEvent};

use super::machine::Kind;
use super::{Actor, RunnerCommand, RunnerError, SleepTimerRequest, VolumeChange};

pub(super) const SLEEP_TIMER_MINUTES: u32 = 30;

/// What a press asks the runner to do.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Intent {
    Snooze,
    Stop,
    SleepTimer(SleepTimerRequest),
}

/// The action configured for this press now.
pub(super) fn action(settings: &HardwareSettings, button: ButtonId, long: bool) -> ButtonAction {
    match button {
        ButtonId::Configured(i) => settings.buttons.get(i).map_or(ButtonAction::Nothing, |b| {
            if long { b.long_press } else { b.short_press }
        }),
        ButtonId::EncoderSwitch if long => ButtonAction::Stop,
        ButtonId::EncoderSwitch => ButtonAction::Snooze,
    }
}

/// The table above: what `action` means in phase `kind`.
pub(super) fn intent(kind: Kind, action: ButtonAction) -> Option<Intent> {
    let busy = matches!(kind, Kind::Ringing | Kind::Snoozed | Kind::SleepTimer);
    match (action, kind) {
        (ButtonAction::Snooze, Kind::Ringing) => Some(Intent::Snooze),
        (ButtonAction::Stop | ButtonAction::SleepTimer, _) if busy => Some(Intent::Stop),
        (ButtonAction::SleepTimer, Kind::Idle) => Some(Intent::SleepTimer(SleepTimerRequest {
            source: None,
            volume_percent: None,
            duration_minutes: SLEEP_TIMER_MINUTES,
            fade_out_minutes: None,
        })),
        _ => None,
    }
}

/// The volume change for a turn, in percent points, with the step in force now.
pub(super) fn turn_percent(settings: &HardwareSettings, detents: i32) -> i32 {
    let step = settings.encoder.as_ref().map_or(0, |e| e.step_percent);
    detents.saturating_mul(i32::try_from(step).unwrap_or(i32::MAX))
}

/// Whether a turn changes anything in this phase.
pub(super) fn knob_applies(kind: Kind) -> bool {
    matches!(kind, Kind::Ringing | Kind::SleepTimer)
}

/// The log line for `input` and the command it means in phase `kind`, if any, with the
/// receiver of its answer.
pub(super) fn command_for(
    kind: Kind,
    settings: &HardwareSettings,
    input: HardwareEvent,
) -> (String, Option<(RunnerCommand, Answer)>) {
    match input {
        HardwareEvent::Press { button, long } => {
            let note = format!("{button} {}", if long { "long" } else { "short" });
            let command = intent(kind, action(settings, button, long)).map(|intent| {
                let (reply, answer) = oneshot::channel();
                let command = match intent {
                    Intent::Snooze => RunnerCommand::Snooze {
                        by: Actor::Button,
                        reply,
                    },
                    Intent::Stop => RunnerCommand::Stop {
                        by: Actor::Button,
                        reply,
                    },
                    Intent::SleepTimer(request) => RunnerCommand::SleepTimer { request, reply },
                };
                (command, Answer::Done(answer))
            });
            (note, command)
        }
        HardwareEvent::Turn { detents } => {
            let delta = turn_percent(settings, detents);
            let command = (delta != 0 && knob_applies(kind)).then(|| {
                let (reply, answer) = oneshot::channel();
                let change = VolumeChange::By(delta);
                (
                    RunnerCommand::SetVolume { change, reply },
                    Answer::Volume(answer),
                )
            });
            (format!("encoder {delta:+} %"), command)
        }
    }
}

/// The reply of a command the runner sent itself for an input, read once it was handled.
pub(super) enum Answer {
    Done(oneshot::Receiver<Result<(), RunnerError>>),
    Volume(oneshot::Receiver<Result<u32, RunnerError>>),
}

impl Answer {
    pub(super) fn result(self) -> Result<Option<u32>, RunnerError> {
        let gone = |_| RunnerError::Gone;
        match self {
            Answer::Done(mut answer) => answer.try_recv().map_err(gone)?.map(|()| None),
            Answer::Volume(mut answer) => answer.try_recv().map_err(gone)?.map(Some),
        }
    }
}
