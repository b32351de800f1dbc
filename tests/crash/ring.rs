//! Rings under SIGKILL. The real daemon runs under libfaketime, pointed at the in-process
//! Spotify mock (a linked account, the receiver "Bedroom") with a local sound that records its
//! process id; one alarm rings every day at 07:00. Each round is one morning: the clock is set
//! just before 07:00, the alarm fires by itself, and the daemon is killed at a moment chosen
//! by the round's kind: at the hand-over from the scheduler to the runner, at a random moment
//! of a ring through Spotify or through the local sound, or during a snooze. After the restart
//! the user must hear it again within the deadline (a play request at the mock, or a new local
//! sound process) and the status must say it rings; after a stop the history must hold that
//! morning's occurrence exactly once (not lost, not rung twice, not `overlapped`).
//! What systemd does on a crash is done here too: the dead daemon's sound process is killed
//! (its cgroup), and the receiver keeps playing, as a real one would.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::faketime::FakeClock;
use crate::spotify_mock::{Endpoint, Fault, MockDevice, SpotifyMock};
use crate::{kill, leftovers, random_moment, scaled};

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const PLAYLIST: &str = "spotify:playlist:37i9dQZF1DX0UrRvztWcAU";
/// Audible again after a restart within this (the start deadline is 5 s).
const AUDIBLE_WITHIN: Duration = Duration::from_secs(10);

/// Where the kill lands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kill {
    /// As the scheduler says the alarm is due: the firing is on its way to the runner's
    /// journal, the handled mark not yet saved.
    AtHandOver,
    /// A random moment in the first seconds of a ring through Spotify.
    MidRing,
    /// The same with Spotify refusing (premium required): the local sound rings.
    MidRingLocalSound,
    /// A random moment after a snooze was acknowledged.
    Snoozed,
}

const KINDS: [Kill; 4] = [
    Kill::AtHandOver,
    Kill::MidRing,
    Kill::MidRingLocalSound,
    Kill::Snoozed,
];

/// The daemon, its files, its Spotify and its clock.
struct Bedroom {
    dir: tempfile::TempDir,
    mock: SpotifyMock,
    clock: FakeClock,
    daemon: Daemon,
    client: reqwest::Client,
}

impl Bedroom {
    async fn start(first_morning: NaiveDate) -> Bedroom {
        let mock = SpotifyMock::start().await;
        mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path());
        write_token(dir.path(), &mock);
        // Time for the first start before 07:00 (it arms the alarm from the time it starts).
        let clock = FakeClock::new(dir.path(), &format!("{first_morning}T06:59:57Z"));
        let daemon = start_daemon(dir.path(), &clock, &mock);
        Bedroom {
            dir,
            mock,
            clock,
            daemon,
            client: reqwest::Client::new(),
        }
    }

    /// SIGKILL, then what systemd does after it: the service's other processes (the local
    /// sound) are killed too.
    fn crash(&mut self) {
        kill(&mut self.daemon);
        for pid in self.sound_pids() {
            if alive(pid) {
                // SAFETY: a signal to a process our own child started; it is not reaped by
                // anyone else (its parent is gone), so the pid is still that process's.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }

    /// A new daemon on the same files and clock.
    fn restart(&mut self) {
        self.daemon = start_daemon(self.dir.path(), &self.clock, &self.mock);
        // A start removes what a kill left half-written.
        let left = leftovers(self.dir.path(), self.daemon.pid());
        assert!(left.is_empty(), "temp files left after a restart: {left:?}");
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.client.get(self.daemon.url(path)).send().await;
        response.unwrap().json().await.unwrap()
    }

    async fn post(&self, path: &str) -> u16 {
        let response = self.client.post(self.daemon.url(path)).send().await;
        response.unwrap().status().as_u16()
    }

    /// Polls `GET /api/ring` (the status the page shows) until `accept` holds.
    async fn wait_for_ring(&mut self, within: Duration, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let status = self.get("/api/ring").await;
            if accept(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "not reached within {within:?}: {status}\n{}",
                self.daemon.log_so_far()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn sound_pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("sound.pids"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    /// What the user hears since `plays`/`sounds` (counts before the restart): a play request
    /// at the receiver, or a local sound process that runs.
    fn audible_since(&self, plays: usize, sounds: usize) -> bool {
        let played = self.mock.requests_to(Endpoint::Play).len() > plays;
        let sounding = self.sound_pids().iter().skip(sounds).any(|&pid| alive(pid));
        played || sounding
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_killed_at_any_moment_rings_again_after_the_restart_exactly_once() {
    let rounds = scaled(KINDS.len() as u32, 40);
    let first = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let mut bedroom = Bedroom::start(first).await;
    let began = Instant::now();
    let mut counts = [0u32; KINDS.len()];
    let mut resumed_snoozed = 0;
    // How the restarted daemon found the morning again: its journal, the scheduler (the mark
    // was not saved yet), or both (the second one not rung).
    let (mut from_journal, mut fired_again, mut not_twice) = (0, 0, 0);

    for round in 0..rounds {
        // Every kind in the quick run; then at random.
        let kind = match round as usize {
            n if n < KINDS.len() => KINDS[n],
            _ => KINDS[fastrand::usize(..KINDS.len())],
        };
        counts[KINDS.iter().position(|k| *k == kind).unwrap()] += 1;
        let morning = first + chrono::Days::new(round.into());
        let occurrence: DateTime<Utc> = format!("{morning}T07:00:00Z").parse().unwrap();
        if kind == Kill::MidRingLocalSound {
            bedroom
                .mock
                .inject_forever(Endpoint::Devices, Fault::premium_required());
        }
        if round > 0 {
            bedroom.clock.set(&before_seven(morning));
        }
        let line = bedroom
            .daemon
            .wait_for_line("alarm due: ringing", Duration::from_secs(10))
            .unwrap_or_else(|log| panic!("round {round}: the alarm did not fire:\n{log}"));
        assert!(
            line.contains(&format!("occurrence={}", occurrence.to_rfc3339())),
            "{line}"
        );
        match kind {
            // The first at once (the firing is still on its way to the journal); then within
            // the milliseconds the journal and the handled mark take to reach the disk.
            Kill::AtHandOver if round == 0 => {}
            Kill::AtHandOver => {
                tokio::time::sleep(random_moment(Duration::from_millis(15))).await;
            }
            Kill::MidRing | Kill::MidRingLocalSound => {
                tokio::time::sleep(random_moment(Duration::from_millis(2500))).await;
            }
            Kill::Snoozed => {
                bedroom
                    .wait_for_ring(AUDIBLE_WITHIN, |s| s["state"] == "ringing")
                    .await;
                assert_eq!(bedroom.post("/api/ring/snooze").await, 204);
                tokio::time::sleep(random_moment(Duration::from_millis(100))).await;
            }
        }
        let (plays, sounds) = (
            bedroom.mock.requests_to(Endpoint::Play).len(),
            bedroom.sound_pids().len(),
        );
        bedroom.crash();
        bedroom.restart();

        let status = bedroom
            .wait_for_ring(AUDIBLE_WITHIN, |s| {
                s["state"] == "ringing" || s["state"] == "snoozed"
            })
            .await;
        assert_eq!(status["alarm_id"], "wake", "round {round} ({kind:?})");
        if status["state"] == "snoozed" {
            // The snooze survived the crash, with its end. Killed again and started after
            // that end, it rings at once.
            assert_eq!(kind, Kill::Snoozed, "round {round}: {status}");
            resumed_snoozed += 1;
            let until: DateTime<Utc> = status["until"].as_str().unwrap().parse().unwrap();
            bedroom.crash();
            bedroom
                .clock
                .set(&(until + chrono::Duration::seconds(1)).to_rfc3339());
            bedroom.restart();
        }
        let deadline = Instant::now() + AUDIBLE_WITHIN;
        while !bedroom.audible_since(plays, sounds) {
            let status = bedroom.get("/api/ring").await;
            assert!(
                Instant::now() < deadline,
                "round {round} ({kind:?}): silent after the restart: {status}\n{}",
                bedroom.daemon.log_so_far()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = bedroom
            .wait_for_ring(AUDIBLE_WITHIN, |s| s["state"] == "ringing")
            .await;
        let path = if kind == Kill::MidRingLocalSound {
            "local_sound"
        } else {
            "spotify"
        };
        assert_eq!(status["path"], path, "round {round} ({kind:?}): {status}");

        assert_eq!(bedroom.post("/api/ring/stop").await, 204);
        bedroom.mock.clear_faults();
        let entry = ended_once(&bedroom, occurrence, round, kind).await;
        assert_eq!(entry["ended_by"], "api", "{entry}");
        assert!(
            entry["paths"].as_array().unwrap().iter().any(|p| p == path),
            "round {round} ({kind:?}): {entry}"
        );
        let log = bedroom.daemon.log_so_far();
        assert!(!log.contains("NOT RUNG"), "round {round}: {log}");
        from_journal += u32::from(log.contains("resuming the alarm that was ringing"));
        fired_again += u32::from(log.contains("alarm due: ringing"));
        not_twice += u32::from(log.contains("not rung again"));
    }

    // Every morning exactly once, in the history the page shows.
    let history = bedroom.get("/api/history").await;
    let rung: std::collections::BTreeSet<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["occurrence"].as_str().unwrap())
        .collect();
    assert_eq!(rung.len(), rounds as usize, "{history}");
    assert_eq!(
        history.as_array().unwrap().len(),
        rounds as usize,
        "{history}"
    );
    bedroom.mock.assert_all_valid();
    eprintln!(
        "ring: {rounds} kills in {:.1} s (at hand-over {}, mid-ring Spotify {}, mid-ring local \
         sound {}, snoozed {}, of which the snooze itself survived {resumed_snoozed}); found \
         again from the journal {from_journal}, fired again {fired_again}, both and rung once \
         {not_twice}; every morning rang again after the restart and is in the history once",
        began.elapsed().as_secs_f64(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
    );
}

/// Waits until the stop is on disk (journal gone, the history holds the occurrence), so the
/// next kill cannot resume a ring that was stopped; returns the occurrence's one entry.
async fn ended_once(bedroom: &Bedroom, occurrence: DateTime<Utc>, round: u32, kind: Kill) -> Value {
    let journal = bedroom.dir.path().join("ring-episode.json");
    let history = bedroom.dir.path().join("ring-history.json");
    let on_disk = |at: &str| {
        std::fs::read(&history)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|h| h.as_array().unwrap().iter().any(|e| e["occurrence"] == at))
    };
    let at = occurrence.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal.exists() || !on_disk(&at) {
        assert!(
            Instant::now() < deadline,
            "round {round}: the stop did not reach the disk"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let history = bedroom.get("/api/history").await;
    let entries: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["occurrence"] == at.as_str())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "round {round} ({kind:?}): the occurrence rang other than once: {history}"
    );
    entries[0].clone()
}

/// 0.6 s before 07:00 UTC on `morning`: the daemon looks at the clock at least every second.
fn before_seven(morning: NaiveDate) -> String {
    format!("{morning}T06:59:59.400Z")
}

fn write_config(dir: &Path) {
    let config = json!({
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
            // Records its pid instead of making noise; exec keeps the recorded pid the player's.
            "command": ["sh", "-c", format!("echo $$ >> '{}'; exec sleep 600", dir.join("sound.pids").display())],
        },
        "volume": {"start_percent": 10, "target_percent": 40, "fade_seconds": 6, "ceiling_percent": 100},
        "alarms": [{
            "id": "wake", "label": "Wake up", "time": "07:00",
            "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "ring": {"source": PLAYLIST, "max_ring_minutes": 30, "snooze_minutes": 1, "max_snoozes": 1},
        }],
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
}

/// A linked account whose access token outlives the test (by the fake clock too).
fn write_token(dir: &Path, mock: &SpotifyMock) {
    let token = json!({
        "access_token": mock.access_token(),
        "refresh_token": mock.refresh_token(),
        "expires_at": "2036-01-01T00:00:00Z",
        "scope": "user-modify-playback-state user-read-playback-state",
    });
    std::fs::write(
        dir.join("spotify-token.json"),
        serde_json::to_vec(&token).unwrap(),
    )
    .unwrap();
}

fn start_daemon(dir: &Path, clock: &FakeClock, mock: &SpotifyMock) -> Daemon {
    clock
        .builder(&dir.join("config.json"))
        .env("REVEILLE_SPOTIFY_API_URL", mock.api_url())
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url())
        .start()
        .unwrap()
}

/// Whether a process runs (a zombie waiting to be reaped does not count).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
        Err(_) => false,
    }
}
