//! Checks recorded exchanges against the vendored OpenAPI description of the Spotify Web API
//! (`tests/data/spotify/spotify-web-api.openapi.yml`, parsed once): the path and method are
//! declared, every query parameter is declared and well-typed, required ones are present, the
//! JSON body fits the request schema, the status is documented and the response body fits its
//! schema. A few constraints the spec states only in prose (volume 0-100, one transfer device)
//! are added to the parsed spec at load time. `/api/token` belongs to the accounts service,
//! which the spec does not describe, so `token_rules.rs` checks it by hand. Nothing here does HTTP.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{RecordedRequest, schema, token_rules};

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/spotify/spotify-web-api.openapi.yml"
);

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The parsed spec, with the prose-only constraints added.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH)
            .unwrap_or_else(|e| panic!("the vendored Spotify spec is at {SPEC_PATH}: {e}"));
        let mut spec: Value =
            serde_norway::from_str(&text).expect("the vendored Spotify spec is valid YAML");
        add_prose_constraints(&mut spec);
        spec
    })
}

/// `PUT /v1/me/player/volume?volume_percent=150 -> 400`, for error listings.
pub fn describe(request: &RecordedRequest) -> String {
    let query: Vec<String> = request
        .query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let (method, path, status) = (&request.method, &request.path, request.status);
    format!("{method} {path}{query} -> {status}")
}

/// Every way `request` (and the mock's answer to it) departs from the spec.
pub fn validate(request: &RecordedRequest) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if request.path == "/api/token" {
        token_rules::validate_token(request, &mut errors);
    } else if let Some(api_path) = request.path.strip_prefix("/v1") {
        validate_api(spec(), api_path, request, &mut errors);
    } else {
        errors.push(format!(
            "path {} is on neither the Web API (/v1) nor the accounts service (/api/token)",
            request.path
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn validate_api(spec: &Value, api_path: &str, request: &RecordedRequest, errors: &mut Vec<String>) {
    let Some((template, item)) = find_path(spec, api_path) else {
        errors.push(format!(
            "path {} is not in the spec (no `{api_path}` under `paths`)",
            request.path
        ));
        return;
    };
    let method = request.method.to_ascii_lowercase();
    let Some(operation) = item
        .get(&method)
        .filter(|_| METHODS.contains(&method.as_str()))
    else {
        let declared: Vec<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_ascii_uppercase())
            .collect();
        errors.push(format!(
            "method {} is not declared for {template} (the spec has {})",
            request.method,
            declared.join(", ")
        ));
        return;
    };
    let authorization = request.headers_authorization.as_deref().unwrap_or("");
    let has_security = operation.get("security").is_some_and(|s| s != &json!([]));
    if has_security
        && authorization
            .strip_prefix("Bearer ")
            .is_none_or(str::is_empty)
    {
        errors.push("missing `Authorization: Bearer <token>` header".to_owned());
    }
    check_query(spec, item, operation, request, errors);
    check_body(spec, operation, request, errors);
    check_response(spec, template, operation, request, errors);
}

/// The `paths` entry for `api_path`: an exact match first, then a `{param}` template.
fn find_path<'a>(spec: &'a Value, api_path: &str) -> Option<(&'a str, &'a Value)> {
    let paths = spec.get("paths")?.as_object()?;
    if let Some((template, item)) = paths.get_key_value(api_path) {
        return Some((template.as_str(), item));
    }
    paths
        .iter()
        .find(|(template, _)| template_matches(template, api_path))
        .map(|(template, item)| (template.as_str(), item))
}

fn template_matches(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

/// Path-level and operation-level parameters, `$ref`s resolved.
fn parameters<'a>(spec: &'a Value, item: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    let declared = |node: &'a Value| node.get("parameters").and_then(Value::as_array);
    let all = declared(item)
        .into_iter()
        .chain(declared(operation))
        .flatten();
    all.map(|p| schema::resolve(spec, p)).collect()
}

fn check_query(
    spec: &Value,
    item: &Value,
    operation: &Value,
    request: &RecordedRequest,
    errors: &mut Vec<String>,
) {
    let query_params: Vec<&Value> = parameters(spec, item, operation)
        .into_iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        .collect();
    let name_of = |p: &Value| {
        p.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    for (index, (name, raw)) in request.query.iter().enumerate() {
        if request.query[..index]
            .iter()
            .any(|(earlier, _)| earlier == name)
        {
            errors.push(format!("query parameter `{name}` is given more than once"));
            continue;
        }
        let Some(param) = query_params.iter().find(|p| name_of(p) == *name) else {
            let declared: Vec<String> = query_params.iter().map(|p| name_of(p)).collect();
            errors.push(format!(
                "unknown query parameter `{name}` (declared: {})",
                declared.join(", ")
            ));
            continue;
        };
        let param_schema = schema::resolve(spec, param.get("schema").unwrap_or(&Value::Null));
        match typed_query_value(param_schema, raw) {
            Ok(value) => {
                let place = format!("query parameter `{name}`");
                schema::validate(spec, param_schema, &value, &place, errors);
            }
            Err(expected) => errors.push(format!(
                "query parameter `{name}`={raw} should be {expected}"
            )),
        }
    }
    for param in &query_params {
        let name = name_of(param);
        let required = param.get("required").and_then(Value::as_bool) == Some(true);
        if required && request.query_value(&name).is_none() {
            errors.push(format!("required query parameter `{name}` is missing"));
        }
    }
}

/// A query string value as the JSON value its schema type implies.
fn typed_query_value(param_schema: &Value, raw: &str) -> Result<Value, String> {
    let expected = param_schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string");
    let value = match expected {
        "integer" => raw.parse::<i64>().ok().map(Value::from),
        "number" => raw.parse::<f64>().ok().map(Value::from),
        "boolean" => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => Some(Value::String(raw.to_owned())),
    };
    value.ok_or_else(|| format!("{expected} (`true`/`false` for booleans)"))
}

fn check_body(
    spec: &Value,
    operation: &Value,
    request: &RecordedRequest,
    errors: &mut Vec<String>,
) {
    let request_body = operation
        .get("requestBody")
        .map(|b| schema::resolve(spec, b));
    let sent = request.body_len > 0 || request.body.is_some();
    let Some(declared) = request_body else {
        if sent {
            errors.push(format!(
                "the operation takes no request body, but one was sent ({} bytes)",
                request.body_len
            ));
        }
        return;
    };
    if !sent {
        if declared.get("required").and_then(Value::as_bool) == Some(true) {
            errors.push("the required request body is missing".into());
        }
        return;
    }
    let content = declared.get("content").and_then(Value::as_object);
    let media_type = request
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if content.is_some_and(|c| c.contains_key(media_type)) => {}
        other => {
            let declared: Vec<&str> = content
                .map(|c| c.keys().map(String::as_str).collect())
                .unwrap_or_default();
            errors.push(format!(
                "the body's content type {} is not one the operation takes ({})",
                other.unwrap_or("(none)"),
                declared.join(", ")
            ));
        }
    }
    match (
        declared.pointer("/content/application~1json/schema"),
        &request.body,
    ) {
        (Some(body_schema), Some(body)) => {
            schema::validate(spec, body_schema, body, "request body", errors)
        }
        (Some(_), None) => errors.push("the request body is not JSON".into()),
        (None, _) => {
            errors.push("the spec declares no JSON request body for this operation".into())
        }
    }
}

fn check_response(
    spec: &Value,
    template: &str,
    operation: &Value,
    request: &RecordedRequest,
    errors: &mut Vec<String>,
) {
    let status = request.status;
    let responses = operation.get("responses").and_then(Value::as_object);
    let documented = responses.and_then(|r| r.get(&status.to_string()));
    // 415 is not in the spec, but the real service sends it (tests inject it as a fault).
    let generic_error = matches!(status, 400 | 401 | 403 | 404 | 415 | 429 | 500..=599);
    let declared = match (documented, generic_error) {
        (Some(response), _) => schema::resolve(spec, response),
        // Any operation may answer these; the spec lists only some of them per operation.
        (None, true) => schema::resolve(spec, &spec["components"]["responses"]["Unauthorized"]),
        (None, false) => {
            let listed: Vec<&str> = responses
                .map(|r| r.keys().map(String::as_str).collect())
                .unwrap_or_default();
            errors.push(format!(
                "status {status} is not documented for {} {template} (the spec lists {})",
                request.method,
                listed.join(", ")
            ));
            return;
        }
    };
    let body_schema = declared.pointer("/content/application~1json/schema");
    match (body_schema, &request.response_body) {
        (None, None) => {}
        (None, Some(_)) => errors.push(format!("a {status} response must have no body")),
        (Some(_), None) => errors.push(format!("the {status} response body is missing")),
        (Some(body_schema), Some(body)) => {
            schema::validate(spec, body_schema, body, "response body", errors);
        }
    }
    if status >= 400
        && let Some(said) = request
            .response_body
            .as_ref()
            .and_then(|b| b.pointer("/error/status"))
        && said != &json!(status)
    {
        errors.push(format!(
            "the error body says status {said}, the response is {status}"
        ));
    }
}

/// Constraints the spec gives only in its descriptions, made checkable.
fn add_prose_constraints(spec: &mut Value) {
    // "Must be a value from 0 to 100 inclusive."
    let volume = query_param_schema(spec, "/me/player/volume", "volume_percent");
    merge(volume, json!({ "minimum": 0, "maximum": 100 }));
    // "track, context or off"
    let repeat = query_param_schema(spec, "/me/player/repeat", "state");
    merge(repeat, json!({ "enum": ["track", "context", "off"] }));
    // "Must be a positive number."
    let seek = query_param_schema(spec, "/me/player/seek", "position_ms");
    merge(seek, json!({ "minimum": 0 }));
    // "only a single device_id is currently supported. Supplying more than one will return 400"
    let transfer = "/paths/~1me~1player/put/requestBody/content/application~1json/schema/properties/device_ids";
    merge(
        pointer(spec, transfer),
        json!({ "minItems": 1, "maxItems": 1 }),
    );
    let play = "/paths/~1me~1player~1play/put/requestBody/content/application~1json/schema/properties/position_ms";
    merge(pointer(spec, play), json!({ "minimum": 0 }));
    let state = "/components/schemas/CurrentlyPlayingContextObject/properties";
    merge(
        pointer(spec, &format!("{state}/repeat_state")),
        json!({ "enum": ["off", "track", "context"] }),
    );
    let playing_type = json!({ "enum": ["track", "episode", "ad", "unknown"] });
    merge(
        pointer(spec, &format!("{state}/currently_playing_type")),
        playing_type,
    );
}

fn pointer<'a>(spec: &'a mut Value, at: &str) -> &'a mut Value {
    spec.pointer_mut(at)
        .unwrap_or_else(|| panic!("the vendored spec has {at}"))
}

fn query_param_schema<'a>(spec: &'a mut Value, path: &str, name: &str) -> &'a mut Value {
    let operation = spec["paths"][path]["put"]["parameters"].as_array_mut();
    operation
        .and_then(|params| params.iter_mut().find(|p| p["name"] == name))
        .map(|param| &mut param["schema"])
        .unwrap_or_else(|| panic!("the vendored spec declares `{name}` on PUT {path}"))
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}
