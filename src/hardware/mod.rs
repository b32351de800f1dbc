//! The GPIO outputs the ring sequence drives: amplifier power and the buzzer.
//!
//! This is the seam the hardware backends plug into (`rpi` through rppal on a Pi, `sim`
//! elsewhere). Until they exist, [`NoHardware`] stands in: no amplifier to switch, no buzzer,
//! so the runner's last resort after a failed fallback sound is a loud error in status and log.

use std::time::Duration;

pub trait Hardware: Send + Sync + 'static {
    /// Amplifier on before audio; returns how long to wait before the audio starts.
    fn amplifier_on(&self) -> Duration;
    fn amplifier_off(&self);
    /// Whether a buzzer is wired; `buzzer` is a no-op otherwise.
    fn has_buzzer(&self) -> bool;
    fn buzzer(&self, on: bool);
}

/// No GPIO devices.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHardware;

impl Hardware for NoHardware {
    fn amplifier_on(&self) -> Duration {
        Duration::ZERO
    }
    fn amplifier_off(&self) {}
    fn has_buzzer(&self) -> bool {
        false
    }
    fn buzzer(&self, _on: bool) {}
}
