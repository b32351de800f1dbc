//! The daemon as a systemd service (`Type=notify`, `docs/service.md`): readiness, the status
//! line, the watchdog's keep-alives, reload on SIGHUP, and the stop.
//!
//! [`Service::start`] is called by the composition root once the config is loaded and the
//! listener bound: it sends `READY=1` with the first status line, keeps the status line
//! current (`status.rs`) and, when systemd asks for a watchdog, sends keep-alives only while
//! the scheduler and the runner answer (`watchdog.rs`). [`Service::stop_after`] wraps the
//! shutdown future: `STOPPING=1` at once, then the runner releases what sounds (Spotify paused,
//! outputs off) within [`RELEASE_TIMEOUT`], and only then does the HTTP server drain.
//! [`reload_on_hangup`] re-reads the config file on SIGHUP through the store, as a hand edit.
//!
//! Without `NOTIFY_SOCKET` nothing here runs a task; without `WATCHDOG_USEC` there is no
//! timer. Nothing here plays, schedules or touches a file itself.

mod notify;
mod status;
mod ticker;
mod watchdog;

pub use notify::{Notifier, NotifyState};

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::signal::unix::Signal;
use tokio::task::{AbortHandle, JoinHandle};

use crate::runner::RunnerHandle;
use crate::scheduler::SchedulerHandle;
use crate::store::ConfigStore;

/// How long the stop waits for the runner to release what sounds: a Spotify pause is bounded
/// to 3 s, plus room. With the HTTP drain (5 s) the stop stays well under `TimeoutStopSec=`.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(4);

/// The tasks that talk to systemd while the daemon runs; aborted at the stop or when dropped.
pub struct Service {
    notifier: Notifier,
    addr: SocketAddr,
    ringer: RunnerHandle,
    tasks: Vec<AbortHandle>,
}

impl Service {
    /// Tells systemd the daemon is ready (the config is loaded and `addr` bound: call it only
    /// then) and starts keeping the status line current and, if asked for, the watchdog fed.
    pub fn start(
        notifier: Notifier,
        addr: SocketAddr,
        scheduler: &SchedulerHandle,
        ringer: &RunnerHandle,
    ) -> Service {
        let mut service = Service {
            notifier: notifier.clone(),
            addr,
            ringer: ringer.clone(),
            tasks: Vec::new(),
        };
        let plan = scheduler.watch_plan();
        let first = status::line(
            &ringer.status().state,
            plan.borrow().as_ref(),
            scheduler.clock().now(),
            addr,
        );
        // The first status line carries the address, so a supervisor (or a test) learns a
        // port 0 choice without reading logs.
        notifier.send(&[NotifyState::Ready, NotifyState::Status(&first)]);
        if !notifier.enabled() {
            return service;
        }
        service.spawn(status::keep_current(
            notifier.clone(),
            addr,
            scheduler.clock().clone(),
            ringer.subscribe(),
            plan,
            first,
        ));
        match watchdog::interval_from_env() {
            Some(interval) => {
                tracing::info!(
                    ?interval,
                    "systemd's watchdog is on: keep-alives while the scheduler and the runner answer"
                );
                service.spawn(watchdog::keep_alive(
                    interval,
                    notifier,
                    scheduler.clone(),
                    ringer.clone(),
                ));
            }
            None => tracing::debug!("no watchdog asked for"),
        }
        service
    }

    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task).abort_handle());
    }

    /// `shutdown`, followed by the stop: the status line and keep-alives end, systemd hears
    /// `STOPPING=1` at once, and the runner releases what sounds (bounded). The HTTP server,
    /// given this as its shutdown, drains only after that.
    pub fn stop_after(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let tasks = self.tasks.clone();
        let notifier = self.notifier.clone();
        let ringer = self.ringer.clone();
        let status = format!("stopping · listening on {}", self.addr);
        async move {
            shutdown.await;
            tasks.iter().for_each(AbortHandle::abort);
            notifier.send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
            if !ringer.shut_down(RELEASE_TIMEOUT).await {
                tracing::error!(
                    "the runner did not confirm within {RELEASE_TIMEOUT:?} that nothing sounds; the outputs go off at exit"
                );
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.tasks.iter().for_each(AbortHandle::abort);
    }
}

/// Re-reads the config file at every SIGHUP (`systemctl reload`, `ExecReload=/bin/kill -HUP
/// $MAINPID`), the way the file watcher does: a valid edit becomes a revision, an invalid one
/// is refused and the daemon runs on. Between `RELOADING=1` (with `MONOTONIC_USEC`, which
/// systemd 253+ requires and 252 ignores) and `READY=1`. Runs until aborted (dropping the
/// returned handle does not stop it; the runtime's end does).
pub fn reload_on_hangup(
    mut hangups: Signal,
    store: ConfigStore,
    notifier: Notifier,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            reload(&store, &notifier).await;
        }
    })
}

/// One reload, logged with what happened.
pub async fn reload(store: &ConfigStore, notifier: &Notifier) {
    let mut reloading = vec![NotifyState::Reloading];
    reloading.extend(NotifyState::monotonic_usec_now().ok());
    notifier.send(&reloading);
    let before = store.snapshot().revision;
    store.check_disk().await;
    let now = store.snapshot().revision;
    let path = store.files().target.display();
    match store.health().external_edit_error {
        _ if now != before => {
            tracing::info!(%path, revision = now, "SIGHUP: reloaded the config file")
        }
        Some(refused) => tracing::warn!(
            %path,
            revision = now,
            "SIGHUP: the config file is refused ({}); still running on the last good config",
            refused.message
        ),
        None => tracing::info!(%path, revision = now, "SIGHUP: the config file is unchanged"),
    }
    notifier.send(&[NotifyState::Ready]);
}
