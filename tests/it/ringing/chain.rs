//! The ring sequence through the real daemon, against the in-process Spotify mock: the whole
//! chain once (the order of Spotify calls, a fade step, stop), the volume API, resuming after a
//! SIGKILL mid-ring, the CLI and the sleep timer's API. Faults are in `faults.rs`.
//! Everything that waits for time to pass (the fade's pace, snooze and re-ring, auto-stop, the
//! sleep timer's fade-out) runs in paused time in `src/runner/tests/`.

use crate::daemon;
use crate::ring;
use crate::spotify_mock;

use std::time::Duration;

use ring::{PLAYLIST, Rig};
use spotify_mock::Endpoint;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_plays_on_the_receiver_fades_in_and_stops() {
    // One 2 s fade step through HTTP; the fade's pace is checked in paused time.
    let rig = Rig::start_with(
        |c| c["volume"]["fade_seconds"] = 2.into(),
        vec![spotify_mock::MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    rig.ring_now().await;
    let status = rig
        .wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    assert_eq!(status["alarm_id"], "wake");
    assert_eq!(status["fallback_reason"], serde_json::Value::Null);

    // The start sequence, in order: wake the receiver (transfer, `play: false`), set the
    // volume before anything plays, then play.
    let calls: Vec<_> = rig
        .mock
        .requests()
        .into_iter()
        .filter_map(|r| r.endpoint)
        .collect();
    let position = |e| {
        calls
            .iter()
            .position(|c| *c == e)
            .unwrap_or_else(|| panic!("no {e:?} in {calls:?}"))
    };
    assert!(position(Endpoint::Devices) < position(Endpoint::Transfer));
    assert!(position(Endpoint::Transfer) < position(Endpoint::Volume));
    assert!(position(Endpoint::Volume) < position(Endpoint::Play));
    let transfer = &rig.mock.requests_to(Endpoint::Transfer)[0];
    assert_eq!(transfer.body.as_ref().unwrap()["play"], false);
    let play = &rig.mock.requests_to(Endpoint::Play)[0];
    assert_eq!(play.query_value("device_id"), Some("dev-1"));
    assert_eq!(play.body.as_ref().unwrap()["context_uri"], PLAYLIST);
    let first_volume = &rig.mock.requests_to(Endpoint::Volume)[0];
    assert_eq!(first_volume.query_value("volume_percent"), Some("10"));
    let player = rig.mock.player();
    assert!(player.is_playing && player.shuffle);

    // The fade reaches the target on the receiver.
    rig.wait_for_ring(SECONDS(10), |s| {
        s["volume_percent"] == 40 && s["fade_percent"] == 100
    })
    .await;
    assert_eq!(rig.volume_levels(), [10, 40]);
    assert_eq!(rig.mock.player().volumes["dev-1"], 40);

    let response = rig.post("/api/ring/stop").await;
    assert_eq!(response.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    assert!(!rig.mock.player().is_playing, "stop did not pause");
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["ended_by"], "api");
    assert_eq!(history[0]["paths"], serde_json::json!(["spotify"]));
    assert!(
        rig.sound_pids().is_empty(),
        "the fallback rang although Spotify played"
    );
    // A second stop has nothing to stop.
    assert_eq!(rig.post("/api/ring/stop").await.status(), 409);
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_volume_ceiling_clamps_the_fade_and_the_api_and_the_knob_takes_over() {
    let rig = Rig::start_with(
        |c| {
            c["volume"]["ceiling_percent"] = 30.into();
            c["volume"]["fade_seconds"] = 600.into();
        },
        vec![spotify_mock::MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    let response = rig
        .client
        .put(rig.url("/api/ring/volume"))
        .json(&serde_json::json!({"volume_percent": 90}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["volume_percent"], 30);
    rig.mock
        .wait_for_request(
            |r| r.query_value("volume_percent") == Some("30"),
            SECONDS(5),
        )
        .await
        .expect("the clamped volume was not sent");
    // Out of range is a field error, and nothing changes.
    let bad = rig
        .client
        .put(rig.url("/api/ring/volume"))
        .json(&serde_json::json!({"volume_percent": 101}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let error: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["field"], "volume_percent");
    // The fade stopped: no further volume calls below the knob's value.
    let count = rig.mock.requests_to(Endpoint::Volume).len();
    rig.wait_for_ring(SECONDS(10), |s| s["fade_percent"] == 100)
        .await;
    assert_eq!(rig.mock.requests_to(Endpoint::Volume).len(), count);
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_ring_resumes_ringing_after_the_restart_and_a_stop_clears_the_journal() {
    let mut rig = Rig::start().await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    let journal = rig.dir.path().join("ring-episode.json");
    let deadline = std::time::Instant::now() + SECONDS(5);
    while !journal.exists() {
        assert!(std::time::Instant::now() < deadline, "no ring journal");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let plays = rig.mock.requests_to(Endpoint::Play).len();
    // The receiver stops when nobody drives it (like a crash of the whole Pi).
    rig.mock.stop_playback();
    rig.crash_and_restart();
    let status = rig
        .wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    assert_eq!(status["alarm_id"], "wake");
    assert_eq!(rig.mock.requests_to(Endpoint::Play).len(), plays + 1);
    assert!(rig.mock.player().is_playing);

    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    // The records follow the state on their writer tasks, within milliseconds.
    let history = rig.history();
    let deadline = std::time::Instant::now() + SECONDS(5);
    while journal.exists()
        || !std::fs::read_to_string(&history).is_ok_and(|h| h.contains("\"api\""))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a clean stop left the journal, or its history entry is not on disk"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // And a restart now rings nothing.
    rig.crash_and_restart();
    let status = rig.get("/api/ring").await;
    assert_eq!(status["state"], "idle", "{status}");
    assert_eq!(rig.get("/api/history").await[0]["ended_by"], "api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_snoozes_and_stops_the_running_daemon_and_says_when_nothing_rings() {
    let rig = Rig::start().await;
    let url = rig.url("");
    let cli = |action: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(daemon::BIN)
                .args([action, "--url", &url])
                .output()
                .unwrap()
        })
    };
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    let out = cli("snooze").await.unwrap();
    assert!(out.status.success(), "{out:?}");
    rig.wait_for_state("snoozed", None, SECONDS(5)).await;
    let out = cli("stop").await.unwrap();
    assert!(out.status.success(), "{out:?}");
    rig.wait_for_state("idle", None, SECONDS(5)).await;

    let out = cli("stop").await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nothing is ringing"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sleep_timer_plays_the_source_is_busy_for_alarms_and_is_cancelled_by_stop() {
    let rig = Rig::start().await;
    let bad = rig
        .sleep_timer(serde_json::json!({"duration_minutes": 0}))
        .await;
    assert_eq!(bad.status(), 422);
    let error: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["field"], "duration_minutes");

    let track = "spotify:track:4uLU6hMCjMI75M1A2tKUQC";
    let started = rig
        .sleep_timer(serde_json::json!({"source": track, "volume_percent": 30,
            "duration_minutes": 30, "fade_out_minutes": 1}))
        .await;
    assert_eq!(started.status(), 202);
    let status = rig.wait_for_state("sleep_timer", None, SECONDS(5)).await;
    assert!(status["until"].is_string());
    rig.mock
        .wait_for_request(|r| r.endpoint == Some(Endpoint::Play), SECONDS(10))
        .await
        .expect("no play request");
    assert_eq!(rig.mock.player().uris, vec![track.to_owned()]);
    assert_eq!(rig.volume_levels()[0], 30);
    // Busy while it runs.
    assert_eq!(rig.post("/api/alarms/wake/ring-now").await.status(), 409);

    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    assert!(!rig.mock.player().is_playing, "the stop did not pause");
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["ended_by"], "api");
    assert_eq!(history[0]["label"], "Sleep timer");
    rig.mock.assert_all_valid();
}
