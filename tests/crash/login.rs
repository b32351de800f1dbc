//! Logins under SIGKILL. The real daemon, pointed at the in-process Spotify mock's accounts
//! service (real PKCE checks, single-use refresh tokens), is killed at a random moment while
//! `POST /api/spotify/link/complete` exchanges the code and saves the tokens, or while a
//! request refreshes an expired access token and saves the rotated refresh token. After each
//! restart: the token file is the old login or the new one, whole, valid JSON, mode 0600; the
//! daemon starts (no crash loop), `GET /api/spotify/link` and `reveille spotify status` say
//! linked or not linked in words, and a Spotify call either works or asks to link again.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use reveille::player::{ACCOUNTS_URL_ENV, API_URL_ENV};
use serde_json::{Value, json};

use crate::daemon::{BIN, Daemon};
use crate::spotify_mock::{MockDevice, SpotifyMock};
use crate::{kill, leftovers, random_moment, scaled};

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const TOKEN_FILE: &str = "spotify-token.json";
const PENDING_FILE: &str = "spotify-link-pending.json";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kill {
    /// While the pasted address is exchanged for tokens and they are saved.
    Linking,
    /// While an expired access token is refreshed and the rotated refresh token saved.
    Refreshing,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_or_refresh_killed_at_any_moment_leaves_the_old_login_or_the_new_one() {
    let rounds = scaled(12, 100);
    let mock = SpotifyMock::start().await;
    mock.register_client(CLIENT_ID);
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let settings = json!({
        "version": 1,
        "time_zone": "UTC",
        "spotify": {"client_id": CLIENT_ID, "device_id": "dev-1", "device_name": "Bedroom"},
        "fallback": {"command": ["true"]},
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let start = || {
        Daemon::builder(&config)
            .env(API_URL_ENV, mock.api_url())
            .env(ACCOUNTS_URL_ENV, mock.accounts_url())
            .start()
            .unwrap_or_else(|log| panic!("the daemon does not start again:\n{log}"))
    };
    let client = reqwest::Client::new();
    let began = Instant::now();
    let mut daemon = start();
    // A first login and a refresh, whole, each by a daemon just started (as every one killed
    // below is): the kills then land in the time each takes, from before it to after it.
    let landed = authorized_redirect(&client, &daemon, &mock).await;
    let timed = Instant::now();
    let linked = client
        .post(daemon.url("/api/spotify/link/complete"))
        .json(&json!({ "redirect_url": landed }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 200);
    let mut link_window = timed.elapsed() * 3 / 2;
    kill(&mut daemon);
    daemon = start();
    mock.expire_access_token();
    let timed = Instant::now();
    let refreshed = client
        .get(daemon.url("/api/spotify/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let mut refresh_window = timed.elapsed() * 3 / 2;
    // Whether the saved login still works (a kill after Spotify rotated the refresh token but
    // before the daemon saved it leaves a spent one: that login must be made again).
    let mut usable = true;
    let (mut kept_old, mut got_new, mut link_again, mut cut) = (0, 0, 0, 0);

    for round in 0..rounds {
        let kind = if !usable || round % 2 == 0 {
            Kill::Linking
        } else {
            Kill::Refreshing
        };
        let before = token_in(dir.path());
        let request = match kind {
            Kill::Linking => {
                let landed = authorized_redirect(&client, &daemon, &mock).await;
                let left = leftovers(dir.path(), daemon.pid());
                assert!(left.is_empty(), "round {round}: temp files left: {left:?}");
                client
                    .post(daemon.url("/api/spotify/link/complete"))
                    .json(&json!({ "redirect_url": landed }))
            }
            Kill::Refreshing => {
                mock.expire_access_token();
                client.get(daemon.url("/api/spotify/devices"))
            }
        };
        let in_flight = tokio::spawn(request.send());
        // Before, during or after the exchange and the saves. The window follows the machine's
        // pace: it shrinks when the request was already answered at the kill, grows otherwise.
        let window = match kind {
            Kill::Linking => &mut link_window,
            Kill::Refreshing => &mut refresh_window,
        };
        tokio::time::sleep(random_moment(*window)).await;
        let answered = in_flight.is_finished();
        kill(&mut daemon);
        cut += u32::from(!answered);
        let _ = in_flight.await;
        *window = if answered {
            *window * 4 / 5
        } else {
            *window * 11 / 10
        };

        // The old login or the new one, whole and private, whatever the moment.
        let after = token_in(dir.path());
        let refresh = |t: &Option<Value>| t.as_ref().map(|t| t["refresh_token"].clone());
        match &after {
            None => assert_eq!(before, None, "round {round}: the login was lost"),
            Some(token) if Some(token) == before.as_ref() => kept_old += 1,
            Some(token) => {
                assert_eq!(
                    token["refresh_token"],
                    mock.refresh_token().as_str(),
                    "round {round} ({kind:?}): neither the old login nor the new one"
                );
                got_new += 1;
            }
        }
        if refresh(&after) != refresh(&before) {
            usable = true;
        }
        check_private_json(&dir.path().join(PENDING_FILE));

        daemon = start();
        // What a kill left half-written is removed when the file is first opened: the tokens'
        // at start, the pending logins' at the next login (so there is never more than one).
        let left = leftovers(dir.path(), daemon.pid());
        let pending = format!(".{PENDING_FILE}.tmp-");
        assert!(
            left.len() <= 1 && left.iter().all(|n| n.starts_with(&pending)),
            "round {round}: temp files left: {left:?}"
        );
        let linked = after.is_some();
        let status: Value = client
            .get(daemon.url("/api/spotify/link"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["linked"], linked, "round {round}: {status}");
        let said = spotify_status(&daemon, &config);
        let expected = if linked {
            "linked: yes"
        } else {
            "linked: no: run reveille spotify login"
        };
        assert_eq!(said.lines().next(), Some(expected), "round {round}: {said}");
        if linked {
            let devices = client
                .get(daemon.url("/api/spotify/devices"))
                .send()
                .await
                .unwrap();
            match devices.status().as_u16() {
                200 => usable = true,
                409 => {
                    let body: Value = devices.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "link_again", "round {round}: {body}");
                    usable = false;
                    link_again += 1;
                }
                other => panic!("round {round}: the devices answer {other}"),
            }
        }
    }
    mock.assert_all_valid();
    eprintln!(
        "login: {rounds} kills in {:.1} s, {cut} before the answer (the windows ended at {link_window:.0?} for a link, \
         {refresh_window:.0?} for a refresh); the token file held \
         the old login after {kept_old}, the new one after {got_new}, never anything else; a \
         spent login (a refresh cut off after Spotify rotated the token: link again) after \
         {link_again}",
        began.elapsed().as_secs_f64(),
    );
}

/// The token file as JSON, after checking that it is whole and private; `None` if absent.
/// A login started with the daemon (`POST /api/spotify/link`) and authorised at the mock: the
/// redirect URL the browser would land on, for `POST /api/spotify/link/complete`.
async fn authorized_redirect(
    client: &reqwest::Client,
    daemon: &Daemon,
    mock: &SpotifyMock,
) -> String {
    let started: Value = client
        .post(daemon.url("/api/spotify/link"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    mock.authorize(started["authorize_url"].as_str().unwrap())
        .unwrap()
}

fn token_in(dir: &Path) -> Option<Value> {
    let path = dir.join(TOKEN_FILE);
    let token = check_private_json(&path)?;
    for field in [
        "access_token",
        "refresh_token",
        "expires_at",
        "authorised_at",
    ] {
        assert!(token[field].is_string(), "{field} missing: {path:?}");
    }
    Some(token)
}

/// `None` if `path` is absent; else it must be non-empty JSON with mode 0600.
fn check_private_json(path: &Path) -> Option<Value> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{path:?}: {e}"),
    };
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{path:?}");
    Some(
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path:?} is torn ({} bytes): {e}", bytes.len())),
    )
}

/// What `reveille spotify status` prints.
fn spotify_status(daemon: &Daemon, config: &Path) -> String {
    let out = std::process::Command::new(BIN)
        .args(["spotify", "status", "--url", &daemon.url("")])
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}
