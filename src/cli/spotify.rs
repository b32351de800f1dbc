//! `reveille spotify login|logout|status`. Login asks the daemon to start a login
//! (`POST /api/spotify/link`), prints the link, and then takes the address the browser ended
//! on from whichever comes first: the loopback listener on the redirect address
//! ([`super::callback`], when the browser runs on the Pi or comes through an SSH tunnel) or a
//! line pasted on stdin. That address goes to `POST /api/spotify/link/complete`; the daemon
//! does the exchange and keeps the tokens. This command never sees a token. `logout` (alias
//! `unlink`) is `DELETE /api/spotify/link`; `status` reads `GET /api/spotify/link`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::SpotifyAction;
use super::callback::{Callback, Listener, Outcome};
use super::client::{DaemonClient, DaemonError, block_on};

/// A pending login lives this long in the daemon (`player::link::PENDING_LIFETIME`).
const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);

const PROMPT: &str = "Address the browser ended on: ";

/// How errors name this command: `reveille: spotify login: …`.
const LOGIN: &str = "spotify login";

pub(super) fn spotify(action: SpotifyAction, url: &str, config: &Path) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let (command, result) = match action {
        SpotifyAction::Logout => (
            "spotify logout",
            block_on(async {
                let done = client
                    .call(Method::DELETE, "/api/spotify/link", None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(done["message"].as_str().unwrap_or("unlinked").to_owned())
            }),
        ),
        SpotifyAction::Status { json } => (
            "spotify status",
            block_on(async {
                let text = client
                    .call_text(Method::GET, "/api/spotify/link", None)
                    .await
                    .map_err(|e| e.to_string())?;
                if json {
                    return Ok(text.trim_end().to_owned());
                }
                let link: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("the daemon's answer is not JSON: {e}"))?;
                Ok(describe(&link).join("\n"))
            }),
        ),
        SpotifyAction::Login => (LOGIN, block_on(login(&client))),
    };
    super::finish(command, result)
}

/// `reveille spotify status`: one `key: value` line each.
fn describe(link: &Value) -> Vec<String> {
    let text = |key: &str| link[key].as_str().map(str::to_owned);
    let mut lines = Vec::new();
    if link["linked"] == true {
        lines.push("linked: yes".to_owned());
        let name = text("display_name").unwrap_or_else(|| "(no name)".into());
        let product = text("product").unwrap_or_else(|| "plan unknown".into());
        lines.push(format!("account: {name} ({product})"));
        lines.push(match link["premium"].as_bool() {
            Some(true) => "premium: yes".to_owned(),
            Some(false) => {
                "premium: no (Spotify plays only for Premium: the local sound rings instead)"
                    .to_owned()
            }
            None => "premium: unknown".to_owned(),
        });
        let ends = text("login_expires_at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| format!(" (link again before {})", t.format("%-d %b %Y")))
            .unwrap_or_default();
        lines.push(match link["days_left"].as_i64() {
            Some(days) => format!("days left: {days}{ends}"),
            None => "days left: unknown (the login's age is not known)".to_owned(),
        });
    } else if link["client_id_set"] == false {
        lines.push(
            "linked: no: set spotify.client_id in the config first (docs/spotify.md), then run \
             reveille spotify login"
                .to_owned(),
        );
    } else {
        lines.push("linked: no: run reveille spotify login".to_owned());
    }
    lines.push(format!(
        "redirect URI: {}",
        text("redirect_uri").unwrap_or_else(|| "?".into())
    ));
    if let Some(warning) = text("warning") {
        lines.push(format!("warning: {warning}"));
    }
    lines
}

async fn login(client: &DaemonClient) -> Result<String, String> {
    let started = client
        .call(Method::POST, "/api/spotify/link", None)
        .await
        .map_err(|e| e.to_string())?;
    let text = |key: &str| started[key].as_str().unwrap_or_default().to_owned();
    let (authorize_url, redirect_uri) = (text("authorize_url"), text("redirect_uri"));
    let state = url::Url::parse(&authorize_url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or("the daemon's answer has no authorise link")?;
    let lifetime = DateTime::parse_from_rfc3339(&text("expires_at"))
        .ok()
        .and_then(|end| (end.with_timezone(&Utc) - Utc::now()).to_std().ok())
        .map_or(LOGIN_LIFETIME, |left| left.min(LOGIN_LIFETIME));

    // Bound before the link is printed, so the browser can never come back too early.
    let listener = match Listener::bind(&redirect_uri, &state).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            eprintln!("reveille: {LOGIN}: {e}");
            None
        }
    };
    for (n, step) in started["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!("{}. {}", n + 1, step.as_str().unwrap_or_default());
    }
    println!(
        "\nRedirect URI to register: {redirect_uri}\n\nOpen this link and allow access:\n{authorize_url}\n"
    );
    if let Some(listener) = &listener {
        let port = listener.addr().port();
        println!(
            "Waiting for the browser on {}: opened on the Pi itself, the login completes by \
             itself. From a laptop, first open a tunnel so that its 127.0.0.1:{port} is the \
             Pi's, then open the link there:\n  ssh -L {port}:127.0.0.1:{port} pi@raspberrypi.local\n\
             (your user and your Pi's name). Or paste the address the browser ended on.\n",
            listener.addr()
        );
    }
    eprint!("{PROMPT}");

    let account = wait_for_address(listener, pasted_lines(), lifetime, async |address| {
        complete(client, address).await
    })
    .await?;
    let name = account["display_name"].as_str().unwrap_or("(no name)");
    let product = account["product"].as_str().unwrap_or("unknown plan");
    let mut message = format!("linked: {name} ({product})");
    if let Some(warning) = account["warning"].as_str() {
        message.push_str(&format!("\nwarning: {warning}"));
    }
    Ok(message)
}

async fn complete(client: &DaemonClient, address: &str) -> Result<Value, DaemonError> {
    let body = json!({ "redirect_url": address });
    client
        .call(Method::POST, "/api/spotify/link/complete", Some(body))
        .await
}

/// Lines of standard input, read on a thread of its own: a read blocks, and at the end the
/// process exits without waiting for it. Closed at the end of input.
fn pasted_lines() -> mpsc::Receiver<String> {
    let (lines, pasted) = mpsc::channel(1);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    pasted
}

/// Takes the first address from the browser or the terminal and completes the login with it;
/// a pasted address the daemon cannot use (garbled, or from another login) is asked for again.
/// Ends when the login does: linked, refused, or its lifetime over.
async fn wait_for_address(
    mut listener: Option<Listener>,
    mut pasted: mpsc::Receiver<String>,
    lifetime: Duration,
    mut complete: impl AsyncFnMut(&str) -> Result<Value, DaemonError>,
) -> Result<Value, String> {
    let expired = tokio::time::sleep(lifetime);
    tokio::pin!(expired);
    let mut stdin_open = true;
    let result = loop {
        let listening = listener.is_some();
        tokio::select! {
            callback = next_callback(&mut listener), if listening => {
                let Some(callback) = callback else {
                    listener = None;
                    continue;
                };
                let result = complete(&callback.address.clone()).await;
                answer_browser(callback, &result);
                eprintln!();
                break result.map_err(|e| e.to_string());
            }
            line = pasted.recv(), if stdin_open => {
                let Some(line) = line else {
                    stdin_open = false;
                    if listener.is_none() {
                        break Err("no address was pasted: the login is not complete".into());
                    }
                    continue;
                };
                if line.trim().is_empty() {
                    eprint!("{PROMPT}");
                    continue;
                }
                match complete(line.trim()).await {
                    Err(e) if matches!(e.code(), Some("bad_redirect_url" | "unknown_login")) => {
                        eprintln!("reveille: {LOGIN}: {e}");
                        eprint!("{PROMPT}");
                    }
                    result => break result.map_err(|e| e.to_string()),
                }
            }
            () = &mut expired => {
                eprintln!();
                break Err(format!(
                    "no address came within {} minutes and the login expired: run reveille spotify login again",
                    lifetime.as_secs().div_ceil(60)
                ));
            }
        }
    };
    // Whatever ended the login ends the listener (after the browser has its page).
    if let Some(listener) = listener {
        listener.close().await;
    }
    result
}

async fn next_callback(listener: &mut Option<Listener>) -> Option<Callback> {
    match listener {
        Some(listener) => listener.next().await,
        None => None,
    }
}

fn answer_browser(callback: Callback, result: &Result<Value, DaemonError>) {
    let outcome = match result {
        Ok(account) => Outcome::Linked {
            name: account["display_name"].as_str().map(str::to_owned),
        },
        Err(DaemonError::Refused {
            status, message, ..
        }) => Outcome::Failed {
            status: *status,
            message: message.clone(),
        },
        Err(e) => Outcome::Failed {
            status: 502,
            message: e.to_string(),
        },
    };
    callback.answer(outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pending login's ten minutes pass in paused time: the listener closes with it and
    /// nothing is sent to the daemon.
    #[tokio::test(start_paused = true)]
    async fn the_listener_closes_when_the_login_expires() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let uri = format!("http://127.0.0.1:{port}/callback");
        let listener = Listener::bind(&uri, "s").await.unwrap();
        // Standard input stays open and silent, as a terminal nobody types in.
        let (_keep, pasted) = mpsc::channel(1);
        let mut calls = 0;
        let started = tokio::time::Instant::now();
        let result = wait_for_address(Some(listener), pasted, LOGIN_LIFETIME, async |_| {
            calls += 1;
            Ok(Value::Null)
        })
        .await;
        let error = result.unwrap_err();
        assert!(error.contains("expired"), "{error}");
        assert!(error.contains("10 minutes"), "{error}");
        assert_eq!(started.elapsed(), LOGIN_LIFETIME);
        assert_eq!(calls, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the listener is closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_garbled_paste_is_asked_again_and_the_next_one_completes() {
        let (lines, pasted) = mpsc::channel(4);
        for line in ["", "hello", "http://127.0.0.1:8888/callback?code=c&state=s"] {
            lines.send(line.to_owned()).await.unwrap();
        }
        let mut sent = Vec::new();
        let result = wait_for_address(None, pasted, LOGIN_LIFETIME, async |address| {
            sent.push(address.to_owned());
            if address.starts_with("http://") {
                Ok(json!({"display_name": "Ann"}))
            } else {
                Err(DaemonError::Refused {
                    status: 400,
                    code: "bad_redirect_url".into(),
                    message: "paste the whole address".into(),
                    field: None,
                })
            }
        })
        .await;
        assert_eq!(result.unwrap()["display_name"], "Ann");
        assert_eq!(sent.len(), 2, "{sent:?}");

        // Any other refusal ends the login; so does the end of input.
        let (lines, pasted) = mpsc::channel(1);
        lines.send("http://x/?state=s".into()).await.unwrap();
        let result = wait_for_address(None, pasted, LOGIN_LIFETIME, async |_| {
            Err(DaemonError::Refused {
                status: 410,
                code: "login_expired".into(),
                message: "this login expired".into(),
                field: None,
            })
        })
        .await;
        assert_eq!(result.unwrap_err(), "this login expired");
        drop(lines);
        let (lines, pasted) = mpsc::channel::<String>(1);
        drop(lines);
        let result =
            wait_for_address(None, pasted, LOGIN_LIFETIME, async |_| Ok(Value::Null)).await;
        assert!(result.unwrap_err().contains("no address was pasted"));
    }
}
