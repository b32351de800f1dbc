//! No Spotify secret ever leaves the daemon (issue 16: "no token appears in any API response
//! or log line"). The real daemon, logging at `RUST_LOG=trace`, goes through the whole link
//! flow against the in-process mock (authorise → paste → token → refresh with a rotated
//! refresh token → devices, playlists, status, readiness, a few failures → unlink); every
//! answer's status line, headers and body and every line it wrote are scanned for each
//! secret the mock's accounts service ever issued or saw: access and refresh tokens,
//! authorization codes, code verifiers. The mock's secrets are random, so the scan can neither
//! pass nor fail by accident, and a planted secret shows that it does find one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::Method;
use reveille::player::{ACCOUNTS_URL_ENV, API_URL_ENV};
use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::spotify_mock::{Endpoint, Fault, MockDevice, MockPlaylist, SpotifyMock};

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";

/// Every answer, as text: status line, headers, body.
struct Answers {
    client: reqwest::Client,
    base: String,
    seen: Vec<String>,
}

impl Answers {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut text = format!("{status} {path}\n");
        for (name, value) in response.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.text().await.unwrap();
        text.push_str(&body);
        self.seen.push(text);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn ok(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

/// Each secret found, with the first text it was found in.
fn leaks(texts: &[String], secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .filter_map(|secret| {
            let found = texts.iter().find(|t| t.contains(secret.as_str()))?;
            Some(format!("{secret} in:\n{found}"))
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn no_token_code_or_verifier_appears_in_any_answer_or_log_line() {
    let mock = SpotifyMock::start().await;
    mock.register_client(CLIENT_ID);
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    mock.set_playlists(vec![MockPlaylist::new("37i9dQZF1DX0UrRvztWcAU", "Wake up")]);
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "version": 1,
        "time_zone": "UTC",
        "spotify": {"client_id": CLIENT_ID, "device_id": "dev-1", "device_name": "Bedroom"},
        "fallback": {"command": ["true"]},
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut daemon = Daemon::builder(&config_path)
        .env("RUST_LOG", "trace")
        .env(API_URL_ENV, mock.api_url())
        .env(ACCOUNTS_URL_ENV, mock.accounts_url())
        .start()
        .unwrap();
    let mut api = Answers {
        client: reqwest::Client::new(),
        base: daemon.url(""),
        seen: Vec::new(),
    };
    let token_file = dir.path().join("spotify-token.json");
    let saved_refresh_token = || {
        let saved: Value = serde_json::from_slice(&std::fs::read(&token_file).unwrap()).unwrap();
        saved["refresh_token"].as_str().unwrap().to_owned()
    };

    // Authorise, paste, exchange.
    api.ok(Method::GET, "/api/spotify/link", None).await;
    let started = api.ok(Method::POST, "/api/spotify/link", None).await;
    let landed = mock
        .authorize(started["authorize_url"].as_str().unwrap())
        .unwrap();
    let linked = api
        .ok(
            Method::POST,
            "/api/spotify/link/complete",
            Some(json!({ "redirect_url": landed })),
        )
        .await;
    assert_eq!(linked["premium"], true);
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(&dir.path().join("spotify-link-pending.json")), 0o600);
    let first_refresh_token = saved_refresh_token();
    assert_eq!(first_refresh_token, mock.refresh_token());

    // A 401 makes the daemon refresh; the rotated refresh token is saved, privately.
    api.ok(Method::GET, "/api/spotify/devices", None).await;
    mock.expire_access_token();
    api.ok(Method::GET, "/api/spotify/devices", None).await;
    assert_ne!(saved_refresh_token(), first_refresh_token);
    assert_eq!(saved_refresh_token(), mock.refresh_token());
    assert_eq!(mode(&token_file), 0o600);

    api.ok(Method::GET, "/api/spotify/playlists", None).await;
    api.ok(Method::GET, "/api/status", None).await;
    api.ok(Method::GET, "/api/readiness", None).await;
    api.ok(Method::GET, "/api/spotify/link", None).await;
    // Failures log Spotify's answers: those must not carry a secret either.
    mock.inject(Endpoint::Devices, Fault::server_error());
    assert_eq!(
        api.call(Method::GET, "/api/spotify/devices", None).await.0,
        502
    );
    mock.inject(Endpoint::Playlists, Fault::RetryAfter(30));
    api.ok(Method::GET, "/api/spotify/playlists?refresh=true", None)
        .await;
    mock.inject(Endpoint::Devices, Fault::unauthorized());
    mock.inject(Endpoint::Devices, Fault::unauthorized());
    api.ok(Method::POST, "/api/readiness/check", None).await;
    let (status, tampered) = api
        .call(
            Method::POST,
            "/api/spotify/link/complete",
            Some(json!({ "redirect_url": landed })),
        )
        .await;
    assert_eq!(
        (status, &tampered["error"]["code"]),
        (400, &json!("unknown_login"))
    );

    let unlinked = api.ok(Method::DELETE, "/api/spotify/link", None).await;
    assert_eq!(unlinked["unlinked"], true);
    assert!(!token_file.exists());
    api.ok(Method::GET, "/api/spotify/link", None).await;

    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(daemon.pid() as i32, libc::SIGTERM) }, 0);
    assert!(daemon.child.wait().unwrap().success());
    let log = daemon.rest_of_log();

    // The log is really there, at trace level, from every step.
    assert!(log.contains("TRACE"), "{log}");
    for line in [
        "Spotify account linked",
        "Spotify access token refreshed",
        "Spotify answered",
        "Spotify account unlinked",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
    // Every kind of secret took part: two refreshes' worth of tokens, the code, the verifier.
    let secrets = mock.secrets();
    let count = |prefix: &str| secrets.iter().filter(|s| s.starts_with(prefix)).count();
    assert!(count("mock-access-") >= 4, "{secrets:?}");
    assert!(count("mock-refresh-") >= 4, "{secrets:?}");
    assert!(count("mock-code-") >= 1, "{secrets:?}");
    let verifiers: Vec<&String> = secrets.iter().filter(|s| !s.starts_with("mock-")).collect();
    assert_eq!(verifiers.len(), 1, "{secrets:?}");

    let mut texts: Vec<String> = log.lines().map(str::to_owned).collect();
    texts.extend(api.seen.iter().cloned());
    let found = leaks(&texts, &secrets);
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n\n"));
    assert!(!log.contains("Bearer"), "{log}");

    // The scan is not vacuous: a secret planted in a log line or an answer is found.
    for planted in [verifiers[0].clone(), first_refresh_token] {
        let mut with_leak = texts.clone();
        with_leak[texts.len() / 2].push_str(&format!(" {planted}"));
        assert_eq!(leaks(&with_leak, &secrets).len(), 1, "{planted} not found");
    }
    mock.assert_all_valid();
}
