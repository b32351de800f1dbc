//! Alarms through the API, and the scheduler behind it driven by a manual clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, revision_of, spawn_app};

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn create(app: &TestApp, alarm: Value) -> Value {
    let response = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(serde_json::to_vec(&alarm).unwrap()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{alarm}");
    response.json().await.unwrap()
}

async fn set_zone(app: &TestApp, zone: &str) {
    let response = app.patch(&json!({"time_zone": zone}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Moves the clock and waits until the scheduler has looked at the new time.
async fn move_clock(app: &TestApp, to: &str) {
    app.clock.set(utc(to));
    let expected = utc(to).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    app.wait_for_status("the scheduler to see the new time", |s| {
        s["scheduler"]["heartbeat"].as_str().map(utc) == Some(utc(&expected))
    })
    .await;
}

async fn next_firing(app: &TestApp) -> reveille::scheduler::Firing {
    let mut firings = app.firings.lock().await;
    tokio::time::timeout(Duration::from_secs(10), firings.recv())
        .await
        .expect("no firing within 10 s")
        .unwrap()
}

async fn no_firing(app: &TestApp) {
    assert!(
        app.firings.lock().await.try_recv().is_err(),
        "something rang"
    );
}

#[tokio::test]
async fn alarms_are_created_read_changed_and_deleted_with_etags() {
    let app = spawn_app().await;
    let response = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(br#"{"label": "Work", "time": "06:45", "repeat": ["mon", "fri"]}"#.to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let revision = revision_of(&response);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let alarm: Value = response.json().await.unwrap();
    let id = alarm["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 8);
    assert_eq!(location, format!("/api/alarms/{id}"));
    assert_eq!(
        (
            alarm["enabled"].as_bool(),
            alarm["ring"]["snooze_minutes"].as_u64()
        ),
        (Some(true), Some(9))
    );

    let list: Value = app
        .request(Method::GET, "/api/alarms", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    let path = format!("/api/alarms/{id}");
    let body = br#"{"label": "Work!"}"#.to_vec();
    let stale = app
        .request(Method::PATCH, &path, Some("\"1\""), Some(body.clone()))
        .await;
    error_body(stale, StatusCode::PRECONDITION_FAILED, "revision_mismatch").await;
    let tag = format!("\"{revision}\"");
    let patched = app
        .request(Method::PATCH, &path, Some(&tag), Some(body))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["label"].as_str(), patched["time"].as_str()),
        (Some("Work!"), Some("06:45"))
    );

    let put = app
        .request(
            Method::PUT,
            &path,
            None,
            Some(br#"{"time": "07:00"}"#.to_vec()),
        )
        .await;
    error_body(put, StatusCode::PRECONDITION_REQUIRED, "if_match_required").await;

    let deleted = app.request(Method::DELETE, &path, None, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.request(Method::GET, &path, None, None).await;
    error_body(gone, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.store.snapshot().config.alarms.is_empty());
}

#[tokio::test]
async fn bad_alarms_are_refused_naming_the_field_inside_the_alarm() {
    let app = spawn_app().await;
    let existing = create(&app, json!({"time": "07:00"})).await;
    let revision = app.get_config().await.1;
    let cases = [
        (json!({"time": "25:00"}), "time"),
        (json!({"id": "mine", "time": "07:00"}), "id"),
        (
            json!({"time": "07:00", "ring": {"target_percent": 120}}),
            "ring.target_percent",
        ),
        (
            json!({"time": "07:00", "repeat": ["mon"], "date": "2026-12-01"}),
            "date",
        ),
        // START is 2026-11-23 12:00 UTC, and the system zone in tests is UTC or close to it.
        (json!({"time": "07:00", "date": "2026-11-20"}), "date"),
        (
            json!({"time": "07:00", "ring": {"source": "https://example.com/song"}}),
            "ring.source",
        ),
        (json!({"time": "07:00", "colour": "red"}), "colour"),
    ];
    for (alarm, field) in cases {
        let response = app
            .request(
                Method::POST,
                "/api/alarms",
                None,
                Some(serde_json::to_vec(&alarm).unwrap()),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{alarm}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{alarm}: {body}");
    }
    let path = format!("/api/alarms/{}", existing["id"].as_str().unwrap());
    let response = app
        .request(
            Method::PATCH,
            &path,
            None,
            Some(br#"{"ring": {"max_snoozes": 99}}"#.to_vec()),
        )
        .await;
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value").await;
    assert_eq!(body["error"]["field"], "ring.max_snoozes");
    let response = app
        .request(
            Method::PATCH,
            "/api/alarms/nope",
            None,
            Some(b"{}".to_vec()),
        )
        .await;
    error_body(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.get_config().await.1, revision, "nothing was stored");
}

#[tokio::test]
async fn upcoming_shows_what_the_spring_dst_change_does() {
    let app = spawn_app().await;
    set_zone(&app, "Europe/Berlin").await;
    move_clock(&app, "2027-03-26T12:00:00Z").await;
    create(&app, json!({"label": "Night owl", "time": "02:30", "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]})).await;
    let response = app
        .request(Method::GET, "/api/alarms/upcoming?count=3", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let upcoming: Value = response.json().await.unwrap();
    let at: Vec<(&str, &str)> = upcoming
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["at_utc"].as_str().unwrap(),
                f["at_local"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [
            ("2027-03-27T01:30:00Z", "2027-03-27T02:30:00+01:00"),
            ("2027-03-28T01:00:00Z", "2027-03-28T03:00:00+02:00"),
            ("2027-03-29T00:30:00Z", "2027-03-29T02:30:00+02:00"),
        ]
    );
    let bad = app
        .request(Method::GET, "/api/alarms/upcoming?count=0", None, None)
        .await;
    error_body(bad, StatusCode::BAD_REQUEST, "bad_query").await;
}

#[tokio::test]
async fn a_one_shot_rings_at_its_time_once_and_then_disables_itself() {
    let app = spawn_app().await;
    set_zone(&app, "UTC").await;
    let alarm = create(&app, json!({"label": "Train", "time": "13:00"})).await;
    let id = alarm["id"].as_str().unwrap().to_owned();
    let status = app
        .wait_for_status("the scheduler to see the alarm", |s| {
            !s["scheduler"]["next_firing"].is_null()
        })
        .await;
    assert_eq!(
        status["scheduler"]["next_firing"]["at_utc"],
        "2026-11-23T13:00:00Z"
    );
    let warning = status["scheduler"]["clock_warning"].as_str().unwrap();
    assert!(warning.contains("not synchronized"), "{warning}");

    move_clock(&app, "2026-11-23T12:59:59Z").await;
    no_firing(&app).await;
    app.clock.set(utc("2026-11-23T13:00:00Z"));
    let firing = next_firing(&app).await;
    assert_eq!(
        (firing.alarm.id.as_str(), firing.occurrence),
        (id.as_str(), utc("2026-11-23T13:00:00Z"))
    );

    let path = format!("/api/alarms/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let alarm: Value = app
            .request(Method::GET, &path, None, None)
            .await
            .json()
            .await
            .unwrap();
        if alarm["enabled"] == false {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the one-shot stayed enabled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    move_clock(&app, "2026-11-24T13:00:00Z").await;
    no_firing(&app).await;
    let status = app.status().await;
    assert_eq!(status["scheduler"]["recent_events"][0]["decision"], "ring");
    assert!(status["scheduler"]["next_firing"].is_null());
}

#[tokio::test]
async fn skip_next_skips_one_occurrence_and_clears_itself() {
    let app = spawn_app().await;
    set_zone(&app, "UTC").await;
    let alarm = create(
        &app,
        json!({"time": "13:00", "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}),
    )
    .await;
    let id = alarm["id"].as_str().unwrap();
    let response = app
        .request(
            Method::POST,
            &format!("/api/alarms/{id}/skip-next"),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let upcoming: Value = app
        .request(Method::GET, "/api/alarms/upcoming?count=2", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            upcoming[0]["decision"].as_str(),
            upcoming[1]["decision"].as_str()
        ),
        (Some("skip_next"), Some("ring"))
    );

    move_clock(&app, "2026-11-23T13:00:00Z").await;
    no_firing(&app).await;
    app.wait_for_status("skip-next to clear", |s| {
        s["config"]["revision"].as_u64() > Some(3)
    })
    .await;
    assert!(!app.store.snapshot().config.alarms[0].skip_next);
    app.clock.set(utc("2026-11-24T13:00:00Z"));
    assert_eq!(
        next_firing(&app).await.occurrence,
        utc("2026-11-24T13:00:00Z")
    );
}

#[tokio::test]
async fn clock_steps_neither_ring_stale_alarms_nor_ring_twice() {
    let app = spawn_app().await;
    set_zone(&app, "UTC").await;
    create(
        &app,
        json!({"time": "13:00", "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}),
    )
    .await;

    // Forward step from 12:00 to 17:00: the 13:00 alarm is reported missed, not rung.
    move_clock(&app, "2026-11-23T17:00:00Z").await;
    no_firing(&app).await;
    let status = app.status().await;
    assert_eq!(
        status["scheduler"]["recent_events"][0]["decision"],
        "missed"
    );

    // Within the grace (5 min) a late alarm rings once; a step back does not ring it again.
    move_clock(&app, "2026-11-24T13:04:00Z").await;
    assert_eq!(
        next_firing(&app).await.occurrence,
        utc("2026-11-24T13:00:00Z")
    );
    move_clock(&app, "2026-11-24T12:30:00Z").await;
    move_clock(&app, "2026-11-24T13:00:30Z").await;
    no_firing(&app).await;
}
