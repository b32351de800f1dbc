//! Volume arithmetic for a ring: the fade-in curve and the ceiling. Pure.

use std::time::Duration;

use crate::config::{Alarm, Config};

/// The volumes one alarm rings at, already clamped to the ceiling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fade {
    pub start_percent: u32,
    pub target_percent: u32,
    pub duration: Duration,
}

impl Fade {
    /// `ceiling`: the one in force now (global or night).
    pub fn for_alarm(config: &Config, alarm: &Alarm, ceiling: u32) -> Fade {
        let ring = &alarm.ring;
        let start = ring.start_percent.unwrap_or(config.volume.start_percent);
        let target = ring.target_percent.unwrap_or(config.volume.target_percent);
        Fade {
            start_percent: start.min(ceiling),
            target_percent: target.min(ceiling),
            duration: Duration::from_secs(
                ring.fade_seconds
                    .unwrap_or(config.volume.fade_seconds)
                    .into(),
            ),
        }
    }

    /// The volume after `elapsed` of fading: linear, rounded down, never past the target.
    pub fn volume_at(&self, elapsed: Duration) -> u32 {
        let (start, target) = (self.start_percent as f64, self.target_percent as f64);
        if self.duration.is_zero() || elapsed >= self.duration {
            return self.target_percent;
        }
        let progress = elapsed.as_secs_f64() / self.duration.as_secs_f64();
        (start + (target - start) * progress).floor() as u32
    }

    /// Progress in percent, for the status.
    pub fn percent_done(&self, elapsed: Duration) -> u32 {
        if self.duration.is_zero() {
            return 100;
        }
        ((elapsed.as_secs_f64() / self.duration.as_secs_f64()) * 100.0).min(100.0) as u32
    }

    pub fn is_done(&self, elapsed: Duration) -> bool {
        elapsed >= self.duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fade(start: u32, target: u32, seconds: u64) -> Fade {
        Fade {
            start_percent: start,
            target_percent: target,
            duration: Duration::from_secs(seconds),
        }
    }

    #[test]
    fn the_fade_is_linear_and_ends_at_the_target() {
        let f = fade(10, 60, 100);
        let at = |s: u64| f.volume_at(Duration::from_secs(s));
        assert_eq!(
            (at(0), at(50), at(99), at(100), at(500)),
            (10, 35, 59, 60, 60)
        );
        assert_eq!(f.percent_done(Duration::from_secs(25)), 25);
        assert_eq!(fade(30, 30, 0).volume_at(Duration::ZERO), 30);
        assert_eq!(fade(5, 50, 0).percent_done(Duration::ZERO), 100);
    }

    #[test]
    fn the_ceiling_clamps_both_ends() {
        let mut config = Config::default();
        config.volume.ceiling_percent = 40;
        let mut alarm: Alarm = serde_json::from_value(serde_json::json!(
            {"id": "a", "time": "07:00", "ring": {"start_percent": 50, "target_percent": 90}}
        ))
        .unwrap();
        let f = Fade::for_alarm(&config, &alarm, config.volume.ceiling_percent);
        assert_eq!((f.start_percent, f.target_percent), (40, 40));
        alarm.ring.start_percent = None;
        let f = Fade::for_alarm(&config, &alarm, config.volume.ceiling_percent);
        assert_eq!(f.start_percent, config.volume.start_percent);
    }
}
