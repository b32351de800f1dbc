//! A real server on 127.0.0.1:0 over a store in a temp dir, and a client for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::{Method, Response, StatusCode};
use reveille::clock::ManualClock;
use reveille::hardware::NoHardware;
use reveille::http;
use reveille::runner::Runner;
use reveille::scheduler::{Firing, Scheduler};
use reveille::store::{ConfigStore, FileWatcher, watch_file};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: ConfigStore,
    pub dir: TempDir,
    /// Calendar time as the scheduler and the API see it; starts at [`START`].
    pub clock: ManualClock,
    /// What the scheduler asked to ring.
    pub firings: Mutex<mpsc::Receiver<Firing>>,
    /// The runner's own firing input (these tests watch the scheduler's output instead).
    _runner_firings: mpsc::Sender<Firing>,
    _watcher: FileWatcher,
}

/// Monday 2026-11-23, 12:00 UTC.
pub const START: &str = "2026-11-23T12:00:00Z";

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::open(&dir.path().join("config.json"), None).unwrap();
    let watcher = watch_file(&store).unwrap();
    let clock = ManualClock::new(START.parse::<DateTime<Utc>>().unwrap());
    let (firings_tx, firings) = mpsc::channel(8);
    let (scheduler, schedule) = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        firings_tx,
        Box::new(|| Some(false)),
    )
    .unwrap();
    scheduler.spawn();
    let (runner_firings, runner_input) = mpsc::channel(1);
    let (runner, ringer) = Runner::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(NoHardware),
        dir.path(),
        runner_input,
    )
    .unwrap();
    runner.spawn();
    // Bound before serving: the port is known and connections queue until the server runs.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(http::serve(
        listener,
        http::router(
            store.clone(),
            schedule,
            ringer,
            None,
            None,
            http::Access::new(dir.path(), None),
        ),
        std::future::pending(),
    ));
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        dir,
        clock,
        firings: Mutex::new(firings),
        _runner_firings: runner_firings,
        _watcher: watcher,
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
