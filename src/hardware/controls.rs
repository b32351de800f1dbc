//! The knob and the buttons as an input device: edges decoded (quadrature, debounced
//! short/long presses) into [`HardwareEvent`]s on a bounded channel. What an event means
//! (snooze, stop, a sleep timer, a volume change) is the runner's decision, taken in its one
//! loop from its own phase, so there is no read-the-state-then-act race here and this module
//! does not know the runner.
//!
//! Detents are coalesced (a turn is sent when the knob rests 120 ms, or 400 ms after its first
//! detent at the latest), so a fast turn becomes one or two events. The settings that shape
//! decoding (`long_press_ms`, `acceleration`) are read from the live config at each use; the
//! lines themselves (pins, pull) are opened once.
//!
//! An input that cannot be opened is left out and listed in the status; the others, and the
//! alarms, work without it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::button::{ButtonClassifier, Press};
use super::quadrature::{Acceleration, QuadratureDecoder};
use super::{Edge, GpioHardware};
use crate::config::{HardwareSettings, Pull};

const DEBOUNCE: Duration = Duration::from_millis(20);
/// A turn is sent when the knob rests this long...
const KNOB_QUIET: Duration = Duration::from_millis(120);
/// ...or at the latest this long after its first detent.
const KNOB_MAX_WAIT: Duration = Duration::from_millis(400);
/// The encoder's push switch has no setting of its own.
const SWITCH_LONG_PRESS: Duration = Duration::from_millis(1000);
/// Decoded events waiting for the runner; a human cannot fill it unless the runner is stuck.
pub const INPUT_QUEUE: usize = 32;

/// Which button: one of `hardware.buttons` (by index), or the encoder's push switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonId {
    Configured(usize),
    EncoderSwitch,
}

impl fmt::Display for ButtonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ButtonId::Configured(i) => write!(f, "button {i}"),
            ButtonId::EncoderSwitch => f.write_str("encoder switch"),
        }
    }
}

/// A decoded input: what the hand did, not what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardwareEvent {
    /// A debounced press; a long one is reported while still held.
    Press { button: ButtonId, long: bool },
    /// Coalesced detents (after acceleration); positive is clockwise.
    Turn { detents: i32 },
}

/// The hardware settings in force now (the config snapshot's), read at each use.
pub type LiveSettings = Arc<dyn Fn() -> HardwareSettings + Send + Sync>;

struct Button {
    id: ButtonId,
    pin: u8,
    pull: Pull,
    classifier: ButtonClassifier,
}

impl Button {
    /// The threshold in force now: a hand edit of `long_press_ms` applies to the next poll.
    fn refresh(&mut self, live: &HardwareSettings) {
        let long = match self.id {
            ButtonId::Configured(i) => live
                .buttons
                .get(i)
                .map(|b| Duration::from_millis(b.long_press_ms.into())),
            ButtonId::EncoderSwitch => Some(SWITCH_LONG_PRESS),
        };
        if let Some(long) = long {
            self.classifier.set_long_press(long);
        }
    }
}

/// Opens the configured inputs and runs the task that decodes them into `events`. One that
/// cannot be opened is reported (`hardware.unavailable`) and the rest run.
pub fn spawn_controls(
    hardware: Arc<GpioHardware>,
    live: LiveSettings,
    events: mpsc::Sender<HardwareEvent>,
) -> JoinHandle<()> {
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
        let id = ButtonId::Configured(i);
        if watch(&id.to_string(), b.pin, b.pull).is_none() {
            continue;
        }
        buttons.push(Button {
            id,
            pin: b.pin,
            pull: b.pull,
            classifier: ButtonClassifier::new(
                DEBOUNCE,
                Duration::from_millis(b.long_press_ms.into()),
            ),
        });
    }
    let mut encoder = None;
    if let Some(e) = &settings.encoder {
        // A knob needs both lines; a turn decoded from one would be noise.
        if let (Some(a), Some(b)) = (
            watch("encoder", e.pin_a, Pull::Up),
            watch("encoder", e.pin_b, Pull::Up),
        ) {
            encoder = Some((e.pin_a, e.pin_b, QuadratureDecoder::new(a, b), a, b));
        }
        if let Some(pin) = e.pin_switch
            && watch("encoder switch", pin, Pull::Up).is_some()
        {
            buttons.push(Button {
                id: ButtonId::EncoderSwitch,
                pin,
                pull: Pull::Up,
                classifier: ButtonClassifier::new(DEBOUNCE, SWITCH_LONG_PRESS),
            });
        }
    }
    drop(tx);

    tokio::spawn(async move {
        let emit = |event: HardwareEvent| {
            if let Err(e) = events.try_send(event) {
                tracing::warn!("hardware input dropped ({event:?}): {e}");
            }
        };
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
                    if let Some((pin_a, pin_b, decoder, a, b)) = &mut encoder
                        && (edge.pin == *pin_a || edge.pin == *pin_b)
                    {
                        if edge.pin == *pin_a { *a = edge.high } else { *b = edge.high }
                        let detents = decoder.update(*a, *b);
                        if detents != 0 {
                            let accelerate = live().encoder.is_some_and(|e| e.acceleration);
                            pending += if accelerate {
                                acceleration.step(edge.at, detents)
                            } else {
                                detents
                            };
                            last_detent = Instant::now();
                            first_detent.get_or_insert(last_detent);
                        }
                        continue;
                    }
                    if let Some(button) = buttons.iter_mut().find(|b| b.pin == edge.pin) {
                        button.refresh(&live());
                        let pressed = edge.high == (button.pull == Pull::Down);
                        if let Some(press) = button.classifier.edge(pressed, edge.at) {
                            emit(HardwareEvent::Press { button: button.id, long: press == Press::Long });
                        }
                    }
                }
                _ = sleep_until(button_deadline.unwrap_or(far)), if button_deadline.is_some() => {
                    let now = std::time::Instant::now();
                    let settings = live();
                    for button in &mut buttons {
                        button.refresh(&settings);
                        if let Some(press) = button.classifier.poll(now) {
                            emit(HardwareEvent::Press { button: button.id, long: press == Press::Long });
                        }
                    }
                }
                _ = sleep_until(knob_deadline.unwrap_or(far)), if knob_deadline.is_some() => {
                    first_detent = None;
                    let detents = std::mem::take(&mut pending);
                    if detents != 0 {
                        emit(HardwareEvent::Turn { detents });
                    }
                }
            }
        }
    })
}
