//! `/api/config/revisions` on a real server: going back after `PUT {}`, `If-Match`, unknown
//! revisions, owner-only settings and kept files that no longer validate.

use std::fs;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, revision_of, spawn_app};

async fn add_alarm(app: &TestApp, time: &str) {
    let body = serde_json::to_vec(&json!({"time": time, "repeat": ["mon"]})).unwrap();
    let response = app
        .request(Method::POST, "/api/alarms", None, Some(body))
        .await;
    assert!(response.status().is_success(), "{}", response.status());
}

async fn list(app: &TestApp) -> Vec<Value> {
    let response = app
        .request(Method::GET, "/api/config/revisions", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn restore(app: &TestApp, revision: u64, if_match: Option<u64>) -> reqwest::Response {
    let tag = if_match.map(|r| format!("\"{r}\""));
    let path = format!("/api/config/revisions/{revision}/restore");
    app.request(Method::POST, &path, tag.as_deref(), None).await
}

#[tokio::test]
async fn restoring_after_put_empty_brings_every_alarm_back_as_a_new_revision() {
    let app = spawn_app().await;
    for time in ["06:30", "07:00", "07:45"] {
        add_alarm(&app, time).await;
    }
    let (before, with_alarms) = app.get_config().await;
    let response = app
        .request(
            Method::PUT,
            "/api/config",
            Some(&format!("\"{with_alarms}\"")),
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let wiped = revision_of(&response);
    assert_eq!(app.get_config().await.0["alarms"], json!([]));

    let revisions = list(&app).await;
    assert_eq!(revisions[0]["revision"], wiped);
    assert_eq!(revisions[0]["current"], true);
    assert_eq!(revisions[0]["summary"]["alarms"], 0);
    let choice = revisions
        .iter()
        .find(|r| r["summary"]["alarms"] == 3)
        .expect("the revision with the alarms is listed");
    assert_eq!(choice["revision"], with_alarms);
    assert_eq!(choice["origin"], "transaction");
    assert!(choice["size_bytes"].as_u64().unwrap() > 0);
    assert!(choice["committed_at"].as_str().is_some());

    let response = app
        .request(
            Method::GET,
            &format!("/api/config/revisions/{with_alarms}"),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), before);

    let response = restore(&app, with_alarms, Some(wiped)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let restored = revision_of(&response);
    assert!(restored > wiped, "{restored} <= {wiped}");
    assert_eq!(response.json::<Value>().await.unwrap(), before);
    assert_eq!(app.get_config().await, (before, restored));
    assert_eq!(list(&app).await[0]["revision"], restored);
}

#[tokio::test]
async fn a_restore_with_a_stale_if_match_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    add_alarm(&app, "06:30").await;
    let (_, first) = app.get_config().await;
    add_alarm(&app, "07:00").await;
    let (now, current) = app.get_config().await;

    let response = restore(&app, first, Some(first)).await;
    error_body(
        response,
        StatusCode::PRECONDITION_FAILED,
        "revision_mismatch",
    )
    .await;
    assert_eq!(app.get_config().await, (now, current));

    // Without If-Match the restore applies to whatever is current, like PATCH.
    let response = restore(&app, first, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.get_config().await.0["alarms"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_revision_is_a_json_404() {
    let app = spawn_app().await;
    let (_, current) = app.get_config().await;
    for path in [
        "/api/config/revisions/999".to_owned(),
        "/api/config/revisions/seven".to_owned(),
        format!("/api/config/revisions/{}", u64::MAX),
    ] {
        let response = app.request(Method::GET, &path, None, None).await;
        error_body(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = app
            .request(Method::POST, &format!("{path}/restore"), None, None)
            .await;
        error_body(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(app.get_config().await.1, current, "nothing committed");
}

/// Owner-only settings are the owner's as they are today: an old revision with other ones
/// (here from a hand edit) restores its alarms, not its wiring or allowed hosts.
#[tokio::test]
async fn a_restore_keeps_todays_owner_only_settings() {
    let app = spawn_app().await;
    add_alarm(&app, "06:30").await;
    let (_, old) = app.get_config().await;
    let text = fs::read_to_string(app.config_path()).unwrap();
    let mut file: Value = serde_json::from_str(&text).unwrap();
    file["web"]["allowed_hosts"] = json!(["alarm.home.arpa"]);
    file["alarms"] = json!([]);
    fs::write(app.config_path(), serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    app.store.check_disk().await;
    assert_eq!(
        app.get_config().await.0["web"]["allowed_hosts"],
        json!(["alarm.home.arpa"])
    );

    let response = restore(&app, old, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (now, _) = app.get_config().await;
    assert_eq!(now["alarms"].as_array().unwrap().len(), 1);
    assert_eq!(now["web"]["allowed_hosts"], json!(["alarm.home.arpa"]));
}

/// A kept file that no longer validates (a rule added since, or damage) is listed with its
/// problem and refused with the field it breaks.
#[tokio::test]
async fn a_kept_revision_that_no_longer_validates_is_refused_naming_the_field() {
    let app = spawn_app().await;
    add_alarm(&app, "06:30").await;
    let (_, kept) = app.get_config().await;
    add_alarm(&app, "07:00").await;
    let (now, current) = app.get_config().await;
    let dir = app.dir.path().join("config.json.revisions");
    let file = dir.join(format!("{kept}.transaction.json"));
    fs::write(
        &file,
        br#"{"version": 1, "volume": {"target_percent": 180}}"#,
    )
    .unwrap();

    let listed = list(&app).await;
    let entry = listed.iter().find(|r| r["revision"] == kept).unwrap();
    assert_eq!(entry["summary"], Value::Null);
    assert!(
        entry["problem"]
            .as_str()
            .unwrap()
            .contains("target_percent"),
        "{entry}"
    );

    let body = error_body(
        restore(&app, kept, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
    )
    .await;
    assert_eq!(body["error"]["field"], "volume.target_percent");
    assert_eq!(app.get_config().await, (now, current), "nothing changed");
}
