//! systemd's watchdog (`WatchdogSec=`): a keep-alive (`WATCHDOG=1`) every half interval, sent
//! only when the two loops that make an alarm ring have just answered a ping: the scheduler
//! (between its ticks) and the runner (from its one loop, in any phase). A loop that is wedged
//! (a hung await, a full queue that never drains) does not answer, no keep-alive goes out,
//! and systemd restarts the daemon; the ring journal resumes an alarm that was ringing.
//!
//! Each ping may take a quarter of the interval, so a keep-alive that is sent is sent before
//! three quarters of it: a loop busy for a moment (a Spotify pause is bounded to 3 s) costs
//! nothing; one that stays stuck for about half the interval gets the daemon restarted.
//!
//! The cadence is a kernel timer (`ticker.rs`): one wakeup per keep-alive, where tokio's timer
//! wheel took three. The pings themselves are answered in that same wakeup (one thread).

use std::time::Duration;

use super::notify::{Notifier, NotifyState};
use super::ticker::Ticker;
use crate::runner::RunnerHandle;
use crate::scheduler::SchedulerHandle;

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`, for this process if
/// `WATCHDOG_PID` is set), or `None`: then there is no timer at all.
pub fn interval_from_env() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|interval| !interval.is_zero())
}

/// Sends keep-alives every `interval / 2` while both loops answer within `interval / 4`.
/// Runs until aborted.
pub async fn keep_alive(
    interval: Duration,
    notifier: Notifier,
    scheduler: SchedulerHandle,
    runner: RunnerHandle,
) {
    let ticks = Ticker::every(interval / 2);
    keep_alive_on(ticks, interval / 4, notifier, scheduler, runner).await
}

/// The loop of [`keep_alive`] on any ticker (tests: tokio's, in paused time).
async fn keep_alive_on(
    mut ticks: Ticker,
    within: Duration,
    notifier: Notifier,
    scheduler: SchedulerHandle,
    runner: RunnerHandle,
) {
    loop {
        ticks.tick().await;
        let (scheduler_answers, runner_answers) =
            tokio::join!(scheduler.answers(within), runner.answers(within));
        let silent: Vec<&str> = [
            (!scheduler_answers).then_some("scheduler"),
            (!runner_answers).then_some("runner"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if silent.is_empty() {
            notifier.send(&[NotifyState::Watchdog]);
        } else {
            tracing::error!(
                "WATCHDOG: the {} did not answer within {within:?}: no keep-alive, so systemd restarts the daemon if this lasts",
                silent.join(" and the ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::sync::Arc;

    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::clock::{ManualClock, SharedClock};
    use crate::hardware::NoHardware;
    use crate::runner::Runner;
    use crate::scheduler::Scheduler;
    use crate::store::ConfigStore;

    const INTERVAL: Duration = Duration::from_millis(200);

    /// The real scheduler and runner on a config without alarms (nothing to save or ring),
    /// built but not started: a loop that does not run is one that never answers.
    struct Loops {
        scheduler: Option<Scheduler>,
        runner: Option<Runner>,
        scheduler_handle: SchedulerHandle,
        runner_handle: RunnerHandle,
        notify: UnixDatagram,
        notifier: Notifier,
        _dir: tempfile::TempDir,
    }

    impl Loops {
        fn new() -> Loops {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config.json");
            std::fs::write(&path, br#"{"version": 1, "time_zone": "UTC"}"#).unwrap();
            let store = ConfigStore::open(&path, None).unwrap();
            let clock: SharedClock =
                Arc::new(ManualClock::new("2026-03-09T05:00:00Z".parse().unwrap()));
            let (firings, firings_rx) = mpsc::channel(8);
            let (scheduler, scheduler_handle) = Scheduler::new(
                store.clone(),
                clock.clone(),
                firings,
                Box::new(|| Some(true)),
            )
            .unwrap();
            let (runner, runner_handle) =
                Runner::new(store, clock, Arc::new(NoHardware), dir.path(), firings_rx).unwrap();
            let socket = dir.path().join("notify");
            let notify = UnixDatagram::bind(&socket).unwrap();
            notify.set_nonblocking(true).unwrap();
            Loops {
                scheduler: Some(scheduler),
                runner: Some(runner),
                scheduler_handle,
                runner_handle,
                notify,
                notifier: Notifier::to(socket.as_os_str()).unwrap(),
                _dir: dir,
            }
        }

        fn start_scheduler(&mut self) -> JoinHandle<()> {
            self.scheduler.take().unwrap().spawn()
        }

        fn start_runner(&mut self) -> JoinHandle<()> {
            self.runner.take().unwrap().spawn()
        }

        /// The watchdog as `keep_alive` runs it, on tokio's timer so paused time moves it.
        fn start_watchdog(&self) -> JoinHandle<()> {
            tokio::spawn(keep_alive_on(
                Ticker::tokio(INTERVAL / 2),
                INTERVAL / 4,
                self.notifier.clone(),
                self.scheduler_handle.clone(),
                self.runner_handle.clone(),
            ))
        }

        /// Keep-alives received since the last call.
        fn keep_alives(&self) -> usize {
            let mut buffer = [0u8; 256];
            let mut count = 0;
            while let Ok(n) = self.notify.recv(&mut buffer) {
                assert_eq!(&buffer[..n], b"WATCHDOG=1\n");
                count += 1;
            }
            count
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alives_go_out_every_half_interval_while_both_loops_answer() {
        let mut loops = Loops::new();
        let _scheduler = loops.start_scheduler();
        let _runner = loops.start_runner();
        let watchdog = loops.start_watchdog();
        tokio::time::sleep(INTERVAL * 5 + INTERVAL / 4).await;
        assert_eq!(loops.keep_alives(), 10);
        watchdog.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_runner_that_does_not_answer_gets_no_keep_alive_sent_for_it() {
        let mut loops = Loops::new();
        let _scheduler = loops.start_scheduler();
        let watchdog = loops.start_watchdog();
        tokio::time::sleep(INTERVAL * 5).await;
        assert_eq!(loops.keep_alives(), 0);

        // Once it turns, the keep-alives follow.
        let _runner = loops.start_runner();
        tokio::time::sleep(INTERVAL * 2).await;
        assert!(loops.keep_alives() >= 3);
        watchdog.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_scheduler_that_does_not_answer_gets_no_keep_alive_sent_for_it() {
        let mut loops = Loops::new();
        let _runner = loops.start_runner();
        let watchdog = loops.start_watchdog();
        tokio::time::sleep(INTERVAL * 5).await;
        assert_eq!(loops.keep_alives(), 0);
        watchdog.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alives_stop_when_the_runner_stops_turning() {
        let mut loops = Loops::new();
        let _scheduler = loops.start_scheduler();
        let runner = loops.start_runner();
        let watchdog = loops.start_watchdog();
        tokio::time::sleep(INTERVAL * 2 + INTERVAL / 4).await;
        assert_eq!(loops.keep_alives(), 4);
        runner.abort();
        tokio::time::sleep(INTERVAL * 5).await;
        assert_eq!(loops.keep_alives(), 0);
        watchdog.abort();
    }
}
