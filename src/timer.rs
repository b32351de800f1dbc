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
mod tests {
    use std::time::Instant;

    use super::*;

    // Real time, at periods short enough not to wait through anything real: these timers are
    // the kernel's, which paused time does not move.

    #[tokio::test]
    async fn a_kernel_sleep_never_ends_early() {
        for ms in [0, 1, 3] {
            let wanted = Duration::from_millis(ms);
            let started = Instant::now();
            sleep(wanted).await;
            assert!(
                started.elapsed() >= wanted,
                "{ms} ms: {:?}",
                started.elapsed()
            );
        }
    }

    #[tokio::test]
    async fn a_rearmed_timer_expires_again_and_an_expired_one_answers_at_once() {
        let timer = KernelTimer::after(Duration::from_millis(2)).unwrap();
        timer.expired().await.unwrap();
        let started = Instant::now();
        timer.rearm(Duration::from_millis(2)).unwrap();
        // Busy (blocking the thread) past the deadline: the expiration waits to be read.
        std::thread::sleep(Duration::from_millis(4));
        timer.expired().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(2));
    }
}
