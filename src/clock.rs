//! Wall-clock time: the one place it is read, so tests can move calendar time.
//!
//! [`SystemClock`] sleeps toward a wall-clock instant in bounded steps: a Pi has no real-time
//! clock and NTP steps the time after boot, so a long monotonic sleep would miss the step. The
//! caller re-reads the clock after every wake. [`ManualClock`] is moved by hand (tests, demos).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Longest single sleep: how quickly a clock step (or a time zone change) is noticed.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Returns when the wall clock reaches `until`, or earlier (at most [`MAX_SLEEP`] for the
    /// system clock, or when a manual clock is moved): the caller must look at the time again.
    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_>;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_> {
        let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(left.min(MAX_SLEEP)))
    }
}

/// A clock that stands still until told to move; every move wakes all sleepers.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock to `to`, forward or backward (a clock step).
    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_replace(to);
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_> {
        let mut moves = self.now.subscribe();
        Box::pin(async move {
            if *moves.borrow_and_update() < until {
                // Any move wakes the caller; it re-reads the time itself.
                let _ = moves.changed().await;
            }
        })
    }
}

/// Whether the kernel considers the system clock synchronized (by NTP or systemd-timesyncd),
/// from `adjtimex(2)`; `None` if it cannot tell.
pub fn kernel_clock_synchronized() -> Option<bool> {
    // SAFETY: `timex` is plain data; modes = 0 only reads the kernel's state.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state < 0 {
        return None;
    }
    Some(state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_when_moved() {
        let start: DateTime<Utc> = "2026-11-24T06:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        // Already past: returns at once.
        clock.sleep_until(start).await;
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(start + chrono::Duration::hours(1)).await })
        };
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::minutes(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), start + chrono::Duration::minutes(1));
    }

    #[test]
    fn the_kernel_answers_about_clock_synchronization() {
        assert!(kernel_clock_synchronized().is_some());
    }
}
