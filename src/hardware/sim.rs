//! The simulated backend: a real implementation of the lines, without a Pi. It keeps every
//! line's level and an ordered log of what was set, and lets tests (and the development
//! endpoint, off by default) turn the encoder and press buttons by sending the edges a real
//! encoder or button would. Lines can be made to fail to open (as a busy GPIO line or a
//! missing I2C bus would on a Pi), from tests or, test-only, from [`FAIL_OPEN_ENV`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Backend, Edge, HardwareError};
use crate::config::Pull;

const LOG_LEN: usize = 200;

/// Test-only: lines the simulator refuses to open, e.g. `26,12=permission denied,i2c`
/// (a pin or `i2c`, optionally `=message`). Read once when the simulated backend opens.
pub const FAIL_OPEN_ENV: &str = "REVEILLE_SIM_FAIL_OPEN";

/// The message of a line that fails to open without one of its own.
const BUSY: &str = "Device or resource busy (simulated)";

#[derive(Default)]
struct Lines {
    levels: BTreeMap<u8, bool>,
    tones: BTreeMap<u8, u32>,
    log: VecDeque<String>,
    inputs: BTreeMap<u8, mpsc::Sender<Edge>>,
    /// Pins that fail to open, with the error they give.
    refused: BTreeMap<u8, String>,
    /// Set: every I2C access fails with this.
    i2c_refused: Option<String>,
}

#[derive(Default)]
pub struct SimBackend {
    lines: Mutex<Lines>,
}

impl SimBackend {
    pub fn new() -> SimBackend {
        SimBackend::default()
    }

    /// A simulator whose lines fail to open as `spec` says (the format of [`FAIL_OPEN_ENV`]).
    pub fn failing(spec: &str) -> Result<SimBackend, String> {
        let sim = SimBackend::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (line, message) = match item.split_once('=') {
                Some((line, message)) => (line.trim(), message.trim().to_owned()),
                None => (item, BUSY.to_owned()),
            };
            if line == "i2c" {
                sim.fail_i2c(message);
            } else {
                let pin = line
                    .parse()
                    .map_err(|_| format!("{FAIL_OPEN_ENV}: {line:?} is neither a pin nor i2c"))?;
                sim.fail_to_open(pin, message);
            }
        }
        Ok(sim)
    }

    /// From now on `pin` fails to open (as an output or an input) with `message`.
    pub fn fail_to_open(&self, pin: u8, message: impl Into<String>) {
        let mut lines = self.lines.lock().expect("sim lock");
        lines.refused.insert(pin, message.into());
    }

    /// From now on every I2C access fails with `message`.
    pub fn fail_i2c(&self, message: impl Into<String>) {
        self.lines.lock().expect("sim lock").i2c_refused = Some(message.into());
    }

    fn refused(lines: &Lines, pin: u8) -> Result<(), HardwareError> {
        match lines.refused.get(&pin) {
            Some(message) => Err(HardwareError::Pin {
                pin,
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Every line's level (true = high).
    pub fn levels(&self) -> BTreeMap<u8, bool> {
        self.lines.lock().expect("sim lock").levels.clone()
    }

    /// What was set, oldest first (e.g. `gpio 17 high`, `i2c 1 0x4b [32]`).
    pub fn log(&self) -> Vec<String> {
        self.lines
            .lock()
            .expect("sim lock")
            .log
            .iter()
            .cloned()
            .collect()
    }

    fn note(lines: &mut Lines, entry: String) {
        lines.log.push_back(entry);
        while lines.log.len() > LOG_LEN {
            lines.log.pop_front();
        }
    }

    /// Drives an input line like the outside world would.
    pub async fn drive(&self, pin: u8, high: bool) -> Result<(), HardwareError> {
        let sender = {
            let mut lines = self.lines.lock().expect("sim lock");
            lines.levels.insert(pin, high);
            lines.inputs.get(&pin).cloned()
        };
        let sender = sender.ok_or_else(|| HardwareError::Pin {
            pin,
            message: "not configured as an input".into(),
        })?;
        let _ = sender
            .send(Edge {
                pin,
                high,
                at: Instant::now(),
            })
            .await;
        Ok(())
    }

    /// Presses a button wired to ground (pull-up) or to 3.3 V (pull-down) for `hold`, with
    /// contact bounce on press and release.
    pub async fn press(&self, pin: u8, pull: Pull, hold: Duration) -> Result<(), HardwareError> {
        let pressed = pull == Pull::Down;
        for level in [pressed, !pressed, pressed] {
            self.drive(pin, level).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(hold).await;
        for level in [!pressed, pressed, !pressed] {
            self.drive(pin, level).await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Turns an encoder (A/B to ground with pull-ups, idle high) by `detents`, positive
    /// clockwise (A leads B), one full quadrature cycle per detent, fast.
    pub async fn turn(&self, pin_a: u8, pin_b: u8, detents: i32) -> Result<(), HardwareError> {
        const CLOCKWISE: [(bool, bool); 4] =
            [(false, true), (false, false), (true, false), (true, true)];
        for _ in 0..detents.unsigned_abs() {
            let mut states = CLOCKWISE;
            if detents < 0 {
                // Counter-clockwise: the same cycle backwards, B leading.
                states = [(true, false), (false, false), (false, true), (true, true)];
            }
            let (mut a, mut b) = (true, true);
            for (next_a, next_b) in states {
                if next_a != a {
                    self.drive(pin_a, next_a).await?;
                }
                if next_b != b {
                    self.drive(pin_b, next_b).await?;
                }
                (a, b) = (next_a, next_b);
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
        Ok(())
    }
}

impl Backend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn set_output(&self, pin: u8, high: bool) -> Result<(), HardwareError> {
        let mut lines = self.lines.lock().expect("sim lock");
        Self::refused(&lines, pin)?;
        if lines.levels.insert(pin, high) != Some(high) {
            Self::note(
                &mut lines,
                format!("gpio {pin} {}", if high { "high" } else { "low" }),
            );
        }
        Ok(())
    }

    fn set_tone(&self, pin: u8, hz: Option<u32>) -> Result<(), HardwareError> {
        let mut lines = self.lines.lock().expect("sim lock");
        Self::refused(&lines, pin)?;
        match hz {
            Some(hz) => {
                lines.tones.insert(pin, hz);
                Self::note(&mut lines, format!("gpio {pin} tone {hz} Hz"));
            }
            None => {
                lines.tones.remove(&pin);
                lines.levels.insert(pin, false);
                Self::note(&mut lines, format!("gpio {pin} tone off"));
            }
        }
        Ok(())
    }

    fn i2c_write(&self, bus: u8, address: u8, bytes: &[u8]) -> Result<(), HardwareError> {
        let mut lines = self.lines.lock().expect("sim lock");
        if let Some(message) = &lines.i2c_refused {
            return Err(HardwareError::I2c(format!("bus {bus}: {message}")));
        }
        Self::note(&mut lines, format!("i2c {bus} {address:#04x} {bytes:?}"));
        Ok(())
    }

    fn probe_i2c(&self, bus: u8, _address: u8) -> Result<(), HardwareError> {
        match &self.lines.lock().expect("sim lock").i2c_refused {
            Some(message) => Err(HardwareError::I2c(format!("bus {bus}: {message}"))),
            None => Ok(()),
        }
    }

    fn watch_input(
        &self,
        pin: u8,
        pull: Pull,
        edges: mpsc::Sender<Edge>,
    ) -> Result<bool, HardwareError> {
        let mut lines = self.lines.lock().expect("sim lock");
        Self::refused(&lines, pin)?;
        let idle = pull == Pull::Up;
        lines.levels.insert(pin, idle);
        lines.inputs.insert(pin, edges);
        Ok(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_lines_fail_to_open_with_their_message_and_the_others_open() {
        let sim = SimBackend::failing("26=Permission denied, 12 ,i2c").unwrap();
        let (tx, _rx) = mpsc::channel(1);
        let refused = sim.watch_input(26, Pull::Up, tx.clone()).unwrap_err();
        assert_eq!(refused.to_string(), "GPIO 26: Permission denied");
        assert!(
            sim.set_output(12, false)
                .unwrap_err()
                .to_string()
                .contains(BUSY)
        );
        assert!(sim.set_tone(12, None).is_err());
        assert!(sim.probe_i2c(1, 0x4b).is_err() && sim.i2c_write(1, 0x4b, &[0]).is_err());
        assert_eq!(sim.watch_input(5, Pull::Up, tx), Ok(true));
        assert!(sim.set_output(17, true).is_ok());
        assert!(SimBackend::failing("gpio26").is_err());
    }
}
