//! The GPIO devices through the real daemon with the simulated backend: the amplifier around
//! the sound, the knob, the buttons, the buzzer as the last resort, the ceiling on every path,
//! the self-test, and what happens when the Pi backend is asked for off a Pi. Buttons and the
//! knob are operated through the development endpoints (`--dev-sim-control`).

use crate::ring;
use crate::spotify_mock;

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use ring::Rig;
use serde_json::{Value, json};
use spotify_mock::{Endpoint, Fault, MockDevice};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
const BUTTON: u8 = 26;

/// Amplifier on GPIO 17 (no idle delay), encoder on 5/6, a button on 26, buzzer on 12.
async fn rig(change: impl FnOnce(&mut Value)) -> Rig {
    Rig::start_with_args(
        |c| {
            c["hardware"] = json!({
                "backend": "sim",
                "amplifier": {"pin": 17, "settle_ms": 100, "idle_off_seconds": 0},
                "encoder": {"pin_a": 5, "pin_b": 6, "step_percent": 2},
                "buttons": [{"pin": BUTTON, "short_press": "snooze", "long_press": "stop",
                             "long_press_ms": 800}],
                "buzzer": {"pin": 12},
            });
            c["volume"]["fade_seconds"] = 600.into();
            change(c);
        },
        vec![MockDevice::new("dev-1", "Bedroom")],
        &["--dev-sim-control"],
    )
    .await
}

async fn hardware(rig: &Rig) -> Value {
    rig.get("/api/status").await["hardware"].clone()
}

/// The hardware events in order, as text.
async fn events(rig: &Rig) -> Vec<(DateTime<Utc>, String)> {
    hardware(rig).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["at"].as_str().unwrap().parse().unwrap(),
                e["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn press(rig: &Rig, hold_ms: u64) {
    let response = rig
        .client
        .post(rig.url("/api/dev/sim/press"))
        .json(&json!({"pin": BUTTON, "hold_ms": hold_ms}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn turn(rig: &Rig, detents: i32) {
    let response = rig
        .client
        .post(rig.url("/api/dev/sim/turn"))
        .json(&json!({"detents": detents}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

fn wall(at: std::time::Instant) -> DateTime<Utc> {
    (SystemTime::now() - at.elapsed()).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_amplifier_is_on_before_the_first_play_and_off_after_the_stop() {
    let rig = rig(|_| {}).await;
    assert_eq!(hardware(&rig).await["amplifier"]["on"], false);
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    let on = hardware(&rig).await;
    assert_eq!(
        on["amplifier"],
        json!({"pin": 17, "on": true, "high": true})
    );
    assert_eq!(on["backend"], "sim");

    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let log = events(&rig).await;
    let names: Vec<&str> = log.iter().map(|(_, e)| e.as_str()).collect();
    // Safe level at start, on for the ring, off after it.
    assert_eq!(
        names,
        ["amplifier off", "amplifier on", "amplifier off"],
        "{log:?}"
    );
    let first_play = wall(rig.mock.requests_to(Endpoint::Play)[0].at);
    let pause = wall(rig.mock.requests_to(Endpoint::Pause).last().unwrap().at);
    assert!(
        log[1].0 < first_play,
        "amplifier on {:?}, play {first_play:?}",
        log[1].0
    );
    assert!(
        log[2].0 >= pause,
        "amplifier off {:?} before the pause {pause:?}",
        log[2].0
    );
    assert_eq!(hardware(&rig).await["amplifier"]["high"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_knob_turn_becomes_at_most_two_volume_calls_and_takes_over_from_the_fade() {
    let rig = rig(|_| {}).await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    let before = rig.mock.requests_to(Endpoint::Volume).len();
    turn(&rig, 20).await;
    // 10 % + 20 detents × 2 %.
    rig.mock
        .wait_for_request(
            |r| r.query_value("volume_percent") == Some("50"),
            SECONDS(5),
        )
        .await
        .expect("the knob's volume was not sent");
    let status = rig
        .wait_for_ring(SECONDS(5), |s| s["volume_percent"] == 50)
        .await;
    assert_eq!(
        status["fade_percent"], 100,
        "the fade did not give way: {status}"
    );
    let calls = rig.mock.requests_to(Endpoint::Volume).len() - before;
    assert!(
        (1..=2).contains(&calls),
        "{calls} volume calls for one turn"
    );
    // Back down: counter-clockwise.
    turn(&rig, -5).await;
    rig.mock
        .wait_for_request(
            |r| r.query_value("volume_percent") == Some("40"),
            SECONDS(5),
        )
        .await
        .expect("the turn back was not sent");
    assert!(events(&rig).await.iter().any(|(_, e)| e == "encoder +40 %"));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ceiling_and_the_night_ceiling_clamp_the_knob_and_the_fade() {
    // A night ceiling covering the whole day, below the global one.
    let rig = rig(|c| {
        c["volume"]["ceiling_percent"] = 60.into();
        c["volume"]["night"] = json!({"from": "00:00", "until": "23:59", "ceiling_percent": 25});
        c["volume"]["start_percent"] = 20.into();
        c["volume"]["target_percent"] = 50.into();
        c["volume"]["fade_seconds"] = 4.into();
    })
    .await;
    rig.ring_now().await;
    rig.wait_for_ring(SECONDS(15), |s| {
        s["state"] == "ringing" && s["fade_percent"] == 100
    })
    .await;
    let levels = rig.volume_levels();
    assert_eq!(levels.iter().max(), Some(&25), "{levels:?}");
    turn(&rig, 20).await;
    let status = rig
        .wait_for_ring(SECONDS(5), |s| s["fade_percent"] == 100)
        .await;
    assert_eq!(status["volume_percent"], 25);
    let levels = rig.volume_levels();
    assert!(levels.iter().all(|v| *v <= 25), "{levels:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_press_snoozes_and_a_long_press_stops() {
    let rig = rig(|_| {}).await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    press(&rig, 60).await;
    rig.wait_for_state("snoozed", None, SECONDS(5)).await;
    assert!(!rig.mock.player().is_playing);
    press(&rig, 1200).await;
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["ended_by"], "button");
    let names: Vec<String> = events(&rig).await.into_iter().map(|(_, e)| e).collect();
    assert!(names.contains(&"button 0 short".to_owned()), "{names:?}");
    assert!(names.contains(&"button 0 long".to_owned()), "{names:?}");
    // Bounce did not make extra presses.
    assert_eq!(
        names.iter().filter(|e| e.starts_with("button")).count(),
        2,
        "{names:?}"
    );
    // Idle: a snooze/stop button does nothing.
    press(&rig, 60).await;
    assert_eq!(rig.get("/api/ring").await["state"], "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buzzer_rings_when_spotify_and_the_local_sound_both_fail() {
    let rig = rig(|c| c["fallback"]["command"] = json!(["/nonexistent/player"])).await;
    rig.mock
        .inject_forever(Endpoint::Play, Fault::premium_required());
    rig.ring_now().await;
    let status = rig
        .wait_for_state("ringing", Some("buzzer"), SECONDS(10))
        .await;
    let reason = status["fallback_reason"].as_str().unwrap();
    assert!(
        reason.contains("Premium") && reason.contains("/nonexistent/player"),
        "{reason}"
    );
    assert_eq!(hardware(&rig).await["buzzer"]["on"], true);
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let names: Vec<String> = events(&rig).await.into_iter().map(|(_, e)| e).collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("no {name}: {names:?}"))
    };
    assert!(at("amplifier on") < at("buzzer on"));
    assert!(at("buzzer on") < at("buzzer off"));
    assert_eq!(
        names.last().map(String::as_str),
        Some("amplifier off"),
        "{names:?}"
    );
    let hw = hardware(&rig).await;
    assert_eq!(
        (hw["buzzer"]["on"].clone(), hw["amplifier"]["on"].clone()),
        (json!(false), json!(false))
    );
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["paths"], json!(["local_sound", "buzzer"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_test_switches_the_amplifier_and_beeps_and_refuses_while_ringing() {
    let rig = rig(|_| {}).await;
    let response = rig.post("/api/hardware/test").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["steps"].as_array().unwrap().len(), 3, "{body}");
    let names: Vec<String> = events(&rig).await.into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        names,
        [
            "amplifier off",
            "amplifier on",
            "buzzer on",
            "buzzer off",
            "amplifier off"
        ],
    );
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    assert_eq!(rig.post("/api/hardware/test").await.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleep_timer_button_starts_and_stops_a_sleep_timer_when_no_alarm_rings() {
    let rig = rig(|c| c["hardware"]["buttons"][0]["short_press"] = "sleep_timer".into()).await;
    press(&rig, 60).await;
    rig.wait_for_state("sleep_timer", None, SECONDS(10)).await;
    rig.mock
        .wait_for_request(|r| r.endpoint == Some(Endpoint::Play), SECONDS(10))
        .await
        .expect("the sleep timer did not play");
    press(&rig, 60).await;
    rig.wait_for_state("idle", None, SECONDS(10)).await;
    assert!(!rig.mock.player().is_playing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_the_pi_backend_off_a_pi_runs_on_the_simulator_and_says_why() {
    let rig = Rig::start_with(
        |c| c["hardware"] = json!({"backend": "rpi", "amplifier": {"pin": 17}}),
        vec![MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    let hw = hardware(&rig).await;
    assert_eq!(hw["backend"], "sim");
    assert_eq!(hw["requested"], "rpi");
    let error = hw["error"].as_str().unwrap();
    assert!(error.contains("not a Raspberry Pi"), "{error}");
    // The daemon still rings.
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    // Pins are the owner's: not over HTTP...
    let patch = rig
        .client
        .patch(rig.url("/api/config"))
        .json(&json!({"hardware": {"amplifier": {"pin": 22}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 403);
    let body: Value = patch.json().await.unwrap();
    assert_eq!(body["error"]["field"], "hardware.amplifier.pin");
    assert_eq!(hardware(&rig).await["restart_needed"], false);
    // ...but by editing the file on the Pi, and a pin change is reported as needing a restart.
    hand_edit(&rig, |c| c["hardware"]["amplifier"]["pin"] = 22.into()).await;
    let hw = hardware(&rig).await;
    assert_eq!(hw["restart_needed"], true);
    assert_eq!(hw["restart_needed_for"], json!(["hardware.amplifier.pin"]));
}

/// Edits the config file as the owner would on the Pi (write aside, rename over) and waits
/// until the daemon has taken the edit (its revision moved).
async fn hand_edit(rig: &Rig, change: impl FnOnce(&mut Value)) {
    let revision = rig.get("/api/status").await["config"]["revision"].clone();
    let path = rig.dir.path().join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    change(&mut config);
    let edit = rig.dir.path().join("edit.tmp");
    std::fs::write(&edit, serde_json::to_vec(&config).unwrap()).unwrap();
    std::fs::rename(&edit, &path).unwrap();
    let deadline = std::time::Instant::now() + SECONDS(10);
    while rig.get("/api/status").await["config"]["revision"] == revision {
        assert!(
            std::time::Instant::now() < deadline,
            "the hand edit was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edited_button_actions_and_knob_step_apply_without_a_restart() {
    let rig = rig(|_| {}).await;
    hand_edit(&rig, |c| {
        c["hardware"]["buttons"][0]["short_press"] = "stop".into();
        c["hardware"]["encoder"]["step_percent"] = 5.into();
        c["hardware"]["amplifier"]["settle_ms"] = 50.into();
    })
    .await;
    let hw = hardware(&rig).await;
    assert_eq!(hw["restart_needed"], false, "{hw}");
    assert_eq!(hw["restart_needed_for"], json!([]));
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    // 10 % + 2 detents × the new 5 %.
    turn(&rig, 2).await;
    rig.mock
        .wait_for_request(
            |r| r.query_value("volume_percent") == Some("20"),
            SECONDS(5),
        )
        .await
        .expect("the knob did not use the new step");
    // A short press now stops instead of snoozing.
    press(&rig, 60).await;
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["ended_by"], "button");
    assert_eq!(history[0]["snoozes"], json!(0), "{history}");
}

/// systemd's stop mid-ring: STOPPING at once, Spotify paused within the runner's bound, the
/// amplifier at its safe level, exit 0, and the episode still journaled so a restart resumes
/// it. The status line said what rang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_ring_says_stopping_pauses_spotify_and_puts_the_amplifier_to_its_safe_level() {
    let mut rig = rig(|c| c["hardware"]["amplifier"]["idle_off_seconds"] = 600.into()).await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    rig.daemon
        .wait_for_notification(
            |m| m.starts_with("STATUS=ringing: Wake up (Spotify) · listening on"),
            SECONDS(10),
        )
        .unwrap();
    let pauses = rig.mock.requests_to(Endpoint::Pause).len();
    let sigterm = std::time::Instant::now();
    // SAFETY: signalling our own child process.
    assert_eq!(
        unsafe { libc::kill(rig.daemon.pid() as i32, libc::SIGTERM) },
        0
    );
    rig.daemon
        .wait_for_notification(|m| m.lines().any(|l| l == "STOPPING=1"), SECONDS(10))
        .unwrap();
    let status = rig.daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let log = rig.daemon.log_so_far();
    let after = log
        .split("SIGTERM")
        .nth(1)
        .unwrap_or_else(|| panic!("{log}"));
    assert!(after.contains("amplifier off"), "{log}");
    let paused = rig.mock.requests_to(Endpoint::Pause);
    assert_eq!(paused.len(), pauses + 1, "{log}");
    let pause = paused.last().unwrap().at;
    assert!(
        pause > sigterm && pause - sigterm < SECONDS(3),
        "paused {:?} after SIGTERM",
        pause.saturating_duration_since(sigterm)
    );
    assert!(
        rig.dir.path().join("ring-episode.json").exists(),
        "the journal is gone, so a restart would not resume the alarm"
    );
    // No watchdog was asked for: no keep-alives.
    let notified = rig.daemon.notifications_until_closed(SECONDS(5));
    assert!(
        !notified.iter().any(|m| m.contains("WATCHDOG")),
        "{notified:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_amplifier_can_stay_on_through_a_snooze_and_goes_off_at_the_stop() {
    let rig = rig(|c| c["hardware"]["amplifier"]["off_during_snooze"] = false.into()).await;
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    assert_eq!(rig.post("/api/ring/snooze").await.status(), 204);
    rig.wait_for_state("snoozed", None, SECONDS(5)).await;
    assert_eq!(hardware(&rig).await["amplifier"]["on"], true);
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    assert_eq!(hardware(&rig).await["amplifier"]["on"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_i2c_amplifier_the_fade_runs_in_hardware_and_spotify_stays_at_full_volume() {
    let rig = rig(|c| {
        c["hardware"]["i2c_volume"] = json!({});
        c["volume"]["fade_seconds"] = 3.into();
    })
    .await;
    rig.ring_now().await;
    rig.wait_for_ring(SECONDS(15), |s| {
        s["state"] == "ringing" && s["fade_percent"] == 100
    })
    .await;
    // Spotify: one volume call, at 100 %, before the play.
    let spotify: Vec<_> = rig
        .mock
        .requests_to(Endpoint::Volume)
        .iter()
        .map(|r| r.query_value("volume_percent").unwrap().to_owned())
        .collect();
    assert_eq!(spotify, ["100"]);
    // The amplifier: from 10 % up to 40 % in small steps, set before the amplifier is on.
    let names: Vec<String> = events(&rig).await.into_iter().map(|(_, e)| e).collect();
    let volumes: Vec<u32> = names
        .iter()
        .filter_map(|e| e.strip_prefix("volume ")?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(volumes.first(), Some(&10), "{names:?}");
    assert_eq!(volumes.last(), Some(&40), "{names:?}");
    assert!(
        volumes.windows(2).all(|w| w[0] < w[1]) && volumes.len() >= 5,
        "{volumes:?}"
    );
    let first_volume = names.iter().position(|e| e.starts_with("volume")).unwrap();
    let amplifier_on = names.iter().position(|e| e == "amplifier on").unwrap();
    assert!(first_volume < amplifier_on, "{names:?}");
    assert!(
        names.contains(&"volume 40 % (register 25)".to_owned()),
        "{names:?}"
    );
    assert_eq!(hardware(&rig).await["volume_percent"], 40);
}
