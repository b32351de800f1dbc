//! The MAX9744 I2C amplifier's volume register: percentages to register values and back.
//! Pure: no IO; the caller writes the value as a single byte to the amplifier's address.
//!
//! The register holds 0..=63: 0 mutes, 63 is loudest. Percent maps linearly onto the steps;
//! the loudness curve is the chip's own step table.

/// Volume steps of the register (values `0..STEPS`).
pub const STEPS: u8 = 64;

const MAX: u32 = STEPS as u32 - 1;

/// 0 % mutes; 1..=100 % map linearly onto 1..=63, rounding to nearest, so every non-zero
/// percentage is audible and 100 % is the maximum. `1 + (percent - 1) * 62 / 99` never falls
/// exactly halfway between two steps, so the rounding has no ties: 50 % is 31.69, so 32.
/// Above 100 % clamps to 63.
pub fn register_for_percent(percent: u32) -> u8 {
    let value = match percent {
        0 => 0,
        1..=99 => 1 + div_round((percent - 1) * (MAX - 1), 99),
        _ => MAX,
    };
    u8::try_from(value).expect("the register value is at most 63")
}

/// The percentage a register value stands for (inverse, for status display): 0 is 0 %, 1..=63
/// map linearly back onto 1..=100 %, rounding to nearest. The one tie (register 32, 50.5 %)
/// rounds down, so the register that 50 % selects shows as 50 %. Above 63 reads as 100 %.
/// `register_for_percent(percent_for_register(v)) == v` for every register value.
pub fn percent_for_register(value: u8) -> u32 {
    match u32::from(value) {
        0 => 0,
        v @ 1..MAX => 1 + div_round_half_down((v - 1) * 99, MAX - 1),
        _ => 100,
    }
}

/// `n / d` rounded to the nearest integer, halves up.
fn div_round(n: u32, d: u32) -> u32 {
    (2 * n + d) / (2 * d)
}

/// `n / d` rounded to the nearest integer, halves down.
fn div_round_half_down(n: u32, d: u32) -> u32 {
    (2 * n + d - 1) / (2 * d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let table = [
            (0, 0),
            (1, 1),
            (2, 2),
            (10, 7),
            (25, 16),
            (50, 32),
            (51, 32),
            (75, 47),
            (99, 62),
            (100, 63),
            (101, 63),
            (150, 63),
            (u32::MAX, 63),
        ];
        for (percent, register) in table {
            assert_eq!(register_for_percent(percent), register, "{percent} %");
        }
    }

    #[test]
    fn monotonic_audible_and_using_every_step() {
        let registers: Vec<u8> = (0..=100).map(register_for_percent).collect();
        assert!(registers.windows(2).all(|w| w[0] <= w[1]));
        assert!(registers[1..].iter().all(|&r| r >= 1));
        // No step is skipped: consecutive percentages move by at most one register value.
        assert!(registers.windows(2).all(|w| w[1] - w[0] <= 1));
        assert_eq!(registers.last(), Some(&(STEPS - 1)));
    }

    #[test]
    fn inverse_known_values() {
        let table = [
            (0, 0),
            (1, 1),
            (2, 3),
            (32, 50),
            (62, 98),
            (63, 100),
            (64, 100),
            (255, 100),
        ];
        for (register, percent) in table {
            assert_eq!(
                percent_for_register(register),
                percent,
                "register {register}"
            );
        }
    }

    #[test]
    fn round_trips() {
        for percent in 0..=100 {
            let back = percent_for_register(register_for_percent(percent));
            // One register step is about 1.6 %; the round trip stays well within it.
            assert!(
                back.abs_diff(percent) <= 1,
                "{percent} % came back as {back} %"
            );
        }
        for register in 0..STEPS {
            assert_eq!(
                register_for_percent(percent_for_register(register)),
                register,
                "register {register}"
            );
        }
    }

    #[test]
    fn inverse_is_monotonic() {
        let percents: Vec<u32> = (0..STEPS).map(percent_for_register).collect();
        assert!(percents.windows(2).all(|w| w[0] < w[1]));
    }
}
