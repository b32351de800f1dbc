//! The mock's HTTP side: one axum fallback handler that routes by method and path, checks the
//! bearer token, applies injected faults, hands the request to `player.rs`, `playlists.rs` or `accounts.rs`,
//! records the exchange and only then (after an injected delay) answers. It owns no state of
//! its own and never holds the state lock across an `.await`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Endpoint, Fault, RecordedRequest, Shared, State, accounts, player, playlists};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// What the mock answers, before it is turned into HTTP.
pub(super) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            retry_after: None,
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            retry_after: None,
        }
    }

    /// A Web API error: `{"error":{"status","message","reason"?}}`.
    pub fn api_error(status: u16, message: &str, reason: Option<&str>) -> Reply {
        let mut error = json!({ "status": status, "message": message });
        if let Some(reason) = reason {
            error["reason"] = json!(reason);
        }
        Reply {
            status,
            body: Some(json!({ "error": error })),
            retry_after: None,
        }
    }

    /// An accounts-service (OAuth) error: `{"error","error_description"}`.
    pub fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
        Reply {
            status,
            body: Some(json!({ "error": error, "error_description": description })),
            retry_after: None,
        }
    }
}

/// A parsed request, as the endpoint logic sees it.
pub(super) struct Incoming {
    pub query: Vec<(String, String)>,
    pub body: Body,
}

pub(super) enum Body {
    Empty,
    Json(Value),
    /// Not JSON (or, for `/api/token`, not a form).
    Malformed,
}

impl Incoming {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

fn endpoint_for(method: &Method, path: &str) -> Result<Endpoint, StatusCode> {
    let endpoint = match (method.as_str(), path) {
        ("GET", "/v1/me/player/devices") => Endpoint::Devices,
        ("GET", "/v1/me/player") => Endpoint::PlaybackState,
        ("PUT", "/v1/me/player") => Endpoint::Transfer,
        ("PUT", "/v1/me/player/play") => Endpoint::Play,
        ("PUT", "/v1/me/player/pause") => Endpoint::Pause,
        ("PUT", "/v1/me/player/volume") => Endpoint::Volume,
        ("PUT", "/v1/me/player/shuffle") => Endpoint::Shuffle,
        ("POST", "/api/token") => Endpoint::Token,
        ("GET", "/v1/me") => Endpoint::Me,
        ("GET", "/v1/me/playlists") => Endpoint::Playlists,
        (
            _,
            "/v1/me/player/devices"
            | "/v1/me/player"
            | "/v1/me/player/play"
            | "/v1/me/player/pause"
            | "/v1/me/player/volume"
            | "/v1/me/player/shuffle"
            | "/api/token"
            | "/v1/me"
            | "/v1/me/playlists",
        ) => return Err(StatusCode::METHOD_NOT_ALLOWED),
        _ => return Err(StatusCode::NOT_FOUND),
    };
    Ok(endpoint)
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let endpoint = endpoint_for(&method, uri.path());
    let incoming = Incoming {
        query: query.clone(),
        body: parse_body(endpoint == Ok(Endpoint::Token), &headers, &body),
    };

    let (reply, delay) = {
        let mut state = shared.lock();
        match endpoint {
            Ok(endpoint) => respond(&mut state, endpoint, authorization.as_deref(), &incoming),
            Err(StatusCode::METHOD_NOT_ALLOWED) => {
                (Reply::api_error(405, "Method not allowed", None), None)
            }
            Err(_) => (Reply::api_error(404, "Service not found", None), None),
        }
    };

    shared.record(RecordedRequest {
        endpoint: endpoint.ok(),
        method: method.to_string(),
        path: uri.path().to_owned(),
        query,
        headers_authorization: authorization,
        body: match incoming.body {
            Body::Json(value) => Some(value),
            Body::Empty | Body::Malformed => None,
        },
        body_len: body.len(),
        content_type,
        status: reply.status,
        response_body: reply.body.clone(),
        at,
    });
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    into_response(reply)
}

fn parse_body(is_form: bool, headers: &HeaderMap, body: &Bytes) -> Body {
    if body.is_empty() {
        return Body::Empty;
    }
    if !is_form {
        return serde_json::from_slice(body).map_or(Body::Malformed, Body::Json);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Body::Malformed;
    }
    match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        Ok(fields) => {
            let object: Map<String, Value> = fields
                .into_iter()
                .map(|(key, value)| (key, Value::String(value)))
                .collect();
            Body::Json(Value::Object(object))
        }
        Err(_) => Body::Malformed,
    }
}

/// Auth, then faults, then the endpoint itself. Returns the reply and how long to hold it.
fn respond(
    state: &mut State,
    endpoint: Endpoint,
    authorization: Option<&str>,
    incoming: &Incoming,
) -> (Reply, Option<Duration>) {
    if endpoint != Endpoint::Token
        && let Err(reply) = check_bearer(state, authorization)
    {
        return (reply, None);
    }
    let mut delay = None;
    match state.take_fault(endpoint) {
        Some(Fault::Delay(duration)) => delay = Some(duration),
        Some(Fault::Status {
            status,
            message,
            reason,
        }) => {
            let reply = status_fault(endpoint, status, &message, reason.as_deref());
            return (reply, None);
        }
        Some(Fault::RetryAfter(secs)) => return (rate_limited(endpoint, secs), None),
        None => {}
    }
    let reply = match endpoint {
        Endpoint::Token => accounts::token(state, authorization, incoming),
        Endpoint::Me => accounts::me(state),
        Endpoint::Playlists => playlists::page(state, incoming),
        _ => match incoming.body {
            Body::Malformed => Reply::api_error(400, "Malformed json", None),
            _ => player::respond(state, endpoint, incoming),
        },
    };
    (reply, delay)
}

fn check_bearer(state: &State, authorization: Option<&str>) -> Result<(), Reply> {
    let Some(header) = authorization else {
        return Err(Reply::api_error(401, "No token provided", None));
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return Err(Reply::api_error(
            400,
            "Only valid bearer authentication supported",
            None,
        ));
    };
    let tokens = &state.tokens;
    if token == tokens.access && !tokens.access_expired {
        Ok(())
    } else if tokens.issued_access.contains(token) {
        Err(Reply::api_error(401, "The access token expired", None))
    } else {
        Err(Reply::api_error(401, "Invalid access token", None))
    }
}

/// The answer an injected status fault gives, in the body shape of the service it hits.
fn status_fault(endpoint: Endpoint, status: u16, message: &str, reason: Option<&str>) -> Reply {
    if endpoint != Endpoint::Token {
        return Reply::api_error(status, message, reason);
    }
    let error = reason.unwrap_or(match status {
        400 => "invalid_request",
        401 => "invalid_client",
        500..=599 => "server_error",
        _ => "temporarily_unavailable",
    });
    Reply::oauth_error(status, error, message)
}

fn rate_limited(endpoint: Endpoint, secs: u64) -> Reply {
    let reply = if endpoint == Endpoint::Token {
        Reply::oauth_error(429, "rate_limit_exceeded", "Too many requests")
    } else {
        Reply::api_error(429, "API rate limit exceeded", Some("RATE_LIMITED"))
    };
    Reply {
        retry_after: Some(secs),
        ..reply
    }
}

fn into_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    if let Some(secs) = reply.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
