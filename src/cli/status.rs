//! `reveille status [--json]`: what the daemon is doing, in a few plain lines: ringing or not,
//! the next alarm in words, the last "will it ring?" check, the Spotify login, the hardware,
//! and anything the daemon reports as wrong. From `GET /api/status` and
//! `GET /api/spotify/link`; `--json` prints `/api/status` unchanged. Reading only: it runs no
//! check (that is `reveille check`) and changes nothing.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::Method;
use serde_json::{Value, json};

use super::alarms;
use super::check::{problem_lines, state_sentence};
use super::client::{DaemonClient, block_on};
use super::words;

pub(super) fn status(url: &str, config: &Path, json: bool) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        let text = |e: super::client::DaemonError| e.to_string();
        if json {
            let answer = client.get("/api/status").await.map_err(text)?;
            return Ok(answer.text.trim_end().to_owned());
        }
        let (status, link) = tokio::join!(
            client.get("/api/status"),
            client.call(Method::GET, "/api/spotify/link", None)
        );
        let status = status.map_err(text)?;
        let (now, status) = (status.now(), status.json().map_err(text)?);
        // The Spotify part is one line among several: when only it fails, the rest still shows.
        let link = link.unwrap_or_else(|e| json!({"error": e.to_string()}));
        Ok(describe(&status, &link, now).join("\n"))
    });
    super::finish("status", result)
}

/// The lines, from the two answers and the daemon's clock.
fn describe(status: &Value, link: &Value, now: DateTime<Utc>) -> Vec<String> {
    let zone = words::zone(status["scheduler"]["time_zone"].as_str());
    let mut lines = runner_lines(&status["runner"], now, zone);
    lines.extend(schedule_lines(&status["scheduler"], now, zone));
    lines.extend(readiness_lines(&status["readiness"], now));
    lines.extend(spotify_lines(link));
    lines.extend(hardware_lines(&status["hardware"]));
    lines.extend(trouble_lines(status));
    lines
}

fn runner_lines(runner: &Value, now: DateTime<Utc>, zone: Tz) -> Vec<String> {
    let state = runner["state"].as_str().unwrap_or("unknown");
    let name = || {
        alarms::name(
            runner["alarm_id"].as_str().unwrap_or("?"),
            runner["label"].as_str().unwrap_or_default(),
        )
    };
    let time = |key: &str| {
        words::instant(&runner[key]).map_or("?".into(), |t| words::clock_time(now, t, zone))
    };
    let volume = runner["volume_percent"]
        .as_u64()
        .map(|v| format!(", volume {v} %"))
        .unwrap_or_default();
    let mut lines = vec![match state {
        "idle" => "state: idle".to_owned(),
        "preparing" => format!(
            "state: ringing: {} since {}, starting Spotify",
            name(),
            time("since")
        ),
        "ringing" => {
            let path = match runner["path"].as_str() {
                Some("spotify") => "on Spotify",
                Some("local_sound") => "on the local sound",
                Some("buzzer") => "on the buzzer",
                Some("silent") => "silently (nothing could sound)",
                _ => "",
            };
            format!(
                "state: ringing: {} {path} since {}{volume}",
                name(),
                time("since")
            )
        }
        "snoozed" => format!("state: snoozed: {} until {}", name(), time("until")),
        "sleep_timer" => format!("state: sleep timer until {}{volume}", time("until")),
        other => format!("state: {other}"),
    }];
    if let Some(reason) = runner["fallback_reason"].as_str() {
        lines.push(format!("  because: {reason}"));
    }
    lines
}

/// `next alarm: Work (workdays), tomorrow 06:45, in 7 h 12 min` from a firing the daemon sent
/// (`scheduler.next_firing`, `readiness.next_alarm`), or `next alarm: none set`.
pub(super) fn next_alarm_line<Z: TimeZone>(next: &Value, now: DateTime<Utc>, zone: &Z) -> String
where
    Z::Offset: std::fmt::Display,
{
    match words::instant(&next["at_utc"]) {
        Some(at) => format!(
            "next alarm: {}, {}, {}",
            alarms::name(
                next["alarm_id"].as_str().unwrap_or("?"),
                next["label"].as_str().unwrap_or_default()
            ),
            words::day_and_time(now, at, zone),
            words::in_words(now, at)
        ),
        None => "next alarm: none set".into(),
    }
}

fn schedule_lines(scheduler: &Value, now: DateTime<Utc>, zone: Tz) -> Vec<String> {
    let mut lines = vec![next_alarm_line(&scheduler["next_firing"], now, &zone)];
    for broken in scheduler["broken_alarms"].as_array().into_iter().flatten() {
        lines.push(format!(
            "alarm {}: does not ring: {}",
            alarms::name(
                broken["alarm_id"].as_str().unwrap_or("?"),
                broken["label"].as_str().unwrap_or_default()
            ),
            broken["reason"].as_str().unwrap_or_default()
        ));
    }
    lines
}

fn readiness_lines(readiness: &Value, now: DateTime<Utc>) -> Vec<String> {
    let Some(state) = readiness["state"].as_str() else {
        return vec!["readiness: not checked yet (reveille check runs the check)".into()];
    };
    let checked = words::instant(&readiness["checked_at"])
        .map(|at| format!(" (checked {})", words::ago(now, at)))
        .unwrap_or_default();
    let mut lines = vec![format!("readiness: {}{checked}", state_sentence(state))];
    lines.extend(problem_lines(readiness).map(|line| format!("  {line}")));
    lines
}

fn spotify_lines(link: &Value) -> Vec<String> {
    if let Some(error) = link["error"].as_str() {
        return vec![format!("spotify: cannot tell: {error}")];
    }
    if link["linked"] != true {
        let hint = if link["client_id_set"] == false {
            "set spotify.client_id in the config first (docs/spotify.md), then run reveille spotify login"
        } else {
            "run reveille spotify login"
        };
        return vec![format!("spotify: not linked: {hint}")];
    }
    let mut line = format!(
        "spotify: linked as {}",
        link["display_name"].as_str().unwrap_or("(no name)")
    );
    match (link["premium"].as_bool(), link["product"].as_str()) {
        (Some(true), _) => line.push_str(", Premium"),
        (Some(false), product) => line.push_str(&format!(
            ", {} (not Premium: Spotify will not play, the local sound rings)",
            product.unwrap_or("free")
        )),
        (None, _) => {}
    }
    if let Some(days) = link["days_left"].as_i64() {
        line.push_str(&format!(", {days} days left"));
    }
    let mut lines = vec![line];
    if let Some(warning) = link["warning"].as_str() {
        lines.push(format!("  warning: {warning}"));
    }
    lines
}

fn hardware_lines(hardware: &Value) -> Vec<String> {
    if hardware.is_null() {
        return vec!["hardware: none".into()];
    }
    let mut parts = vec![
        match (hardware["backend"].as_str(), hardware["error"].as_str()) {
            (Some("rpi"), _) => "Raspberry Pi GPIO".to_owned(),
            (Some("sim"), Some(error)) => {
                format!("simulated (the GPIO could not be opened: {error})")
            }
            (Some("sim"), None) => "simulated".to_owned(),
            (other, _) => other.unwrap_or("unknown").to_owned(),
        },
    ];
    for device in ["amplifier", "buzzer"] {
        let line = &hardware[device];
        if let Some(pin) = line["pin"].as_u64() {
            let on = if line["on"] == true { "on" } else { "off" };
            parts.push(format!("{device} {on} (GPIO {pin})"));
        }
    }
    if let Some(volume) = hardware["volume_percent"].as_u64() {
        parts.push(format!("volume {volume} %"));
    }
    let mut lines = vec![format!("hardware: {}", parts.join(", "))];
    for device in hardware["unavailable"].as_array().into_iter().flatten() {
        let pin = device["pin"]
            .as_u64()
            .map(|p| format!(" (GPIO {p})"))
            .unwrap_or_default();
        lines.push(format!(
            "  unavailable: {}{pin}: {}",
            device["device"].as_str().unwrap_or("?"),
            device["error"].as_str().unwrap_or_default()
        ));
    }
    let restart: Vec<&str> = hardware["restart_needed_for"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !restart.is_empty() {
        lines.push(format!("  restart needed for: {}", restart.join(", ")));
    }
    lines
}

/// What else the daemon reports as wrong: the config file, the clock, the local sound; the
/// last two only when the readiness check has not said the same.
fn trouble_lines(status: &Value) -> Vec<String> {
    let config = &status["config"];
    let problems = status["readiness"]["problems"].as_array();
    let said = |detail: &str| {
        problems.into_iter().flatten().any(|p| {
            p["message"]
                .as_str()
                .is_some_and(|message| message.contains(detail))
        })
    };
    let mut lines = Vec::new();
    if let Some(refused) = config["external_edit_error"].as_object() {
        let field = refused
            .get("field")
            .and_then(Value::as_str)
            .map(|f| format!("{f}: "))
            .unwrap_or_default();
        let message = refused.get("message").and_then(Value::as_str);
        lines.push(format!(
            "config: the file holds an edit the daemon refused (it runs on the last good one): {field}{}",
            message.unwrap_or_default()
        ));
    }
    for (key, what) in [
        ("started_from_backup", "started from the last-good backup"),
        ("backup_error", "the last-good backup could not be written"),
        ("history_error", "the revision history could not be kept"),
    ] {
        if let Some(detail) = config[key].as_str() {
            lines.push(format!("config: {what}: {detail}"));
        }
    }
    if let Some(warning) = status["scheduler"]["clock_warning"].as_str()
        && !said(warning)
    {
        lines.push(format!("clock: {warning}"));
    }
    for key in ["error", "sound_error"] {
        if let Some(error) = status["fallback"][key].as_str()
            && !said(error)
        {
            lines.push(format!("local sound: {error}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(runner: Value) -> Value {
        json!({
            "runner": runner,
            "scheduler": {
                "time_zone": "Europe/Berlin",
                "next_firing": {"alarm_id": "workdays", "label": "Work",
                                "at_utc": "2026-12-01T05:45:00Z", "decision": "ring"},
                "clock_warning": null, "broken_alarms": [],
            },
            "readiness": {
                "state": "degraded", "checked_at": "2026-11-30T22:30:00Z",
                "problems": [{"check": "spotify_device", "severity": "error",
                              "message": "the receiver \"Bedroom\" is not online"}],
            },
            "hardware": {
                "backend": "sim", "error": null,
                "amplifier": {"pin": 17, "on": false, "high": false},
                "buzzer": {"pin": 12, "on": true, "high": true},
                "volume_percent": null, "unavailable": [], "restart_needed_for": [],
            },
            "config": {"external_edit_error": null},
            "fallback": {"error": null, "sound_error": null},
        })
    }

    #[test]
    fn idle_with_a_next_alarm_a_degraded_check_and_a_linked_account() {
        let now = "2026-11-30T22:33:00Z".parse().unwrap();
        let link = json!({"linked": true, "display_name": "Ann", "product": "premium",
                          "premium": true, "days_left": 170, "warning": null});
        assert_eq!(
            describe(&status(json!({"state": "idle"})), &link, now),
            [
                "state: idle",
                "next alarm: Work (workdays), tomorrow 06:45, in 7 h 12 min",
                "readiness: degraded: the next alarm will not play on Spotify; the local sound or the buzzer rings instead (checked 3 min ago)",
                "  error: the receiver \"Bedroom\" is not online",
                "spotify: linked as Ann, Premium, 170 days left",
                "hardware: simulated, amplifier off (GPIO 17), buzzer on (GPIO 12)",
            ]
        );
    }

    #[test]
    fn ringing_snoozed_and_what_is_wrong() {
        let now = "2026-12-01T05:46:00Z".parse().unwrap();
        let ringing = json!({"state": "ringing", "alarm_id": "workdays", "label": "Work",
                             "since": "2026-12-01T05:45:00Z", "path": "local_sound",
                             "fallback_reason": "the receiver is offline",
                             "volume_percent": 20});
        let unlinked = json!({"linked": false, "client_id_set": false});
        let mut broken = status(ringing);
        broken["readiness"] = Value::Null;
        broken["hardware"]["unavailable"] =
            json!([{"device": "buzzer", "pin": 12, "error": "busy"}]);
        broken["config"]["external_edit_error"] =
            json!({"message": "must be HH:MM", "field": "alarms[0].time"});
        broken["fallback"]["error"] = "aplay is not installed".into();
        broken["scheduler"]["clock_warning"] = "clock not synchronized".into();
        let lines = describe(&broken, &unlinked, now);
        assert_eq!(
            lines[..2],
            [
                "state: ringing: Work (workdays) on the local sound since 06:45, volume 20 %",
                "  because: the receiver is offline",
            ]
        );
        for expected in [
            "readiness: not checked yet (reveille check runs the check)",
            "spotify: not linked: set spotify.client_id in the config first (docs/spotify.md), then run reveille spotify login",
            "  unavailable: buzzer (GPIO 12): busy",
            "config: the file holds an edit the daemon refused (it runs on the last good one): alarms[0].time: must be HH:MM",
            "local sound: aplay is not installed",
            "clock: clock not synchronized",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected:?} in {lines:#?}"
            );
        }
        // Said once: what the readiness check already says is not repeated.
        broken["readiness"] = json!({"state": "degraded", "problems": [
            {"severity": "warning", "message": "clock not synchronized"},
            {"severity": "error", "message": "the local sound cannot play: aplay is not installed"},
        ]});
        let lines = describe(&broken, &unlinked, now);
        assert!(
            !lines.iter().any(|l| l.starts_with("clock: ")),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("local sound: ")),
            "{lines:#?}"
        );
        assert_eq!(
            spotify_lines(&json!({"error": "the daemon answered 404 Not Found"})),
            ["spotify: cannot tell: the daemon answered 404 Not Found"]
        );
        let snoozed = json!({"state": "snoozed", "alarm_id": "workdays", "label": "Work",
                             "until": "2026-12-01T05:55:00Z"});
        assert_eq!(
            runner_lines(&snoozed, now, words::zone(Some("Europe/Berlin"))),
            ["state: snoozed: Work (workdays) until 06:55"]
        );
    }
}
