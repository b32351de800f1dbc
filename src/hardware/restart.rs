//! Which hardware settings apply live and which only at the next start. The lines and the bus
//! are opened once (pins, pull, active level, the buzzer's tone mode, the I2C bus and address,
//! the backend); everything else is read from the config snapshot when used: button actions
//! and `long_press_ms` (at each press), the encoder's `step_percent` (by the runner at each
//! turn) and `acceleration` (at each detent), the amplifier's `settle_ms`, `idle_off_seconds`
//! and `off_during_snooze` (at each sound).

use crate::config::HardwareSettings;

/// The settings that take effect only at the next start, as dotted field names, where the
/// config differs from what was opened: the backend, the lines (pins, pull, active level, the
/// buzzer's tone mode) and the I2C bus and address are opened once. Everything else
/// (button actions, `long_press_ms`, the encoder's step and acceleration, the amplifier's
/// delays) is read from the config when used, so it applies at once.
pub fn restart_needed_for(open: &HardwareSettings, configured: &HardwareSettings) -> Vec<String> {
    let mut fields = Vec::new();
    if open.backend != configured.backend {
        fields.push("hardware.backend".to_owned());
    }
    // A device added or removed, else each of its opened-once fields that changed.
    macro_rules! device {
        ($name:ident, [$($field:ident),*]) => {
            match (&open.$name, &configured.$name) {
                (Some(a), Some(b)) => {
                    $(if a.$field != b.$field {
                        fields.push(concat!("hardware.", stringify!($name), ".", stringify!($field)).to_owned());
                    })*
                }
                (None, None) => {}
                _ => fields.push(concat!("hardware.", stringify!($name)).to_owned()),
            }
        };
    }
    device!(amplifier, [pin, active_low]);
    device!(encoder, [pin_a, pin_b, pin_switch]);
    device!(buzzer, [pin, active_low, tone_hz]);
    device!(i2c_volume, [bus, address]);
    if open.buttons.len() != configured.buttons.len() {
        fields.push("hardware.buttons".to_owned());
    } else {
        for (i, (a, b)) in open.buttons.iter().zip(&configured.buttons).enumerate() {
            if a.pin != b.pin {
                fields.push(format!("hardware.buttons[{i}].pin"));
            }
            if a.pull != b.pull {
                fields.push(format!("hardware.buttons[{i}].pull"));
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::restart_needed_for;
    use crate::config::HardwareSettings;

    fn settings(value: serde_json::Value) -> HardwareSettings {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_lines_backend_and_bus_need_a_restart_and_are_named() {
        let open = settings(serde_json::json!({
            "amplifier": {"pin": 17, "settle_ms": 100, "idle_off_seconds": 5},
            "encoder": {"pin_a": 5, "pin_b": 6, "step_percent": 2},
            "buttons": [{"pin": 26, "short_press": "snooze", "long_press_ms": 800}],
        }));
        let live = settings(serde_json::json!({
            "amplifier": {"pin": 17, "settle_ms": 900, "idle_off_seconds": 60},
            "encoder": {"pin_a": 5, "pin_b": 6, "step_percent": 5, "acceleration": true},
            "buttons": [{"pin": 26, "short_press": "stop", "long_press_ms": 300}],
        }));
        assert!(restart_needed_for(&open, &live).is_empty());
        let moved = settings(serde_json::json!({
            "backend": "sim",
            "amplifier": {"pin": 22},
            "encoder": {"pin_a": 5, "pin_b": 6},
            "buttons": [{"pin": 26, "pull": "down"}],
            "i2c_volume": {},
        }));
        assert_eq!(
            restart_needed_for(&open, &moved),
            [
                "hardware.backend",
                "hardware.amplifier.pin",
                "hardware.i2c_volume",
                "hardware.buttons[0].pull"
            ]
        );
    }
}
