//! Crash and restart, the part of the reliability suite (issue 19) that kills the real daemon
//! with SIGKILL at random moments and starts it again on the same files, as systemd's
//! `Restart=on-failure` would: during config writes, hand edits with a SIGHUP reload and
//! revision-history writes (`writes`), during a ring and a snooze, with Spotify and with the
//! local sound (`ring`), and during a Spotify login or a token refresh (`login`). After every
//! restart each test checks what a user would see: nothing acknowledged is lost, an alarm rings
//! (again) exactly once, a login is either the old one or the new one.
//!
//! `REVEILLE_RELIABILITY=full` runs the long variant (500 write kills, more rings and logins);
//! the default is the quick one `cargo test` runs in CI, a few seconds per test. Each test prints
//! its figures (`--nocapture` shows them; `docs/reliability.md` has those of the last full run).
//! Its own binary: it sends signals to its own children and starts them under libfaketime.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/faketime.rs"]
mod faketime;
#[path = "support/spotify_mock/mod.rs"]
mod spotify_mock;

#[path = "crash/login.rs"]
mod login;
#[path = "crash/ring.rs"]
mod ring;
#[path = "crash/writes.rs"]
mod writes;

use std::path::Path;
use std::time::Duration;

/// Whether the full variant runs (`REVEILLE_RELIABILITY=full`), the suite's one switch.
pub fn full() -> bool {
    std::env::var("REVEILLE_RELIABILITY").is_ok_and(|v| v == "full")
}

/// `quick` in the default run, `full` with `REVEILLE_RELIABILITY=full`.
pub fn scaled(quick: u32, full: u32) -> u32 {
    if self::full() { full } else { quick }
}

/// A random moment in `0..max`, to sleep before the kill.
pub fn random_moment(max: Duration) -> Duration {
    Duration::from_micros(fastrand::u64(0..max.as_micros().max(1) as u64))
}

/// SIGKILL, then reaps the process: nothing of it runs when this returns.
pub fn kill(daemon: &mut daemon::Daemon) {
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}

/// The temp files in `dir` (`.NAME.tmp-PID-N`, `store/file.rs`) that are not the running
/// daemon's (`live`, its pid): what an interrupted atomic write left.
pub fn leftovers(dir: &Path, live: u32) -> Vec<String> {
    let own = format!(".tmp-{live}-");
    temp_files(dir)
        .into_iter()
        .filter(|n| !n.contains(&own))
        .collect()
}

/// Every temp file in `dir`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with('.') && n.contains(".tmp-"))
        .collect();
    names.sort();
    names
}
