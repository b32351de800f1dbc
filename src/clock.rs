//! Wall-clock time: the one place it is read, so tests can move calendar time.
//!
//! [`SystemClock`] sleeps toward a wall-clock instant. A Pi has no real-time clock and NTP
//! steps the time after boot, so a sleep must end when the clock is set: a `CLOCK_REALTIME`
//! timerfd armed with `TFD_TIMER_CANCEL_ON_SET` becomes readable on every step, without any
//! periodic wakeup. The sleep itself is monotonic (the kernel slews both clocks alike; only a
//! step separates them) on a kernel timer (`timer.rs`: one wakeup, within 50 µs of the
//! instant, where tokio's timer adds up to a millisecond to an alarm's lateness), bounded by
//! [`MAX_SLEEP`] as a backstop for what no step announces (a change of the system time zone)
//! and by [`MAX_SLEEP_WITHOUT_STEPS`] where the timerfd is not available. The caller re-reads
//! the clock after every wake. [`ManualClock`] is moved by hand (tests, demos).

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

/// Longest single sleep when clock steps are announced: a backstop for a change of the system
/// time zone (`time_zone: null`) or of the clock's synchronization state, which no step
/// announces.
pub const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// Longest single sleep when clock steps cannot be detected: how quickly a step is noticed.
pub const MAX_SLEEP_WITHOUT_STEPS: Duration = Duration::from_secs(30);

pub type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Returns when the wall clock reaches `until`, or earlier (when the system clock is set,
    /// after at most [`MAX_SLEEP`], or when a manual clock is moved): the caller must look at
    /// the time again.
    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_>;
}

pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock. Create it inside the tokio runtime that uses it (the step
/// detector registers with that runtime's reactor on first use).
#[derive(Debug, Default)]
pub struct SystemClock {
    /// Opened on the first sleep; `None` when the kernel offers no step notification.
    steps: OnceLock<Option<StepDetector>>,
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, until: DateTime<Utc>) -> SleepFuture<'_> {
        let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let steps = self.steps.get_or_init(|| match StepDetector::open() {
            Ok(detector) => Some(detector),
            Err(e) => {
                tracing::warn!(
                    "clock steps cannot be detected ({e}); looking at the clock every {} s",
                    MAX_SLEEP_WITHOUT_STEPS.as_secs()
                );
                None
            }
        });
        let bound = test_bound().unwrap_or(match steps {
            Some(_) => MAX_SLEEP,
            None => MAX_SLEEP_WITHOUT_STEPS,
        });
        Box::pin(async move {
            let sleep = crate::timer::sleep(left.min(bound));
            match steps {
                Some(steps) => tokio::select! {
                    () = sleep => {}
                    () = steps.stepped() => tracing::info!("the system clock was set: looking at it again"),
                },
                None => sleep.await,
            }
        })
    }
}

/// `REVEILLE_MAX_SLEEP_MS`, for tests only: under libfaketime the kernel sees no step when the
/// fake clock moves, so such tests bound the sleep instead.
fn test_bound() -> Option<Duration> {
    static BOUND: OnceLock<Option<Duration>> = OnceLock::new();
    *BOUND.get_or_init(|| {
        std::env::var("REVEILLE_MAX_SLEEP_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
    })
}

/// A `CLOCK_REALTIME` timerfd armed far in the future with `TFD_TIMER_CANCEL_ON_SET`: reading
/// it fails with `ECANCELED` once the clock has been set. A step while nobody waits is kept
/// until the next wait, so none is lost between two sleeps.
#[derive(Debug)]
struct StepDetector {
    fd: AsyncFd<OwnedFd>,
}

impl StepDetector {
    fn open() -> io::Result<StepDetector> {
        // SAFETY: timerfd_create has no memory preconditions; a valid fd is owned below.
        let raw = unsafe {
            libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        arm(fd.as_raw_fd())?;
        // SAFETY: the OwnedFd is a valid descriptor that AsyncFd owns from here on and that
        // nothing replaces or closes behind its back.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(StepDetector { fd })
    }

    /// Returns once the wall clock has been set (since the detector was armed); never
    /// returns otherwise.
    async fn stepped(&self) {
        loop {
            let Ok(mut ready) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let fd = self.fd.get_ref().as_raw_fd();
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer from a descriptor we own.
            let read = unsafe { libc::read(fd, expirations.as_mut_ptr().cast(), 8) };
            if read >= 0 {
                // The far-future time itself passed (a 32-bit time_t in 2038): no more steps
                // can be announced; the bounded sleep still notices them.
                return std::future::pending().await;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::ECANCELED) => {
                    if let Err(e) = arm(fd) {
                        tracing::warn!("cannot re-arm the clock step detector: {e}");
                    }
                    return;
                }
                Some(libc::EAGAIN) => ready.clear_ready(),
                _ => return std::future::pending().await,
            }
        }
    }
}

/// Arms `fd` at the latest time a `time_t` holds, cancelled when the clock is set.
fn arm(fd: RawFd) -> io::Result<()> {
    // The libc crate marks musl's `time_t` deprecated ahead of a change to 64 bits; `MAX` is
    // read from whatever width it has, which is what is meant here.
    #[allow(deprecated)]
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: libc::time_t::MAX,
            tv_nsec: 0,
        },
    };
    let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
    // SAFETY: `spec` lives across the call; the old value is not asked for.
    if unsafe { libc::timerfd_settime(fd, flags, &spec, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

    /// Sets the system clock to the time it shows (a step of a few microseconds at most): the
    /// kernel announces it like any other. Needs CAP_SYS_TIME; without it there is nothing to
    /// check here and the test says so.
    #[tokio::test]
    async fn a_clock_step_ends_a_long_sleep_at_once() {
        let clock = SystemClock::default();
        let sleeper = tokio::spawn(async move {
            clock
                .sleep_until(Utc::now() + chrono::Duration::hours(1))
                .await
        });
        // Let the sleeper arm its detector first.
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "a one-hour sleep ended at once");
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: plain data in and out; setting the clock to its own reading.
        let set = unsafe {
            libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
            libc::clock_settime(libc::CLOCK_REALTIME, &now)
        };
        if set != 0 {
            eprintln!(
                "cannot set the clock here ({}): step detection not exercised",
                io::Error::last_os_error()
            );
            return;
        }
        tokio::time::timeout(Duration::from_secs(30), sleeper)
            .await
            .expect("the sleep went on after the clock was set")
            .unwrap();
    }

    #[test]
    fn the_kernel_answers_about_clock_synchronization() {
        assert!(kernel_clock_synchronized().is_some());
    }
}
