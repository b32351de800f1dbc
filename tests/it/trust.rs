//! The trust boundary, attacked the way the issue found it open: owner-only settings over
//! HTTP, cross-site requests a browser sends without asking, DNS rebinding, the password and
//! its sessions. Every refusal is checked to change nothing, on disk or in memory; the
//! requests the page and the CLI send must still pass.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use reveille::auth::PasswordFile;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_body, spawn_app};

/// What a refused request must leave alone: the file's bytes and the served revision.
struct Unchanged {
    bytes: Vec<u8>,
    revision: u64,
}

impl Unchanged {
    fn of(app: &TestApp) -> Unchanged {
        Unchanged {
            bytes: std::fs::read(app.dir.path().join("config.json")).unwrap(),
            revision: app.store.snapshot().revision,
        }
    }

    fn check(&self, app: &TestApp, what: &str) {
        assert_eq!(app.store.snapshot().revision, self.revision, "{what}");
        assert_eq!(
            std::fs::read(app.dir.path().join("config.json")).unwrap(),
            self.bytes,
            "{what} changed the file"
        );
    }
}

/// The owner's settings, as set on the Pi (a store transaction is what a hand edit becomes).
async fn owner_configured_app() -> TestApp {
    let app = spawn_app().await;
    app.store
        .transaction(None, |config| {
            config.fallback.command = vec!["paplay".into()];
            config.spotify.api_base_url = Some("https://api.spotify.com/v1".into());
            config.alarms = vec![
                serde_json::from_value(json!({"id": "workdays", "time": "06:45",
                    "repeat": ["mon", "tue", "wed", "thu", "fri"]}))
                .unwrap(),
            ];
            Ok(())
        })
        .await
        .unwrap();
    app
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&'static str, String)],
    body: Option<&str>,
) -> Response {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .headers(map);
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    request.send().await.unwrap()
}

/// A request and the status it must get: method, path, headers, body.
type Attack = (
    Method,
    &'static str,
    Vec<(&'static str, String)>,
    Option<&'static str>,
    StatusCode,
);

fn json_type() -> (&'static str, String) {
    ("content-type", "application/json".into())
}

#[tokio::test]
async fn owner_only_settings_cannot_be_changed_over_http() {
    let app = owner_configured_app().await;
    let before = Unchanged::of(&app);
    let attacks = [
        (
            json!({"fallback": {"command": ["/bin/sh", "-c", "touch /tmp/owned"]}}),
            "fallback.command",
        ),
        (
            json!({"fallback": {"sound_file": "/etc/shadow"}}),
            "fallback.sound_file",
        ),
        (
            json!({"spotify": {"api_base_url": "https://evil.example"}}),
            "spotify.api_base_url",
        ),
        (
            json!({"spotify": {"accounts_base_url": "https://evil.example"}}),
            "spotify.accounts_base_url",
        ),
        (json!({"hardware": {"backend": "sim"}}), "hardware.backend"),
        (
            json!({"hardware": {"buzzer": {"pin": 12}}}),
            "hardware.buzzer",
        ),
        (
            json!({"web": {"allowed_hosts": ["evil.example"]}}),
            "web.allowed_hosts",
        ),
        (json!({"fallback": null}), "fallback.command"),
    ];
    for (patch, field) in attacks {
        let response = app.patch(&patch, None).await;
        let body = error_body(response, StatusCode::FORBIDDEN, "owner_only").await;
        assert_eq!(body["error"]["field"], field, "{patch}");
        before.check(&app, &patch.to_string());
    }
    // A plain-http base URL to another machine is not even a valid document.
    let response = app
        .patch(
            &json!({"spotify": {"api_base_url": "http://evil.example"}}),
            None,
        )
        .await;
    assert!(response.status().is_client_error());
    before.check(&app, "http base URL");

    // PUT: a whole document carrying a different command is refused...
    let (mut document, revision) = app.get_config().await;
    document["fallback"]["command"] = json!(["/bin/sh"]);
    let response = app
        .request(
            Method::PUT,
            "/api/config",
            Some(&format!("\"{revision}\"")),
            Some(serde_json::to_vec(&document).unwrap()),
        )
        .await;
    let body = error_body(response, StatusCode::FORBIDDEN, "owner_only").await;
    assert_eq!(body["error"]["field"], "fallback.command");
    before.check(&app, "PUT with a command");

    // ...and one that leaves owner-only settings out keeps them (the page sends user settings).
    let response = app
        .request(
            Method::PUT,
            "/api/config",
            Some(&format!("\"{revision}\"")),
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let config = &app.store.snapshot().config;
    assert_eq!(config.fallback.command, ["paplay"]);
    assert_eq!(
        config.spotify.api_base_url.as_deref(),
        Some("https://api.spotify.com/v1")
    );
}

#[tokio::test]
async fn cross_site_requests_a_browser_sends_unasked_are_refused_and_change_nothing() {
    let app = owner_configured_app().await;
    let before = Unchanged::of(&app);
    let evil = ("origin", "http://evil.example".to_owned());
    let alarm = r#"{"time": "03:00", "repeat": ["mon"]}"#;
    let attacks: Vec<Attack> = vec![
        // A form or text body: no preflight, so the browser sends it.
        (
            Method::POST,
            "/api/alarms",
            vec![("content-type", "text/plain".into())],
            Some(alarm),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            "/api/alarms",
            vec![("content-type", "application/x-www-form-urlencoded".into())],
            Some("time=03:00"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            "/api/alarms",
            vec![("content-type", "multipart/form-data; boundary=x".into())],
            Some("--x--"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::PATCH,
            "/api/config",
            vec![("content-type", "text/plain".into())],
            Some(r#"{"alarms": []}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            "/api/alarms",
            vec![],
            Some(alarm),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            "/api/sleep-timer",
            vec![("content-type", "text/plain".into()), evil.clone()],
            Some(r#"{"minutes": 5}"#),
            StatusCode::FORBIDDEN,
        ),
        // No body, but from another site's page: the browser adds its Origin.
        (
            Method::POST,
            "/api/alarms/workdays/skip-next",
            vec![evil.clone()],
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/api/ring/stop",
            vec![evil.clone()],
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/api/ring/snooze",
            vec![("origin", "null".into())],
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/api/hardware/test",
            vec![evil.clone()],
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/api/alarms/workdays/ring-now",
            vec![("sec-fetch-site", "cross-site".into())],
            None,
            StatusCode::FORBIDDEN,
        ),
        // JSON with a foreign Origin (only possible after a preflight nobody grants).
        (
            Method::POST,
            "/api/alarms",
            vec![json_type(), evil.clone()],
            Some(alarm),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/api/alarms/workdays",
            vec![evil.clone()],
            None,
            StatusCode::FORBIDDEN,
        ),
        // DNS rebinding: the attacker's name resolves to the Pi.
        (
            Method::POST,
            "/api/alarms",
            vec![json_type(), ("host", "rebind.evil.example".into())],
            Some(alarm),
            StatusCode::MISDIRECTED_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/config",
            vec![
                json_type(),
                ("host", "evil.example:8080".into()),
                ("origin", "http://evil.example:8080".into()),
            ],
            Some(r#"{"alarms": []}"#),
            StatusCode::MISDIRECTED_REQUEST,
        ),
    ];
    for (method, path, headers, body, status) in attacks {
        let what = format!("{method} {path} {headers:?}");
        let response = send(&app, method, path, &headers, body).await;
        assert_eq!(response.status(), status, "{what}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{what}: {body}");
        before.check(&app, &what);
    }
    assert!(!app.store.snapshot().config.alarms[0].skip_next);

    // Two Host headers, or one that is not text, are not this machine's name.
    let mut twice = HeaderMap::new();
    twice.append("host", HeaderValue::from_static("127.0.0.1"));
    twice.append("host", HeaderValue::from_static("evil.example"));
    let response = app
        .client
        .get(format!("{}/api/config", app.base))
        .headers(twice)
        .send()
        .await
        .unwrap();
    error_body(
        response,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
    )
    .await;
    let mut binary = HeaderMap::new();
    binary.insert(
        "host",
        HeaderValue::from_bytes(b"evil\xe9.example").unwrap(),
    );
    let response = app
        .client
        .get(format!("{}/api/config", app.base))
        .headers(binary)
        .send()
        .await
        .unwrap();
    error_body(
        response,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
    )
    .await;

    // Reading through a rebinding name is refused too: the config would leak.
    let response = send(
        &app,
        Method::GET,
        "/api/config",
        &[("host", "evil.example".into())],
        None,
    )
    .await;
    error_body(
        response,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn the_pages_and_the_clis_requests_pass() {
    let app = owner_configured_app().await;
    let own_origin = ("origin", app.base.clone());
    // The page: same origin, JSON.
    let response = send(
        &app,
        Method::POST,
        "/api/alarms",
        &[
            json_type(),
            own_origin.clone(),
            ("sec-fetch-site", "same-origin".into()),
        ],
        Some(r#"{"time": "07:30", "repeat": ["sat"]}"#),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // A merge patch with its own media type.
    let response = send(
        &app,
        Method::PATCH,
        "/api/config",
        &[
            ("content-type", "application/merge-patch+json".into()),
            own_origin.clone(),
        ],
        Some(r#"{"time_zone": "Europe/Berlin"}"#),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The CLI and scripts on the LAN: no Origin, no body.
    let response = send(
        &app,
        Method::POST,
        "/api/alarms/workdays/skip-next",
        &[],
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(&app, Method::POST, "/api/ring/stop", &[], None).await;
    error_body(response, StatusCode::CONFLICT, "not_ringing").await;
    // Names of this machine.
    for host in ["localhost", "127.0.0.1:1", "[::1]:8080"] {
        let response = send(
            &app,
            Method::GET,
            "/healthz",
            &[("host", host.into())],
            None,
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let responses = [
        send(&app, Method::GET, "/api/status", &[], None).await,
        send(&app, Method::GET, "/nope", &[], None).await,
        send(&app, Method::GET, "/healthz", &[], None).await,
        send(
            &app,
            Method::POST,
            "/api/alarms",
            &[("content-type", "text/plain".into())],
            Some("x"),
        )
        .await,
        send(
            &app,
            Method::GET,
            "/api/config",
            &[("host", "evil.example".into())],
            None,
        )
        .await,
    ];
    for response in responses {
        let headers = response.headers();
        let what = format!("{} {:?}", response.status(), response.url().path());
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["x-frame-options"], "DENY", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{what}"
        );
        if response.url().path() != "/nope" {
            assert_eq!(headers["cache-control"], "no-store", "{what}");
        }
    }
}

fn cookie_of(response: &Response) -> String {
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

async fn log_in(app: &TestApp, password: &str) -> Response {
    send(
        app,
        Method::POST,
        "/api/session",
        &[json_type()],
        Some(&json!({"password": password}).to_string()),
    )
    .await
}

#[tokio::test]
async fn with_a_password_only_a_session_opens_the_api() {
    let app = owner_configured_app().await;
    // Without a password, nothing to log in to; the API is open.
    let response = log_in(&app, "whatever-it-is").await;
    error_body(response, StatusCode::CONFLICT, "no_password").await;
    assert_eq!(app.status().await["access"]["password_set"], false);

    // The owner sets one on the Pi.
    PasswordFile::new(app.dir.path())
        .set("correct horse")
        .unwrap();
    let before = Unchanged::of(&app);
    for (method, path, body) in [
        (Method::GET, "/api/status", None),
        (Method::GET, "/api/config", None),
        (Method::GET, "/api/openapi.json", None),
        (
            Method::PATCH,
            "/api/config",
            Some(r#"{"time_zone": "UTC"}"#),
        ),
        (Method::POST, "/api/ring/stop", None),
        (Method::POST, "/api/alarms/workdays/skip-next", None),
    ] {
        let headers = if body.is_some() {
            vec![json_type()]
        } else {
            vec![]
        };
        let response = send(&app, method.clone(), path, &headers, body).await;
        error_body(response, StatusCode::UNAUTHORIZED, "login_required").await;
        before.check(&app, path);
    }
    // Open: liveness, the login itself, the page's files.
    assert_eq!(
        send(&app, Method::GET, "/healthz", &[], None)
            .await
            .status(),
        StatusCode::OK
    );
    let state: Value = send(&app, Method::GET, "/api/session", &[], None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state, json!({"password_set": true, "logged_in": false}));

    let response = log_in(&app, "wrong horse").await;
    error_body(response, StatusCode::UNAUTHORIZED, "wrong_password").await;
    let response = log_in(&app, "correct horse").await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = ("cookie", cookie_of(&response));
    let status: Value = send(
        &app,
        Method::GET,
        "/api/status",
        std::slice::from_ref(&cookie),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(status["access"]["password_set"], true);
    let response = send(
        &app,
        Method::POST,
        "/api/alarms/workdays/skip-next",
        std::slice::from_ref(&cookie),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A cookie of the same name set by another service on this host does not shadow ours.
    let shadowed = ("cookie", format!("reveille_session=junk; {}", cookie.1));
    let response = send(&app, Method::GET, "/api/status", &[shadowed], None).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A forged or logged-out session is nothing.
    let forged = ("cookie", format!("reveille_session={}", "0".repeat(64)));
    let response = send(&app, Method::GET, "/api/status", &[forged], None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send(
        &app,
        Method::DELETE,
        "/api/session",
        std::slice::from_ref(&cookie),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = send(&app, Method::GET, "/api/status", &[cookie], None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Another site cannot log the browser in.
    let response = send(
        &app,
        Method::POST,
        "/api/session",
        &[json_type(), ("origin", "http://evil.example".into())],
        Some(r#"{"password": "correct horse"}"#),
    )
    .await;
    error_body(response, StatusCode::FORBIDDEN, "cross_origin").await;

    // A new password ends every session.
    let response = log_in(&app, "correct horse").await;
    let cookie = ("cookie", cookie_of(&response));
    PasswordFile::new(app.dir.path())
        .set("battery staple")
        .unwrap();
    let response = send(&app, Method::GET, "/api/status", &[cookie], None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_attempts_are_limited_per_client() {
    let app = spawn_app().await;
    PasswordFile::new(app.dir.path())
        .set("correct horse")
        .unwrap();
    for _ in 0..5 {
        let response = log_in(&app, "guess guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the limit even the right password waits: the limit is on attempts.
    let response = log_in(&app, "correct horse").await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    error_body(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}
