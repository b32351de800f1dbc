//! Missing parts through the real daemon: a state directory where `alarm.wav` cannot be
//! written, a sound player that is not installed, GPIO lines and an I2C bus that fail to open
//! (simulated with `REVEILLE_SIM_FAIL_OPEN`). In each case the daemon starts, `/api/status`
//! says what is missing and why, and the alarm still reaches the next path that can sound.

use crate::daemon;
use crate::ring;
use crate::spotify_mock;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon::Daemon;
use ring::Rig;
use serde_json::{Value, json};
use spotify_mock::{Endpoint, Fault, MockDevice, SpotifyMock};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
const MISSING_PLAYER: &str = "reveille-test-no-such-player";

/// The ring rig, with lines that fail to open (`REVEILLE_SIM_FAIL_OPEN`) and a hook that
/// prepares the state directory before the start.
async fn start(
    change: impl FnOnce(&mut Value, &Path),
    fail_open: Option<&str>,
    prepare: impl FnOnce(&Path),
) -> Rig {
    let mock = SpotifyMock::start().await;
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = ring::base_config(dir.path());
    change(&mut config, dir.path());
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    ring::write_token(dir.path(), &mock);
    prepare(dir.path());
    let mut builder = Daemon::builder(&dir.path().join("config.json"))
        .arg("--dev-sim-control")
        .env("REVEILLE_SPOTIFY_API_URL", mock.api_url())
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url());
    if let Some(spec) = fail_open {
        builder = builder.env("REVEILLE_SIM_FAIL_OPEN", spec);
    }
    let daemon = builder
        .start()
        .unwrap_or_else(|log| panic!("the daemon did not start:\n{log}"));
    Rig {
        dir,
        mock,
        daemon,
        client: reqwest::Client::new(),
        args: Vec::new(),
    }
}

/// Amplifier on 17, encoder on 5/6, a button on 26, buzzer on 12, all simulated; no fade.
fn with_hardware(c: &mut Value, _: &Path) {
    c["hardware"] = json!({
        "backend": "sim",
        "amplifier": {"pin": 17, "settle_ms": 0, "idle_off_seconds": 0},
        "encoder": {"pin_a": 5, "pin_b": 6, "step_percent": 2},
        "buttons": [{"pin": 26}],
        "buzzer": {"pin": 12},
    });
    c["volume"]["fade_seconds"] = 600.into();
}

fn reason(status: &Value) -> String {
    status["fallback_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no fallback reason in {status}"))
        .to_owned()
}

/// Rings with Spotify refusing (Premium required), so the fallback chain starts at once.
async fn ring_without_spotify(rig: &Rig) {
    rig.mock
        .inject_forever(Endpoint::Play, Fault::premium_required());
    rig.ring_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_writable_alarm_wav_the_bundled_sound_reaches_the_player_on_stdin() {
    let rig = start(
        |c, dir| {
            // The fake player records its argument ($0) and what it read, then "plays" on.
            let script = format!(
                "cd '{}' && echo \"$0\" > player.arg && cat > player.got && exec sleep 600",
                dir.display()
            );
            c["fallback"]["command"] = json!(["sh", "-c", script]);
        },
        None,
        // A directory where the daemon used to write its sound: no file can replace it,
        // whoever runs the test (root ignores permission bits, not this).
        |dir| std::fs::create_dir(dir.join("alarm.wav")).unwrap(),
    )
    .await;
    ring_without_spotify(&rig).await;
    let status = rig
        .wait_for_state("ringing", Some("local_sound"), SECONDS(10))
        .await;
    assert!(reason(&status).contains("Premium"), "{status}");
    let got = wait_for_file(&rig.dir.path().join("player.got")).await;
    assert_eq!(&got[0..4], b"RIFF", "{:?}", &got[..got.len().min(16)]);
    assert_eq!(&got[8..12], b"WAVE");
    let declared = u32::from_le_bytes(got[4..8].try_into().unwrap()) as usize;
    assert_eq!(declared, got.len() - 8, "the whole WAV was fed");
    let arg = std::fs::read_to_string(rig.dir.path().join("player.arg")).unwrap();
    assert_eq!(arg.trim(), "-");
    assert!(rig.dir.path().join("alarm.wav").is_dir());
    assert_eq!(rig.get("/api/status").await["fallback"]["sound"], "bundled");
}

/// The file's bytes once it holds a complete WAV (its RIFF size matches), polled.
async fn wait_for_file(path: &Path) -> Vec<u8> {
    let deadline = Instant::now() + SECONDS(10);
    loop {
        if let Ok(bytes) = std::fs::read(path)
            && bytes.len() >= 44
            && u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize == bytes.len() - 8
        {
            return bytes;
        }
        assert!(
            Instant::now() < deadline,
            "{} never held a whole WAV",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_player_is_reported_at_start_and_the_buzzer_rings_instead() {
    let rig = start(
        |c, dir| {
            with_hardware(c, dir);
            c["fallback"]["command"] = json!([MISSING_PLAYER, "-q"]);
        },
        None,
        |_| {},
    )
    .await;
    let fallback = rig.get("/api/status").await["fallback"].clone();
    let error = fallback["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{fallback}"));
    assert!(
        error.contains(MISSING_PLAYER) && error.contains("not installed"),
        "{error}"
    );
    assert_eq!(fallback["program"], Value::Null);

    ring_without_spotify(&rig).await;
    let status = rig
        .wait_for_state("ringing", Some("buzzer"), SECONDS(10))
        .await;
    let why = reason(&status);
    assert!(
        why.contains("Premium") && why.contains(MISSING_PLAYER),
        "{why}"
    );
    assert_eq!(
        rig.get("/api/status").await["hardware"]["buzzer"]["on"],
        true
    );
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["paths"], json!(["local_sound", "buzzer"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_buzzer_a_missing_player_leaves_an_honest_silent_with_every_reason() {
    let rig = start(
        |c, _| c["fallback"]["command"] = json!([MISSING_PLAYER]),
        None,
        |_| {},
    )
    .await;
    ring_without_spotify(&rig).await;
    let status = rig
        .wait_for_state("ringing", Some("silent"), SECONDS(10))
        .await;
    let why = reason(&status);
    assert!(why.contains("Premium"), "{why}");
    assert!(why.contains(MISSING_PLAYER), "{why}");
    assert!(why.contains("no buzzer is configured"), "{why}");
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["fallback_reason"], status["fallback_reason"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_and_an_amplifier_that_fail_to_open_are_reported_and_the_alarm_still_rings() {
    let rig = start(
        with_hardware,
        Some("26=Permission denied (simulated),17"),
        |_| {},
    )
    .await;
    let hardware = rig.get("/api/status").await["hardware"].clone();
    let unavailable = hardware["unavailable"]
        .as_array()
        .unwrap_or_else(|| panic!("{hardware}"));
    let find = |device: &str| {
        unavailable
            .iter()
            .find(|d| d["device"] == device)
            .unwrap_or_else(|| panic!("no {device} in {hardware}"))
            .clone()
    };
    let button = find("button 0");
    assert_eq!(button["pin"], 26);
    assert!(
        button["error"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{button}"
    );
    assert_eq!(find("amplifier")["pin"], 17);
    assert_eq!(unavailable.len(), 2, "{hardware}");

    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    assert!(rig.mock.player().is_playing);
    // The inputs that did open still work: 5 detents of 2 % from the start volume (10 %).
    let turn = rig
        .client
        .post(rig.url("/api/dev/sim/turn"))
        .json(&json!({"detents": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(turn.status(), 204);
    rig.mock
        .wait_for_request(
            |r| r.query_value("volume_percent") == Some("20"),
            SECONDS(5),
        )
        .await
        .expect("the knob did not set the volume");
    // No amplifier line to switch: it is left alone, not reported on.
    let events = rig.get("/api/status").await["hardware"]["events"].clone();
    assert!(
        !events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "amplifier on"),
        "{events}"
    );
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buzzer_that_fails_to_open_is_named_when_the_alarm_goes_silent() {
    let rig = start(
        |c, dir| {
            with_hardware(c, dir);
            c["fallback"]["command"] = json!([MISSING_PLAYER]);
        },
        Some("12"),
        |_| {},
    )
    .await;
    let hardware = rig.get("/api/status").await["hardware"].clone();
    assert_eq!(hardware["unavailable"][0]["device"], "buzzer", "{hardware}");
    ring_without_spotify(&rig).await;
    let status = rig
        .wait_for_state("ringing", Some("silent"), SECONDS(10))
        .await;
    let why = reason(&status);
    assert!(why.contains(MISSING_PLAYER), "{why}");
    assert!(why.contains("the buzzer could not be opened"), "{why}");
    assert!(why.contains("GPIO 12"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_i2c_amplifier_spotify_does_the_fade_instead_of_playing_at_full_volume() {
    let rig = start(
        |c, _| {
            c["hardware"] = json!({"backend": "sim", "i2c_volume": {}});
            c["volume"]["fade_seconds"] = 600.into();
        },
        Some("i2c"),
        |_| {},
    )
    .await;
    let hardware = rig.get("/api/status").await["hardware"].clone();
    assert_eq!(
        hardware["unavailable"][0]["device"], "hardware volume",
        "{hardware}"
    );
    rig.ring_now().await;
    rig.wait_for_state("ringing", Some("spotify"), SECONDS(10))
        .await;
    // The start volume, as without an I2C amplifier (with one, Spotify would be set to 100 %).
    assert_eq!(
        rig.volume_levels().first(),
        Some(&10),
        "{:?}",
        rig.volume_levels()
    );
}
