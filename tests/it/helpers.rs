//! The application, built as `reveille run` builds it, on 127.0.0.1:0 over a store in a temp
//! dir, and a client for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, Response, StatusCode};
use reveille::app::{Application, HardwareChoice};
use reveille::clock::ManualClock;
use reveille::scheduler::Firing;
use reveille::store::ConfigStore;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::{Mutex, mpsc};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: ConfigStore,
    pub dir: TempDir,
    /// Calendar time as the scheduler and the API see it; starts at [`START`].
    pub clock: ManualClock,
    /// What the scheduler asked to ring (the runner never sees it, so nothing rings).
    pub firings: Mutex<mpsc::Receiver<Firing>>,
}

/// Monday 2026-11-23, 12:00 UTC.
pub const START: &str = "2026-11-23T12:00:00Z";

/// The daemon as `reveille run` builds it, except: a manual clock at [`START`], no hardware,
/// an unsynchronized clock, no CLI token, and the scheduler's firings handed to the test.
pub fn test_app(dir: &TempDir, clock: &ManualClock) -> reveille::app::ApplicationBuilder {
    Application::builder(dir.path().join("config.json"))
        .clock(Arc::new(clock.clone()))
        .hardware(HardwareChoice::None)
        .clock_synchronized(|| Some(false))
        .cli_token(false)
        .firings_to_caller()
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START.parse::<DateTime<Utc>>().unwrap());
    let mut app = test_app(&dir, &clock).build().await.unwrap();
    // Bound by `build`: the port is known and connections queue until the server runs.
    let addr = app.local_addr();
    let store = app.store().clone();
    let firings = app.take_firings().expect("asked for the firings");
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        dir,
        clock,
        firings: Mutex::new(firings),
    }
}

impl TestApp {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        if_match: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        request.send().await.unwrap()
    }

    /// The document and its revision.
    pub async fn get_config(&self) -> (Value, u64) {
        let response = self.request(Method::GET, "/api/config", None, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let revision = revision_of(&response);
        (response.json().await.unwrap(), revision)
    }

    pub async fn patch(&self, patch: &Value, revision: Option<u64>) -> Response {
        let tag = revision.map(|r| format!("\"{r}\""));
        self.request(
            Method::PATCH,
            "/api/config",
            tag.as_deref(),
            Some(serde_json::to_vec(patch).unwrap()),
        )
        .await
    }

    pub async fn status(&self) -> Value {
        let response = self.request(Method::GET, "/api/status", None, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Polls the status until `done` holds (the watcher works in the background), at most 10 s.
    pub async fn wait_for_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; status: {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn revision_of(response: &Response) -> u64 {
    let tag = response.headers()["etag"].to_str().unwrap();
    tag.trim_matches('"').parse().unwrap()
}

/// Asserts the standard error body and returns it.
pub async fn error_body(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body
}
