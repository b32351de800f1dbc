//! How much the HTTP server may take from the process, and what it reports about it.
//!
//! File descriptors are shared by everything in the daemon: an idle browser connection costs
//! one, and so do the ring path's local sound (child pipes), the scheduler's handled-mark save
//! (temp file, directory fsync), the one-shot transaction and the ring journal. The connection
//! bound is therefore derived from the open-file limit minus what is open at start and a fixed
//! reserve for everything opened later, so clients can never take the last descriptors
//! (`docs/robustness.md`). This module only computes and reports; `listener` enforces.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Descriptors kept free for everything but HTTP clients after start: Spotify sockets (a
/// few), DNS lookups, the sound process (null devices, exec pipe, pidfd), durable saves (temp
/// file, directory, backup), the journal and history, logs. A ring should need fewer than
/// 20 at once (an estimate, not measured); the rest is margin for what a future change adds.
pub const FD_RESERVE: u64 = 64;
/// More connections than a household of phones needs; also bounds memory on a Pi Zero.
pub const MAX_CONNECTIONS_CAP: usize = 256;
/// Connections accepted while every slot is taken, waiting for an evicted one to close; more
/// are closed at once. Part of the descriptor budget.
pub const WAITING: usize = 8;
/// Below this the server would be useless; used (with a warning) when the limit is tiny.
pub const MIN_CONNECTIONS: usize = 4;
/// A client must send a whole request head within this. hyper 1.x starts the same timer when
/// a keep-alive connection waits for its next request, so it is also the idle timeout.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// An evicted or shutting-down connection may finish its request for this long.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long SIGTERM waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pressure reported by `/api/status` is forgotten this long after it last happened.
pub const STATUS_MEMORY: Duration = Duration::from_secs(60);

/// Test-only: header (and idle) timeout in milliseconds, so tests need not wait 10 s.
pub const HEADER_TIMEOUT_ENV: &str = "REVEILLE_HTTP_HEADER_TIMEOUT_MS";
/// Test-only: how long the status remembers pressure, in milliseconds.
pub const STATUS_MEMORY_ENV: &str = "REVEILLE_HTTP_STATUS_MEMORY_MS";

/// What the HTTP server may hold.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionLimits {
    /// Connections held at once (one more may wait a moment while the oldest is closed).
    pub max_connections: usize,
    /// The process's open-file (soft) limit the bound was derived from.
    pub open_files_limit: u64,
    pub header_timeout: Duration,
    pub close_grace: Duration,
    pub shutdown_grace: Duration,
    pub status_memory: Duration,
}

impl ConnectionLimits {
    /// The bound for a process allowed `limit` descriptors with `open_now` already open:
    /// what is left after the reserve and the [`WAITING`] newcomers, capped at
    /// [`MAX_CONNECTIONS_CAP`].
    pub fn for_open_files(limit: u64, open_now: u64) -> ConnectionLimits {
        let spare = limit
            .saturating_sub(open_now)
            .saturating_sub(FD_RESERVE)
            .saturating_sub(WAITING as u64);
        let max_connections =
            usize::try_from(spare).map_or(MAX_CONNECTIONS_CAP, |s| s.min(MAX_CONNECTIONS_CAP));
        ConnectionLimits {
            max_connections: max_connections.max(MIN_CONNECTIONS),
            open_files_limit: limit,
            header_timeout: HEADER_TIMEOUT,
            close_grace: CLOSE_GRACE,
            shutdown_grace: SHUTDOWN_GRACE,
            status_memory: STATUS_MEMORY,
        }
    }

    /// The bound for this process as it is now, with the test-only overrides applied.
    pub fn for_this_process() -> ConnectionLimits {
        let limit = open_files_limit().map_or(1024, |(soft, _)| soft);
        let open_now = open_files_now().unwrap_or(32);
        let mut limits = ConnectionLimits::for_open_files(limit, open_now);
        if let Some(t) = millis_from_env(HEADER_TIMEOUT_ENV) {
            limits.header_timeout = t;
        }
        if let Some(t) = millis_from_env(STATUS_MEMORY_ENV) {
            limits.status_memory = t;
        }
        let reserve_kept =
            limit.saturating_sub(open_now) >= FD_RESERVE + (WAITING + MIN_CONNECTIONS) as u64;
        if reserve_kept {
            tracing::info!(
                open_files_limit = limit,
                open_files_now = open_now,
                reserve = FD_RESERVE,
                max_connections = limits.max_connections,
                header_timeout_ms = limits.header_timeout.as_millis() as u64,
                "HTTP connection limits"
            );
        } else {
            tracing::warn!(
                open_files_limit = limit,
                open_files_now = open_now,
                max_connections = limits.max_connections,
                "the open-file limit is too low to keep a reserve for ringing; raise LimitNOFILE"
            );
        }
        limits
    }
}

fn millis_from_env(name: &str) -> Option<Duration> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            tracing::warn!("ignoring {name}={value:?}: not a positive number of milliseconds");
            None
        }
    }
}

/// The open-file limit: (soft, hard).
pub fn open_files_limit() -> io::Result<(u64, u64)> {
    let limit = rlimit_nofile()?;
    // `rlim_t` is 32 bits on 32-bit Raspberry Pi OS, 64 elsewhere.
    #[allow(clippy::useless_conversion)]
    Ok((u64::from(limit.rlim_cur), u64::from(limit.rlim_max)))
}

fn rlimit_nofile() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// Raises the soft open-file limit to the hard one (systemd's default soft limit is 1024, its
/// hard limit far more) and logs both. Returns the soft limit now in force; a failure leaves
/// the limit as it was, which the connection bound then accounts for.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let (soft, hard) = open_files_limit()?;
    if soft >= hard {
        tracing::info!(soft, hard, "open-file limit");
        return Ok(soft);
    }
    let mut raised = rlimit_nofile()?;
    raised.rlim_cur = raised.rlim_max;
    // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
    // needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        let e = io::Error::last_os_error();
        tracing::warn!(soft, hard, "cannot raise the open-file limit: {e}");
        return Ok(soft);
    }
    tracing::info!(
        from = soft,
        to = hard,
        "open-file limit raised to the hard limit"
    );
    Ok(hard)
}

/// Descriptors open in this process now.
pub fn open_files_now() -> io::Result<u64> {
    // The directory handle reading /proc/self/fd is itself one of the entries.
    let entries = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    Ok(entries.saturating_sub(1))
}

/// The `http` section of `/api/status`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct HttpStatus {
    pub open_connections: usize,
    pub max_connections: usize,
    pub open_files_limit: u64,
    /// Also the idle timeout of a keep-alive connection.
    pub header_timeout_seconds: f64,
    /// When a client last found every connection slot taken (the oldest connection was
    /// closed to make room); `null` once a minute has passed without that.
    pub last_full_at: Option<DateTime<Utc>>,
    /// When accepting a connection last failed (e.g. `Too many open files`), and why;
    /// `null` once a minute has passed without a failure.
    pub last_accept_error_at: Option<DateTime<Utc>>,
    pub last_accept_error: Option<String>,
}

/// Counters shared by the accept loop, the connection tasks and the status handler.
#[derive(Clone)]
pub struct ConnectionStats(Arc<Stats>);

struct Stats {
    limits: ConnectionLimits,
    open: AtomicUsize,
    last_full: Mutex<Option<Event>>,
    last_accept_error: Mutex<Option<Event>>,
}

#[derive(Clone)]
struct Event {
    at: Instant,
    at_utc: DateTime<Utc>,
    message: String,
}

impl ConnectionStats {
    pub fn new(limits: ConnectionLimits) -> ConnectionStats {
        ConnectionStats(Arc::new(Stats {
            limits,
            open: AtomicUsize::new(0),
            last_full: Mutex::new(None),
            last_accept_error: Mutex::new(None),
        }))
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.0.limits
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub(super) fn opened(&self) -> OpenConnection {
        self.0.open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    pub(super) fn full(&self) {
        record(&self.0.last_full, String::new());
    }

    pub(super) fn accept_error(&self, e: &io::Error) {
        record(&self.0.last_accept_error, e.to_string());
    }

    pub fn status(&self) -> HttpStatus {
        let memory = self.0.limits.status_memory;
        let full = recent(&self.0.last_full, memory);
        let error = recent(&self.0.last_accept_error, memory);
        HttpStatus {
            open_connections: self.0.open.load(Ordering::Relaxed),
            max_connections: self.0.limits.max_connections,
            open_files_limit: self.0.limits.open_files_limit,
            header_timeout_seconds: self.0.limits.header_timeout.as_secs_f64(),
            last_full_at: full.map(|e| e.at_utc),
            last_accept_error_at: error.as_ref().map(|e| e.at_utc),
            last_accept_error: error.map(|e| e.message),
        }
    }
}

/// One open connection, for the count.
pub(super) struct OpenConnection(ConnectionStats);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn record(slot: &Mutex<Option<Event>>, message: String) {
    let event = Event {
        at: Instant::now(),
        at_utc: Utc::now(),
        message,
    };
    // A poisoned lock only means a panic elsewhere mid-assignment; the value is still usable.
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(event);
}

fn recent(slot: &Mutex<Option<Event>>, memory: Duration) -> Option<Event> {
    let event = slot.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
    (event.at.elapsed() < memory).then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_keeps_the_reserve_and_is_capped() {
        // systemd's default soft limit, a small daemon: the cap applies.
        assert_eq!(
            ConnectionLimits::for_open_files(1024, 20).max_connections,
            256
        );
        // A tight limit: everything but what is open, the reserve and the waiting newcomers.
        assert_eq!(
            ConnectionLimits::for_open_files(128, 20).max_connections,
            128 - 20 - 64 - 8
        );
        // Absurdly low: still serve a few (the start-up log warns).
        assert_eq!(
            ConnectionLimits::for_open_files(40, 20).max_connections,
            MIN_CONNECTIONS
        );
        assert_eq!(
            ConnectionLimits::for_open_files(u64::MAX, 20).max_connections,
            256
        );
    }

    #[test]
    fn pressure_is_forgotten_after_the_memory() {
        let mut limits = ConnectionLimits::for_open_files(1024, 20);
        limits.status_memory = Duration::ZERO;
        let stats = ConnectionStats::new(limits);
        stats.full();
        stats.accept_error(&io::Error::from_raw_os_error(libc::EMFILE));
        let status = stats.status();
        assert!(status.last_full_at.is_none() && status.last_accept_error.is_none());

        let stats = ConnectionStats::new(ConnectionLimits::for_open_files(1024, 20));
        stats.accept_error(&io::Error::from_raw_os_error(libc::EMFILE));
        let _open = stats.opened();
        let status = stats.status();
        assert_eq!(status.open_connections, 1);
        assert!(
            status
                .last_accept_error
                .unwrap()
                .contains("Too many open files")
        );
    }
}
