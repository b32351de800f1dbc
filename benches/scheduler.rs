//! `cargo bench --bench scheduler`: how precisely and how cheaply the real daemon keeps time.
//!
//! - **Firing lateness**: the release daemon is started again and again under libfaketime with
//!   the wall clock two seconds before a 07:00 alarm; its "alarm due: ringing" log line carries
//!   `late_ms`, the firing's emission instant minus the occurrence, measured after the
//!   scheduler state is durable (what the runner sees). Median and max over the rounds.
//! - **Idle wakeups**: the release daemon with alarms configured (the example config), idle;
//!   voluntary + involuntary context switches of all its threads from `/proc/PID/task/*/status`
//!   over a window, per second.
//!
//! Environment: `REVEILLE_BENCH_ROUNDS` (default 20), `REVEILLE_BENCH_IDLE_SECONDS` (default 30).
//! Work files go under `target/` (the project's disk, so the state file's fsync is real).

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/faketime.rs"]
mod faketime;

use std::fs;
use std::path::Path;
use std::time::Duration;

use daemon::Daemon;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scheduler");
    fs::create_dir_all(&work).unwrap();
    let rounds = env_or("REVEILLE_BENCH_ROUNDS", 20) as usize;
    let idle_seconds = env_or("REVEILLE_BENCH_IDLE_SECONDS", 30);

    let mut lateness: Vec<f64> = (0..rounds).map(|_| firing_lateness_ms(&work)).collect();
    lateness.sort_by(f64::total_cmp);
    let (switches, per_thread) = idle_context_switches(&work, idle_seconds);
    let per_second = switches as f64 / idle_seconds as f64;

    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| firing lateness, median of {rounds} | {:.2} ms |",
        lateness[rounds / 2]
    );
    println!(
        "| firing lateness, min / max | {:.2} / {:.2} ms |",
        lateness[0],
        lateness[rounds - 1]
    );
    println!("| idle wakeups (context switches / s over {idle_seconds} s) | {per_second:.3} /s |");
    println!("| per thread over the window | {per_thread} |");
    println!();
    println!(
        "targets: median lateness < 5 ms ({}), idle wakeups <= 0.2/s ({})",
        verdict(lateness[rounds / 2] < 5.0),
        verdict(per_second <= 0.2)
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// One daemon start, two seconds before a 07:00 alarm; returns its logged lateness.
fn firing_lateness_ms(work: &Path) -> f64 {
    let dir = tempfile::tempdir_in(work).unwrap();
    let config = dir.path().join("config.json");
    let document = serde_json::json!({
        "version": 1,
        "time_zone": "UTC",
        "schedule": {"trust_clock": true},
        "alarms": [{"id": "bench", "time": "07:00",
                    "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}],
    });
    fs::write(&config, serde_json::to_vec(&document).unwrap()).unwrap();
    let mut daemon = faketime::start_at(Daemon::builder(&config), "2026-11-24 06:59:58")
        .start()
        .unwrap();
    let line = daemon
        .wait_for_line("alarm due: ringing", Duration::from_secs(10))
        .unwrap_or_else(|log| panic!("no firing:\n{log}"));
    line.split(" late_ms=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no late_ms in {line}"))
}

/// Context switches of every thread of an idle daemon over `seconds`, and the per-thread split.
fn idle_context_switches(work: &Path, seconds: u64) -> (u64, String) {
    let dir = tempfile::tempdir_in(work).unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/reveille.example.json");
    let daemon =
        Daemon::start_with(&dir.path().join("config.json"), &["--init-from", example]).unwrap();
    // Let start-up work (backup copy, first evaluation, idle blocking threads) finish.
    std::thread::sleep(Duration::from_secs(12));
    let before = switches_per_thread(daemon.pid());
    std::thread::sleep(Duration::from_secs(seconds));
    let after = switches_per_thread(daemon.pid());
    let mut total = 0;
    let mut split = Vec::new();
    for (name, count) in &after {
        let start = before
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c);
        total += count - start;
        split.push(format!("{name}: {}", count - start));
    }
    (total, split.join(", "))
}

/// (thread id + name, voluntary + involuntary context switches) for each thread.
fn switches_per_thread(pid: u32) -> Vec<(String, u64)> {
    let mut threads = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap();
        let Ok(status) = fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let field = |name: &str| -> Option<&str> {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
        };
        let switches: u64 = ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"]
            .iter()
            .filter_map(|f| field(f)?.parse::<u64>().ok())
            .sum();
        let name = format!(
            "{}({})",
            field("Name:").unwrap_or("?"),
            task.file_name().to_string_lossy()
        );
        threads.push((name, switches));
    }
    threads
}
