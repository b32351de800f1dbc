//! Talking to the running daemon's API from the command line: one request at a time, with the
//! daemon's CLI token when this user can read it (so a password does not stand in the way on
//! the Pi), and the daemon's refusals as one line: its own sentence, the field it names, or,
//! for a missing login, what to do about it. This is the only place the CLI makes HTTP
//! requests to the daemon; it never talks to Spotify.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::auth::CliToken;

/// Longest wait for one answer; the daemon's slowest (a readiness check) takes a few seconds.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(super) enum DaemonError {
    /// Nothing accepts connections at the URL: on the Pi, the daemon is not running.
    #[error(
        "the daemon is not running (nothing answers at {0}; on the Pi: systemctl status reveille)"
    )]
    NotRunning(String),
    #[error("cannot reach the daemon at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// An answer this build cannot read (another version of the daemon, or not the daemon).
    #[error("the daemon's answer is not JSON: {0}")]
    NotJson(String),
    /// The daemon has a password and did not let this request in.
    #[error("{}", login_sentence(.token, .path))]
    LoginRequired { token: TokenState, path: PathBuf },
    /// The daemon answered with an error; `message` is its sentence for a person.
    #[error("{}", refusal_line(.field.as_deref(), .message))]
    Refused {
        status: u16,
        code: String,
        message: String,
        /// The field the daemon names (`date`, `ring.target_percent`), if any.
        field: Option<String>,
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

/// What this user found of the CLI token; says why a password stood in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenState {
    /// Read and sent; the daemon did not take it (not loopback, or another daemon's).
    Sent,
    /// No such file: `--config` is not the daemon's, or this is not the Pi.
    Missing,
    /// There, but this user may not read it (or it is not a token).
    Unreadable(String),
}

fn login_sentence(token: &TokenState, path: &Path) -> String {
    let path = path.display();
    match token {
        TokenState::Sent => format!(
            "the daemon has a password and did not take the CLI token from {path}: it takes it \
             only over loopback (--url http://127.0.0.1:PORT) and only from the daemon that \
             wrote it (is --config the running daemon's?)"
        ),
        TokenState::Missing => format!(
            "the daemon has a password and there is no CLI token at {path}: run this on the Pi, \
             with --config naming the daemon's config file (its directory holds the token)"
        ),
        TokenState::Unreadable(why) => format!(
            "the daemon has a password and this user cannot read the CLI token {path} ({why}): \
             run this on the Pi as root or the reveille user, which can read the CLI token"
        ),
    }
}

/// The daemon's sentence, led by the field it names unless the sentence already does.
fn refusal_line(field: Option<&str>, message: &str) -> String {
    match field {
        Some(field) if !field.is_empty() && !message.starts_with(field) => {
            format!("{field}: {message}")
        }
        _ => message.to_owned(),
    }
}

/// One successful answer: its body as text (for `--json`, passed on unchanged) and the
/// daemon's clock when it answered (the `Date` header), which "in 7 h 12 min" counts from:
/// the alarm rings by the daemon's clock, not by the one where this command runs.
pub(super) struct Answer {
    pub text: String,
    pub date: Option<DateTime<Utc>>,
}

impl Answer {
    pub fn json(&self) -> Result<Value, DaemonError> {
        serde_json::from_str(&self.text).map_err(|e| DaemonError::NotJson(e.to_string()))
    }

    /// The daemon's "now", or this machine's when the daemon did not say.
    pub fn now(&self) -> DateTime<Utc> {
        self.date.unwrap_or_else(Utc::now)
    }
}

/// The running daemon's API.
pub(super) struct DaemonClient {
    url: String,
    token: Result<String, TokenState>,
    token_path: PathBuf,
    http: reqwest::Client,
}

impl DaemonClient {
    /// `config` is the daemon's config file: its directory holds the CLI token.
    pub fn new(url: &str, config: &Path) -> DaemonClient {
        let dir = match config.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        DaemonClient {
            url: url.trim_end_matches('/').to_owned(),
            token: read_token(dir),
            token_path: CliToken::path(dir),
            http: reqwest::Client::new(),
        }
    }

    /// One request; the whole answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, DaemonError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .timeout(TIMEOUT);
        if let Ok(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&Utc));
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return Ok(Answer { text, date });
        }
        Err(self.refused(status, &text))
    }

    /// One request; the answer's body as text.
    pub async fn call_text(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, DaemonError> {
        Ok(self.send(method, path, body).await?.text)
    }

    /// One request; the answer's JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DaemonError> {
        self.send(method, path, body).await?.json()
    }

    /// `GET path`; the whole answer.
    pub async fn get(&self, path: &str) -> Result<Answer, DaemonError> {
        self.send(Method::GET, path, None).await
    }

    fn refused(&self, status: StatusCode, text: &str) -> DaemonError {
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let error = &body["error"];
        let code = error["code"].as_str().unwrap_or_default().to_owned();
        if status == StatusCode::UNAUTHORIZED && code == "login_required" {
            return DaemonError::LoginRequired {
                token: self
                    .token
                    .as_ref()
                    .err()
                    .cloned()
                    .unwrap_or(TokenState::Sent),
                path: self.token_path.clone(),
            };
        }
        let mut message = error["message"]
            .as_str()
            .map_or_else(|| format!("the daemon answered {status}"), str::to_owned);
        if code == "cross_origin" {
            // The CLI sends no Origin: something between it and the daemon added one.
            message = format!(
                "the daemon took this for another web site's request ({message}); the CLI sends \
                 no Origin header, so a proxy in between must have added one"
            );
        }
        DaemonError::Refused {
            status: status.as_u16(),
            code,
            message,
            field: error["field"].as_str().map(str::to_owned),
        }
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

/// The token, or why there is none for this user.
fn read_token(dir: &Path) -> Result<String, TokenState> {
    if let Some(token) = CliToken::read(dir) {
        return Ok(token);
    }
    match std::fs::read_to_string(CliToken::path(dir)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TokenState::Missing),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(TokenState::Unreadable("permission denied".into()))
        }
        Err(e) => Err(TokenState::Unreadable(e.to_string())),
        Ok(_) => Err(TokenState::Unreadable("not a token".into())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_login_says_what_to_do_for_each_token_state() {
        let path = Path::new("/var/lib/reveille/cli-token");
        let line = |token| {
            DaemonError::LoginRequired {
                token,
                path: path.to_owned(),
            }
            .to_string()
        };
        let unreadable = line(TokenState::Unreadable("permission denied".into()));
        assert!(
            unreadable.starts_with(
                "the daemon has a password and this user cannot read the CLI token \
                 /var/lib/reveille/cli-token (permission denied): run this on the Pi as root"
            ),
            "{unreadable}"
        );
        assert!(line(TokenState::Missing).contains("no CLI token at /var/lib/reveille/cli-token"));
        assert!(line(TokenState::Sent).contains("only over loopback"));
        for token in [TokenState::Sent, TokenState::Missing] {
            assert!(!line(token).contains('\n'));
        }
    }

    #[test]
    fn a_refusal_names_its_field_once() {
        assert_eq!(
            refusal_line(Some("date"), "2026-01-01 07:00 has already passed"),
            "date: 2026-01-01 07:00 has already passed"
        );
        assert_eq!(
            refusal_line(Some("time"), "time must be HH:MM"),
            "time must be HH:MM"
        );
        assert_eq!(
            refusal_line(None, "nothing is ringing"),
            "nothing is ringing"
        );
    }
}
