//! libfaketime (Debian package `faketime`, installed by `scripts/setup`) to run the real daemon
//! at another wall-clock time. Monotonic time stays real, so the daemon's sleeps are real.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use crate::daemon::{Daemon, DaemonBuilder};

/// Where Debian and Ubuntu put the library; `REVEILLE_LIBFAKETIME` overrides.
pub fn libfaketime() -> PathBuf {
    if let Ok(path) = std::env::var("REVEILLE_LIBFAKETIME") {
        return path.into();
    }
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("libfaketime is missing: run `bash scripts/setup` (Debian package faketime) or set REVEILLE_LIBFAKETIME")
}

/// The daemon's clock starts at `local` (`YYYY-MM-DD hh:mm:ss`, UTC) and ticks in real time.
/// A fixed "start at" is the cheapest way for libfaketime to answer each clock read, so
/// benchmarks measure the daemon, not the preload.
pub fn start_at(builder: DaemonBuilder, local: &str) -> DaemonBuilder {
    builder
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", format!("@{local}"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("TZ", "UTC")
}

/// A fake wall clock for one daemon, kept as an offset in a file: `set` makes the daemon's
/// "now" read `to` from this moment on, ticking in real time (a clock step, like NTP's).
pub struct FakeClock {
    file: PathBuf,
}

impl FakeClock {
    pub fn new(dir: &Path, to: &str) -> FakeClock {
        let clock = FakeClock {
            file: dir.join("faketime"),
        };
        clock.set(to);
        clock
    }

    pub fn set(&self, to: &str) {
        let to: DateTime<Utc> = to.parse().unwrap();
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let offset = to.timestamp_millis() as f64 / 1000.0 - real.as_secs_f64();
        // Atomic replace: libfaketime re-reads the file on every clock read, and a half-written
        // offset would be a clock step of its own.
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset:+.3}\n")).unwrap();
        std::fs::rename(&tmp, &self.file).unwrap();
    }

    pub fn builder(&self, config: &Path) -> DaemonBuilder {
        Daemon::builder(config)
            .env("LD_PRELOAD", libfaketime())
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("TZ", "UTC")
            // The kernel sees no step when this fake clock moves: look at it every second.
            .env("REVEILLE_MAX_SLEEP_MS", "1000")
    }

    pub fn start_daemon(&self, config: &Path) -> Daemon {
        self.builder(config).start().unwrap()
    }
}
