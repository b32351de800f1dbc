//! The OpenAPI description is generated from the routes and covers all of them.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

/// Routes the API promises; each must be described.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/status"),
    ("get", "/api/openapi.json"),
    ("get", "/api/config"),
    ("put", "/api/config"),
    ("patch", "/api/config"),
    ("get", "/api/config/revisions"),
    ("get", "/api/config/revisions/{revision}"),
    ("post", "/api/config/revisions/{revision}/restore"),
    ("get", "/api/alarms"),
    ("post", "/api/alarms"),
    ("get", "/api/alarms/upcoming"),
    ("get", "/api/alarms/{id}"),
    ("put", "/api/alarms/{id}"),
    ("patch", "/api/alarms/{id}"),
    ("delete", "/api/alarms/{id}"),
    ("post", "/api/alarms/{id}/skip-next"),
    ("post", "/api/alarms/{id}/ring-now"),
    ("get", "/api/ring"),
    ("post", "/api/ring/stop"),
    ("post", "/api/ring/snooze"),
    ("put", "/api/ring/volume"),
    ("get", "/api/history"),
    ("post", "/api/sleep-timer"),
    ("post", "/api/hardware/test"),
    ("get", "/api/session"),
    ("post", "/api/session"),
    ("delete", "/api/session"),
    ("get", "/api/spotify/link"),
    ("post", "/api/spotify/link"),
    ("delete", "/api/spotify/link"),
    ("post", "/api/spotify/link/complete"),
    ("get", "/api/spotify/devices"),
    ("get", "/api/spotify/playlists"),
    ("get", "/api/readiness"),
    ("post", "/api/readiness/check"),
    ("get", "/api/events"),
];

#[tokio::test]
async fn every_route_is_described_and_every_description_is_routed() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        spec["openapi"]
    );

    let paths = spec["paths"].as_object().unwrap();
    // The trust boundary's refusals are documented on every operation they can answer.
    let responses = |method: &str, path: &str| paths[path][method]["responses"].clone();
    for status in ["401", "403", "415", "421"] {
        assert!(
            responses("post", "/api/alarms").get(status).is_some(),
            "{status}"
        );
    }
    assert!(responses("get", "/healthz").get("401").is_none());
    assert!(responses("get", "/api/config").get("415").is_none());
    for (method, path) in EXPECTED {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is missing from the OpenAPI description"
        );
    }

    // The other direction: every described operation reaches a handler (not the 404 fallback
    // nor a 405), so the description names no route that does not exist.
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let response = app
                .request(method.clone(), &path.replace("{id}", "nope"), None, None)
                .await;
            let status = response.status();
            // An event stream never ends: its status and type are the answer.
            let streaming = response
                .headers()
                .get("content-type")
                .is_some_and(|t| t == "text/event-stream");
            let body: Value = if streaming {
                Value::Null
            } else {
                response.json().await.unwrap_or(Value::Null)
            };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            // Routed paths answer "no alarm with id"; the fallback says "no such resource".
            assert!(
                !(status == StatusCode::NOT_FOUND
                    && body["error"]["message"] == "no such resource"),
                "{method} {path} is described but not routed"
            );
            operations += 1;
        }
    }
    assert_eq!(
        operations,
        EXPECTED.len(),
        "an operation is described but not in EXPECTED"
    );

    // Schemas the operations refer to are present.
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in ["Config", "ErrorBody", "Status"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }

    // The playlist picker: its answer field by field, its refusals, its parameter.
    // Both sorted: the generator's order is not the struct's.
    let fields = |schema: &str| -> (Vec<String>, Vec<String>) {
        let schema = &schemas[schema];
        let mut properties: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let required = schema["required"].as_array().unwrap().iter();
        let mut required: Vec<String> = required.map(|r| r.as_str().unwrap().to_owned()).collect();
        properties.sort();
        required.sort();
        (properties, required)
    };
    let (list, required) = fields("PlaylistList");
    assert_eq!(
        list,
        [
            "available",
            "fetched_at",
            "message",
            "playlists",
            "truncated"
        ]
    );
    assert_eq!(
        required,
        ["available", "fetched_at", "playlists", "truncated"]
    );
    let (playlist, required) = fields("Playlist");
    assert_eq!(
        playlist,
        ["image_url", "items_total", "name", "owner", "uri"]
    );
    assert_eq!(required, ["name", "uri"]);
    let picker = &paths["/api/spotify/playlists"]["get"];
    for status in ["200", "400", "403", "409", "429", "502"] {
        assert!(picker["responses"].get(status).is_some(), "{status}");
    }
    assert!(
        picker["responses"]["429"]["headers"]
            .get("Retry-After")
            .is_some()
    );
    assert_eq!(picker["parameters"][0]["name"], "refresh");
    assert_eq!(picker["parameters"][0]["in"], "query");
    // The readiness answer describes what it carries, and nothing internal.
    let readiness = &schemas["Readiness"]["properties"];
    for field in ["trigger", "next_check_at", "repair", "webhook"] {
        assert!(readiness.get(field).is_some(), "Readiness.{field} missing");
    }
    assert!(readiness.get("receiver_missing").is_none());
    assert_eq!(
        schemas["Trigger"]["enum"],
        serde_json::json!(["on_demand", "alarm_saved", "before_alarm"])
    );
}

/// The description is precise enough for a client (or `scripts/fuzz-api`) to write what the
/// daemon accepts and to know every answer it can get.
#[tokio::test]
async fn request_bodies_parameters_statuses_and_links_are_described() {
    let app = spawn_app().await;
    let spec: Value = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    let schemas = &spec["components"]["schemas"];
    let body_schema = |path: &str, method: &str, media: &str| {
        let body = &spec["paths"][path][method]["requestBody"]["content"][media]["schema"];
        let name = body["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: {body}"));
        name.trim_start_matches("#/components/schemas/").to_owned()
    };

    // A new alarm: everything but the id, which the server assigns; nothing unknown.
    assert_eq!(
        body_schema("/api/alarms", "post", "application/json"),
        "NewAlarm"
    );
    let new = &schemas["NewAlarm"];
    assert!(new["properties"].get("id").is_none());
    assert_eq!(new["required"], serde_json::json!(["time"]));
    assert_eq!(new["additionalProperties"], false);
    assert_eq!(
        body_schema("/api/alarms/{id}", "put", "application/json"),
        "AlarmReplacement"
    );
    let merge = "application/merge-patch+json";
    assert_eq!(
        body_schema("/api/alarms/{id}", "patch", merge),
        "AlarmPatch"
    );
    assert_eq!(body_schema("/api/config", "patch", merge), "ConfigPatch");
    // Validation's rules, as far as JSON Schema can say them.
    let time = &schemas["TimeOfDay"];
    assert_eq!(time["pattern"], "^([01][0-9]|2[0-3]):[0-5][0-9]$");
    let ring = &schemas["RingSettings"]["properties"];
    assert_eq!(ring["target_percent"]["maximum"], 100);
    assert_eq!(ring["snooze_minutes"]["minimum"], 1);
    assert_eq!(ring["snooze_minutes"]["maximum"], 60);
    let alarm = &schemas["Alarm"]["properties"];
    assert_eq!(alarm["repeat"]["items"]["$ref"], "#/components/schemas/Day");
    assert_eq!(alarm["label"]["maxLength"], 64);
    assert!(schemas["SpotifySource"]["pattern"].is_string());
    assert_eq!(
        schemas["Volume"]["properties"]["volume_percent"]["maximum"],
        100
    );

    // Every reference resolves.
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(refs.len() > 50);
    for reference in refs {
        let name = reference.trim_start_matches("#/components/schemas/");
        assert!(schemas.get(name).is_some(), "{reference} does not resolve");
    }

    let mut with_body = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let has = |status: &str| responses.get(status).is_some();
            // A body can be malformed, too large or invalid: each is documented.
            if operation.get("requestBody").is_some() {
                with_body += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(has(status), "{method} {path} does not document {status}");
                }
            }
            // An If-Match has its pattern, and can be malformed or stale.
            let parameters = operation["parameters"].as_array().into_iter().flatten();
            for parameter in parameters.filter(|p| p["name"] == "If-Match") {
                assert_eq!(parameter["in"], "header");
                assert!(
                    parameter["schema"]["pattern"].is_string(),
                    "{method} {path}"
                );
                assert!(has("400") && has("412"), "{method} {path}");
            }
        }
    }
    assert!(with_body >= 10, "{with_body}");
    let count = &spec["paths"]["/api/alarms/upcoming"]["get"]["parameters"][0];
    assert_eq!(count["name"], "count");
    assert_eq!(count["in"], "query");
    assert_eq!(count["schema"]["maximum"], 50);

    // The stateful phase follows links from a created alarm; their fields are spelled as the
    // specification spells them, and each names an operation that exists.
    let operation_ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let created = &spec["paths"]["/api/alarms"]["post"]["responses"]["201"]["links"];
    let targets: Vec<&str> = created
        .as_object()
        .unwrap()
        .values()
        .map(|link| {
            assert!(link.get("operation_id").is_none(), "{link}");
            assert_eq!(link["parameters"]["id"], "$response.body#/id");
            link["operationId"].as_str().unwrap()
        })
        .collect();
    for target in [
        "get_alarm",
        "put_alarm",
        "patch_alarm",
        "delete_alarm",
        "skip_next",
    ] {
        assert!(targets.contains(&target), "{target}: {targets:?}");
    }
    for target in targets {
        assert!(operation_ids.contains(&target), "{target}");
    }
    assert_eq!(
        created["PutAlarm"]["parameters"]["header.If-Match"],
        "$response.header.ETag"
    );
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("$ref", Value::String(reference)) => refs.push(reference),
                    _ => collect_refs(field, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}
