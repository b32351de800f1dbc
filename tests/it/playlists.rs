//! The linked user's playlists (`GET /api/spotify/playlists`) against the in-process Spotify
//! mock: the list and its fields, paging through `next`, the five-minute cache (the mock's
//! request count does not grow) and `?refresh=true`, development-mode and scope refusals
//! answered as "paste a link", not linked, unlink dropping the cache, a 429's `Retry-After`,
//! and no request to Spotify while an alarm plays.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{START, TestApp, error_body, spawn_app};
use crate::spotify_mock::{Endpoint, Fault, MockDevice, MockPlaylist, SpotifyMock};

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const ALL_SCOPES: &str =
    "playlist-read-private user-modify-playback-state user-read-playback-state user-read-private";

/// The application linked to the mock with two playlists ("Wake up gently" with its owner and
/// size, "Running" bare); the page's browser test (`page_playlists`) uses it too.
pub(crate) async fn setup() -> (TestApp, SpotifyMock) {
    let app = spawn_app().await;
    let mock = SpotifyMock::start().await;
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    mock.set_playlists(vec![
        MockPlaylist::new("37i9dQZF1DX0UrRvztWcAU", "Wake up gently"),
        MockPlaylist::new("1a2B3c4D5e6F7g8H9i0J1k", "Running").bare(),
    ]);
    let (api, accounts) = (mock.api_url(), mock.accounts_url());
    app.store
        .transaction(None, move |config| {
            config.spotify.client_id = Some(CLIENT_ID.into());
            config.spotify.api_base_url = Some(api);
            config.spotify.accounts_base_url = Some(accounts);
            config.spotify.device_id = Some("dev-1".into());
            Ok(())
        })
        .await
        .unwrap();
    mock.register_client(CLIENT_ID);
    link(&app, &mock, ALL_SCOPES);
    (app, mock)
}

/// A login as the linking flow saves it, with `scope`.
fn link(app: &TestApp, mock: &SpotifyMock, scope: &str) {
    let token = json!({
        "access_token": mock.access_token(),
        "refresh_token": mock.refresh_token(),
        // The access token's expiry is real time: the player checks it against the system clock.
        "expires_at": (Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "scope": scope,
        "authorised_at": START,
        "display_name": "Mock Listener",
        "product": "premium",
    });
    std::fs::write(
        app.dir.path().join("spotify-token.json"),
        serde_json::to_vec(&token).unwrap(),
    )
    .unwrap();
}

async fn get(app: &TestApp, query: &str) -> Response {
    app.request(
        Method::GET,
        &format!("/api/spotify/playlists{query}"),
        None,
        None,
    )
    .await
}

async fn fetch(app: &TestApp, query: &str) -> Value {
    let response = get(app, query).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn asked(mock: &SpotifyMock) -> usize {
    mock.requests_to(Endpoint::Playlists).len()
}

fn names(list: &Value) -> Vec<&str> {
    list["playlists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_accounts_playlists_are_listed_ready_to_be_a_source() {
    let (app, mock) = setup().await;
    let list = fetch(&app, "").await;
    assert_eq!(list["available"], true, "{list}");
    assert_eq!(list["message"], Value::Null);
    assert_eq!(list["truncated"], false);
    assert_eq!(list["fetched_at"], "2026-11-23T12:00:00Z");
    assert_eq!(
        list["playlists"],
        json!([
            {
                "name": "Wake up gently",
                "uri": "spotify:playlist:37i9dQZF1DX0UrRvztWcAU",
                "owner": "Mock Listener",
                "items_total": 10,
                "image_url": "https://mosaic.scdn.co/60/37i9dQZF1DX0UrRvztWcAU",
            },
            // What Spotify may leave out is null, not an error.
            {
                "name": "Running",
                "uri": "spotify:playlist:1a2B3c4D5e6F7g8H9i0J1k",
                "owner": "mock-user",
                "items_total": null,
                "image_url": null,
            },
        ])
    );
    let request = &mock.requests_to(Endpoint::Playlists)[0];
    assert_eq!(request.query_value("limit"), Some("50"));
    assert_eq!(request.query_value("offset"), Some("0"));

    // The URI is one an alarm takes as its source.
    let alarm = json!({"time": "07:00", "ring": {"source": list["playlists"][0]["uri"]}});
    let response = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(alarm.to_string().into_bytes()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    mock.assert_all_valid();
}

#[tokio::test]
async fn pages_are_followed_through_next_up_to_two_hundred_playlists() {
    let (app, mock) = setup().await;
    let many = |n: usize| {
        (0..n)
            .map(|i| MockPlaylist::new(format!("{i:022}"), format!("List {i}")))
            .collect::<Vec<_>>()
    };
    // Pages shorter than asked: the next one starts where `next` says.
    mock.set_playlists(many(120));
    mock.set_playlist_page_cap(Some(30));
    let list = fetch(&app, "").await;
    assert_eq!(list["playlists"].as_array().unwrap().len(), 120, "{list}");
    assert_eq!(list["truncated"], false);
    let offsets = |mock: &SpotifyMock| -> Vec<String> {
        mock.requests_to(Endpoint::Playlists)
            .iter()
            .map(|r| r.query_value("offset").unwrap().to_owned())
            .collect()
    };
    assert_eq!(offsets(&mock), ["0", "30", "60", "90"]);

    // More than four pages of 50: the first 200, said to be incomplete.
    mock.set_playlists(many(260));
    mock.set_playlist_page_cap(None);
    let list = fetch(&app, "?refresh=true").await;
    let listed = names(&list);
    assert_eq!(listed.len(), 200, "{list}");
    assert_eq!((listed[0], listed[199]), ("List 0", "List 199"));
    assert_eq!(list["truncated"], true);
    assert_eq!(
        offsets(&mock)[4..],
        ["0", "50", "100", "150"].map(String::from)
    );
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_later_page_failing_answers_what_was_read_and_keeps_nothing() {
    let (app, mock) = setup().await;
    mock.set_playlists(
        (0..70)
            .map(|i| MockPlaylist::new(format!("{i:022}"), format!("List {i}")))
            .collect(),
    );
    // The first page answers as usual, the second fails.
    mock.inject(Endpoint::Playlists, Fault::Delay(Duration::ZERO));
    mock.inject(Endpoint::Playlists, Fault::server_error());
    let partial = fetch(&app, "").await;
    assert_eq!(partial["available"], true, "{partial}");
    assert_eq!(partial["truncated"], true);
    assert_eq!(names(&partial).len(), 50);
    let message = partial["message"].as_str().unwrap();
    assert!(message.contains("only the first 50 playlists"), "{message}");

    let whole = fetch(&app, "").await;
    assert_eq!(asked(&mock), 4, "not kept: asked again");
    assert_eq!(names(&whole).len(), 70);
    assert_eq!(whole["message"], Value::Null);
    mock.assert_all_valid();
}

#[tokio::test]
async fn the_list_is_kept_five_minutes_unless_a_refresh_is_asked() {
    let (app, mock) = setup().await;
    let first = fetch(&app, "").await;
    assert_eq!(asked(&mock), 1);
    mock.set_playlists(vec![MockPlaylist::new("n3wL1st000000000000000", "New")]);

    app.clock.advance(chrono::Duration::minutes(4));
    let kept = fetch(&app, "?refresh=false").await;
    assert_eq!(asked(&mock), 1, "answered from memory");
    assert_eq!(kept, first);

    let refreshed = fetch(&app, "?refresh=true").await;
    assert_eq!(asked(&mock), 2);
    assert_eq!(names(&refreshed), ["New"]);
    assert_eq!(refreshed["fetched_at"], "2026-11-23T12:04:00Z");

    app.clock.advance(chrono::Duration::minutes(5));
    fetch(&app, "").await;
    assert_eq!(asked(&mock), 3, "older than five minutes: asked again");

    let response = get(&app, "?refresh=maybe").await;
    let body = error_body(response, StatusCode::BAD_REQUEST, "bad_query").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refresh")
    );
}

#[tokio::test]
async fn refusals_of_a_development_mode_app_say_to_paste_a_link() {
    let (app, mock) = setup().await;
    mock.refuse_playlists_in_development_mode();
    let list = fetch(&app, "").await;
    assert_eq!(list["available"], false, "{list}");
    assert_eq!(list["playlists"], json!([]));
    let message = list["message"].as_str().unwrap();
    assert!(message.contains("development mode"), "{message}");
    assert!(message.contains("paste a Spotify link"), "{message}");

    // Spotify refusing the scope: a new login helps.
    mock.clear_faults();
    mock.inject(Endpoint::Playlists, Fault::insufficient_scope());
    let list = fetch(&app, "?refresh=true").await;
    assert_eq!(list["available"], false, "{list}");
    let message = list["message"].as_str().unwrap();
    assert!(message.contains("link Spotify again"), "{message}");
    assert!(message.contains("paste a Spotify link"), "{message}");
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_login_made_before_the_playlist_scope_is_told_without_asking() {
    let (app, mock) = setup().await;
    link(
        &app,
        &mock,
        "user-modify-playback-state user-read-playback-state",
    );
    let list = fetch(&app, "").await;
    assert_eq!(list["available"], false, "{list}");
    assert!(
        list["message"]
            .as_str()
            .unwrap()
            .contains("link Spotify again"),
        "{list}"
    );
    assert_eq!(asked(&mock), 0);
}

#[tokio::test]
async fn without_a_linked_account_the_answer_is_the_device_lists() {
    let (app, _mock) = setup().await;
    std::fs::remove_file(app.dir.path().join("spotify-token.json")).unwrap();
    error_body(get(&app, "").await, StatusCode::CONFLICT, "not_linked").await;
    let devices = app
        .request(Method::GET, "/api/spotify/devices", None, None)
        .await;
    error_body(devices, StatusCode::CONFLICT, "not_linked").await;
}

#[tokio::test]
async fn unlinking_drops_the_kept_list() {
    let (app, mock) = setup().await;
    fetch(&app, "").await;
    assert_eq!(asked(&mock), 1);
    let response = app
        .request(Method::DELETE, "/api/spotify/link", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    error_body(get(&app, "").await, StatusCode::CONFLICT, "not_linked").await;

    // The same account linked again at the same moment: still asked anew.
    link(&app, &mock, ALL_SCOPES);
    fetch(&app, "").await;
    assert_eq!(asked(&mock), 2);
}

#[tokio::test]
async fn a_retry_after_is_waited_out() {
    let (app, mock) = setup().await;
    mock.inject(Endpoint::Playlists, Fault::RetryAfter(30));
    let response = get(&app, "").await;
    assert_eq!(response.headers()["retry-after"], "30");
    error_body(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Not asked again before the 30 s are up, even on a refresh.
    app.clock.advance(chrono::Duration::seconds(20));
    let response = get(&app, "?refresh=true").await;
    assert_eq!(response.headers()["retry-after"], "10");
    error_body(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(asked(&mock), 1);

    app.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(fetch(&app, "").await["available"], true);
    assert_eq!(asked(&mock), 2);

    // With a list kept, a 429 answers that list (its `fetched_at` tells its age), and
    // Spotify is not asked again until the wait is over.
    app.clock.advance(chrono::Duration::minutes(6));
    mock.inject(Endpoint::Playlists, Fault::RetryAfter(60));
    let kept = fetch(&app, "").await;
    assert_eq!(kept["fetched_at"], "2026-11-23T12:00:30Z");
    assert_eq!(names(&kept).len(), 2);
    assert_eq!(fetch(&app, "?refresh=true").await, kept);
    assert_eq!(asked(&mock), 3);
    app.clock.advance(chrono::Duration::seconds(60));
    assert_ne!(fetch(&app, "").await["fetched_at"], kept["fetched_at"]);
    assert_eq!(asked(&mock), 4);
    mock.assert_all_valid();
}

async fn ring_now(app: &TestApp) {
    let alarm = json!({"time": "07:00", "repeat": ["mon"]}).to_string();
    let created: Value = app
        .request(Method::POST, "/api/alarms", None, Some(alarm.into_bytes()))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let response = app
        .request(
            Method::POST,
            &format!("/api/alarms/{id}/ring-now"),
            None,
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn while_an_alarm_plays_spotify_is_not_asked() {
    // Nothing kept yet: busy.
    let (app, mock) = setup().await;
    ring_now(&app).await;
    error_body(get(&app, "").await, StatusCode::CONFLICT, "busy_ringing").await;
    assert_eq!(asked(&mock), 0);

    // A list kept, however old and even on a refresh: that list, not a request.
    let (app, mock) = setup().await;
    let kept = fetch(&app, "").await;
    app.clock.advance(chrono::Duration::hours(1));
    ring_now(&app).await;
    assert_eq!(fetch(&app, "?refresh=true").await, kept);
    assert_eq!(asked(&mock), 1);
    let response = app
        .request(Method::POST, "/api/ring/stop", None, None)
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}
