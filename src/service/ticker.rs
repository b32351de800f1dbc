//! The watchdog's cadence, one wakeup per tick: a kernel timer (`timer.rs`), where tokio's
//! interval took three wakeups of the idle daemon per keep-alive (0.1 wakeups/s at
//! `WatchdogSec=60s`, `docs/benchmarks.md`). [`Ticker::tokio`] is tokio's interval, for tests in
//! paused time and as the fallback when the kernel timer cannot be had: then the keep-alives go
//! on, at the wheel's cost.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::timer::KernelTimer;

pub enum Ticker {
    Kernel {
        timer: KernelTimer,
        period: Duration,
    },
    Tokio(Interval),
}

impl Ticker {
    /// Ticks every `period`, the first one `period` from now: a kernel timer if possible.
    /// Call it inside the runtime that awaits the ticks.
    pub fn every(period: Duration) -> Ticker {
        match KernelTimer::after(period) {
            Ok(timer) => Ticker::Kernel { timer, period },
            Err(e) => {
                tracing::warn!(
                    "no kernel timer for the watchdog ({e}): tokio's timer instead, about three wakeups per keep-alive"
                );
                Ticker::tokio(period)
            }
        }
    }

    /// tokio's interval: moved by paused time in tests.
    pub fn tokio(period: Duration) -> Ticker {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        // After a slow round, the next one waits a whole period rather than bunching up.
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ticker::Tokio(interval)
    }

    /// Waits for the next tick. The kernel timer is armed again for a whole period when a tick
    /// is taken (the interval's `Delay`), so ticks missed while the caller was busy never bunch
    /// up. If it fails, tokio's interval takes over at once: never silently no keep-alives.
    pub async fn tick(&mut self) {
        let (error, period) = match self {
            Ticker::Tokio(interval) => {
                interval.tick().await;
                return;
            }
            Ticker::Kernel { timer, period } => {
                match timer.expired().await.and_then(|()| timer.rearm(*period)) {
                    Ok(()) => return,
                    Err(e) => (e, *period),
                }
            }
        };
        tracing::warn!("the watchdog's kernel timer failed ({error}): tokio's timer instead");
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick of `interval` is at once: it stands for the one that failed.
        interval.tick().await;
        *self = Ticker::Tokio(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The kernel timer is not moved by paused time (the watchdog's tests use `Ticker::tokio`):
    // these read what the kernel armed and start from a timer that is already due, never
    // waiting for one in real time.

    const PERIOD: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn every_arms_a_kernel_timer_a_whole_period_ahead() {
        let ticker = Ticker::every(PERIOD);
        let Ticker::Kernel { timer, period } = &ticker else {
            panic!("no kernel timer");
        };
        assert_eq!(*period, PERIOD);
        let left = timer.remaining();
        assert!(
            left <= PERIOD && left > PERIOD - Duration::from_secs(5),
            "{left:?}"
        );
        assert!(!timer.has_expired().await);
    }

    /// A tick that was due (however long ago: the one-shot timer counts one expiry) is taken
    /// at once, and the next is a whole period after it, not bunched up behind it.
    #[tokio::test]
    async fn a_due_tick_is_taken_and_the_next_is_a_whole_period_later() {
        let mut ticker = Ticker::Kernel {
            timer: KernelTimer::after(Duration::ZERO).unwrap(),
            period: PERIOD,
        };
        ticker.tick().await;
        let Ticker::Kernel { timer, .. } = &ticker else {
            panic!("fell back to tokio's timer");
        };
        let left = timer.remaining();
        assert!(
            left <= PERIOD && left > PERIOD - Duration::from_secs(5),
            "{left:?}"
        );
        assert!(!timer.has_expired().await, "a second tick was due at once");
    }
}
