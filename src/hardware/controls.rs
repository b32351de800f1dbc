//! The knob and the buttons: input edges decoded (quadrature, debounced short/long presses)
//! and turned into runner commands. What a press does depends on what the runner is doing:
//!
//! | action    | ringing / starting | snoozed | sleep timer | idle |
//! |-----------|--------------------|---------|-------------|------|
//! | snooze    | snooze             | —       | —           | —    |
//! | stop      | stop               | stop    | stop        | —    |
//! | sleep_timer | stop             | stop    | stop        | start a 30-minute sleep timer |
//!
//! The encoder's push switch acts as a button with short = snooze, long = stop. Turning the
//! knob changes the volume of what plays (the fade gives way); detents are coalesced so a fast
//! turn becomes one or two volume changes.
//!
//! An input that cannot be opened is left out and listed in the status; the others, and the
//! alarms, work without it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::button::{ButtonClassifier, Press};
use super::quadrature::{Acceleration, QuadratureDecoder};
use super::{Edge, GpioHardware};
use crate::config::{ButtonAction, Pull};
use crate::runner::{Actor, RunnerHandle, RunnerState, SleepTimerRequest};

const DEBOUNCE: Duration = Duration::from_millis(20);
/// A turn is sent when the knob rests this long...
const KNOB_QUIET: Duration = Duration::from_millis(120);
/// ...or at the latest this long after its first detent.
const KNOB_MAX_WAIT: Duration = Duration::from_millis(400);
const SLEEP_TIMER_MINUTES: u32 = 30;

struct Button {
    pin: u8,
    pull: Pull,
    short: ButtonAction,
    long: ButtonAction,
    classifier: ButtonClassifier,
    label: String,
}

/// Opens the configured inputs and runs the task that turns them into commands. One that
/// cannot be opened is reported (`hardware.unavailable`) and the rest run.
pub fn spawn_controls(hardware: Arc<GpioHardware>, runner: RunnerHandle) -> JoinHandle<()> {
    let (tx, mut edges) = mpsc::channel::<Edge>(256);
    let settings = hardware.settings.clone();
    let backend = hardware.backend().clone();
    let watch = |device: &str, pin: u8, pull: Pull| match backend.watch_input(pin, pull, tx.clone())
    {
        Ok(level) => Some(level),
        Err(e) => {
            hardware.unavailable(device, Some(pin), &e);
            None
        }
    };
    let mut buttons = Vec::new();
    for (i, b) in settings.buttons.iter().enumerate() {
        let label = format!("button {i}");
        if watch(&label, b.pin, b.pull).is_none() {
            continue;
        }
        buttons.push(Button {
            pin: b.pin,
            pull: b.pull,
            short: b.short_press,
            long: b.long_press,
            classifier: ButtonClassifier::new(
                DEBOUNCE,
                Duration::from_millis(b.long_press_ms.into()),
            ),
            label,
        });
    }
    let mut encoder = None;
    if let Some(e) = &settings.encoder {
        // A knob needs both lines; a turn decoded from one would be noise.
        if let (Some(a), Some(b)) = (
            watch("encoder", e.pin_a, Pull::Up),
            watch("encoder", e.pin_b, Pull::Up),
        ) {
            encoder = Some((e.clone(), QuadratureDecoder::new(a, b), a, b));
        }
        if let Some(pin) = e.pin_switch
            && watch("encoder switch", pin, Pull::Up).is_some()
        {
            buttons.push(Button {
                pin,
                pull: Pull::Up,
                short: ButtonAction::Snooze,
                long: ButtonAction::Stop,
                classifier: ButtonClassifier::new(DEBOUNCE, Duration::from_millis(1000)),
                label: "encoder switch".into(),
            });
        }
    }
    drop(tx);

    tokio::spawn(async move {
        let mut acceleration = Acceleration::new();
        let mut pending = 0i32;
        let mut first_detent: Option<Instant> = None;
        let mut last_detent = Instant::now();
        loop {
            let button_deadline = buttons
                .iter()
                .filter_map(|b| b.classifier.next_deadline())
                .min()
                .map(Instant::from_std);
            let knob_deadline =
                first_detent.map(|first| (last_detent + KNOB_QUIET).min(first + KNOB_MAX_WAIT));
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                edge = edges.recv() => {
                    let Some(edge) = edge else { return };
                    if let Some((settings, decoder, a, b)) = &mut encoder
                        && (edge.pin == settings.pin_a || edge.pin == settings.pin_b)
                    {
                        if edge.pin == settings.pin_a { *a = edge.high } else { *b = edge.high }
                        let detents = decoder.update(*a, *b);
                        if detents != 0 {
                            let detents = if settings.acceleration {
                                acceleration.step(edge.at, detents)
                            } else {
                                detents
                            };
                            pending += detents * settings.step_percent as i32;
                            last_detent = Instant::now();
                            first_detent.get_or_insert(last_detent);
                        }
                        continue;
                    }
                    if let Some(button) = buttons.iter_mut().find(|b| b.pin == edge.pin) {
                        let pressed = edge.high == (button.pull == Pull::Down);
                        if let Some(press) = button.classifier.edge(pressed, edge.at) {
                            act(&hardware, &runner, button, press).await;
                        }
                    }
                }
                _ = sleep_until(button_deadline.unwrap_or(far)), if button_deadline.is_some() => {
                    let now = std::time::Instant::now();
                    for button in &mut buttons {
                        if let Some(press) = button.classifier.poll(now) {
                            act(&hardware, &runner, button, press).await;
                        }
                    }
                }
                _ = sleep_until(knob_deadline.unwrap_or(far)), if knob_deadline.is_some() => {
                    first_detent = None;
                    let delta = std::mem::take(&mut pending);
                    if delta != 0 {
                        hardware.note(format!("encoder {delta:+} %"));
                        match runner.adjust_volume(delta).await {
                            Ok(volume) => tracing::info!(volume, "volume set with the knob"),
                            Err(e) => tracing::info!("knob turned: {e}"),
                        }
                    }
                }
            }
        }
    })
}

async fn act(hardware: &GpioHardware, runner: &RunnerHandle, button: &Button, press: Press) {
    let action = match press {
        Press::Short => button.short,
        Press::Long => button.long,
    };
    let kind = if press == Press::Short {
        "short"
    } else {
        "long"
    };
    hardware.note(format!("{} {kind}", button.label));
    let state = runner.status().state;
    let busy = !matches!(state, RunnerState::Idle);
    let result = match (action, &state) {
        (ButtonAction::Snooze, RunnerState::Preparing { .. } | RunnerState::Ringing { .. }) => {
            runner.snooze(Actor::Button).await
        }
        (ButtonAction::Stop | ButtonAction::SleepTimer, _) if busy => {
            runner.stop(Actor::Button).await
        }
        (ButtonAction::SleepTimer, RunnerState::Idle) => {
            runner
                .sleep_timer(SleepTimerRequest {
                    source: None,
                    volume_percent: None,
                    duration_minutes: SLEEP_TIMER_MINUTES,
                    fade_out_minutes: None,
                })
                .await
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::info!("{} {kind} press: {e}", button.label);
    }
}
