//! Wall time that follows tokio's clock, for tests in paused time: with `start_paused` a week
//! of the daemon's calendar passes in milliseconds. A step moves the wall clock without moving
//! tokio's (NTP correcting a Pi that booted with a stale clock, `date -s`) and ends every
//! sleep at once, as the kernel's `TFD_TIMER_CANCEL_ON_SET` does for `SystemClock`. Sleeps are
//! bounded by the same hour as `SystemClock`'s.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reveille::clock::{Clock, MAX_SLEEP, SleepFuture};
use tokio::sync::watch;
use tokio::time::Instant;

pub struct TokioClock {
    start: DateTime<Utc>,
    base: Instant,
    /// The sum of all steps so far; each step wakes the sleepers.
    stepped: watch::Sender<chrono::Duration>,
}

impl TokioClock {
    /// A clock reading `start` now, moving with tokio's clock from here.
    pub fn new(start: DateTime<Utc>) -> Arc<TokioClock> {
        Arc::new(TokioClock {
            start,
            base: Instant::now(),
            stepped: watch::Sender::new(chrono::Duration::zero()),
        })
    }

    /// Steps the wall clock by `by` (forward or backward); tokio's clock does not move.
    pub fn step(&self, by: chrono::Duration) {
        self.stepped.send_modify(|sum| *sum += by);
    }

    /// Steps the wall clock to read `to` now.
    pub fn set(&self, to: DateTime<Utc>) {
        self.step(to - self.now());
    }

    /// The tokio instant at which the wall clock reads `at`, if no step comes first.
    pub fn instant_at(&self, at: DateTime<Utc>) -> Instant {
        Instant::now() + (at - self.now()).to_std().unwrap_or_default()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.base.elapsed()).expect("a test's span");
        self.start + elapsed + *self.stepped.borrow()
    }

    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_> {
        let left = (until - self.now()).to_std().unwrap_or(Duration::ZERO);
        let mut steps = self.stepped.subscribe();
        Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
                _ = steps.changed() => {}
            }
        })
    }
}
