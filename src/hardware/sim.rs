//! The simulated backend: a real implementation of the lines, without a Pi. It keeps every
//! line's level and an ordered log of what was set, and lets tests (and the development
//! endpoint, off by default) turn the encoder and press buttons by sending the edges a real
//! encoder or button would.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Backend, Edge, HardwareError};
use crate::config::Pull;

const LOG_LEN: usize = 200;

#[derive(Default)]
struct Lines {
    levels: BTreeMap<u8, bool>,
    tones: BTreeMap<u8, u32>,
    log: VecDeque<String>,
    inputs: BTreeMap<u8, mpsc::Sender<Edge>>,
}

#[derive(Default)]
pub struct SimBackend {
    lines: Mutex<Lines>,
}

impl SimBackend {
    pub fn new() -> SimBackend {
        SimBackend::default()
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
        Self::note(&mut lines, format!("i2c {bus} {address:#04x} {bytes:?}"));
        Ok(())
    }

    fn watch_input(
        &self,
        pin: u8,
        pull: Pull,
        edges: mpsc::Sender<Edge>,
    ) -> Result<bool, HardwareError> {
        let mut lines = self.lines.lock().expect("sim lock");
        let idle = pull == Pull::Up;
        lines.levels.insert(pin, idle);
        lines.inputs.insert(pin, edges);
        Ok(idle)
    }
}
