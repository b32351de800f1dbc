//! "Will it ring?" (`/api/readiness`) and the receiver list (`/api/spotify/devices`) against
//! the in-process Spotify mock: ready with a linked Premium account and its receiver online;
//! degraded, with the sentence that says why, when the receiver is gone, nothing is linked,
//! the account has no Premium (asked live), the login is about to end, or Spotify cannot be
//! reached; broken when, on top, the local player is missing and there is no buzzer. The
//! automatic checks are in `readiness_auto.rs`.

use chrono::{DateTime, Months, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{START, TestApp, error_body, spawn_app};
use crate::spotify_mock::{Endpoint, Fault, MockDevice, SpotifyMock};

pub(crate) const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const MISSING_PLAYER: &str = "reveille-test-no-such-player";

/// The owner points the daemon at `api` and names the receiver "Bedroom" (id `dev-1`).
pub(crate) async fn configure(app: &TestApp, mock: &SpotifyMock, api: String) {
    let accounts = mock.accounts_url();
    app.store
        .transaction(None, move |config| {
            config.spotify.client_id = Some(CLIENT_ID.into());
            config.spotify.api_base_url = Some(api);
            config.spotify.accounts_base_url = Some(accounts);
            config.spotify.device_id = Some("dev-1".into());
            config.spotify.device_name = Some("Bedroom".into());
            config.hardware.buzzer = None;
            Ok(())
        })
        .await
        .unwrap();
    mock.register_client(CLIENT_ID);
}

/// A login as the linking flow saves it, made at `authorised_at` (the app's clock).
pub(crate) fn link(app: &TestApp, mock: &SpotifyMock, product: &str, authorised_at: DateTime<Utc>) {
    let token = json!({
        "access_token": mock.access_token(),
        "refresh_token": mock.refresh_token(),
        // The access token's expiry is real time: the player checks it against the system clock.
        "expires_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "scope": "user-modify-playback-state user-read-playback-state user-read-private",
        "authorised_at": authorised_at.to_rfc3339(),
        "display_name": "Mock Listener",
        "product": product,
    });
    std::fs::write(
        app.dir.path().join("spotify-token.json"),
        serde_json::to_vec(&token).unwrap(),
    )
    .unwrap();
}

fn start() -> DateTime<Utc> {
    START.parse().unwrap()
}

fn a_month_ago() -> DateTime<Utc> {
    start() - chrono::Duration::days(30)
}

/// The app and the mock with "Bedroom" online, configured and (unless `linked` is None)
/// linked with that product.
pub(crate) async fn setup(linked: Option<&str>) -> (TestApp, SpotifyMock) {
    let app = spawn_app().await;
    let mock = SpotifyMock::start().await;
    mock.set_devices(vec![
        MockDevice::new("dev-1", "Bedroom"),
        MockDevice::new("dev-2", "Kitchen").with_type("Computer"),
    ]);
    configure(&app, &mock, mock.api_url()).await;
    if let Some(product) = linked {
        link(&app, &mock, product, a_month_ago());
    }
    (app, mock)
}

pub(crate) async fn check(app: &TestApp) -> Value {
    let response = app
        .request(Method::POST, "/api/readiness/check", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The problems of one check, as (severity, message).
pub(crate) fn problems(readiness: &Value, check: &str) -> Vec<(String, String)> {
    readiness["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["check"] == check)
        .map(|p| {
            (
                p["severity"].as_str().unwrap().to_owned(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(crate) fn assert_error(readiness: &Value, check: &str, words: &str) {
    let found = problems(readiness, check);
    assert!(
        found.iter().any(|(s, m)| s == "error" && m.contains(words)),
        "no {check} error saying {words:?} in {readiness}"
    );
}

/// The test machine may lack `aplay`: the local sound is a program that surely exists.
pub(crate) async fn local_player(app: &TestApp, program: &str) {
    let program = program.to_owned();
    app.store
        .transaction(None, move |config| {
            config.fallback.command = vec![program];
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_linked_premium_account_with_its_receiver_online_is_ready() {
    let (app, _mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    assert!(app.status().await["readiness"].is_null());

    let response = app.request(Method::GET, "/api/readiness", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let readiness: Value = response.json().await.unwrap();
    assert_eq!(readiness["state"], "ready", "{readiness}");
    for check in [
        "spotify_login",
        "spotify_premium",
        "spotify_device",
        "spotify_reachable",
        "local_sound",
    ] {
        assert!(problems(&readiness, check).is_empty(), "{readiness}");
    }
    // The test app's clock is neither synchronized nor trusted; no buzzer is configured.
    assert_eq!(problems(&readiness, "clock")[0].0, "warning");
    assert_eq!(problems(&readiness, "buzzer")[0].0, "info");

    // Kept with its time for the status.
    let status = app.status().await;
    assert_eq!(status["readiness"]["state"], "ready");
    assert_eq!(status["readiness"]["checked_at"], readiness["checked_at"]);
}

#[tokio::test]
async fn a_missing_receiver_degrades_and_says_which() {
    let (app, mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    mock.set_devices(vec![MockDevice::new("dev-2", "Kitchen")]);
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(
        &readiness,
        "spotify_device",
        "\"Bedroom\" is not online now",
    );

    // Found by name under a new id, as the ring sequence would find it.
    mock.set_devices(vec![MockDevice::new("dev-9", "bedroom")]);
    assert_eq!(check(&app).await["state"], "ready");
}

#[tokio::test]
async fn no_link_degrades() {
    let (app, _mock) = setup(None).await;
    local_player(&app, "true").await;
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(&readiness, "spotify_login", "no Spotify account is linked");
}

#[tokio::test]
async fn no_premium_degrades() {
    let (app, mock) = setup(Some("free")).await;
    mock.set_account("Mock Listener", "free");
    local_player(&app, "true").await;
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(&readiness, "spotify_premium", "has no Premium");
}

/// The plan is asked for at each check (`GET /me`), so a subscription that ended (or began)
/// since linking counts; when Spotify does not answer, the plan saved at linking does.
#[tokio::test]
async fn premium_is_asked_live_with_the_saved_plan_as_fallback() {
    let (app, mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    mock.set_account("Mock Listener", "free");
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(&readiness, "spotify_premium", "has no Premium");

    link(&app, &mock, "free", a_month_ago());
    mock.set_account("Mock Listener", "premium");
    assert_eq!(check(&app).await["state"], "ready");

    link(&app, &mock, "premium", a_month_ago());
    mock.set_account("Mock Listener", "free");
    mock.inject_forever(Endpoint::Me, Fault::server_error());
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "ready", "{readiness}");
    assert!(
        problems(&readiness, "spotify_premium").is_empty(),
        "{readiness}"
    );

    let asked = mock.requests_to(Endpoint::Me);
    assert_eq!(asked.len(), 3, "one GET /me per check");
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_login_near_its_end_warns_and_an_ended_one_degrades() {
    let (app, mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    let linked_for_ending_in = |days: i64| {
        (start() + chrono::Duration::days(days))
            .checked_sub_months(Months::new(6))
            .unwrap()
    };
    link(&app, &mock, "premium", linked_for_ending_in(10));
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "ready", "{readiness}");
    let login = problems(&readiness, "spotify_login");
    assert_eq!(login.len(), 1, "{readiness}");
    assert_eq!(login[0].0, "warning");
    assert!(login[0].1.contains("ends in 10 days"), "{readiness}");

    link(&app, &mock, "premium", linked_for_ending_in(-1));
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(&readiness, "spotify_login", "has expired");
}

#[tokio::test]
async fn spotify_out_of_reach_degrades() {
    let (app, mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    // Nothing listens there: the connection is refused at once.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    configure(&app, &mock, api).await;
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "degraded", "{readiness}");
    assert_error(
        &readiness,
        "spotify_reachable",
        "Spotify cannot be reached now",
    );

    let response = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await;
    error_body(response, StatusCode::BAD_GATEWAY, "spotify_unreachable").await;
}

#[tokio::test]
async fn nothing_audible_is_broken() {
    let (app, _mock) = setup(None).await;
    local_player(&app, MISSING_PLAYER).await;
    let readiness = check(&app).await;
    assert_eq!(readiness["state"], "broken", "{readiness}");
    assert_error(&readiness, "spotify_login", "no Spotify account is linked");
    assert_error(&readiness, "local_sound", MISSING_PLAYER);
    assert_eq!(problems(&readiness, "buzzer")[0].0, "info");
}

#[tokio::test]
async fn the_device_list_marks_the_configured_receiver() {
    let (app, mock) = setup(Some("premium")).await;
    let response = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["configured_visible"], true, "{list}");
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{list}");
    let bedroom = devices.iter().find(|d| d["id"] == "dev-1").unwrap();
    assert_eq!(bedroom["configured"], true);
    assert_eq!(bedroom["name"], "Bedroom");
    assert!(bedroom["type"].is_string() && bedroom["is_active"].is_boolean());
    let kitchen = devices.iter().find(|d| d["id"] == "dev-2").unwrap();
    assert_eq!(kitchen["configured"], false);
    assert_eq!(kitchen["type"], "Computer");

    mock.set_devices(vec![MockDevice::new("dev-2", "Kitchen")]);
    let list: Value = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["configured_visible"], false, "{list}");
    mock.assert_all_valid();
}

#[tokio::test]
async fn the_device_list_needs_a_linked_account() {
    let (app, _mock) = setup(None).await;
    let response = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await;
    error_body(response, StatusCode::CONFLICT, "not_linked").await;
}

#[tokio::test]
async fn the_device_list_waits_while_an_alarm_plays() {
    let (app, mock) = setup(Some("premium")).await;
    let alarm = json!({"time": "07:00", "repeat": ["mon"]}).to_string();
    let created: Value = app
        .request(Method::POST, "/api/alarms", None, Some(alarm.into_bytes()))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let response = app
        .request(
            Method::POST,
            &format!("/api/alarms/{id}/ring-now"),
            None,
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    // Asking Spotify now could spend the refresh token the ring depends on.
    let response = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await;
    error_body(response, StatusCode::CONFLICT, "busy_ringing").await;
    let response = app
        .request(Method::POST, "/api/ring/stop", None, None)
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    drop(mock);
}
