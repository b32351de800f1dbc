//! What the API fuzzer (`scripts/fuzz-api`, schemathesis) found, each kept as a regression test
//! at the API: bad input gets a 4xx with the JSON error body, never axum's plain-text one.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_app};

#[tokio::test]
async fn a_repeated_or_undecodable_count_is_a_json_bad_query() {
    let app = spawn_app().await;
    for query in ["count=1&count=2", "count=%FF", "count=", "count=51"] {
        let response = app
            .request(
                Method::GET,
                &format!("/api/alarms/upcoming?{query}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{query}"
        );
        error_body(response, StatusCode::BAD_REQUEST, "bad_query").await;
    }
    let fine = app
        .request(Method::GET, "/api/alarms/upcoming?count=2", None, None)
        .await;
    assert_eq!(fine.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_names_nothing_and_says_so_in_json() {
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/api/alarms/%FF"),
        (Method::DELETE, "/api/alarms/%C3%28"),
        (Method::POST, "/api/alarms/%FF/skip-next"),
        (Method::POST, "/api/alarms/%FF/ring-now"),
        (Method::GET, "/api/config/revisions/%FF"),
        (Method::POST, "/api/config/revisions/%FF/restore"),
    ];
    for (method, path) in cases {
        let response = app.request(method.clone(), path, None, None).await;
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        error_body(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn skip_next_takes_a_null_body_like_an_empty_one() {
    let app = spawn_app().await;
    let created = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(serde_json::to_vec(&json!({"time": "07:00", "repeat": ["mon"]})).unwrap()),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/alarms/{id}/skip-next");
    let skipped = app
        .request(Method::POST, &path, None, Some(b"null".to_vec()))
        .await;
    assert_eq!(skipped.status(), StatusCode::OK);
    assert_eq!(skipped.json::<Value>().await.unwrap()["skip_next"], true);
    // An object is still read strictly.
    let unknown = app
        .request(
            Method::POST,
            &path,
            None,
            Some(br#"{"skip": true}"#.to_vec()),
        )
        .await;
    error_body(unknown, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
}

#[tokio::test]
async fn the_described_example_alarm_can_be_created_without_its_id() {
    let app = spawn_app().await;
    let spec: Value = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    let mut example = spec["components"]["schemas"]["Alarm"]["example"].clone();
    example.as_object_mut().unwrap().remove("id");
    let created = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(serde_json::to_vec(&example).unwrap()),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let alarm: Value = created.json().await.unwrap();
    assert_eq!(alarm["time"], example["time"]);
    assert_eq!(alarm["ring"]["source"], example["ring"]["source"]);
}

#[tokio::test]
async fn a_merge_patch_cannot_remove_a_field_that_does_not_exist() {
    let app = spawn_app().await;
    // `{"": null}` was accepted and changed nothing: a typo'd field went unnoticed.
    let response = app.patch(&json!({"": null}), None).await;
    error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    let response = app
        .patch(&json!({"schedule": {"vacaton": null}}), None)
        .await;
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert_eq!(body["error"]["field"], "schedule.vacaton");
    // Removing a field that exists still resets it.
    let response = app
        .patch(&json!({"schedule": {"vacation": null}}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let created = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(serde_json::to_vec(&json!({"time": "07:00"})).unwrap()),
        )
        .await;
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |body: Value| {
        let app = &app;
        let path = format!("/api/alarms/{id}");
        async move {
            app.client
                .patch(format!("{}{path}", app.base))
                .header("Content-Type", "application/merge-patch+json")
                .body(serde_json::to_vec(&body).unwrap())
                .send()
                .await
                .unwrap()
        }
    };
    let response = patch(json!({"enabeld": null})).await;
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert_eq!(body["error"]["field"], "enabeld");
    let response = patch(json!({"ring": {"shufle": null}})).await;
    let body = error_body(response, StatusCode::UNPROCESSABLE_ENTITY, "unknown_field").await;
    assert_eq!(body["error"]["field"], "ring.shufle");
    let response = patch(json!({"enabled": null, "label": "x"})).await;
    assert_eq!(response.status(), StatusCode::OK);
}
