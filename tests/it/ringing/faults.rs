//! The ring sequence of the real daemon against the Spotify mock, once for every fault the
//! product must survive (`shared/spotify/README.md`): the alarm is audible within the start
//! deadline, on Spotify or on the local sound; the status and the history say which and why;
//! and the fallback never rings while Spotify plays. The happy path is in `chain.rs`.

use crate::daemon;
use crate::ring;
use crate::spotify_mock;
mod start_order;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use daemon::Daemon;
use ring::{Rig, alive, base_config};
use serde_json::{Value, json};
use spotify_mock::{Endpoint, Fault, MockDevice, SpotifyMock};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
/// The start deadline of the rig's config (5 s) plus slack for a busy machine.
const AUDIBLE_WITHIN: Duration = Duration::from_secs(8);

/// Polls `probe` until it yields; panics naming `what` after `within`.
async fn poll<T>(within: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn reason(status: &Value) -> String {
    status["fallback_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no fallback reason in {status}"))
        .to_owned()
}

/// Waits until Spotify rings, and checks the receiver plays and the local sound does not.
async fn wait_for_spotify(rig: &Rig) -> Value {
    wait_for_spotify_within(rig, AUDIBLE_WITHIN).await
}

async fn wait_for_spotify_within(rig: &Rig, within: Duration) -> Value {
    let status = rig.wait_for_state("ringing", Some("spotify"), within).await;
    assert_eq!(status["fallback_reason"], Value::Null, "{status}");
    assert!(rig.mock.player().is_playing, "ringing on a silent receiver");
    assert!(
        rig.sound_pids().is_empty(),
        "the fallback rang with Spotify"
    );
    status
}

/// Waits until the local sound rings: a live player process, and Spotify not playing.
/// Returns the status and the player's pid.
async fn wait_for_fallback(rig: &Rig) -> (Value, u32) {
    let status = rig
        .wait_for_state("ringing", Some("local_sound"), AUDIBLE_WITHIN)
        .await;
    assert!(
        !rig.mock.player().is_playing,
        "the fallback rings over Spotify: {status}"
    );
    let pid = poll(SECONDS(5), "the fallback sound process", || {
        rig.sound_pids().first().copied()
    })
    .await;
    assert!(alive(pid), "the fallback sound process died at once");
    (status, pid)
}

/// Stops through the API and returns the episode's history entry.
async fn stop(rig: &Rig) -> Value {
    assert_eq!(rig.post("/api/ring/stop").await.status(), 204);
    rig.wait_for_state("idle", None, SECONDS(5)).await;
    let history = rig.get("/api/history").await;
    assert_eq!(history[0]["ended_by"], "api", "{history}");
    history[0].clone()
}

/// Stops a Spotify ring: the receiver is paused and the fallback never rang.
async fn stop_spotify(rig: &Rig) -> Value {
    let entry = stop(rig).await;
    assert!(!rig.mock.player().is_playing, "stop did not pause");
    assert!(
        rig.sound_pids().is_empty(),
        "the fallback rang with Spotify"
    );
    assert_eq!(entry["paths"], json!(["spotify"]), "{entry}");
    assert_eq!(entry["fallback_reason"], Value::Null, "{entry}");
    entry
}

/// Stops a fallback ring: the sound process ends, and the history keeps the reason.
async fn stop_fallback(rig: &Rig, pid: u32, status: &Value) -> Value {
    let entry = stop(rig).await;
    poll(
        SECONDS(5),
        "the fallback sound to end after the stop",
        || (!alive(pid)).then_some(()),
    )
    .await;
    assert_eq!(
        entry["fallback_reason"], status["fallback_reason"],
        "{entry}"
    );
    assert!(!rig.mock.player().is_playing);
    entry
}

fn statuses(rig: &Rig, endpoint: Endpoint) -> Vec<u16> {
    let requests = rig.mock.requests_to(endpoint);
    requests.iter().map(|r| r.status).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_once_saved_privately_and_never_logged() {
    let mut rig = Rig::start().await;
    let (old_access, old_refresh) = (rig.mock.access_token(), rig.mock.refresh_token());
    rig.mock.expire_access_token();
    rig.ring_now().await;
    wait_for_spotify(&rig).await;

    let refreshes = rig.mock.requests_to(Endpoint::Token);
    assert_eq!(refreshes.len(), 1, "one 401 must cost exactly one refresh");
    let form = refreshes[0].body.as_ref().unwrap();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], old_refresh.as_str());
    let (new_access, new_refresh) = (rig.mock.access_token(), rig.mock.refresh_token());
    assert_ne!(new_refresh, old_refresh, "the mock rotates refresh tokens");
    let play = &rig.mock.requests_to(Endpoint::Play)[0];
    let bearer = format!("Bearer {new_access}");
    assert_eq!(play.headers_authorization.as_deref(), Some(bearer.as_str()));

    // The single-use refresh token was rotated: only the new one can log in tomorrow.
    let path = rig.dir.path().join("spotify-token.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored["refresh_token"], new_refresh.as_str());
    assert_eq!(stored["access_token"], new_access.as_str());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is readable by others");

    stop_spotify(&rig).await;
    assert_eq!(rig.mock.requests_to(Endpoint::Token).len(), 1);
    let log = rig.daemon.log_so_far();
    assert!(log.contains(" listening "), "no daemon log captured");
    for secret in [&old_access, &old_refresh, &new_access, &new_refresh] {
        assert!(!log.contains(secret.as_str()), "a token is in the log");
    }
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_falls_back_at_once_and_asks_to_link_again() {
    let rig = Rig::start().await;
    rig.mock.expire_access_token();
    rig.mock.inject(Endpoint::Token, Fault::invalid_grant());
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert_eq!(why, "the Spotify login expired: link Spotify again");
    assert!(!why.contains("within"), "waited for the deadline: {why}");
    assert_eq!(rig.mock.requests_to(Endpoint::Token).len(), 1);
    assert!(rig.mock.requests_to(Endpoint::Play).is_empty());

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refused_by_the_accounts_service_falls_back_at_once_naming_the_client_id() {
    let rig = Rig::start().await;
    rig.mock.expire_access_token();
    rig.mock.inject_forever(
        Endpoint::Token,
        Fault::status(401, "Invalid client", Some("invalid_client")),
    );
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert!(why.contains("client_id"), "{why}");
    assert!(!why.contains("within"), "waited for the deadline: {why}");
    assert_eq!(
        rig.mock.requests_to(Endpoint::Token).len(),
        1,
        "refreshed again and again"
    );

    stop_fallback(&rig, pid, &status).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn premium_required_falls_back_at_once_without_retrying() {
    let rig = Rig::start().await;
    rig.mock
        .inject_forever(Endpoint::Play, Fault::premium_required());
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert_eq!(why, "Spotify Premium is needed to control playback");
    assert_eq!(statuses(&rig, Endpoint::Play), [403]);

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    assert_eq!(
        statuses(&rig, Endpoint::Play),
        [403],
        "a permanent error was retried"
    );
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_receivers_restriction_is_retried_after_a_pause() {
    let rig = Rig::start().await;
    rig.mock
        .inject(Endpoint::Play, Fault::restriction_violated());
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    let plays = rig.mock.requests_to(Endpoint::Play);
    assert_eq!(statuses(&rig, Endpoint::Play), [403, 204]);
    let gap = plays[1].at - plays[0].at;
    assert!(gap >= Duration::from_millis(1400), "retried after {gap:?}");

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_back_under_a_new_id_is_found_by_name() {
    let rig = Rig::start_with(|_| {}, vec![]).await;
    rig.ring_now().await;
    // An idle receiver missing from the list is still addressed by its configured id: it
    // refuses the transfer, but a play addressed to it may wake it.
    let refused = rig
        .mock
        .wait_for_request(
            |r| r.endpoint == Some(Endpoint::Play) && r.status == 404,
            AUDIBLE_WITHIN,
        )
        .await
        .expect("the configured id was never tried");
    assert_eq!(refused.query_value("device_id"), Some("dev-1"));
    // Back under a new id, beside another device: only the name tells which one it is.
    rig.mock.set_devices(vec![
        MockDevice::new("phone-1", "Pixel").with_type("Smartphone"),
        MockDevice::new("dev-2", "Bedroom"),
    ]);

    wait_for_spotify(&rig).await;
    let plays = rig.mock.requests_to(Endpoint::Play);
    assert_eq!(
        plays.last().unwrap().query_value("device_id"),
        Some("dev-2")
    );
    assert_eq!(rig.mock.player().device_id.as_deref(), Some("dev-2"));

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receiver_at_all_falls_back_at_the_deadline_with_the_last_error() {
    let rig = Rig::start_with(|_| {}, vec![]).await;
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert!(why.contains("within 5 s"), "{why}");
    assert!(why.contains("was not found"), "{why}");

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_waited_out_as_retry_after_says() {
    let rig = Rig::start().await;
    rig.mock.inject(Endpoint::Play, Fault::RetryAfter(2));
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    let plays = rig.mock.requests_to(Endpoint::Play);
    assert_eq!(statuses(&rig, Endpoint::Play), [429, 204]);
    let gap = plays[1].at - plays[0].at;
    assert!(
        gap >= SECONDS(2),
        "Retry-After: 2 ignored, retried after {gap:?}"
    );

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_spotify_plays() {
    let rig = Rig::start().await;
    rig.mock.inject(Endpoint::Play, Fault::server_error());
    rig.mock.inject(Endpoint::Play, Fault::server_error());
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    assert_eq!(statuses(&rig, Endpoint::Play), [500, 500, 204]);

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_play_answered_too_late_is_paused_before_the_fallback_rings() {
    let rig = Rig::start().await;
    rig.mock
        .inject_forever(Endpoint::Play, Fault::Delay(SECONDS(30)));
    rig.ring_now().await;
    rig.mock
        .wait_for_request(|r| r.endpoint == Some(Endpoint::Play), AUDIBLE_WITHIN)
        .await
        .expect("no play request");
    // The receiver carried the play out; only the answer is lost.
    assert!(rig.mock.player().is_playing);

    let (status, pid) = wait_for_fallback(&rig).await;
    assert!(reason(&status).contains("within 5 s"), "{status}");
    // Nothing brings Spotify back behind the fallback's back.
    let until = Instant::now() + SECONDS(2);
    while Instant::now() < until {
        assert!(
            !rig.mock.player().is_playing,
            "Spotify plays with the fallback"
        );
        assert!(alive(pid), "the fallback sound stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    rig.mock.assert_all_valid();
}

/// A rig whose Web API address is a closed port: nothing listens there.
async fn start_unreachable() -> Rig {
    let mock = SpotifyMock::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = base_config(dir.path());
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    ring::write_token(dir.path(), &mock);
    let daemon = Daemon::builder(&dir.path().join("config.json"))
        .env(
            "REVEILLE_SPOTIFY_API_URL",
            format!("http://127.0.0.1:{closed}/v1"),
        )
        .env("REVEILLE_SPOTIFY_ACCOUNTS_URL", mock.accounts_url())
        .start()
        .unwrap();
    Rig {
        dir,
        mock,
        daemon,
        client: reqwest::Client::new(),
        args: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_spotify_falls_back_by_the_deadline() {
    let rig = start_unreachable().await;
    rig.ring_now().await;
    let (status, pid) = wait_for_fallback(&rig).await;
    let why = reason(&status);
    assert_eq!(
        why,
        "Spotify did not start playing within 5 s \
         (Spotify could not be reached: the connection was refused)"
    );

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["local_sound"]));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_stopping_mid_ring_hands_over_to_the_local_sound() {
    let rig = Rig::start().await;
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    rig.mock.stop_playback();

    let (status, pid) = wait_for_fallback(&rig).await;
    assert!(reason(&status).contains("stopped"), "{status}");

    let entry = stop_fallback(&rig, pid, &status).await;
    assert_eq!(entry["paths"], json!(["spotify", "local_sound"]));
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_device_type_does_not_hide_the_receiver() {
    // Listed under a new id, so only a parsed device list can find it (by name).
    let rig = Rig::start_with(
        |_| {},
        vec![MockDevice::new("bb-3000", "Bedroom").with_type("Boombox3000")],
    )
    .await;
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    let play = rig.mock.requests_to(Endpoint::Play);
    assert_eq!(
        play.last().unwrap().query_value("device_id"),
        Some("bb-3000")
    );

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_volume_receiver_still_plays() {
    let rig = Rig::start_with(
        |_| {},
        vec![MockDevice::new("dev-1", "Bedroom").fixed_volume()],
    )
    .await;
    rig.ring_now().await;
    wait_for_spotify(&rig).await;
    assert!(statuses(&rig, Endpoint::Volume).contains(&403));

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_local_sound_fails_too_the_status_says_the_alarm_is_silent() {
    let rig = Rig::start_with(
        |c| c["fallback"]["command"] = json!(["/nonexistent/player"]),
        vec![MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    rig.mock
        .inject_forever(Endpoint::Play, Fault::premium_required());
    rig.ring_now().await;
    let status = rig
        .wait_for_state("ringing", Some("silent"), AUDIBLE_WITHIN)
        .await;
    let why = reason(&status);
    assert!(why.contains("Premium"), "{why}");
    assert!(why.contains("/nonexistent/player"), "{why}");
    assert!(
        why.ends_with("no buzzer is configured, so nothing can sound"),
        "{why}"
    );
    assert!(!rig.mock.player().is_playing);

    let entry = stop(&rig).await;
    assert_eq!(entry["paths"], json!(["local_sound", "silent"]));
    assert_eq!(entry["fallback_reason"], status["fallback_reason"]);
    rig.mock.assert_all_valid();
}

/// No fade, as when a ring resumes after a snooze: no volume step follows the start, so only
/// the start itself can tell the status that Spotify plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_spotify_as_soon_as_the_receiver_plays() {
    let rig = Rig::start_with(
        |c| c["volume"]["fade_seconds"] = 0.into(),
        vec![MockDevice::new("dev-1", "Bedroom")],
    )
    .await;
    rig.ring_now().await;
    let playing = |r: &spotify_mock::RecordedRequest| {
        r.endpoint == Some(Endpoint::PlaybackState)
            && r.response_body
                .as_ref()
                .is_some_and(|b| b["is_playing"] == true)
    };
    rig.mock
        .wait_for_request(playing, AUDIBLE_WITHIN)
        .await
        .expect("the daemon never saw the receiver play");
    // The heartbeat would publish 5 s after the phase began; this must not wait for it.
    wait_for_spotify_within(&rig, SECONDS(2)).await;

    stop_spotify(&rig).await;
    rig.mock.assert_all_valid();
}
