//! `reveille ring <alarm>`, `reveille stop`, `reveille snooze`: the ringing alarm, through the
//! same API routes the page uses (`POST /api/alarms/{id}/ring-now`, `/api/ring/stop`,
//! `/api/ring/snooze`). Each prints one line saying what happened and to which alarm:
//! `ringing: Wake up (wake)`, `stopped: …`, `snoozed: … until 07:10`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::alarms;
use super::client::{DaemonClient, DaemonError, block_on};
use super::words;

/// How long `snooze` waits to see the snooze take effect: the runner answers at once and then
/// pauses Spotify (at most 3 s per device) before it publishes "snoozed".
const SETTLE: Duration = Duration::from_secs(6);
const SETTLE_STEP: Duration = Duration::from_millis(50);

fn text(e: DaemonError) -> String {
    e.to_string()
}

/// `reveille ring <alarm>`.
pub(super) fn ring(url: &str, config: &Path, wanted: &str) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        let list = client
            .call(Method::GET, "/api/alarms", None)
            .await
            .map_err(text)?;
        let alarm = alarms::find(
            list.as_array().map(Vec::as_slice).unwrap_or_default(),
            wanted,
        )?;
        let id = alarm["id"].as_str().unwrap_or_default();
        // Ids are letters, digits and `-` (the config's validation), safe in a path.
        client
            .call_text(Method::POST, &format!("/api/alarms/{id}/ring-now"), None)
            .await
            .map_err(text)?;
        let label = alarm["label"].as_str().unwrap_or_default();
        Ok(format!("ringing: {}", alarms::name(id, label)))
    });
    super::finish("ring", result)
}

/// `reveille stop`.
pub(super) fn stop(url: &str, config: &Path) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        let before = act(&client, "/api/ring/stop").await?;
        Ok(format!("stopped: {}", what(&before)))
    });
    super::finish("stop", result)
}

/// `reveille snooze`: snoozed until when, or stopped when its snoozes are used up.
pub(super) fn snooze(url: &str, config: &Path) -> ExitCode {
    let client = DaemonClient::new(url, config);
    let result = block_on(async {
        let before = act(&client, "/api/ring/snooze").await?;
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let answer = client.get("/api/status").await.map_err(text)?;
            let status = answer.json().map_err(text)?;
            let runner = &status["runner"];
            let settled = !matches!(runner["state"].as_str(), Some("ringing" | "preparing"));
            if settled || tokio::time::Instant::now() >= deadline {
                let zone = words::zone(status["scheduler"]["time_zone"].as_str());
                return Ok(snoozed(&before, runner, answer.now(), zone));
            }
            tokio::time::sleep(SETTLE_STEP).await;
        }
    });
    super::finish("snooze", result)
}

/// POSTs `action` to the ring in progress; answers what was ringing before (`GET /api/ring`).
async fn act(client: &DaemonClient, action: &str) -> Result<Value, String> {
    let before = client
        .call(Method::GET, "/api/ring", None)
        .await
        .map_err(text)?;
    client
        .call_text(Method::POST, action, None)
        .await
        .map_err(text)?;
    Ok(before)
}

/// The line after a snooze, from the runner's state before and after it.
fn snoozed(
    before: &Value,
    after: &Value,
    now: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
) -> String {
    match after["state"].as_str() {
        Some("snoozed") => {
            let until = words::instant(&after["until"])
                .map(|until| format!(" until {}", words::clock_time(now, until, zone)))
                .unwrap_or_default();
            format!("snoozed: {}{until}", what(after))
        }
        Some("idle") => format!("stopped: {} (no snoozes left)", what(before)),
        _ => format!("snoozed: {} (still settling)", what(before)),
    }
}

/// What the runner's state is about: the alarm's name, or the sleep timer.
fn what(runner: &Value) -> String {
    match (runner["state"].as_str(), runner["alarm_id"].as_str()) {
        (Some("sleep_timer"), _) => "the sleep timer".into(),
        (_, Some(id)) => alarms::name(id, runner["label"].as_str().unwrap_or_default()),
        _ => "the alarm".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_snooze_says_until_when_or_that_it_stopped() {
        let now = "2026-11-30T07:00:30Z".parse().unwrap();
        let ringing = json!({"state": "ringing", "alarm_id": "wake", "label": "Wake up"});
        let snoozed_state = json!({"state": "snoozed", "alarm_id": "wake", "label": "Wake up",
                                   "until": "2026-11-30T07:09:30Z", "snoozes_used": 1});
        let berlin = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            snoozed(&ringing, &snoozed_state, now, berlin),
            "snoozed: Wake up (wake) until 08:09"
        );
        assert_eq!(
            snoozed(&ringing, &json!({"state": "idle"}), now, berlin),
            "stopped: Wake up (wake) (no snoozes left)"
        );
        assert_eq!(what(&json!({"state": "sleep_timer"})), "the sleep timer");
        assert_eq!(what(&json!({"state": "idle"})), "the alarm");
    }
}
