//! Rotary encoder decoding: A/B line levels into detents, and the turn-speed acceleration.
//! Pure: no IO, no clock reads; the caller passes the levels after each edge and the edge's
//! `Instant`. Assumes one detent per full quadrature cycle (KY-040, common EC11 parts).
//!
//! Direction: A leading B is clockwise, i.e. AB goes `00 → 10 → 11 → 01 → 00`. If a knob
//! counts the wrong way, swap its A and B pins.

use std::time::{Duration, Instant};

/// Valid transitions of one full quadrature cycle per detent.
const STEPS_PER_DETENT: i8 = 4;

/// Movement for a transition, indexed by `old << 2 | new` with a state being `A << 1 | B`:
/// +1 one step clockwise, -1 one step counter-clockwise, 0 no change or an invalid double
/// step (both lines changed; the direction is unknown, so it counts nothing).
const TRANSITIONS: [i8; 16] = [
    0, -1, 1, 0, // from 00: to 01 ccw, to 10 cw, to 11 invalid
    1, 0, 0, -1, // from 01: to 00 cw, to 10 invalid, to 11 ccw
    -1, 0, 0, 1, // from 10: to 00 ccw, to 01 invalid, to 11 cw
    0, 1, -1, 0, // from 11: to 00 invalid, to 01 cw, to 10 ccw
];

fn state(a: bool, b: bool) -> u8 {
    (u8::from(a) << 1) | u8::from(b)
}

/// Counts quadrature steps and reports a detent per full cycle. Contact bounce flips a line
/// back and forth between two adjacent states, which adds and subtracts one step each time and
/// so nets to zero.
#[derive(Clone, Debug)]
pub struct QuadratureDecoder {
    state: u8,
    /// Steps since the last detent, always within `-3..=3` between calls.
    count: i8,
}

impl QuadratureDecoder {
    /// `a`, `b`: the current line levels (true = high).
    pub fn new(a: bool, b: bool) -> Self {
        Self {
            state: state(a, b),
            count: 0,
        }
    }

    /// Feed the new levels after an edge on A or B; returns detents completed: +1 clockwise,
    /// -1 counter-clockwise, 0 none. Feeding unchanged levels (a duplicate edge) is harmless.
    pub fn update(&mut self, a: bool, b: bool) -> i32 {
        let new = state(a, b);
        self.count += TRANSITIONS[usize::from(self.state << 2 | new)];
        self.state = new;
        if self.count.abs() >= STEPS_PER_DETENT {
            let detent = self.count.signum();
            self.count = 0;
            i32::from(detent)
        } else {
            0
        }
    }
}

/// Detents at most this long after the previous one count three times.
const FAST: Duration = Duration::from_millis(40);
/// Detents at most this long after the previous one count twice.
const BRISK: Duration = Duration::from_millis(100);

/// Turn-speed acceleration, so a fast spin covers the volume range in a fraction of a turn.
///
/// The rule: a call with non-zero `detents` arriving at most 40 ms after the previous non-zero
/// call counts ×3, at most 100 ms after counts ×2, otherwise ×1. The first detent and a
/// reversal of direction count ×1 (turning back is a deliberate fine adjustment). A call with
/// zero detents returns 0 and changes nothing.
#[derive(Clone, Debug, Default)]
pub struct Acceleration {
    /// When and in which direction the last detent was counted.
    last: Option<(Instant, i32)>,
}

impl Acceleration {
    pub fn new() -> Self {
        Self::default()
    }

    /// `detents` as counted at `at`, multiplied by the speed factor.
    pub fn step(&mut self, at: Instant, detents: i32) -> i32 {
        if detents == 0 {
            return 0;
        }
        let factor = match self.last {
            Some((previous, direction)) if direction == detents.signum() => {
                // Edges may be stamped slightly out of order; treat that as "just now".
                let gap = at.saturating_duration_since(previous);
                if gap <= FAST {
                    3
                } else if gap <= BRISK {
                    2
                } else {
                    1
                }
            }
            _ => 1,
        };
        self.last = Some((at, detents.signum()));
        detents * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Levels from `"AB"` text, e.g. `"10"` = A high, B low.
    fn levels(s: &str) -> (bool, bool) {
        match s {
            "00" => (false, false),
            "01" => (false, true),
            "10" => (true, false),
            "11" => (true, true),
            _ => panic!("not a state: {s}"),
        }
    }

    /// Feeds `states` (the first one is the starting state) and returns the detents reported.
    fn feed(states: &[&str]) -> Vec<i32> {
        let (a, b) = levels(states[0]);
        let mut decoder = QuadratureDecoder::new(a, b);
        states[1..]
            .iter()
            .map(|s| {
                let (a, b) = levels(s);
                decoder.update(a, b)
            })
            .filter(|&d| d != 0)
            .collect()
    }

    const CW: [&str; 5] = ["00", "10", "11", "01", "00"];
    const CCW: [&str; 5] = ["00", "01", "11", "10", "00"];

    #[test]
    fn every_transition_of_the_table() {
        // Steps from each state (row) to 00, 01, 10, 11 (columns).
        let table = [
            ("00", [0, -1, 1, 0]),
            ("01", [1, 0, 0, -1]),
            ("10", [-1, 0, 0, 1]),
            ("11", [0, 1, -1, 0]),
        ];
        for (old, row) in table {
            for (new, steps) in ["00", "01", "10", "11"].into_iter().zip(row) {
                let (a, b) = levels(old);
                let mut decoder = QuadratureDecoder::new(a, b);
                let (a, b) = levels(new);
                assert_eq!(decoder.update(a, b), 0, "{old} → {new}");
                assert_eq!(decoder.count, steps, "{old} → {new}");
            }
        }
    }

    #[test]
    fn a_full_cycle_is_one_detent() {
        assert_eq!(feed(&CW), [1]);
        assert_eq!(feed(&CCW), [-1]);
        // From any resting state, not only 00 (a KY-040 rests at 11 with pull-ups).
        assert_eq!(feed(&["11", "01", "00", "10", "11"]), [1]);
        assert_eq!(feed(&["11", "10", "00", "01", "11"]), [-1]);
    }

    #[test]
    fn the_detent_comes_on_the_fourth_step() {
        let mut decoder = QuadratureDecoder::new(false, false);
        let reported: Vec<i32> = CW[1..]
            .iter()
            .map(|s| {
                let (a, b) = levels(s);
                decoder.update(a, b)
            })
            .collect();
        assert_eq!(reported, [0, 0, 0, 1]);
    }

    #[test]
    fn many_cycles_each_count_once() {
        let mut states = vec!["00"];
        for _ in 0..100 {
            states.extend_from_slice(&CW[1..]);
        }
        assert_eq!(feed(&states), vec![1; 100]);
        let mut states = vec!["00"];
        for _ in 0..37 {
            states.extend_from_slice(&CCW[1..]);
        }
        assert_eq!(feed(&states), vec![-1; 37]);
    }

    #[test]
    fn bounce_cancels_out() {
        // Chatter on B while leaving 00, then on A in the middle of the cycle.
        let ccw_with_chatter = ["00", "01", "00", "01", "11", "01", "11", "10", "00"];
        assert_eq!(feed(&ccw_with_chatter), [-1]);
        let cw_with_chatter = [
            "00", "10", "00", "10", "00", "10", "11", "10", "11", "01", "11", "01", "00",
        ];
        assert_eq!(feed(&cw_with_chatter), [1]);
        // Chatter at the end: the detent is reported once, the bounce after it adds nothing.
        assert_eq!(feed(&["00", "10", "11", "01", "00", "01", "00"]), [1]);
    }

    #[test]
    fn duplicate_levels_count_nothing() {
        assert_eq!(feed(&["00", "10", "10", "11", "11", "01", "01", "00"]), [1]);
    }

    #[test]
    fn turning_back_mid_cycle_gives_no_detent() {
        assert!(feed(&["00", "10", "11", "10", "00"]).is_empty());
        assert!(feed(&["00", "10", "11", "01", "11", "10", "00"]).is_empty());
        // Half a cycle forward, back to the start, then a full cycle backwards: one -1 only.
        assert_eq!(
            feed(&["00", "10", "11", "10", "00", "01", "11", "10", "00"]),
            [-1]
        );
    }

    #[test]
    fn an_invalid_jump_counts_nothing() {
        let mut decoder = QuadratureDecoder::new(false, false);
        assert_eq!(decoder.update(true, true), 0);
        assert_eq!(decoder.count, 0);
        // Three valid steps plus a jump do not make a detent.
        assert!(feed(&["00", "10", "11", "00"]).is_empty());
        assert!(feed(&["00", "01", "10", "00"]).is_empty());
    }

    #[test]
    fn a_fast_turn_loses_nothing() {
        // Fast: every edge is seen, with no time to spare between them (and time is not an
        // input). Direction changes after complete cycles still count exactly.
        let mut states = vec!["11"];
        let cw = ["01", "00", "10", "11"];
        let ccw = ["10", "00", "01", "11"];
        for _ in 0..500 {
            states.extend_from_slice(&cw);
        }
        for _ in 0..200 {
            states.extend_from_slice(&ccw);
        }
        let detents = feed(&states);
        assert_eq!(detents.iter().filter(|&&d| d == 1).count(), 500);
        assert_eq!(detents.iter().filter(|&&d| d == -1).count(), 200);
        assert_eq!(detents[..500], [1; 500]);
    }

    fn ms(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn acceleration_by_gap() {
        let t0 = Instant::now();
        let table = [
            // (gap to the previous detent in ms, multiplier)
            (1, 3),
            (40, 3),
            (41, 2),
            (100, 2),
            (101, 1),
            (5_000, 1),
        ];
        for (gap, factor) in table {
            for direction in [1, -1] {
                let mut acceleration = Acceleration::new();
                assert_eq!(acceleration.step(t0, direction), direction, "first detent");
                let at = ms(t0, gap);
                assert_eq!(
                    acceleration.step(at, direction),
                    direction * factor,
                    "gap {gap} ms"
                );
            }
        }
    }

    #[test]
    fn acceleration_follows_the_latest_detent() {
        let t0 = Instant::now();
        let mut acceleration = Acceleration::new();
        let steps: Vec<i32> = [0, 30, 60, 150, 300, 330, 1_000]
            .into_iter()
            .map(|t| acceleration.step(ms(t0, t), 1))
            .collect();
        assert_eq!(steps, [1, 3, 3, 2, 1, 3, 1]);
    }

    #[test]
    fn acceleration_resets_on_reversal_and_ignores_zero() {
        let t0 = Instant::now();
        let mut acceleration = Acceleration::new();
        assert_eq!(acceleration.step(t0, 1), 1);
        assert_eq!(acceleration.step(ms(t0, 10), 1), 3);
        assert_eq!(acceleration.step(ms(t0, 20), -1), -1, "reversal");
        assert_eq!(acceleration.step(ms(t0, 30), -1), -3);
        // A zero does not refresh the timestamp: the next gap is measured from 30 ms.
        assert_eq!(acceleration.step(ms(t0, 100), 0), 0);
        assert_eq!(acceleration.step(ms(t0, 120), -1), -2);
        // Out-of-order stamps count as no gap at all.
        assert_eq!(acceleration.step(ms(t0, 110), -1), -3);
    }
}
