//! `reveille check-config` (is this file valid?) and `reveille check` (will the next alarm
//! ring?). `check` reads the config file itself, then asks the running daemon for a fresh
//! check (`POST /api/readiness/check`): the Spotify part must run in the daemon, the one
//! process that may refresh the login. A daemon that is not running is a broken alarm, not a
//! question the command cannot answer.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset, Utc};
use reqwest::Method;
use serde_json::Value;

use super::EXIT_DEGRADED;
use super::client::{DaemonClient, DaemonError, block_on};
use super::status::next_alarm_line;
use crate::store;

pub(super) const EXIT_CODES: &str = "Exit codes: 0 ready (Spotify would play the next alarm), \
    3 degraded (the local sound or the buzzer would ring instead), 1 broken (nothing would \
    sound) or cannot tell (the config file is invalid, the daemon is not running or refused), \
    2 usage error.";

/// `reveille check-config [PATH]`.
pub(super) fn check_config(path: &Path) -> ExitCode {
    super::finish("check-config", config_line(path))
}

/// "PATH: valid (revision N)", or what is wrong with the file.
fn config_line(path: &Path) -> Result<String, String> {
    let (_, revision) = store::read_config_file(path)?;
    let revision = revision.map_or("none".into(), |r| r.to_string());
    Ok(format!("{}: valid (revision {revision})", path.display()))
}

/// `reveille check [--json]`.
pub(super) fn check(url: &str, config: &Path, json: bool) -> ExitCode {
    let config_line = match config_line(config) {
        Ok(line) => line,
        Err(message) => return super::fail("check", &message),
    };
    let client = DaemonClient::new(url, config);
    let answer = block_on(async {
        client
            .send(Method::POST, "/api/readiness/check", None)
            .await
            .map_err(|e| match e {
                DaemonError::NotRunning(url) => {
                    format!(
                        "the daemon is not running: no alarm will ring (nothing answers at {url})"
                    )
                }
                _ => e.to_string(),
            })
    });
    let (text, now) = match answer {
        Ok(answer) => (answer.text.clone(), answer.now()),
        Err(message) => return super::fail("check", &message),
    };
    let readiness: Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(e) => return super::fail("check", &format!("the daemon's answer is not JSON: {e}")),
    };
    let code = exit_code(&readiness);
    if json {
        println!("{}", text.trim_end());
    } else {
        println!("{config_line}");
        for line in describe(&readiness, now) {
            println!("{line}");
        }
    }
    code
}

/// 0 ready, 3 degraded, 1 broken (or a state this build does not know).
fn exit_code(readiness: &Value) -> ExitCode {
    match readiness["state"].as_str() {
        Some("ready") => ExitCode::SUCCESS,
        Some("degraded") => ExitCode::from(EXIT_DEGRADED),
        _ => ExitCode::FAILURE,
    }
}

/// The state in words, the alarm it is about (in the zone of its local time, counted by the
/// daemon's clock), then one line per problem.
fn describe(readiness: &Value, now: DateTime<Utc>) -> Vec<String> {
    let state = state_sentence(readiness["state"].as_str().unwrap_or("unknown"));
    let next = &readiness["next_alarm"];
    let offset = next["at_local"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map_or(FixedOffset::east_opt(0).expect("0 is an offset"), |at| {
            *at.offset()
        });
    let next = next_alarm_line(next, now, &offset);
    [state, next]
        .into_iter()
        .chain(problem_lines(readiness))
        .collect()
}

/// `ready: the next alarm will play on Spotify`, and so on (also for `reveille status`).
pub(super) fn state_sentence(state: &str) -> String {
    match state {
        "ready" => "ready: the next alarm will play on Spotify".to_owned(),
        "degraded" => {
            "degraded: the next alarm will not play on Spotify; the local sound or the buzzer rings instead"
                .to_owned()
        }
        "broken" => "broken: nothing would sound at the next alarm".to_owned(),
        other => format!("{other}: the daemon's answer is not one this command knows"),
    }
}

/// `error: the receiver "Bedroom" is not online…`, one per problem.
pub(super) fn problem_lines(readiness: &Value) -> impl Iterator<Item = String> + '_ {
    let problems = readiness["problems"].as_array().into_iter().flatten();
    problems.map(|p| {
        format!(
            "{}: {}",
            p["severity"].as_str().unwrap_or("problem"),
            p["message"].as_str().unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_state_has_its_exit_code_and_each_problem_its_line() {
        let answer = |state: &str| {
            json!({
                "state": state,
                "checked_at": "2026-11-23T12:00:00Z",
                "next_alarm": {"alarm_id": "wake", "label": "Wake up",
                               "at_utc": "2026-11-24T06:00:00Z",
                               "at_local": "2026-11-24T07:00:00+01:00"},
                "problems": [
                    {"check": "spotify_device", "severity": "error", "message": "the receiver is gone"},
                    {"check": "buzzer", "severity": "info", "message": "no buzzer"},
                ],
            })
        };
        assert_eq!(exit_code(&answer("ready")), ExitCode::SUCCESS);
        assert_eq!(exit_code(&answer("degraded")), ExitCode::from(3));
        assert_eq!(exit_code(&answer("broken")), ExitCode::FAILURE);
        assert_eq!(exit_code(&answer("sideways")), ExitCode::FAILURE);
        assert_eq!(exit_code(&json!({})), ExitCode::FAILURE);

        let now = "2026-11-23T22:48:00Z".parse().unwrap();
        let lines = describe(&answer("degraded"), now);
        assert!(lines[0].starts_with("degraded: "), "{lines:?}");
        // 07:00 in its own offset (+01:00), tomorrow there.
        assert_eq!(
            lines[1],
            "next alarm: Wake up (wake), tomorrow 07:00, in 7 h 12 min"
        );
        assert_eq!(
            lines[2..],
            ["error: the receiver is gone", "info: no buzzer"]
        );
        let none = describe(
            &json!({"state": "ready", "next_alarm": null, "problems": []}),
            now,
        );
        assert_eq!(
            none,
            [
                "ready: the next alarm will play on Spotify",
                "next alarm: none set"
            ]
        );
    }
}
