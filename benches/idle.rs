//! `cargo bench --bench idle`: what the release daemon costs while it waits, and how fast it
//! starts.
//!
//! - **Idle**: the daemon with a week of alarms (14, two a day, in Europe/Berlin, none within
//!   the next three hours), after a phone's visit (the page's first load, 20 API reads), left
//!   alone for 75 s (past the one-minute backup confirmation and the exit of the blocking
//!   thread it used), then watched for 120 s: resident memory from
//!   `/proc/PID/status` (total, private `RssAnon`, file-backed `RssFile`) sampled every few
//!   seconds, the resident pages per mapping from `smaps`, and wakeups: voluntary plus
//!   involuntary context switches of all its threads (`/proc/PID/task/*/status`) over the
//!   window, per second. Two daemons side by side, both under a notify socket as systemd runs
//!   them: one without a watchdog and one with `WATCHDOG_USEC=60000000` (the unit's
//!   `WatchdogSec=60s`).
//! - **Start → READY**: from the spawn to systemd's `READY=1` datagram (config loaded, listener
//!   bound), and to the first answer of `GET /healthz`, restarting on the same state directory.
//!
//! `REVEILLE_BENCH_QEMU_AARCH64` (set by `bench/run` when `scripts/build-pi` left a binary) is
//! a script running the Pi's aarch64 binary under qemu-user: its memory is estimated from
//! qemu's mappings of the guest (the binary, its libraries, heap and stack), with 4 KiB
//! pages and the host kernel's fault-around, so an estimate of what the Pi sees; it has no
//! wakeups figure (qemu's threads are not the daemon's).
//! `REVEILLE_BENCH_VARIANTS` compares other builds or settings in the same idle window:
//! `label|/path/to/reveille|NAME=value NAME=value;label2|…` (empty path: this build).
//! Quick mode (`REVEILLE_BENCH_QUICK=1`): 12 s settle, 10 s window, 5 starts. Memory is in
//! MB of 10^6 bytes, like the binary sizes (the stricter reading of an "8 MB" target).

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/page_load.rs"]
mod page_load;
#[path = "support/procfs.rs"]
mod procfs;
#[path = "support/report.rs"]
mod report;
#[path = "support/week.rs"]
mod week;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon::Daemon;

fn main() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-idle");
    std::fs::create_dir_all(&work).unwrap();
    start_to_ready(&work);
    idle(&work);
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&week::week_of_alarms()).unwrap(),
    )
    .unwrap();
    path
}

fn start_to_ready(work: &Path) {
    let rounds = report::rounds(20, 5);
    let dir = tempfile::tempdir_in(work).unwrap();
    let config = write_config(dir.path());
    let (mut ready, mut answered) = (Vec::new(), Vec::new());
    let start = || {
        Daemon::builder(&config)
            .program(report::daemon_program())
            .start()
            .unwrap()
    };
    // The first start creates the state (token, history); restarts are what is measured.
    drop(start());
    for _ in 0..rounds {
        let started = Instant::now();
        let daemon = start();
        ready.push(started.elapsed().as_secs_f64() * 1000.0);
        http_get(daemon.addr, "/healthz");
        answered.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    report::emit("start.ready_ms", "ms", &ready);
    report::emit("start.first_answer_ms", "ms", &answered);
}

/// One daemon of the idle comparison.
struct Variant {
    label: String,
    program: Option<PathBuf>,
    env: Vec<(String, String)>,
    /// Another architecture's binary under qemu-user: only its guest mappings are counted,
    /// and its wakeups (qemu's) are not.
    guest: bool,
}

fn variants() -> Vec<Variant> {
    let plain = |label: &str, env: &[(&str, &str)]| Variant {
        label: label.into(),
        program: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        guest: false,
    };
    let mut all = vec![
        plain("idle", &[]),
        plain("idle_watchdog", &[("WATCHDOG_USEC", "60000000")]),
    ];
    // The Pi's binary, when `bench/run` found one: a script that runs it under qemu-user.
    if let Some(wrapper) = std::env::var_os("REVEILLE_BENCH_QEMU_AARCH64") {
        all.push(Variant {
            label: "idle_aarch64".into(),
            program: Some(wrapper.into()),
            env: Vec::new(),
            guest: true,
        });
    }
    for spec in std::env::var("REVEILLE_BENCH_VARIANTS")
        .unwrap_or_default()
        .split(';')
        .filter(|s| !s.trim().is_empty())
    {
        let mut parts = spec.splitn(3, '|');
        let label = parts.next().unwrap().trim().to_owned();
        let program = parts
            .next()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let env = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        all.push(Variant {
            label: format!("variant.{label}"),
            program,
            env,
            guest: false,
        });
    }
    all
}

fn idle(work: &Path) {
    // Past the backup confirmation a minute after the start, and the exit of the blocking
    // thread it used ten seconds later: one-time work, not idleness.
    let settle = report::seconds(75, 12);
    let window = report::seconds(120, 10);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut running = Vec::new();
    for variant in variants() {
        let dir = tempfile::tempdir_in(work).unwrap();
        let config = write_config(dir.path());
        let program = variant
            .program
            .clone()
            .unwrap_or_else(report::daemon_program);
        let mut builder = Daemon::builder(&config).program(program);
        for (k, v) in &variant.env {
            builder = builder.env(k, v);
        }
        let daemon = builder.start().unwrap();
        // A phone's visit: the page and its files, then the reads it and the CLI make.
        runtime.block_on(page_load::first_load(daemon.addr));
        for i in 0..20 {
            http_get(
                daemon.addr,
                ["/api/config", "/api/status", "/healthz", "/api/readiness"][i % 4],
            );
        }
        running.push((variant, daemon, dir));
    }
    std::thread::sleep(Duration::from_secs(settle));

    let before: Vec<_> = running
        .iter()
        .map(|(_, d, _)| procfs::switches_per_thread(d.pid()))
        .collect();
    let mut samples: Vec<Vec<procfs::Memory>> = vec![Vec::new(); running.len()];
    let step = Duration::from_secs(5.min(window));
    let end = Instant::now() + Duration::from_secs(window);
    while Instant::now() < end {
        for (i, (variant, daemon, _)) in running.iter().enumerate() {
            samples[i].push(procfs::memory_of(daemon.pid(), variant.guest));
        }
        std::thread::sleep(step.min(end.saturating_duration_since(Instant::now())));
    }
    for (i, (variant, daemon, _)) in running.iter().enumerate() {
        samples[i].push(procfs::memory_of(daemon.pid(), variant.guest));
        let key = &variant.label;
        if !variant.guest {
            let after = procfs::switches_per_thread(daemon.pid());
            let (switches, split) = procfs::switches_between(&before[i], &after);
            report::emit(
                &format!("{key}.wakeups_per_s"),
                "/s",
                &[switches as f64 / window as f64],
            );
            report::note(
                &format!("{key}.wakeups_per_s"),
                &format!("{switches} in {window} s after a {settle} s settle; {split}"),
            );
        }
        let mb = |f: fn(&procfs::Memory) -> u64| -> Vec<f64> {
            samples[i]
                .iter()
                .map(|m| f(m) as f64 * 1024.0 / 1e6)
                .collect()
        };
        report::emit(&format!("{key}.rss_mb"), "MB", &mb(|m| m.rss));
        report::emit(&format!("{key}.rss_private_mb"), "MB", &mb(|m| m.anon));
        report::emit(&format!("{key}.rss_file_mb"), "MB", &mb(|m| m.file));
        report::emit(&format!("{key}.rss_peak_mb"), "MB", &mb(|m| m.peak));
        let mappings: Vec<String> = procfs::smaps_by_mapping(daemon.pid(), variant.guest)
            .into_iter()
            .take(8)
            .map(|(name, rss, dirty)| format!("{name} {rss} KiB ({dirty} private dirty)"))
            .collect();
        report::note(&format!("{key}.rss_mb"), &mappings.join(", "));
    }
}

/// A minimal HTTP/1.1 GET on loopback; the answer must be a 200.
fn http_get(addr: SocketAddr, path: &str) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "GET {path} failed");
}
