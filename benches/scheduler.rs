//! `cargo bench --bench scheduler`: how precisely the real daemon rings on time.
//!
//! **Firing lateness**: the release daemon is started again and again under libfaketime with
//! the wall clock three seconds before a 07:00 alarm; its "alarm due: ringing" log line
//! carries `late_ms`, the firing's emission instant minus the occurrence, measured after the
//! scheduler state is durable (what the runner sees). Idle, and with `wrk` hammering the API
//! with 50 connections from READY until after the firing. Median and range over the rounds
//! (`REVEILLE_BENCH_ROUNDS`, default 20; quick mode 3). The idle daemon's wakeups are
//! `benches/idle.rs`.
//!
//! Work files go under `target/` (the project's disk, so the state file's fsync is real).

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/faketime.rs"]
mod faketime;
#[path = "support/report.rs"]
mod report;
#[path = "support/wrk.rs"]
mod wrk;

use std::fs;
use std::path::Path;
use std::time::Duration;

use daemon::Daemon;

fn main() {
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scheduler");
    fs::create_dir_all(&work).unwrap();
    let rounds = report::rounds(20, 3);

    let idle: Vec<f64> = (0..rounds)
        .map(|_| firing_lateness_ms(&work, None).0)
        .collect();
    report::emit("lateness.idle_ms", "ms", &idle);

    if !wrk::installed() {
        eprintln!("wrk is missing: no lateness under load (bench/run installs it)");
        std::process::exit(1);
    }
    let (mut loaded, mut rates) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (late, load) = firing_lateness_ms(&work, Some(&work));
        let load = load.expect("a load ran");
        loaded.push(late);
        rates.push(load.per_second());
    }
    report::emit("lateness.load_ms", "ms", &loaded);
    report::note(
        "lateness.load_ms",
        &format!(
            "wrk at 50 connections on /healthz, /api/status, /api/config in turn, {:.0} req/s median during the rounds",
            report::median(&rates)
        ),
    );
}

/// One daemon start, three seconds before a 07:00 alarm; returns its logged lateness, and
/// the load's summary when `load` (the work directory for wrk's script) is given: then wrk
/// hammers the API with 50 connections from READY until two seconds after the firing.
fn firing_lateness_ms(work: &Path, load: Option<&Path>) -> (f64, Option<wrk::Summary>) {
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
    let mut daemon = faketime::start_at(
        Daemon::builder(&config).program(report::daemon_program()),
        "2026-11-24 06:59:57",
    )
    .start()
    .unwrap();
    let paths = ["/healthz", "/api/status", "/api/config"].map(String::from);
    let wrk = load.map(|work| {
        wrk::Load {
            addr: daemon.addr,
            paths: &paths,
            connections: 50,
            threads: 2,
            seconds: 5,
        }
        .start(work)
    });
    let line = daemon
        .wait_for_line("alarm due: ringing", Duration::from_secs(10))
        .unwrap_or_else(|log| panic!("no firing:\n{log}"));
    let late = line
        .split(" late_ms=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no late_ms in {line}"));
    (late, wrk.map(wrk::finish))
}
