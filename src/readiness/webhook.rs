//! The owner's webhook (`readiness.webhook`): one POST when the pre-alarm check is not
//! `ready`, as plain sentences with a `Title` header (ntfy) or as the readiness JSON (Home
//! Assistant). Bounded by [`WEBHOOK_TIMEOUT`], no redirects followed, and the URL is never
//! logged or shown: it may carry a token (an ntfy topic, a Home Assistant webhook id), so
//! only its host is.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Readiness, ReadinessState, WebhookDelivery};
use crate::config::{WebhookFormat, WebhookSettings};

pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts `result` once; the delivery says how it went (never an error: the caller has
/// nothing to retry).
pub(super) async fn post(
    hook: &WebhookSettings,
    result: &Readiness,
    now: DateTime<Utc>,
) -> WebhookDelivery {
    let host = host_of(&hook.url);
    let delivery = |status: Option<u16>, error: Option<String>| WebhookDelivery {
        host: host.clone(),
        sent_at: now,
        status,
        delivered: error.is_none(),
        error,
    };
    let client = match reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return delivery(None, Some(format!("cannot set up HTTP: {}", words(&e)))),
    };
    let request = client.post(&hook.url);
    let request = match hook.format {
        WebhookFormat::Text => {
            let (title, body) = text(result);
            request
                .header("Title", title)
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body)
        }
        WebhookFormat::Json => request.json(result),
    };
    let outcome = match request.send().await {
        Ok(response) if response.status().is_success() => {
            delivery(Some(response.status().as_u16()), None)
        }
        Ok(response) => {
            let status = response.status();
            delivery(
                Some(status.as_u16()),
                Some(format!("the webhook answered HTTP {}", status.as_u16())),
            )
        }
        Err(e) => delivery(None, Some(words(&e))),
    };
    match &outcome.error {
        None => tracing::info!(%host, "readiness posted to the webhook"),
        Some(error) => tracing::warn!(%host, "the readiness webhook failed: {error}"),
    }
    outcome
}

/// The URL's host, the only part of it ever logged or shown.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "(invalid URL)".to_owned())
}

/// The error and its causes, without the URL reqwest would put in front.
fn words(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs())
    } else {
        error.to_string()
    };
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    // reqwest names the URL in its own message; strip it whatever the message's shape.
    match error.url() {
        Some(url) => text.replace(url.as_str(), &host_of(url.as_str())),
        None => text,
    }
}

/// A title (ASCII: a header) and plain sentences.
fn text(result: &Readiness) -> (String, String) {
    // `at_local` is RFC 3339: the time of day is at a fixed place.
    let at = result
        .next_alarm
        .as_ref()
        .and_then(|a| a.at_local.get(11..16))
        .map(|hhmm| format!(" at {hhmm}"))
        .unwrap_or_default();
    let (title, headline) = match result.state {
        ReadinessState::Ready => (
            format!("Alarm{at} is ready"),
            "The next alarm will play on Spotify.",
        ),
        ReadinessState::Degraded => (
            format!("Alarm{at} will not play Spotify"),
            "Spotify will not play the next alarm: the local sound (or the buzzer) rings instead.",
        ),
        ReadinessState::Broken => (
            format!("Alarm{at} cannot sound"),
            "Nothing can sound for the next alarm: no Spotify, no local sound, no buzzer.",
        ),
    };
    let mut body = headline.to_owned();
    if let Some(alarm) = &result.next_alarm {
        let name = if alarm.label.is_empty() {
            &alarm.alarm_id
        } else {
            &alarm.label
        };
        body.push_str(&format!(
            "\nThe alarm \"{name}\" rings at {}.",
            alarm.at_local
        ));
    }
    for problem in &result.problems {
        body.push_str(&format!("\n- {}.", problem.message));
    }
    (title, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::{Check, Problem, Severity, Trigger};
    use crate::scheduler::UpcomingFiring;

    fn degraded() -> Readiness {
        Readiness {
            state: ReadinessState::Degraded,
            checked_at: "2026-11-24T05:50:00Z".parse().unwrap(),
            trigger: Trigger::BeforeAlarm,
            next_check_at: None,
            next_alarm: Some(UpcomingFiring {
                alarm_id: "a1".into(),
                label: "Work".into(),
                at_utc: "2026-11-24T06:00:00Z".parse().unwrap(),
                at_local: "2026-11-24T07:00:00+01:00".into(),
                decision: crate::schedule::Decision::Ring,
            }),
            problems: vec![Problem {
                check: Check::SpotifyDevice,
                severity: Severity::Error,
                message: "the Spotify receiver \"Bedroom\" is not online now".into(),
            }],
            repair: None,
            webhook: None,
            receiver_missing: true,
        }
    }

    #[test]
    fn the_text_names_the_alarm_and_each_problem() {
        let (title, body) = text(&degraded());
        assert_eq!(title, "Alarm at 07:00 will not play Spotify");
        assert!(title.is_ascii());
        assert!(
            body.starts_with("Spotify will not play the next alarm"),
            "{body}"
        );
        assert!(
            body.contains("\"Work\" rings at 2026-11-24T07:00:00+01:00"),
            "{body}"
        );
        assert!(body.contains("\n- the Spotify receiver \"Bedroom\" is not online now."));
    }

    #[test]
    fn only_the_host_of_a_url_is_shown() {
        assert_eq!(host_of("https://ntfy.sh/secret-topic?auth=tok"), "ntfy.sh");
        assert_eq!(
            host_of("http://192.168.1.5:8123/api/webhook/id"),
            "192.168.1.5"
        );
        assert_eq!(host_of("nonsense"), "(invalid URL)");
    }

    #[tokio::test]
    async fn a_failed_post_says_why_without_the_url() {
        // Nothing listens there: refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let hook = WebhookSettings {
            url: format!("http://127.0.0.1:{port}/hook/secret-id?token=secret"),
            format: WebhookFormat::Text,
        };
        let now = "2026-11-24T05:50:01Z".parse().unwrap();
        let delivery = post(&hook, &degraded(), now).await;
        assert!(!delivery.delivered);
        assert_eq!(delivery.status, None);
        assert_eq!(delivery.host, "127.0.0.1");
        let error = delivery.error.unwrap();
        assert!(!error.contains("secret"), "{error}");
        assert!(!error.is_empty());
    }
}
