//! The OpenAPI validator on hand-made exchanges: it accepts well-formed ones and rejects each
//! kind of mistake with a message naming it.

use std::time::Instant;

use serde_json::{Value, json};

use crate::spotify_mock::{RecordedRequest, openapi};

fn exchange(method: &str, path_and_query: &str, body: Option<Value>) -> RecordedRequest {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    RecordedRequest {
        endpoint: None,
        method: method.into(),
        path: path.into(),
        query: serde_urlencoded::from_str(query).unwrap(),
        headers_authorization: Some("Bearer token".into()),
        body_len: body.as_ref().map_or(0, |b| b.to_string().len()),
        content_type: body.as_ref().map(|_| "application/json".into()),
        body,
        status: 204,
        response_body: None,
        at: Instant::now(),
    }
}

/// The single error `request` is rejected with.
fn rejection(request: &RecordedRequest) -> String {
    let errors = openapi::validate(request).expect_err("the validator rejects it");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

fn assert_rejected(request: &RecordedRequest, fragments: &[&str]) {
    let error = rejection(request);
    for fragment in fragments {
        assert!(
            error.contains(fragment),
            "`{error}` does not mention `{fragment}`"
        );
    }
}

#[test]
fn validator_accepts_well_formed_exchanges() {
    let state = exchange(
        "GET",
        "/v1/me/player?market=ES&additional_types=episode",
        None,
    );
    assert_eq!(openapi::validate(&state), Ok(()));
    let play =
        json!({ "uris": ["spotify:track:4iV5W9uYEdYUVa79Axb7Rh"], "offset": { "uri": "x" } });
    let play = exchange("PUT", "/v1/me/player/play?device_id=abc", Some(play));
    assert_eq!(openapi::validate(&play), Ok(()));
    let mut track = exchange("GET", "/v1/tracks/11dFghVXANMlKmJXsNCbNl", None);
    track.status = 401;
    track.response_body = Some(json!({ "error": { "status": 401, "message": "No token" } }));
    assert_eq!(openapi::validate(&track), Ok(()));
}

#[test]
fn validator_rejects_bad_query_parameters() {
    let loud = exchange("PUT", "/v1/me/player/volume?volume_percent=150", None);
    assert_rejected(&loud, &["volume_percent", "maximum 100"]);
    let words = exchange("PUT", "/v1/me/player/volume?volume_percent=loud", None);
    assert_rejected(&words, &["volume_percent", "integer"]);
    let unknown = exchange("PUT", "/v1/me/player/pause?device=abc", None);
    assert_rejected(&unknown, &["unknown query parameter `device`", "device_id"]);
    let missing = exchange("PUT", "/v1/me/player/volume?device_id=abc", None);
    assert_rejected(&missing, &["required query parameter `volume_percent`"]);
    let shuffle = exchange("PUT", "/v1/me/player/shuffle?state=yes", None);
    assert_rejected(&shuffle, &["state", "boolean"]);
    let twice = exchange("PUT", "/v1/me/player/pause?device_id=a&device_id=b", None);
    assert_rejected(&twice, &["device_id", "more than once"]);
}

#[test]
fn validator_rejects_undeclared_paths_and_methods() {
    let stop = exchange("PUT", "/v1/me/player/stop", None);
    assert_rejected(&stop, &["/v1/me/player/stop", "not in the spec"]);
    let delete = exchange("DELETE", "/v1/me/player/devices", None);
    assert_rejected(&delete, &["DELETE", "/me/player/devices", "GET"]);
    let unversioned = exchange("GET", "/me/player", None);
    assert_rejected(&unversioned, &["/me/player", "neither"]);
    let mut anonymous = exchange("GET", "/v1/me/player/devices", None);
    anonymous.headers_authorization = None;
    anonymous.status = 401;
    anonymous.response_body =
        Some(json!({ "error": { "status": 401, "message": "No token provided" } }));
    assert_rejected(&anonymous, &["Authorization: Bearer"]);
}

#[test]
fn validator_rejects_bad_request_bodies() {
    let no_ids = exchange("PUT", "/v1/me/player", Some(json!({ "play": true })));
    assert_rejected(&no_ids, &["request body", "device_ids"]);
    let two_ids = exchange(
        "PUT",
        "/v1/me/player",
        Some(json!({ "device_ids": ["a", "b"] })),
    );
    assert_rejected(&two_ids, &["device_ids", "maxItems 1"]);
    let play_text = json!({ "device_ids": ["a"], "play": "yes" });
    assert_rejected(
        &exchange("PUT", "/v1/me/player", Some(play_text)),
        &["request body.play", "boolean"],
    );
    let position = exchange(
        "PUT",
        "/v1/me/player/play",
        Some(json!({ "position_ms": "10" })),
    );
    assert_rejected(
        &position,
        &["request body.position_ms", "integer", "string"],
    );
    let uris = exchange("PUT", "/v1/me/player/play", Some(json!({ "uris": [7] })));
    assert_rejected(&uris, &["request body.uris[0]", "string"]);
    let pause_body = json!({ "device_id": "abc" });
    let pause_body = exchange("PUT", "/v1/me/player/pause", Some(pause_body));
    assert_rejected(&pause_body, &["no request body"]);
    // Not even `{}` (what rspotify sends with pause, volume and shuffle) where none is declared.
    for path in ["pause", "volume?volume_percent=10", "shuffle?state=true"] {
        let empty = exchange("PUT", &format!("/v1/me/player/{path}"), Some(json!({})));
        assert_rejected(&empty, &["no request body", "2 bytes"]);
    }
    let mut form = exchange("PUT", "/v1/me/player", Some(json!({ "device_ids": ["a"] })));
    form.content_type = Some("application/x-www-form-urlencoded".into());
    assert_rejected(&form, &["content type", "application/json"]);
}

#[test]
fn validator_rejects_bad_responses() {
    let mut created = exchange("PUT", "/v1/me/player/play", None);
    created.status = 201;
    assert_rejected(&created, &["status 201", "204"]);
    let mut chatty = exchange("PUT", "/v1/me/player/pause", None);
    chatty.response_body = Some(json!({ "ok": true }));
    assert_rejected(&chatty, &["204", "no body"]);
    let mut loud = exchange("GET", "/v1/me/player/devices", None);
    loud.status = 200;
    loud.response_body = Some(json!({ "devices": [{ "id": "a", "volume_percent": 150 }] }));
    assert_rejected(
        &loud,
        &["response body.devices[0].volume_percent", "maximum 100"],
    );
    let mut untyped = exchange("GET", "/v1/me/player", None);
    untyped.status = 200;
    untyped.response_body = Some(json!({ "is_playing": "yes", "device": null }));
    let errors = openapi::validate(&untyped).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("is_playing") && e.contains("boolean")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("device") && e.contains("null")),
        "{errors:?}"
    );
    let mut vague = exchange("PUT", "/v1/me/player/play", None);
    vague.status = 404;
    vague.response_body = Some(json!({ "error": { "status": 404 } }));
    assert_rejected(&vague, &["`message`"]);
    let mut mismatched = exchange("PUT", "/v1/me/player/play", None);
    mismatched.status = 502;
    mismatched.response_body =
        Some(json!({ "error": { "status": 500, "message": "Server error." } }));
    assert_rejected(&mismatched, &["status 500", "502"]);
}

#[test]
fn validator_checks_the_token_endpoint_by_hand() {
    let form = |fields: Value| {
        let mut request = exchange("POST", "/api/token", Some(fields));
        request.headers_authorization = None;
        request.status = 200;
        let tokens =
            json!({ "access_token": "a", "token_type": "Bearer", "scope": "", "expires_in": 3600 });
        request.response_body = Some(tokens);
        request
    };
    let good =
        form(json!({ "grant_type": "refresh_token", "refresh_token": "r", "client_id": "c" }));
    assert_eq!(openapi::validate(&good), Ok(()));
    let unknown = form(json!({ "grant_type": "password", "client_id": "c" }));
    assert_rejected(&unknown, &["grant_type", "password"]);
    let no_token = form(json!({ "grant_type": "refresh_token", "client_id": "c" }));
    assert_rejected(&no_token, &["refresh_token", "missing"]);
    let no_client = form(json!({ "grant_type": "refresh_token", "refresh_token": "r" }));
    assert_rejected(&no_client, &["client_id"]);
    let mut as_json =
        form(json!({ "grant_type": "refresh_token", "refresh_token": "r", "client_id": "c" }));
    as_json.body = None;
    assert_rejected(&as_json, &["x-www-form-urlencoded"]);
}
