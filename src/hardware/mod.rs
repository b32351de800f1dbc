//! GPIO hardware: amplifier power, buzzer and I2C volume as outputs the runner drives, and the
//! buttons and rotary encoder as inputs that emit decoded [`HardwareEvent`]s. This is a leaf:
//! it never imports the runner; the runner decides what an event means.
//!
//! Layers, from the pins up: a [`Backend`] sets lines and reports edges (`rpi` through rppal,
//! the only file that names it; `sim` everywhere else, keeping levels and an event log);
//! [`GpioHardware`] turns the configured devices into the [`Hardware`] the runner uses
//! (active-low lines, settle and idle-off delays, buzzer pattern, volume mapping);
//! `controls` decodes input edges (quadrature, debounced short/long presses) into events.
//! Decoders are pure and table-tested.
//!
//! Every device is optional and may fail to open (a busy line, a missing I2C bus): the daemon
//! then runs without it, lists it in the status (`hardware.unavailable`) and rings through
//! what is left.

pub mod button;
mod controls;
mod devices;
pub mod max9744;
pub mod quadrature;
mod restart;
mod rpi;
pub mod sim;

pub use controls::{ButtonId, HardwareEvent, INPUT_QUEUE, LiveSettings, spawn_controls};
pub use devices::{
    GpioHardware, HardwareLogEntry, HardwareStatus, HardwareView, LineStatus, UnavailableDevice,
};
pub use restart::restart_needed_for;
pub use sim::SimBackend;

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::config::{HardwareBackend, Pull};

/// What the runner drives. Calls are quick and never block on IO for long.
pub trait Hardware: Send + Sync + 'static {
    /// Amplifier on, now; true if it was off (the runner then waits its settle time).
    fn amplifier_on(&self) -> bool;
    /// Amplifier off, now (the runner owns the idle delay).
    fn amplifier_off(&self);
    /// Whether a buzzer is wired; `buzzer` is a no-op otherwise.
    fn has_buzzer(&self) -> bool;
    fn buzzer(&self, on: bool);
    /// Why `has_buzzer` is false, for the status of a silent alarm.
    fn why_no_buzzer(&self) -> String {
        "no buzzer is configured".into()
    }
    /// Whether a hardware volume (I2C amplifier) is wired.
    fn has_volume(&self) -> bool {
        false
    }
    /// Sets the hardware volume; false if there is none.
    fn set_volume(&self, _percent: u32) -> bool {
        false
    }
    /// Everything to its safe level at once (shutdown).
    fn safe_state(&self) {}
    /// Adds a line to the hardware log in the status (an input the runner handled).
    fn note(&self, _event: String) {}
}

/// No GPIO devices (tests of other parts).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHardware;

impl Hardware for NoHardware {
    fn amplifier_on(&self) -> bool {
        false
    }
    fn amplifier_off(&self) {}
    fn has_buzzer(&self) -> bool {
        false
    }
    fn buzzer(&self, _on: bool) {}
}

/// A level change on an input line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub pin: u8,
    pub high: bool,
    pub at: Instant,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HardwareError {
    #[error("{0}")]
    Unavailable(String),
    #[error("GPIO {pin}: {message}")]
    Pin { pin: u8, message: String },
    #[error("I2C: {0}")]
    I2c(String),
}

/// Lines and buses. Implementations: [`SimBackend`], and rppal on a Pi.
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn set_output(&self, pin: u8, high: bool) -> Result<(), HardwareError>;
    /// A square wave at `hz` (half duty), or steady low with `None`.
    fn set_tone(&self, pin: u8, hz: Option<u32>) -> Result<(), HardwareError>;
    fn i2c_write(&self, bus: u8, address: u8, bytes: &[u8]) -> Result<(), HardwareError>;
    /// Whether the I2C device can be addressed, without writing to it.
    fn probe_i2c(&self, _bus: u8, _address: u8) -> Result<(), HardwareError> {
        Ok(())
    }
    /// Configures an input and sends its edges to `edges`; returns its current level.
    fn watch_input(
        &self,
        pin: u8,
        pull: Pull,
        edges: mpsc::Sender<Edge>,
    ) -> Result<bool, HardwareError>;
}

/// The backend the config asks for, and the simulator itself when that is what runs.
/// `auto` is rppal on a Raspberry Pi (by the device tree's model string), the simulator
/// elsewhere. A Pi backend that cannot open says what to do; the daemon then runs on the
/// simulator and shows the error in the status (an alarm clock must still ring).
pub struct OpenedBackend {
    pub backend: Arc<dyn Backend>,
    pub sim: Option<Arc<SimBackend>>,
    pub error: Option<String>,
}

pub fn open_backend(kind: HardwareBackend) -> OpenedBackend {
    let on_a_pi = std::fs::read_to_string("/proc/device-tree/model")
        .is_ok_and(|model| model.contains("Raspberry Pi"));
    let want_rpi = match kind {
        HardwareBackend::Rpi => true,
        HardwareBackend::Sim => false,
        HardwareBackend::Auto => on_a_pi,
    };
    let mut error = None;
    if want_rpi {
        match rpi::RpiBackend::open() {
            Ok(backend) => {
                tracing::info!("hardware: GPIO through rppal");
                return OpenedBackend {
                    backend: Arc::new(backend),
                    sim: None,
                    error: None,
                };
            }
            Err(e) => {
                tracing::error!("hardware: {e}; running with the simulated backend");
                error = Some(e.to_string());
            }
        }
    } else {
        tracing::info!(
            "hardware: simulated backend ({})",
            if kind == HardwareBackend::Sim {
                "configured"
            } else {
                "not a Raspberry Pi"
            }
        );
    }
    let sim = Arc::new(simulator());
    OpenedBackend {
        backend: sim.clone(),
        sim: Some(sim),
        error,
    }
}

/// The simulator, with the lines [`sim::FAIL_OPEN_ENV`] makes fail (test-only).
fn simulator() -> SimBackend {
    let Some(spec) = std::env::var_os(sim::FAIL_OPEN_ENV) else {
        return SimBackend::new();
    };
    match SimBackend::failing(&spec.to_string_lossy()) {
        Ok(sim) => {
            tracing::warn!("hardware: simulating lines that fail to open: {spec:?}");
            sim
        }
        Err(e) => {
            tracing::warn!("hardware: {e}; ignored");
            SimBackend::new()
        }
    }
}
