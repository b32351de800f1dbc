//! Talking to the running daemon's API from the command line: one request at a time, with the
//! daemon's CLI token when this user can read it (so a password does not stand in the way on
//! the Pi), and the daemon's refusals as its own one-line message and machine code. This is
//! the only place the CLI makes HTTP requests to the daemon.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::auth::CliToken;

/// Longest wait for one answer; the daemon's slowest (a readiness check) takes a few seconds.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(super) enum DaemonError {
    /// Nothing accepts connections at the URL: on the Pi, the daemon is not running.
    #[error("the daemon is not running (nothing answers at {0})")]
    NotRunning(String),
    #[error("cannot reach the daemon at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The daemon answered with an error; `message` is its sentence for a person.
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

impl DaemonError {
    pub fn code(&self) -> Option<&str> {
        match self {
            DaemonError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The running daemon's API.
pub(super) struct DaemonClient {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl DaemonClient {
    /// `config` is the daemon's config file: its directory holds the CLI token.
    pub fn new(url: &str, config: &Path) -> DaemonClient {
        DaemonClient {
            url: url.trim_end_matches('/').to_owned(),
            token: config.parent().and_then(CliToken::read),
            http: reqwest::Client::new(),
        }
    }

    /// One request; the answer's body as text (for `--json`, passed on unchanged).
    pub async fn call_text(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, DaemonError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .timeout(TIMEOUT);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return Ok(text);
        }
        let body: Value = serde_json::from_str(&text).unwrap_or_default();
        let error = &body["error"];
        Err(DaemonError::Refused {
            status: status.as_u16(),
            code: error["code"].as_str().unwrap_or_default().to_owned(),
            message: error["message"]
                .as_str()
                .map_or_else(|| format!("the daemon answered {status}"), str::to_owned),
        })
    }

    /// One request; the answer's JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DaemonError> {
        let text = self.call_text(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| DaemonError::Unreachable {
            url: self.url.clone(),
            detail: format!("its answer is not JSON: {e}"),
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> DaemonError {
        if e.is_connect() {
            return DaemonError::NotRunning(self.url.clone());
        }
        let detail = if e.is_timeout() {
            format!("no answer within {} s", TIMEOUT.as_secs())
        } else {
            e.to_string()
        };
        DaemonError::Unreachable {
            url: self.url.clone(),
            detail,
        }
    }
}

/// Runs a client command's future on a runtime of its own (one thread, like the daemon's).
pub(super) fn block_on<T>(future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(future)
}

/// `reveille stop|snooze`: `POST /api/ring/<action>`.
pub(super) fn control(url: &str, config: &Path, action: &str) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        client
            .call_text(Method::POST, &format!("/api/ring/{action}"), None)
            .await
            .map(|_| format!("{action}: done"))
            .map_err(|e| e.to_string())
    });
    super::finish(action, result)
}
