//! Tests of the Spotify mock itself, over real HTTP, including that the OpenAPI validator
//! accepts all of its legitimate traffic. This file has the helpers and the player behaviour;
//! `spotify_mock/faults.rs` and `spotify_mock/tokens.rs` cover injected faults and the token
//! flows, `spotify_mock/playlists.rs` the playlist pages, and `spotify_mock/validator.rs`
//! shows the validator rejecting bad exchanges.

mod faults;
use crate::spotify_mock;
mod playlists;
mod tokens;
mod validator;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use spotify_mock::{Endpoint, MockDevice, RecordedRequest, SpotifyMock};

const PI: &str = "3f1c0ffee0000000000000000000000000000001";
const PHONE: &str = "9a9a000000000000000000000000000000000002";
const PLAYLIST: &str = "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M";

struct Answer {
    status: u16,
    body: Option<Value>,
    retry_after: Option<String>,
}

async fn call_with(
    mock: &SpotifyMock,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", mock.api_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = (!text.is_empty()).then(|| serde_json::from_str(&text).unwrap());
    Answer {
        status,
        body,
        retry_after,
    }
}

async fn call(mock: &SpotifyMock, method: Method, path: &str, body: Option<Value>) -> Answer {
    call_with(mock, Some(&mock.access_token()), method, path, body).await
}

async fn token(mock: &SpotifyMock, form: &[(&str, &str)]) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{}/api/token", mock.accounts_url()))
        .form(form)
        .send()
        .await
        .expect("the mock answers");
    let status = response.status().as_u16();
    let body = response.json().await.ok();
    Answer {
        status,
        body,
        retry_after: None,
    }
}

async fn refresh(mock: &SpotifyMock, refresh_token: &str) -> Answer {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "0123456789abcdef0123456789abcdef"),
    ];
    token(mock, &form).await
}

async fn mock_with_pi() -> SpotifyMock {
    let mock = SpotifyMock::start().await;
    mock.set_devices(vec![MockDevice::new(PI, "reveille")]);
    mock
}

async fn play_playlist(mock: &SpotifyMock, device: &str) -> Answer {
    let body = json!({ "context_uri": PLAYLIST, "offset": { "position": 0 }, "position_ms": 0 });
    let path = format!("/me/player/play?device_id={device}");
    call(mock, Method::PUT, &path, Some(body)).await
}

fn error_of(answer: &Answer) -> (u64, String, Option<String>) {
    let error = &answer.body.as_ref().expect("an error body")["error"];
    let reason = error.get("reason").map(|r| r.as_str().unwrap().to_owned());
    (
        error["status"].as_u64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
        reason,
    )
}

#[tokio::test]
async fn device_list_passes_unknown_types_and_null_volume_through() {
    let mock = SpotifyMock::start().await;
    let mut boombox = MockDevice::new(PHONE, "Kitchen").with_type("Boombox3000");
    boombox.volume_percent = None;
    mock.set_devices(vec![MockDevice::new(PI, "reveille"), boombox]);

    let answer = call(&mock, Method::GET, "/me/player/devices", None).await;

    assert_eq!(answer.status, 200);
    let body = answer.body.unwrap();
    let devices = body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0]["id"], PI);
    assert_eq!(devices[0]["type"], "Speaker");
    assert_eq!(devices[0]["is_active"], false);
    assert_eq!(devices[1]["type"], "Boombox3000");
    assert_eq!(devices[1]["volume_percent"], Value::Null);
    assert_eq!(mock.requests()[0].endpoint, Some(Endpoint::Devices));
    mock.assert_all_valid();
}

#[tokio::test]
async fn playback_state_is_204_until_something_plays_then_shows_it() {
    let mock = mock_with_pi().await;
    assert_eq!(
        call(&mock, Method::GET, "/me/player", None).await.status,
        204
    );

    assert_eq!(play_playlist(&mock, PI).await.status, 204);
    let state = call(&mock, Method::GET, "/me/player", None).await;

    assert_eq!(state.status, 200);
    let body = state.body.unwrap();
    assert_eq!(body["is_playing"], true);
    assert_eq!(body["device"]["id"], PI);
    assert_eq!(body["device"]["is_active"], true);
    assert_eq!(body["context"]["uri"], PLAYLIST);
    let player = mock.player();
    assert!(player.is_playing);
    assert_eq!(player.device_id.as_deref(), Some(PI));
    assert_eq!(player.context_uri.as_deref(), Some(PLAYLIST));
    mock.assert_all_valid();
}

#[tokio::test]
async fn playing_track_uris_records_them_with_a_null_context() {
    let mock = mock_with_pi().await;
    let uris = json!({ "uris": ["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"] });
    let path = format!("/me/player/play?device_id={PI}");
    assert_eq!(
        call(&mock, Method::PUT, &path, Some(uris)).await.status,
        204
    );

    let body = call(&mock, Method::GET, "/me/player", None)
        .await
        .body
        .unwrap();
    assert_eq!(body["context"], Value::Null);
    assert_eq!(body["item"]["uri"], "spotify:track:4iV5W9uYEdYUVa79Axb7Rh");
    assert_eq!(mock.player().uris, ["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"]);
    mock.assert_all_valid();
}

#[tokio::test]
async fn unknown_device_and_missing_active_device_are_404s() {
    let mock = mock_with_pi().await;

    let unknown = play_playlist(&mock, "no-such-device").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        Some(json!({ "error": { "status": 404, "message": "Device not found" } }))
    );

    let without_id = call(&mock, Method::PUT, "/me/player/play", None).await;
    assert_eq!(without_id.status, 404);
    assert_eq!(error_of(&without_id).2.as_deref(), Some("NO_ACTIVE_DEVICE"));
    assert!(!mock.player().is_playing);
    mock.assert_all_valid();
}

#[tokio::test]
async fn transfer_activates_and_plays_only_when_asked() {
    let mock = mock_with_pi().await;
    let body = json!({ "device_ids": [PI], "play": false });
    assert_eq!(
        call(&mock, Method::PUT, "/me/player", Some(body))
            .await
            .status,
        204
    );
    assert_eq!(mock.player().device_id.as_deref(), Some(PI));
    assert!(!mock.player().is_playing);

    let body = json!({ "device_ids": [PI], "play": true });
    assert_eq!(
        call(&mock, Method::PUT, "/me/player", Some(body))
            .await
            .status,
        204
    );
    assert!(mock.player().is_playing);

    let two = json!({ "device_ids": [PI, PHONE] });
    assert_eq!(
        call(&mock, Method::PUT, "/me/player", Some(two))
            .await
            .status,
        400
    );
    let gone = json!({ "device_ids": [PHONE] });
    assert_eq!(
        call(&mock, Method::PUT, "/me/player", Some(gone))
            .await
            .status,
        404
    );
    // The 400 for two ids is the mock's answer to a request the spec forbids.
    let errors = mock.validation_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("maxItems"), "{errors:?}");
}

#[tokio::test]
async fn volume_is_per_device_bounded_and_refused_by_fixed_volume_receivers() {
    let mock = SpotifyMock::start().await;
    mock.set_devices(vec![
        MockDevice::new(PI, "reveille"),
        MockDevice::new(PHONE, "Phone").fixed_volume(),
    ]);
    let path = format!("/me/player/volume?volume_percent=35&device_id={PI}");
    assert_eq!(call(&mock, Method::PUT, &path, None).await.status, 204);
    assert_eq!(mock.player().volumes[PI], 35);
    assert_eq!(mock.devices()[0].volume_percent, Some(35));

    let fixed = format!("/me/player/volume?volume_percent=35&device_id={PHONE}");
    let refused = call(&mock, Method::PUT, &fixed, None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        error_of(&refused).2.as_deref(),
        Some("VOLUME_CONTROL_DISALLOW")
    );
    assert_eq!(mock.player().volumes[PHONE], 100);
    mock.assert_all_valid();

    let too_loud = format!("/me/player/volume?volume_percent=101&device_id={PI}");
    assert_eq!(call(&mock, Method::PUT, &too_loud, None).await.status, 400);
    assert_eq!(mock.player().volumes[PI], 35);
}

#[tokio::test]
async fn pause_needs_playback_and_shuffle_is_recorded() {
    let mock = mock_with_pi().await;
    let pause = format!("/me/player/pause?device_id={PI}");
    let refused = call(&mock, Method::PUT, &pause, None).await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        error_of(&refused).1,
        "Player command failed: Restriction violated"
    );

    play_playlist(&mock, PI).await;
    let shuffle = format!("/me/player/shuffle?state=true&device_id={PI}");
    assert_eq!(call(&mock, Method::PUT, &shuffle, None).await.status, 204);
    assert!(mock.player().shuffle);
    assert_eq!(call(&mock, Method::PUT, &pause, None).await.status, 204);
    assert!(!mock.player().is_playing);
    mock.assert_all_valid();
}

#[tokio::test]
async fn playback_stops_by_itself_and_a_vanished_device_ends_it() {
    let mock = mock_with_pi().await;
    play_playlist(&mock, PI).await;
    mock.stop_playback();
    let body = call(&mock, Method::GET, "/me/player", None)
        .await
        .body
        .unwrap();
    assert_eq!(body["is_playing"], false);
    assert_eq!(body["device"]["id"], PI);

    // The receiver drops out and comes back under a new id.
    mock.set_devices(vec![MockDevice::new("new-id", "reveille")]);
    assert_eq!(
        call(&mock, Method::GET, "/me/player", None).await.status,
        204
    );
    assert_eq!(play_playlist(&mock, PI).await.status, 404);
    assert_eq!(play_playlist(&mock, "new-id").await.status, 204);
    mock.assert_all_valid();
}

#[tokio::test]
async fn wait_for_request_sees_past_and_future_requests() {
    let mock = mock_with_pi().await;
    call(&mock, Method::GET, "/me/player/devices", None).await;
    let is_devices = |r: &RecordedRequest| r.endpoint == Some(Endpoint::Devices);
    let past = mock
        .wait_for_request(is_devices, Duration::from_secs(5))
        .await;
    assert_eq!(past.unwrap().status, 200);

    let (url, token) = (mock.api_url(), mock.access_token());
    let sender = tokio::spawn(async move {
        let path = format!("{url}/me/player/volume?volume_percent=40&device_id={PI}");
        let client = reqwest::Client::new();
        client
            .put(path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    });
    let is_volume = |r: &RecordedRequest| r.query_value("volume_percent") == Some("40");
    let seen = mock
        .wait_for_request(is_volume, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((seen.endpoint, seen.status), (Some(Endpoint::Volume), 204));
    assert_eq!(sender.await.unwrap(), 204);

    let never = |r: &RecordedRequest| r.endpoint == Some(Endpoint::Pause);
    assert!(
        mock.wait_for_request(never, Duration::from_millis(30))
            .await
            .is_none()
    );
}

#[tokio::test]
#[should_panic(expected = "query parameter `volume_percent` is 150, above the maximum 100")]
async fn assert_all_valid_names_the_broken_request() {
    let mock = mock_with_pi().await;
    let path = format!("/me/player/volume?volume_percent=150&device_id={PI}");
    assert_eq!(call(&mock, Method::PUT, &path, None).await.status, 400);
    mock.assert_all_valid();
}
