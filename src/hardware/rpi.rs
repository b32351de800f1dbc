//! The Raspberry Pi backend: GPIO and I2C through rppal. The only file that names rppal.
//! It compiles everywhere; off a Pi, opening fails with a message saying what to do.

use std::collections::HashMap;
use std::sync::Mutex;

use rppal::gpio::{Gpio, InputPin, OutputPin, Trigger};
use rppal::i2c::I2c;
use tokio::sync::mpsc;

use super::{Backend, Edge, HardwareError};
use crate::config::Pull;

pub struct RpiBackend {
    gpio: Gpio,
    outputs: Mutex<HashMap<u8, OutputPin>>,
    /// Kept alive: dropping an input pin stops its interrupt thread.
    inputs: Mutex<Vec<InputPin>>,
}

impl RpiBackend {
    pub fn open() -> Result<RpiBackend, HardwareError> {
        let gpio = Gpio::new().map_err(|e| HardwareError::Unavailable(explain(&e)))?;
        Ok(RpiBackend {
            gpio,
            outputs: Mutex::new(HashMap::new()),
            inputs: Mutex::new(Vec::new()),
        })
    }

    fn with_output<T>(
        &self,
        pin: u8,
        high: bool,
        f: impl FnOnce(&mut OutputPin) -> Result<T, rppal::gpio::Error>,
    ) -> Result<T, HardwareError> {
        let mut outputs = self.outputs.lock().expect("output pins lock");
        let output = match outputs.entry(pin) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let p = self.gpio.get(pin).map_err(|e| pin_error(pin, &e))?;
                // Created at the requested level: no glitch to the other level.
                e.insert(if high {
                    p.into_output_high()
                } else {
                    p.into_output_low()
                })
            }
        };
        f(output).map_err(|e| pin_error(pin, &e))
    }
}

fn explain(error: &rppal::gpio::Error) -> String {
    match error {
        rppal::gpio::Error::UnknownModel => {
            "GPIO unavailable: this is not a Raspberry Pi (unknown model). Set hardware.backend to \"sim\" or \"auto\"".into()
        }
        rppal::gpio::Error::PermissionDenied(path) => format!(
            "GPIO unavailable: permission denied on {path}. Add the service user to the gpio group (sudo usermod -aG gpio reveille) and restart the service"
        ),
        other => format!("GPIO unavailable: {other}"),
    }
}

/// The bus opened and the device addressed (a kernel driver holding it answers busy); nothing
/// is sent yet.
fn open_i2c(bus: u8, address: u8) -> Result<I2c, HardwareError> {
    let mut i2c = I2c::with_bus(bus).map_err(|e| {
        HardwareError::I2c(format!(
            "bus {bus}: {e} (enable I2C with raspi-config and add the service user to the i2c group)"
        ))
    })?;
    i2c.set_slave_address(address.into())
        .map_err(|e| HardwareError::I2c(format!("bus {bus} address {address:#04x}: {e}")))?;
    Ok(i2c)
}

fn pin_error(pin: u8, error: &rppal::gpio::Error) -> HardwareError {
    HardwareError::Pin {
        pin,
        message: error.to_string(),
    }
}

impl Backend for RpiBackend {
    fn name(&self) -> &'static str {
        "rpi"
    }

    fn set_output(&self, pin: u8, high: bool) -> Result<(), HardwareError> {
        self.with_output(pin, high, |p| {
            if high {
                p.set_high();
            } else {
                p.set_low();
            }
            Ok(())
        })
    }

    fn set_tone(&self, pin: u8, hz: Option<u32>) -> Result<(), HardwareError> {
        self.with_output(pin, false, |p| match hz {
            Some(hz) => p.set_pwm_frequency(f64::from(hz), 0.5),
            None => {
                p.clear_pwm()?;
                p.set_low();
                Ok(())
            }
        })
    }

    fn i2c_write(&self, bus: u8, address: u8, bytes: &[u8]) -> Result<(), HardwareError> {
        let mut i2c = open_i2c(bus, address)?;
        i2c.write(bytes)
            .map(drop)
            .map_err(|e| HardwareError::I2c(format!("bus {bus} address {address:#04x}: {e}")))
    }

    fn probe_i2c(&self, bus: u8, address: u8) -> Result<(), HardwareError> {
        open_i2c(bus, address).map(drop)
    }

    fn watch_input(
        &self,
        pin: u8,
        pull: Pull,
        edges: mpsc::Sender<Edge>,
    ) -> Result<bool, HardwareError> {
        let p = self.gpio.get(pin).map_err(|e| pin_error(pin, &e))?;
        let mut input = match pull {
            Pull::Up => p.into_input_pullup(),
            Pull::Down => p.into_input_pulldown(),
        };
        let level = input.is_high();
        input
            .set_async_interrupt(Trigger::Both, None, move |event| {
                let edge = Edge {
                    pin,
                    high: event.trigger == Trigger::RisingEdge,
                    at: std::time::Instant::now(),
                };
                // Full queue: drop the edge rather than block the interrupt thread.
                let _ = edges.try_send(edge);
            })
            .map_err(|e| pin_error(pin, &e))?;
        self.inputs.lock().expect("input pins lock").push(input);
        Ok(level)
    }
}
