//! Reading and changing the document: ETags, preconditions, merge patch, and bad input.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, revision_of, spawn_app};

#[tokio::test]
async fn get_returns_the_document_with_its_revision_as_etag() {
    let app = spawn_app().await;
    let (doc, revision) = app.get_config().await;
    assert_eq!(revision, 1);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["web"]["title"], "Reveille");
    assert!(
        doc.get("revision").is_none(),
        "the revision travels in the ETag"
    );
}

#[tokio::test]
async fn put_needs_if_match_and_refuses_a_stale_revision() {
    let app = spawn_app().await;
    let (mut doc, revision) = app.get_config().await;
    doc["web"]["title"] = json!("Bedroom");
    let body = serde_json::to_vec(&doc).unwrap();

    let response = app
        .request(Method::PUT, "/api/config", None, Some(body.clone()))
        .await;
    error_body(
        response,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    )
    .await;

    let response = app
        .request(
            Method::PUT,
            "/api/config",
            Some("\"0\""),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        revision_of(&response),
        revision,
        "412 tells the current revision"
    );
    error_body(
        response,
        StatusCode::PRECONDITION_FAILED,
        "revision_mismatch",
    )
    .await;
    assert_eq!(app.get_config().await.1, revision, "nothing changed");

    let tag = format!("\"{revision}\"");
    let response = app
        .request(Method::PUT, "/api/config", Some(&tag), Some(body))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(revision_of(&response), revision + 1);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved, doc);

    // The response describes what is on disk.
    let (on_disk, file_revision) = reveille::store::read_config_file(&app.config_path()).unwrap();
    assert_eq!(serde_json::to_value(on_disk).unwrap(), doc);
    assert_eq!(file_revision, Some(revision + 1));
}

#[tokio::test]
async fn patch_merges_and_null_resets_a_field_to_its_default() {
    let app = spawn_app().await;
    let response = app
        .patch(
            &json!({"time_zone": "Asia/Kolkata", "volume": {"target_percent": 70}}),
            Some(1),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["time_zone"], "Asia/Kolkata");
    assert_eq!(doc["volume"]["target_percent"], 70);
    assert_eq!(doc["volume"]["start_percent"], 10, "siblings are kept");

    let response = app.patch(&json!({"volume": null}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(revision_of(&response), 3);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["volume"]["target_percent"], 60);
    assert_eq!(doc["time_zone"], "Asia/Kolkata");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_commits_nothing() {
    let app = spawn_app().await;
    let response = app
        .patch(&json!({"web": {"title": "Reveille"}}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(revision_of(&response), 1);
}

/// (method, If-Match, body, expected status, code, field)
type Case<'a> = (
    Method,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
    Option<&'a str>,
);

/// Every kind of bad input gets a 4xx with a JSON error, and the stored document, its revision
/// and the file's bytes stay exactly as they were.
#[tokio::test]
async fn bad_input_is_refused_with_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    let (doc, revision) = app.get_config().await;
    let file_before = std::fs::read(app.config_path()).unwrap();
    let tag = format!("\"{revision}\"");
    let huge = {
        let mut big = doc.clone();
        big["web"]["title"] = json!("x".repeat(70 * 1024));
        serde_json::to_vec(&big).unwrap()
    };

    let cases: Vec<Case> = vec![
        (
            Method::PATCH,
            None,
            b"{\"web\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            Method::PUT,
            Some(&tag),
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            Method::PATCH,
            None,
            vec![0xff, 0xfe, b'{'],
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            Method::PATCH,
            None,
            br#"{"volume": {"fade_seconds": "slow"}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            Some("volume.fade_seconds"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"web": {"titel": "x"}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("web.titel"),
        ),
        (
            Method::PUT,
            Some(&tag),
            br#"{"alarm": []}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            Some("alarm"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"volume": {"ceiling_percent": 250}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("volume.ceiling_percent"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"volume": {"fade_seconds": -1}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("volume.fade_seconds"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"time_zone": "Mars/Olympus_Mons"}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("time_zone"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"hardware": {"amplifier": {"pin": 17}, "buzzer": {"pin": 17}}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("hardware.buzzer.pin"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"hardware": {"amplifier": {"active_low": true}}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("hardware.amplifier.pin"),
        ),
        (
            Method::PATCH,
            None,
            br#"{"version": 7}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            Some("version"),
        ),
        (
            Method::PATCH,
            None,
            b"[1, 2]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            Some(""),
        ),
        (
            Method::PUT,
            Some(&tag),
            b"{\"web\": [\"x\"]}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
            Some("web"),
        ),
        (
            Method::PUT,
            Some(&tag),
            huge.clone(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            Method::PATCH,
            None,
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
        (
            Method::PATCH,
            Some("yesterday"),
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_if_match",
            None,
        ),
        (
            Method::PATCH,
            Some("W/\"1\""),
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "bad_if_match",
            None,
        ),
    ];
    for (method, if_match, body, status, code, field) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let response = app
            .request(method.clone(), "/api/config", if_match, Some(body))
            .await;
        assert!(
            response.status().is_client_error(),
            "{method} {shown}: {}",
            response.status()
        );
        let error = error_body(response, status, code).await;
        if let Some(field) = field {
            assert_eq!(error["error"]["field"], field, "{method} {shown}");
        }
        let (now, now_revision) = app.get_config().await;
        assert_eq!(
            (now_revision, &now),
            (revision, &doc),
            "{method} {shown} changed the document"
        );
        assert_eq!(
            std::fs::read(app.config_path()).unwrap(),
            file_before,
            "{method} {shown} changed the file"
        );
    }
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/api/nope", None, None).await;
    error_body(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn status_reports_version_uptime_and_config_revision() {
    let app = spawn_app().await;
    app.patch(&json!({"web": {"title": "Hall"}}), None).await;
    let status = app.status().await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["uptime_seconds"].is_u64());
    assert_eq!(status["config"]["revision"], 2);
    assert_eq!(status["config"]["last_change_origin"], "transaction");
    assert!(status["config"]["last_change_at"].is_string());
    assert!(status["config"]["external_edit_error"].is_null());
}

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let app = spawn_app().await;
    let response = app.request(Method::DELETE, "/api/config", None, None).await;
    error_body(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}
