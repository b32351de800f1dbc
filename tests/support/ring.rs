//! A ringing rig: the real daemon (simulated hardware) pointed at an in-process Spotify mock,
//! with a linked account, one alarm, and a fallback "sound" command that records its process
//! id instead of making noise. Used by the ring test crates.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::daemon::Daemon;
use crate::spotify_mock::{MockDevice, SpotifyMock};

pub const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
pub const PLAYLIST: &str = "spotify:playlist:37i9dQZF1DX0UrRvztWcAU";

pub struct Rig {
    pub dir: TempDir,
    pub mock: SpotifyMock,
    pub daemon: Daemon,
    pub client: reqwest::Client,
    pub args: Vec<String>,
}

/// The config every rig starts from; tests change it before the start.
pub fn base_config(dir: &Path) -> Value {
    let log = dir.join("sound.pids");
    json!({
        "version": 1,
        "time_zone": "UTC",
        "schedule": {"trust_clock": true},
        "spotify": {
            "client_id": CLIENT_ID,
            "device_id": "dev-1",
            "device_name": "Bedroom",
            "start_deadline_seconds": 5,
            "playback_check_seconds": 1,
        },
        "fallback": {
            // The appended sound file becomes $0; exec keeps the recorded pid the player's.
            "command": ["sh", "-c", format!("echo $$ >> '{}'; exec sleep 600", log.display())],
        },
        "volume": {"start_percent": 10, "target_percent": 40, "fade_seconds": 6, "ceiling_percent": 100},
        "alarms": [{
            "id": "wake", "label": "Wake up", "time": "07:00",
            "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "ring": {"source": PLAYLIST, "shuffle": true, "max_ring_minutes": 30,
                     "snooze_minutes": 1, "max_snoozes": 1},
        }],
    })
}

impl Rig {
    /// A rig with the receiver "Bedroom" (`dev-1`) online and the default config.
    pub async fn start() -> Rig {
        Rig::start_with(|_| {}, vec![MockDevice::new("dev-1", "Bedroom")]).await
    }

    pub async fn start_with(change: impl FnOnce(&mut Value), devices: Vec<MockDevice>) -> Rig {
        Rig::start_with_args(change, devices, &[]).await
    }

    /// With extra `reveille run` arguments (kept for restarts).
    pub async fn start_with_args(
        change: impl FnOnce(&mut Value),
        devices: Vec<MockDevice>,
        args: &[&str],
    ) -> Rig {
        let mock = SpotifyMock::start().await;
        mock.set_devices(devices);
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path());
        change(&mut config);
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        write_token(dir.path(), &mock);
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let daemon = start_daemon(dir.path(), &mock, &args);
        Rig {
            dir,
            mock,
            daemon,
            client: reqwest::Client::new(),
            args,
        }
    }

    /// Kills the daemon with SIGKILL and starts a new one on the same files.
    pub fn crash_and_restart(&mut self) {
        self.daemon.child.kill().unwrap();
        self.daemon.child.wait().unwrap();
        self.daemon = start_daemon(self.dir.path(), &self.mock, &self.args);
    }

    pub fn url(&self, path: &str) -> String {
        self.daemon.url(path)
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Rings the alarm now through the API.
    pub async fn ring_now(&self) {
        let response = self.post("/api/alarms/wake/ring-now").await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }

    /// `POST /api/sleep-timer` with `body`.
    pub async fn sleep_timer(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/sleep-timer"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Polls `GET /api/ring` until `accept` holds; panics with the last status after `within`.
    pub async fn wait_for_ring(&self, within: Duration, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let status = self.get("/api/ring").await;
            if accept(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ring status not reached within {within:?}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_state(&self, state: &str, path: Option<&str>, within: Duration) -> Value {
        self.wait_for_ring(within, |s| {
            s["state"] == state && path.is_none_or(|p| s["path"] == p)
        })
        .await
    }

    /// The volumes the daemon sent to Spotify, in order.
    pub fn volume_levels(&self) -> Vec<u32> {
        self.mock
            .requests_to(crate::spotify_mock::Endpoint::Volume)
            .iter()
            .map(|r| r.query_value("volume_percent").unwrap().parse().unwrap())
            .collect()
    }

    /// Process ids the fallback command started, in order.
    pub fn sound_pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("sound.pids"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    pub fn history(&self) -> PathBuf {
        self.dir.path().join("ring-history.json")
    }
}

/// Whether a process runs (a zombie waiting to be reaped does not count).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
        Err(_) => false,
    }
}

pub fn write_token(dir: &Path, mock: &SpotifyMock) {
    let token = json!({
        "access_token": mock.access_token(),
        "refresh_token": mock.refresh_token(),
        "expires_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "scope": "user-modify-playback-state user-read-playback-state",
    });
    std::fs::write(
        dir.join("spotify-token.json"),
        serde_json::to_vec(&token).unwrap(),
    )
    .unwrap();
}

fn start_daemon(dir: &Path, mock: &SpotifyMock, args: &[String]) -> Daemon {
    args.iter()
        .fold(Daemon::builder(&dir.join("config.json")), |b, a| b.arg(a))
        .env("REVEILLE_SPOTIFY_API_URL", mock.api_url())
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url())
        .start()
        .unwrap()
}
