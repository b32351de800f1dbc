//! `GET /api/events` through the real server: the status at once, each kind of change within a
//! second (a save, a hand edit, the clock moving past an alarm, a readiness check, ringing and
//! stopping), the stream limit and its slots coming back, keep-alives outliving the idle
//! timeout, and streams ending cleanly at shutdown. Nothing here sleeps through a deadline:
//! changes are made or time is moved, and short intervals are configured.

use std::fs;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use reveille::clock::ManualClock;
use reveille::http::EventStreamLimits;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::helpers::{START, TestApp, error_body, spawn_app, test_app};

/// Each change must reach the page within this.
const WITHIN: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum Item {
    Status(Value),
    KeepAlive,
}

/// A client of the event stream that parses what arrives.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(base: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{base}/api/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap()
    }

    async fn connect(base: &str) -> Stream {
        let response = Stream::open(base).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event or keep-alive; `None` when the stream ended cleanly. Panics after
    /// `WITHIN` without one, or if the connection broke.
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = Some(name.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                return Some(match event.as_deref() {
                    Some("status") => Item::Status(serde_json::from_str(&data).unwrap()),
                    None if data.is_empty() => Item::KeepAlive,
                    other => panic!("an unknown event {other:?}: {block:?}"),
                });
            }
            let chunk = tokio::time::timeout(WITHIN, self.response.chunk())
                .await
                .expect("nothing arrived within a second")
                .expect("the stream broke off instead of ending");
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// The next status, skipping keep-alives.
    async fn status(&mut self) -> Value {
        loop {
            match self.next().await {
                Some(Item::Status(status)) => return status,
                Some(Item::KeepAlive) => {}
                None => panic!("the stream ended"),
            }
        }
    }

    /// Statuses until one satisfies `done`, each within a second of the last.
    async fn until(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..20 {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
        }
        panic!("no status with {what}");
    }
}

async fn create_alarm(app: &TestApp, alarm: Value) -> String {
    let response = app
        .request(
            Method::POST,
            "/api/alarms",
            None,
            Some(alarm.to_string().into_bytes()),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let alarm: Value = response.json().await.unwrap();
    alarm["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_status_comes_at_once_and_every_change_within_a_second() {
    let app = spawn_app().await;
    let (_, revision) = app.get_config().await;
    let mut stream = Stream::connect(&app.base).await;
    let first = stream.status().await;
    assert_eq!(first["revision"], revision);
    assert_eq!(first["runner"]["state"], "idle");
    assert_eq!(
        first["server_time"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        START.parse::<DateTime<Utc>>().unwrap(),
        "the daemon's clock, not the phone's"
    );

    // A save from another phone.
    let response = app
        .patch(&json!({"time_zone": "Europe/Berlin"}), None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let status = stream.status().await;
    assert_eq!(status["revision"], revision + 1);

    // A new alarm: the revision, then the scheduler's next firing.
    let id = create_alarm(
        &app,
        json!({"time": "07:00", "repeat": ["mon", "tue", "wed", "thu", "fri"]}),
    )
    .await;
    let status = stream
        .until("the new alarm as the next firing", |s| {
            s["next_firing"]["alarm_id"] == id.as_str()
        })
        .await;
    assert_eq!(status["time_zone"], "Europe/Berlin");
    let at = status["next_firing"]["at_local"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(at.starts_with("2026-11-24T07:00:00+01:00"), "{at}");

    // Time moves past it: the next one is the day after.
    app.clock.set("2026-11-24T06:00:30Z".parse().unwrap());
    let status = stream
        .until("the firing after", |s| {
            s["next_firing"]["at_local"]
                .as_str()
                .is_some_and(|a| a.starts_with("2026-11-25T07:00"))
        })
        .await;
    assert_eq!(status["next_firing"]["alarm_id"], id.as_str());

    // A hand edit on the Pi.
    let (_, before) = app.get_config().await;
    let mut doc: Value = serde_json::from_slice(&fs::read(app.config_path()).unwrap()).unwrap();
    doc["web"]["title"] = json!("Edited in nano");
    fs::write(app.config_path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    stream
        .until("the hand edit's revision", |s| {
            s["revision"].as_u64() > Some(before)
        })
        .await;

    // A readiness check.
    let response = app
        .request(Method::POST, "/api/readiness/check", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let status = stream
        .until("the readiness result", |s| !s["readiness"].is_null())
        .await;
    assert!(
        ["ready", "degraded", "broken"].contains(&status["readiness"]["state"].as_str().unwrap())
    );
}

#[tokio::test]
async fn ringing_and_stopping_reach_the_page() {
    let app = spawn_app().await;
    let id = create_alarm(
        &app,
        json!({"time": "07:00", "label": "Work", "repeat": ["mon"]}),
    )
    .await;
    let mut stream = Stream::connect(&app.base).await;
    stream.status().await;

    let response = app
        .request(
            Method::POST,
            &format!("/api/alarms/{id}/ring-now"),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let ringing = stream
        .until("the alarm ringing", |s| {
            ["preparing", "ringing"].contains(&s["runner"]["state"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(ringing["runner"]["alarm_id"], id.as_str());
    assert_eq!(ringing["runner"]["label"], "Work");

    let response = app
        .request(Method::POST, "/api/ring/stop", None, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    stream
        .until("the runner idle again", |s| s["runner"]["state"] == "idle")
        .await;
}

/// A test app with its own stream limits and header timeout, and a way to stop it.
async fn spawn_limited(
    limits: EventStreamLimits,
    header_timeout: Duration,
) -> (
    TestApp,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START.parse().unwrap());
    let mut app = test_app(&dir, &clock)
        .event_streams(limits)
        .header_timeout(header_timeout)
        .build()
        .await
        .unwrap();
    let addr = app.local_addr();
    let store = app.store().clone();
    let firings = app.take_firings().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let app = TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        dir,
        clock,
        firings: tokio::sync::Mutex::new(firings),
    };
    (app, stop, served)
}

#[tokio::test]
async fn streams_are_bounded_and_a_client_that_leaves_frees_its_slot() {
    let limits = EventStreamLimits {
        max_streams: 2,
        ..EventStreamLimits::default()
    };
    let (app, _stop, _served) = spawn_limited(limits, Duration::from_secs(10)).await;
    let mut first = Stream::connect(&app.base).await;
    first.status().await;
    let mut second = Stream::connect(&app.base).await;
    second.status().await;

    let refused = Stream::open(&app.base).await;
    assert_eq!(refused.headers()["retry-after"], "5");
    error_body(refused, StatusCode::SERVICE_UNAVAILABLE, "too_many_streams").await;

    // The first phone closes the page: its slot comes back (the server notices the closed
    // connection at once; no keep-alive needed).
    drop(first);
    let mut attempts = 0;
    let mut third = loop {
        let response = Stream::open(&app.base).await;
        if response.status() == StatusCode::OK {
            break Stream {
                response,
                buffer: String::new(),
            };
        }
        attempts += 1;
        assert!(attempts < 100, "the slot never came back");
        // Wait for the server's side of the close, not for a deadline.
        let mut revisions = app.store.subscribe();
        let _ = tokio::time::timeout(Duration::from_millis(20), revisions.changed()).await;
    };
    third.status().await;
    // The others were not disturbed: a change reaches both.
    let response = app.patch(&json!({"time_zone": "UTC"}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    for stream in [&mut second, &mut third] {
        stream
            .until("the change", |s| s["revision"].as_u64() >= Some(2))
            .await;
    }
}

#[tokio::test]
async fn keep_alives_keep_a_stream_open_long_past_the_idle_timeout() {
    let limits = EventStreamLimits {
        keep_alive: Duration::from_millis(50),
        ..EventStreamLimits::default()
    };
    let header_timeout = Duration::from_millis(150);
    let (app, _stop, _served) = spawn_limited(limits, header_timeout).await;
    let mut stream = Stream::connect(&app.base).await;
    stream.status().await;
    // Twenty keep-alives: 1 s, more than six idle timeouts.
    let mut keep_alives = 0;
    while keep_alives < 20 {
        match stream.next().await {
            Some(Item::KeepAlive) => keep_alives += 1,
            Some(Item::Status(_)) => {}
            None => panic!("the stream was closed after {keep_alives} keep-alives"),
        }
    }
    // ...and changes still arrive on it.
    let response = app.patch(&json!({"time_zone": "UTC"}), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    stream
        .until("the change", |s| s["revision"].as_u64() >= Some(2))
        .await;
}

#[tokio::test]
async fn streams_end_cleanly_when_the_daemon_stops() {
    let (app, stop, served) =
        spawn_limited(EventStreamLimits::default(), Duration::from_secs(10)).await;
    let mut stream = Stream::connect(&app.base).await;
    stream.status().await;
    stop.send(()).unwrap();
    // The stream ends itself (a clean end of the chunked body), not cut off by the grace.
    while stream.next().await.is_some() {}
    served.await.unwrap().unwrap();
}
