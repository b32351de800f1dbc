//! `cargo bench --bench ring`: time from the scheduler's firing to the play request reaching
//! Spotify (the in-process mock on 127.0.0.1), through the real release daemon.
//!
//! Each round starts the daemon under libfaketime two seconds before a 07:00 alarm. The
//! firing instant is when the daemon's "alarm due: ringing" line (logged as the firing is
//! handed to the runner) reaches this process; the play instant is when the mock receives
//! `PUT /me/player/play`. In between: the ring journal's durable write, then the start
//! sequence's device list, volume, transfer and shuffle calls. `REVEILLE_BENCH_ROUNDS`
//! (default 10; quick mode 3).

#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/faketime.rs"]
mod faketime;
#[path = "support/report.rs"]
mod report;
#[path = "../tests/support/ring.rs"]
mod ring;
#[path = "../tests/support/spotify_mock/mod.rs"]
mod spotify_mock;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon::Daemon;
use spotify_mock::{Endpoint, MockDevice, SpotifyMock};

fn main() {
    let rounds = report::rounds(10, 3);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-ring");
    std::fs::create_dir_all(&work).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let latencies: Vec<f64> = (0..rounds)
        .map(|_| firing_to_play_ms(&runtime, &work))
        .collect();
    report::emit("ring.firing_to_play_ms", "ms", &latencies);
}

fn firing_to_play_ms(runtime: &tokio::runtime::Runtime, work: &Path) -> f64 {
    let mock = runtime.block_on(SpotifyMock::start());
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    let dir = tempfile::tempdir_in(work).unwrap();
    let config = ring::base_config(dir.path());
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    ring::write_token(dir.path(), &mock);
    let builder = Daemon::builder(&dir.path().join("config.json"))
        .program(report::daemon_program())
        .env("REVEILLE_SPOTIFY_API_URL", mock.api_url())
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url());
    let mut daemon = faketime::start_at(builder, "2026-11-24 06:59:58")
        .start()
        .unwrap();
    daemon
        .wait_for_line("alarm due: ringing", Duration::from_secs(10))
        .unwrap_or_else(|log| panic!("no firing:\n{log}"));
    let fired = Instant::now();
    let play = runtime
        .block_on(mock.wait_for_request(
            |r| r.endpoint == Some(Endpoint::Play),
            Duration::from_secs(10),
        ))
        .expect("no play request");
    drop(daemon);
    (play.at.saturating_duration_since(fired)).as_secs_f64() * 1000.0
}
