//! Kernel timers for the two waits the idle daemon cares about: the scheduler's sleep toward
//! the next firing (`clock.rs`) and the watchdog's cadence (`service/ticker.rs`).
//!
//! tokio's timer wheel rounds every deadline up to its next millisecond and reaches a deadline
//! seconds away in steps: it parks until the slot of a coarser level begins (slots of 4 s,
//! then of 64 ms), moves the timer down a level, parks again, and only then fires it. That is
//! about 1 ms of an alarm's lateness and three wakeups per keep-alive (`strace`: epoll
//! timeouts of about 28 s, 1.2 s and 60 ms before each `WATCHDOG=1`). A `CLOCK_MONOTONIC`
//! timerfd is one kernel timer: the thread wakes once, within the timer slack (50 µs) of the
//! deadline. Monotonic like tokio's clock and systemd's watchdog, so a wall-clock step changes
//! nothing here (`clock.rs` notices steps itself).
//!
//! Not moved by tokio's paused time: code that tests run in paused time keeps tokio's timers
//! there (`ticker.rs`), and the clock's sleep is real time by nature.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A one-shot `CLOCK_MONOTONIC` timerfd registered with the runtime it was created in.
#[derive(Debug)]
pub struct KernelTimer {
    fd: AsyncFd<OwnedFd>,
}

impl KernelTimer {
    /// A timer expiring `after` from now (at once for zero). Call it inside the runtime that
    /// awaits it.
    pub fn after(after: Duration) -> io::Result<KernelTimer> {
        // SAFETY: timerfd_create has no memory preconditions; a valid fd is owned below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd is a valid descriptor that AsyncFd owns from here on and that
        // nothing replaces or closes behind its back.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        let timer = KernelTimer { fd };
        timer.rearm(after)?;
        Ok(timer)
    }

    /// Arms the timer again: it expires `after` from now (at once for zero), once.
    pub fn rearm(&self, after: Duration) -> io::Result<()> {
        // A zero value would disarm the timer: one nanosecond is "at once".
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: `spec` lives across the call; the old value is not asked for.
        if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until the timer has expired (at once if it already has) and reads the
    /// expiration, so the next wait needs a `rearm`.
    pub async fn expired(&self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            let fd = self.fd.get_ref().as_raw_fd();
            // SAFETY: reads at most 8 bytes into an 8-byte buffer from a descriptor we own.
            let read = unsafe { libc::read(fd, expirations.as_mut_ptr().cast(), 8) };
            if read == 8 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(e);
            }
            ready.clear_ready();
        }
    }
}

/// Sleeps for `duration` on a kernel timer; on tokio's timer if none can be had or it fails
/// (never returning early).
pub async fn sleep(duration: Duration) {
    let started = tokio::time::Instant::now();
    let outcome = match KernelTimer::after(duration) {
        Ok(timer) => timer.expired().await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::debug!("no kernel timer ({e}): tokio's timer instead");
        tokio::time::sleep_until(started + duration).await;
    }
}

#[cfg(test)]
impl KernelTimer {
    /// How long until the timer expires, as the kernel holds it (zero: disarmed or expired).
    pub(crate) fn remaining(&self) -> Duration {
        let mut spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: `spec` is a valid itimerspec the call fills in.
        assert_eq!(unsafe { libc::timerfd_gettime(fd, &mut spec) }, 0);
        Duration::new(spec.it_value.tv_sec as u64, spec.it_value.tv_nsec as u32)
    }

    /// Whether the timer has expired, without waiting: one turn of the runtime.
    pub(crate) async fn has_expired(&self) -> bool {
        tokio::select! {
            biased;
            outcome = self.expired() => { outcome.unwrap(); true }
            () = tokio::task::yield_now() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These timers are the kernel's, which paused time does not move: the tests read what the
    // kernel armed and expire timers at once, never waiting for one in real time.

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn a_timer_is_armed_for_its_whole_duration_and_not_expired_before() {
        let timer = KernelTimer::after(HOUR).unwrap();
        let left = timer.remaining();
        assert!(
            left <= HOUR && left > HOUR - Duration::from_secs(60),
            "{left:?}"
        );
        assert!(!timer.has_expired().await);
    }

    #[tokio::test]
    async fn a_rearmed_timer_expires_again_and_reading_it_leaves_it_disarmed() {
        let timer = KernelTimer::after(HOUR).unwrap();
        // Zero is "at once" (a zero value would disarm a timerfd instead).
        timer.rearm(Duration::ZERO).unwrap();
        timer.expired().await.unwrap();
        assert_eq!(timer.remaining(), Duration::ZERO);
        assert!(!timer.has_expired().await, "one expiry was read twice");
        timer.rearm(Duration::ZERO).unwrap();
        timer.expired().await.unwrap();
    }

    #[tokio::test]
    async fn a_zero_sleep_ends() {
        sleep(Duration::ZERO).await;
    }
}
