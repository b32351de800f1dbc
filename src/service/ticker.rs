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
    use std::time::Instant;

    use super::*;

    /// The kernel timer in real time, at a period short enough not to wait through anything
    /// real (the watchdog's paused-time tests use `Ticker::tokio`).
    #[tokio::test]
    async fn the_kernel_ticker_ticks_every_period_and_never_early() {
        let period = Duration::from_millis(3);
        let mut ticker = Ticker::every(period);
        assert!(matches!(ticker, Ticker::Kernel { .. }));
        let started = Instant::now();
        for _ in 0..3 {
            ticker.tick().await;
        }
        assert!(started.elapsed() >= period * 3, "{:?}", started.elapsed());
        assert!(matches!(ticker, Ticker::Kernel { .. }));
    }

    #[tokio::test]
    async fn missed_ticks_count_as_one_and_the_next_is_a_period_later() {
        let period = Duration::from_millis(2);
        let mut ticker = Ticker::every(period);
        // Busy (blocking the thread) through several periods: one tick is due, not five.
        std::thread::sleep(period * 5);
        ticker.tick().await;
        let after_missed = Instant::now();
        ticker.tick().await;
        assert!(
            after_missed.elapsed() >= period,
            "{:?}",
            after_missed.elapsed()
        );
    }
}
