//! Linking a Spotify account (`/api/spotify/link`) against the in-process mock's accounts
//! service, which checks the PKCE exchange for real (challenge, redirect URI, client ID): the
//! whole flow, a tampered or expired login, a restart in the middle, a refusal on Spotify's
//! page, an expired code, an account not on the app's user list; and no token in any answer.

use std::os::unix::fs::PermissionsExt;

use reqwest::{Method, Response, StatusCode};
use reveille::clock::ManualClock;
use reveille::store::ConfigStore;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{TestApp, error_body, spawn_app, test_app};
use crate::spotify_mock::{Endpoint, Fault, SpotifyMock};

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const TOKEN_FILE: &str = "spotify-token.json";

/// The owner points the daemon at the mock and sets the client ID, as on the Pi.
async fn configure(store: &ConfigStore, mock: &SpotifyMock) {
    let (api, accounts) = (mock.api_url(), mock.accounts_url());
    store
        .transaction(None, move |config| {
            config.spotify.client_id = Some(CLIENT_ID.into());
            config.spotify.api_base_url = Some(api);
            config.spotify.accounts_base_url = Some(accounts);
            Ok(())
        })
        .await
        .unwrap();
    mock.register_client(CLIENT_ID);
}

async fn setup() -> (TestApp, SpotifyMock) {
    let app = spawn_app().await;
    let mock = SpotifyMock::start().await;
    configure(&app.store, &mock).await;
    (app, mock)
}

/// Every answer's body, kept to check that no token ever appears in one.
struct Bodies(Vec<String>);

impl Bodies {
    async fn call(
        &mut self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response: Response = app
            .request(
                method,
                path,
                None,
                body.map(|b| serde_json::to_vec(&b).unwrap()),
            )
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        self.0.push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn start(&mut self, app: &TestApp) -> Value {
        let (status, body) = self
            .call(app, Method::POST, "/api/spotify/link", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn complete(&mut self, app: &TestApp, redirect_url: &str) -> (StatusCode, Value) {
        let body = json!({ "redirect_url": redirect_url });
        self.call(app, Method::POST, "/api/spotify/link/complete", Some(body))
            .await
    }

    fn assert_no_token(&self, mock: &SpotifyMock) {
        let secrets = [
            mock.access_token(),
            mock.refresh_token(),
            "mock-access-".into(),
            "mock-refresh-".into(),
            "code_verifier".into(),
        ];
        for body in &self.0 {
            for secret in &secrets {
                assert!(!body.contains(secret.as_str()), "{secret} in {body}");
            }
        }
    }
}

fn complete_error(code: &str) -> impl Fn(&(StatusCode, Value)) {
    let code = code.to_owned();
    move |(_, body)| assert_eq!(body["error"]["code"], code.as_str(), "{body}")
}

#[tokio::test]
async fn a_whole_link_stores_the_tokens_privately_and_unlink_removes_them() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());
    let (_, before) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(before["linked"], false);

    let started = bodies.start(&app).await;
    let authorize_url = started["authorize_url"].as_str().unwrap();
    assert!(
        authorize_url.contains("code_challenge_method=S256"),
        "{authorize_url}"
    );
    assert!(
        authorize_url.contains("user-read-private"),
        "{authorize_url}"
    );
    assert_eq!(started["redirect_uri"], "http://127.0.0.1:8888/callback");
    assert!(started["steps"].as_array().is_some_and(|s| s.len() >= 3));
    let pending = app.dir.path().join("spotify-link-pending.json");
    let mode = std::fs::metadata(&pending).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let landed = mock.authorize(authorize_url).unwrap();
    assert!(
        landed.starts_with("http://127.0.0.1:8888/callback?code="),
        "{landed}"
    );
    let (status, account) = bodies.complete(&app, &landed).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["display_name"], "Mock Listener");
    assert_eq!(account["premium"], true);

    let file = app.dir.path().join(TOKEN_FILE);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["refresh_token"], mock.refresh_token());
    assert_eq!(stored["authorised_at"], "2026-11-23T12:00:00Z");

    let (_, linked) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(linked["linked"], true, "{linked}");
    assert_eq!(linked["display_name"], "Mock Listener");
    assert_eq!(linked["product"], "premium");
    assert_eq!(linked["login_expires_at"], "2027-05-23T12:00:00Z");
    assert_eq!(linked["days_left"], 181);
    assert_eq!(linked["warning"], Value::Null);
    // From 14 days before the six months are up, the page warns.
    app.clock.advance(chrono::Duration::days(170));
    let (_, later) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(later["days_left"], 11);
    assert!(
        later["warning"].as_str().unwrap().contains("11 days"),
        "{later}"
    );

    // The pasted address works once.
    complete_error("unknown_login")(&bodies.complete(&app, &landed).await);

    let (status, unlinked) = bodies
        .call(&app, Method::DELETE, "/api/spotify/link", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unlinked["unlinked"], true);
    assert!(!file.exists());
    let (_, after) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(after["linked"], false);

    bodies.assert_no_token(&mock);
    mock.assert_all_valid();
}

#[tokio::test]
async fn a_tampered_or_foreign_state_is_refused_and_nothing_is_exchanged() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    let tampered = landed.replace("state=", "state=x");
    let reply = bodies.complete(&app, &tampered).await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST);
    complete_error("unknown_login")(&reply);
    let reply = bodies.complete(&app, "https://example.com/nothing").await;
    complete_error("bad_redirect_url")(&reply);
    assert!(mock.requests_to(Endpoint::Token).is_empty());
    // The real login is still pending.
    let (status, body) = bodies.complete(&app, &landed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bodies.assert_no_token(&mock);
}

#[tokio::test]
async fn a_login_older_than_ten_minutes_has_expired() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    app.clock.advance(chrono::Duration::minutes(11));
    let reply = bodies.complete(&app, &landed).await;
    assert_eq!(reply.0, StatusCode::GONE);
    complete_error("login_expired")(&reply);
    assert!(mock.requests_to(Endpoint::Token).is_empty());
    assert!(!app.dir.path().join(TOKEN_FILE).exists());
}

#[tokio::test]
async fn a_pending_login_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(crate::helpers::START.parse().unwrap());
    let mock = SpotifyMock::start().await;
    let first = test_app(&dir, &clock).build().await.unwrap();
    configure(first.store(), &mock).await;
    let base = format!("http://{}", first.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(first.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let started: Value = client
        .post(format!("{base}/api/spotify/link"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    let second = test_app(&dir, &clock).build().await.unwrap();
    let base = format!("http://{}", second.local_addr());
    tokio::spawn(second.run_until(std::future::pending()));
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    let response = client
        .post(format!("{base}/api/spotify/link/complete"))
        .json(&json!({ "redirect_url": landed }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(dir.path().join(TOKEN_FILE).exists());
}

#[tokio::test]
async fn refusals_are_told_in_words_and_link_nothing() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());

    // "Cancel" on Spotify's page.
    let started = bodies.start(&app).await;
    let state = url::Url::parse(started["authorize_url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let denied = format!("http://127.0.0.1:8888/callback?error=access_denied&state={state}");
    complete_error("access_denied")(&bodies.complete(&app, &denied).await);

    // The code expired before it was pasted.
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    mock.expire_codes();
    let response = app
        .request(
            Method::POST,
            "/api/spotify/link/complete",
            None,
            Some(serde_json::to_vec(&json!({ "redirect_url": landed })).unwrap()),
        )
        .await;
    let body = error_body(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("start linking again")
    );

    // The account is not on the app's user list: the tokens are not kept.
    mock.inject(
        Endpoint::Me,
        Fault::Status {
            status: 403,
            message: "User not registered in the Developer Dashboard".into(),
            reason: None,
        },
    );
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    let reply = bodies.complete(&app, &landed).await;
    assert_eq!(reply.0, StatusCode::FORBIDDEN);
    complete_error("not_allowed")(&reply);
    assert!(!app.dir.path().join(TOKEN_FILE).exists());

    // The quota.
    mock.inject(Endpoint::Token, Fault::RetryAfter(120));
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    let reply = bodies.complete(&app, &landed).await;
    assert_eq!(reply.0, StatusCode::TOO_MANY_REQUESTS);
    complete_error("rate_limited")(&reply);

    bodies.assert_no_token(&mock);
}

#[tokio::test]
async fn a_wrong_client_id_is_named() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());
    let started = bodies.start(&app).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    // Spotify no longer knows the client ID (the app was deleted on the dashboard).
    mock.register_client("ffffffffffffffffffffffffffffffff");
    assert!(
        mock.authorize(started["authorize_url"].as_str().unwrap())
            .is_err()
    );
    let reply = bodies.complete(&app, &landed).await;
    assert_eq!(reply.0, StatusCode::BAD_REQUEST);
    complete_error("invalid_client")(&reply);
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("spotify.client_id")
    );
}

#[tokio::test]
async fn the_redirect_port_is_the_users_to_choose_and_a_login_keeps_the_one_it_started_with() {
    let (app, mock) = setup().await;
    let mut bodies = Bodies(Vec::new());
    let (_, status) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(status["redirect_uri"], "http://127.0.0.1:8888/callback");
    let before = bodies.start(&app).await;

    for refused in [json!(0), json!(65536), json!("8889")] {
        let response = app
            .patch(&json!({"spotify": {"redirect_port": refused}}), None)
            .await;
        let body = error_body(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            if refused.is_string() {
                "invalid_type"
            } else {
                "invalid_value"
            },
        )
        .await;
        assert_eq!(body["error"]["field"], "spotify.redirect_port", "{body}");
    }
    // Not owner-only: a phone may change it (it neither runs programs nor touches secrets).
    let response = app
        .patch(&json!({"spotify": {"redirect_port": 8889}}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let (_, status) = bodies
        .call(&app, Method::GET, "/api/spotify/link", None)
        .await;
    assert_eq!(status["redirect_uri"], "http://127.0.0.1:8889/callback");
    let after = bodies.start(&app).await;
    assert_eq!(after["redirect_uri"], "http://127.0.0.1:8889/callback");
    let landed = mock
        .authorize(after["authorize_url"].as_str().unwrap())
        .unwrap();
    assert!(
        landed.starts_with("http://127.0.0.1:8889/callback?code="),
        "{landed}"
    );
    let (status, body) = bodies.complete(&app, &landed).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The login started before the change exchanges with the redirect URI it was made with.
    let landed = mock
        .authorize(before["authorize_url"].as_str().unwrap())
        .unwrap();
    assert!(
        landed.starts_with("http://127.0.0.1:8888/callback?"),
        "{landed}"
    );
    let (status, body) = bodies.complete(&app, &landed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bodies.assert_no_token(&mock);
    mock.assert_all_valid();
}
