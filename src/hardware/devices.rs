//! [`GpioHardware`]: the configured devices on a backend, as the [`Hardware`] the runner
//! drives. It owns the device rules: active-low lines, the buzzer's beep pattern, the MAX9744
//! volume mapping; and it keeps a log of what it did for `/api/status` (tests assert on its
//! order). It switches only when told: the amplifier's settle and idle-off delays are the
//! runner's decisions (read from the live config), not timers here. A device that cannot be opened at
//! start is listed in the status and skipped from then on: the alarm rings without it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::restart::restart_needed_for;
use super::{Backend, Hardware, max9744};
use crate::config::{AmplifierPins, BuzzerPins, HardwareBackend, HardwareSettings};

const EVENTS_KEPT: usize = 50;
/// An active (on/off) buzzer beeps in this rhythm.
const BEEP: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct HardwareLogEntry {
    pub at: DateTime<Utc>,
    /// E.g. `amplifier on`, `buzzer off`, `volume 40 % (register 25)`, `button 0 short`.
    pub event: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct LineStatus {
    pub pin: u8,
    /// Logical state (on = the device is active).
    pub on: bool,
    /// The electrical level (differs from `on` for active-low lines).
    pub high: bool,
}

/// A configured device the daemon could not open; it runs without it until a restart.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct UnavailableDevice {
    /// `amplifier`, `buzzer`, `hardware volume`, `button 0`, `encoder`, `encoder switch`.
    pub device: String,
    /// The GPIO line, if it is one.
    pub pin: Option<u8>,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct HardwareStatus {
    /// `rpi` or `sim`.
    pub backend: String,
    pub requested: HardwareBackend,
    /// Why the Pi backend could not be used.
    pub error: Option<String>,
    pub amplifier: Option<LineStatus>,
    pub buzzer: Option<LineStatus>,
    pub volume_percent: Option<u32>,
    /// Devices that could not be opened at start (the daemon runs without them).
    pub unavailable: Vec<UnavailableDevice>,
    /// Some hardware settings in the config differ from those in use and apply only at the
    /// next start (`restart_needed_for` names them).
    pub restart_needed: bool,
    /// Those settings, as dotted field names (`hardware.amplifier.pin`). The rest of the
    /// hardware settings apply at once.
    pub restart_needed_for: Vec<String>,
    /// Newest last.
    pub events: Vec<HardwareLogEntry>,
}

#[derive(Default)]
struct State {
    amplifier_on: bool,
    buzzer_on: bool,
    volume_percent: Option<u32>,
    events: VecDeque<HardwareLogEntry>,
    unavailable: Vec<UnavailableDevice>,
    beeping: Option<JoinHandle<()>>,
}

/// What HTTP may hold of the hardware: its status, nothing that switches a line. Only the
/// runner drives outputs (through `Hardware`); the status endpoint reads this.
#[derive(Clone)]
pub struct HardwareView(Arc<GpioHardware>);

impl HardwareView {
    /// The status against the current hardware settings (for what needs a restart).
    pub fn status(&self, configured: &HardwareSettings) -> HardwareStatus {
        self.0.status(configured)
    }
}

pub struct GpioHardware {
    backend: Arc<dyn Backend>,
    /// The settings the lines were opened with.
    pub(super) settings: HardwareSettings,
    error: Option<String>,
    state: Arc<Mutex<State>>,
    /// Outputs that failed to open at start, skipped at ring time.
    broken: Broken,
}

#[derive(Default)]
struct Broken {
    amplifier: bool,
    /// Why the buzzer cannot sound.
    buzzer: Option<String>,
    volume: bool,
}

impl GpioHardware {
    /// Opens the outputs at their safe level; one that fails is reported and left out, so
    /// the daemon starts with whatever works.
    pub fn new(
        backend: Arc<dyn Backend>,
        settings: HardwareSettings,
        error: Option<String>,
    ) -> Arc<GpioHardware> {
        let mut unavailable = Vec::new();
        let mut failed = |device: &str, pin: Option<u8>, e: super::HardwareError| {
            tracing::error!("hardware: cannot open the {device}, running without it: {e}");
            unavailable.push(UnavailableDevice {
                device: device.into(),
                pin,
                error: e.to_string(),
            });
            e.to_string()
        };
        let mut broken = Broken::default();
        if let Some(amp) = &settings.amplifier
            && let Err(e) = backend.set_output(amp.pin, amp.active_low)
        {
            failed("amplifier", Some(amp.pin), e);
            broken.amplifier = true;
        }
        if let Some(buzzer) = &settings.buzzer {
            let opened = match buzzer.tone_hz {
                Some(_) => backend.set_tone(buzzer.pin, None),
                None => backend.set_output(buzzer.pin, buzzer.active_low),
            };
            if let Err(e) = opened {
                let e = failed("buzzer", Some(buzzer.pin), e);
                broken.buzzer = Some(format!("the buzzer could not be opened ({e})"));
            }
        }
        if let Some(i2c) = &settings.i2c_volume
            && let Err(e) = backend.probe_i2c(i2c.bus, i2c.address)
        {
            // Without it Spotify does the fade, rather than play at full volume.
            failed("hardware volume", None, e);
            broken.volume = true;
        }
        let hardware = Arc::new(GpioHardware {
            backend,
            settings,
            error,
            state: Arc::new(Mutex::new(State {
                unavailable,
                ..State::default()
            })),
            broken,
        });
        hardware.safe_state();
        hardware
    }

    /// An input (or anything else) that could not be opened: logged, noted, in the status.
    pub fn unavailable(&self, device: &str, pin: Option<u8>, error: &super::HardwareError) {
        tracing::error!("hardware: cannot open the {device}, running without it: {error}");
        self.note(format!("{device} unavailable"));
        self.state
            .lock()
            .expect("hardware lock")
            .unavailable
            .push(UnavailableDevice {
                device: device.into(),
                pin,
                error: error.to_string(),
            });
    }

    /// The amplifier line, if configured and opened.
    fn amplifier(&self) -> Option<&AmplifierPins> {
        self.settings
            .amplifier
            .as_ref()
            .filter(|_| !self.broken.amplifier)
    }

    /// The buzzer line, if configured and opened.
    fn usable_buzzer(&self) -> Option<&BuzzerPins> {
        self.settings
            .buzzer
            .as_ref()
            .filter(|_| self.broken.buzzer.is_none())
    }

    /// The read-only view HTTP gets.
    pub fn view(self: &Arc<Self>) -> HardwareView {
        HardwareView(self.clone())
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn note(&self, event: impl Into<String>) {
        note(&self.state, event.into());
    }

    fn status(&self, configured: &HardwareSettings) -> HardwareStatus {
        let restart_fields = restart_needed_for(&self.settings, configured);
        let state = self.state.lock().expect("hardware lock");
        let amplifier = self.settings.amplifier.as_ref().map(|a| LineStatus {
            pin: a.pin,
            on: state.amplifier_on,
            high: state.amplifier_on != a.active_low,
        });
        let buzzer = self.settings.buzzer.as_ref().map(|b| LineStatus {
            pin: b.pin,
            on: state.buzzer_on,
            high: state.buzzer_on != b.active_low,
        });
        HardwareStatus {
            backend: self.backend.name().to_owned(),
            requested: configured.backend,
            error: self.error.clone(),
            amplifier,
            buzzer,
            volume_percent: state.volume_percent,
            unavailable: state.unavailable.clone(),
            restart_needed: !restart_fields.is_empty(),
            restart_needed_for: restart_fields,
            events: state.events.iter().cloned().collect(),
        }
    }

    fn set_amplifier(&self, on: bool) {
        let Some(amp) = self.amplifier() else {
            return;
        };
        if let Err(e) = self.backend.set_output(amp.pin, on != amp.active_low) {
            tracing::error!("amplifier: {e}");
        }
        self.state.lock().expect("hardware lock").amplifier_on = on;
        let event = if on { "amplifier on" } else { "amplifier off" };
        tracing::info!(pin = amp.pin, "{event}");
        self.note(event);
    }
}

fn note(state: &Mutex<State>, event: String) {
    let mut state = state.lock().expect("hardware lock");
    state.events.push_back(HardwareLogEntry {
        at: Utc::now(),
        event,
    });
    while state.events.len() > EVENTS_KEPT {
        state.events.pop_front();
    }
}

impl Hardware for GpioHardware {
    fn amplifier_on(&self) -> bool {
        // Not opened: the sound plays without waiting for it (it may be wired always on).
        if self.amplifier().is_none() || self.state.lock().expect("hardware lock").amplifier_on {
            return false;
        }
        self.set_amplifier(true);
        true
    }

    fn amplifier_off(&self) {
        self.set_amplifier(false);
    }

    fn has_buzzer(&self) -> bool {
        self.usable_buzzer().is_some()
    }

    fn why_no_buzzer(&self) -> String {
        self.broken
            .buzzer
            .clone()
            .unwrap_or_else(|| "no buzzer is configured".into())
    }

    fn buzzer(&self, on: bool) {
        let Some(buzzer) = self.usable_buzzer().cloned() else {
            return;
        };
        let mut state = self.state.lock().expect("hardware lock");
        if state.buzzer_on == on {
            return;
        }
        state.buzzer_on = on;
        if let Some(task) = state.beeping.take() {
            task.abort();
        }
        drop(state);
        self.note(if on { "buzzer on" } else { "buzzer off" });
        if !on {
            let result = match buzzer.tone_hz {
                Some(_) => self.backend.set_tone(buzzer.pin, None),
                None => self.backend.set_output(buzzer.pin, buzzer.active_low),
            };
            if let Err(e) = result {
                tracing::error!("buzzer: {e}");
            }
            return;
        }
        // Beep until switched off: 250 ms on, 250 ms off.
        let backend = self.backend.clone();
        let task = tokio::spawn(async move {
            loop {
                for on in [true, false] {
                    let result = match buzzer.tone_hz {
                        Some(hz) => backend.set_tone(buzzer.pin, on.then_some(hz)),
                        None => backend.set_output(buzzer.pin, on != buzzer.active_low),
                    };
                    if let Err(e) = result {
                        tracing::error!("buzzer: {e}");
                    }
                    tokio::time::sleep(BEEP).await;
                }
            }
        });
        self.state.lock().expect("hardware lock").beeping = Some(task);
    }

    fn has_volume(&self) -> bool {
        self.settings.i2c_volume.is_some() && !self.broken.volume
    }

    fn set_volume(&self, percent: u32) -> bool {
        let Some(i2c) = self
            .settings
            .i2c_volume
            .as_ref()
            .filter(|_| self.has_volume())
        else {
            return false;
        };
        let register = max9744::register_for_percent(percent);
        if let Err(e) = self.backend.i2c_write(i2c.bus, i2c.address, &[register]) {
            tracing::error!("hardware volume: {e}");
            return false;
        }
        self.state.lock().expect("hardware lock").volume_percent = Some(percent);
        self.note(format!("volume {percent} % (register {register})"));
        true
    }

    fn note(&self, event: String) {
        GpioHardware::note(self, event);
    }

    fn safe_state(&self) {
        {
            let mut state = self.state.lock().expect("hardware lock");
            if let Some(task) = state.beeping.take() {
                task.abort();
            }
            state.buzzer_on = false;
        }
        if let Some(buzzer) = self.usable_buzzer() {
            let _ = self.backend.set_tone(buzzer.pin, None);
            let _ = self.backend.set_output(buzzer.pin, buzzer.active_low);
        }
        self.set_amplifier(false);
    }
}
