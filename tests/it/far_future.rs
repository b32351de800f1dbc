//! Dates the schedule cannot compute: a one-shot dated `+262142-12-31` in America/New_York once
//! passed validation and aborted the daemon at every start. Every way in refuses it now with
//! the field named and nothing changed, and an alarm the scheduler still cannot compute (a
//! clock at the end of chrono's range) is reported in the status while the others ring.

use std::fs;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, revision_of, spawn_app};

/// The date from the issue: chrono's last day.
const END_OF_TIME: &str = "+262142-12-31";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    tag: Option<u64>,
    body: Value,
) -> reqwest::Response {
    let tag = tag.map(|r| format!("\"{r}\""));
    app.request(
        method,
        path,
        tag.as_deref(),
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
}

/// Asserts a 422 naming `field` and returns its message.
async fn refused(response: reqwest::Response, field: &str) -> String {
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_value").await;
    assert_eq!(body["error"]["field"], field, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

async fn create(app: &TestApp, alarm: Value) -> String {
    let response = send(app, Method::POST, "/api/alarms", None, alarm).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let alarm: Value = response.json().await.unwrap();
    alarm["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_far_future_date_is_refused_by_every_endpoint_and_nothing_changes_on_disk() {
    let app = spawn_app().await;
    let response = app
        .patch(&json!({"time_zone": "America/New_York"}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = create(&app, json!({"time": "06:45", "date": "2026-12-24"})).await;
    let on_disk = fs::read(app.config_path()).unwrap();
    let (_, revision) = app.get_config().await;
    let path = format!("/api/alarms/{id}");

    // The clock says 2026-11-23: ten years ahead is the horizon of the alarm endpoints.
    for date in [END_OF_TIME, "2199-12-31", "2036-11-24"] {
        let one_shot = json!({"time": "23:59", "date": date});
        let message = refused(
            send(&app, Method::POST, "/api/alarms", None, one_shot.clone()).await,
            "date",
        )
        .await;
        assert!(message.contains("10 years"), "{message}");
        refused(
            send(&app, Method::PUT, &path, Some(revision), one_shot).await,
            "date",
        )
        .await;
        refused(
            send(&app, Method::PATCH, &path, None, json!({"date": date})).await,
            "date",
        )
        .await;
    }
    // The whole document has no clock: it is bounded to the years 2000 to 2199.
    let alarms = json!({"alarms": [{"id": "x", "time": "23:59", "date": END_OF_TIME}]});
    let message = refused(app.patch(&alarms, Some(revision)).await, "alarms[0].date").await;
    assert!(message.contains("2000 to 2199"), "{message}");
    let issue = json!({"time_zone": "America/New_York", "alarms": [{"id": "x", "time": "23:59", "date": END_OF_TIME}]});
    refused(
        send(&app, Method::PUT, "/api/config", Some(revision), issue).await,
        "alarms[0].date",
    )
    .await;
    let vacation = json!({"schedule": {"vacation": {"from": "2026-12-24", "until": END_OF_TIME}}});
    refused(app.patch(&vacation, None).await, "schedule.vacation.until").await;

    assert_eq!(
        fs::read(app.config_path()).unwrap(),
        on_disk,
        "the file changed"
    );
    assert_eq!(app.get_config().await.1, revision);
    assert!(
        app.status().await["scheduler"]["broken_alarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Just inside the horizon is fine.
    let response = send(
        &app,
        Method::PATCH,
        &path,
        None,
        json!({"date": "2036-11-22"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(revision_of(&response), revision + 1);
}

#[tokio::test]
async fn a_hand_edit_with_the_issue_document_is_refused_and_the_daemon_runs_on() {
    let app = spawn_app().await;
    let (_, revision) = app.get_config().await;
    let mut doc: Value = serde_json::from_slice(&fs::read(app.config_path()).unwrap()).unwrap();
    doc["time_zone"] = json!("America/New_York");
    doc["alarms"] = json!([{"id": "far", "time": "23:59", "date": END_OF_TIME}]);
    fs::write(app.config_path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();

    // `fs::write` truncates, then writes, as many editors do: the watcher may see the empty
    // file first (refused too), then the whole one.
    let status = app
        .wait_for_status("the refused edit", |s| {
            s["config"]["external_edit_error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("alarms[0]"))
        })
        .await;
    let message = status["config"]["external_edit_error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("alarms[0].date"), "{message}");
    assert!(message.contains("2000 to 2199"), "{message}");
    let (config, now) = app.get_config().await;
    assert_eq!(now, revision);
    assert_eq!(config["alarms"], json!([]));
    assert!(
        status["scheduler"]["broken_alarms"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Waits until the scheduler reports exactly these broken alarms (by id) and returns the list.
async fn wait_for_broken(app: &TestApp, ids: &[&str]) -> Vec<Value> {
    let status = app
        .wait_for_status(&format!("broken alarms {ids:?}"), |s| {
            let listed: Vec<_> = s["scheduler"]["broken_alarms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["alarm_id"].as_str().unwrap().to_owned())
                .collect();
            listed == ids
        })
        .await;
    status["scheduler"]["broken_alarms"]
        .as_array()
        .unwrap()
        .clone()
}

async fn next_firing(app: &TestApp) -> reveille::scheduler::Firing {
    let mut firings = app.firings.lock().await;
    tokio::time::timeout(Duration::from_secs(10), firings.recv())
        .await
        .expect("no firing within 10 s")
        .unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Validation keeps dates computable; a clock at the end of chrono's range is what still gets
/// past it. New York is 5 h behind UTC, so on chrono's last day 16:00 local exists (21:00Z)
/// and 23:59 local does not.
#[tokio::test]
async fn an_alarm_that_cannot_be_computed_is_reported_the_others_ring_and_a_fix_clears_it() {
    let app = spawn_app().await;
    let response = app
        .patch(&json!({"time_zone": "America/New_York"}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let daily = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let early = create(
        &app,
        json!({"label": "early", "time": "16:00", "repeat": daily}),
    )
    .await;
    let late = create(
        &app,
        json!({"label": "late", "time": "23:59", "repeat": daily}),
    )
    .await;

    app.clock.set(at("+262142-12-31T20:00:00Z"));
    let broken = wait_for_broken(&app, &[&late]).await;
    assert_eq!(broken[0]["label"], "late");
    let reason = broken[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("outside the supported time range"),
        "{reason}"
    );
    let status = app.status().await;
    assert_eq!(
        status["scheduler"]["next_firing"]["alarm_id"],
        early.as_str()
    );

    // The broken alarm does not stop the other one.
    app.clock.set(at("+262142-12-31T21:00:05Z"));
    let firing = next_firing(&app).await;
    assert_eq!(firing.alarm.id, early);
    assert_eq!(firing.occurrence, at("+262142-12-31T21:00:00Z"));
    // Now `early` has no next day either.
    wait_for_broken(&app, &[&early, &late]).await;

    // Moved to a time that exists, `late` leaves the list and rings.
    let response = send(
        &app,
        Method::PATCH,
        &format!("/api/alarms/{late}"),
        None,
        json!({"time": "16:30"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_broken(&app, &[&early]).await;
    app.clock.set(at("+262142-12-31T21:30:05Z"));
    assert_eq!(next_firing(&app).await.alarm.id, late);
}
