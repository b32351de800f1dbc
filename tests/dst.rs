//! The real daemon across daylight-saving changes, with the wall clock moved by libfaketime
//! (Debian package `faketime`, installed by `scripts/setup`). The clock offset lives in a file
//! the test rewrites, so one daemon process sees a DST change and then a clock step, like a Pi
//! whose NTP corrects the time. Monotonic time stays real, so the daemon's sleeps are real.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/faketime.rs"]
mod faketime;
use daemon::Daemon;
use faketime::FakeClock;

fn write_config(path: &Path, alarms: Value) {
    let config = json!({
        "version": 1,
        "time_zone": "Europe/Berlin",
        "alarms": alarms,
        "schedule": {"trust_clock": true},
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

fn every_day(id: &str, time: &str) -> Value {
    json!({"id": id, "label": id, "time": time,
           "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]})
}

/// "Rang at this occurrence, not an hour off": a correctness bound, loose enough for a loaded
/// machine and libfaketime's bounded sleeps. How late firings are is measured by
/// `cargo bench --bench scheduler`, never asserted here.
const ON_TIME_MS: f64 = 60_000.0;

/// Waits for the next "alarm due: ringing" line and returns (alarm, occurrence, late_ms).
fn next_ring(daemon: &mut Daemon, within: Duration) -> (String, String, f64) {
    let line = daemon
        .wait_for_line("alarm due: ringing", within)
        .unwrap_or_else(|log| panic!("no alarm rang within {within:?}:\n{log}"));
    let field = |name: &str| {
        line.split(&format!(" {name}="))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    (
        field("alarm"),
        field("occurrence"),
        field("late_ms").parse().unwrap(),
    )
}

async fn get(daemon: &Daemon, path: &str) -> Value {
    reqwest::get(daemon.url(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn spring_forward_rings_the_gap_alarm_at_the_gap_end_and_seven_at_seven_summer_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    write_config(
        &config,
        json!([every_day("gap", "02:30"), every_day("seven", "07:00")]),
    );
    // 01:59:57 CET on 2026-03-29; at 02:00 CET the clocks jump to 03:00 CEST.
    let clock = FakeClock::new(dir.path(), "2026-03-29T00:59:57Z");
    let mut daemon = clock.start_daemon(&config);

    // 02:30 does not exist that night: it rings once, at the gap's end (03:00 CEST = 01:00Z).
    let (alarm, occurrence, late_ms) = next_ring(&mut daemon, Duration::from_secs(20));
    assert_eq!(
        (alarm.as_str(), occurrence.as_str()),
        ("gap", "2026-03-29T01:00:00+00:00")
    );
    assert!((0.0..ON_TIME_MS).contains(&late_ms), "{late_ms} ms late");

    // The daemon was started in winter time and now plans in summer time.
    let upcoming = get(&daemon, "/api/alarms/upcoming?count=2").await;
    assert_eq!(upcoming[0]["alarm_id"], "seven");
    assert_eq!(upcoming[0]["at_utc"], "2026-03-29T05:00:00Z");
    assert_eq!(upcoming[0]["at_local"], "2026-03-29T07:00:00+02:00");
    assert_eq!(upcoming[1]["alarm_id"], "gap");
    assert_eq!(upcoming[1]["at_local"], "2026-03-30T02:30:00+02:00");

    // NTP-style forward step to shortly before 07:00 CEST: the daemon looks at the clock again
    // (under libfaketime through its bounded sleep, REVEILLE_MAX_SLEEP_MS; on a real clock the
    // kernel announces the step), and seven rings at 07:00 summer time (not 08:00, the
    // fixed-offset bug), on time.
    clock.set("2026-03-29T04:59:57Z");
    let (alarm, occurrence, late_ms) = next_ring(&mut daemon, Duration::from_secs(20));
    assert_eq!(
        (alarm.as_str(), occurrence.as_str()),
        ("seven", "2026-03-29T05:00:00+00:00")
    );
    assert!((0.0..ON_TIME_MS).contains(&late_ms), "{late_ms} ms late");
    let log = daemon.log_so_far();
    assert!(!log.contains("MISSED"), "{log}");
}

#[tokio::test]
async fn fall_back_rings_the_repeated_hour_once_at_its_first_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    write_config(&config, json!([every_day("overlap", "02:30")]));
    // 02:29:57 CEST on 2026-10-25; at 03:00 CEST the clocks go back to 02:00 CET.
    let clock = FakeClock::new(dir.path(), "2026-10-25T00:29:57Z");
    let mut daemon = clock.start_daemon(&config);

    let (alarm, occurrence, late_ms) = next_ring(&mut daemon, Duration::from_secs(20));
    assert_eq!(
        (alarm.as_str(), occurrence.as_str()),
        ("overlap", "2026-10-25T00:30:00+00:00")
    );
    assert!((0.0..ON_TIME_MS).contains(&late_ms), "{late_ms} ms late");

    // Move to just before the second 02:30 (CET, 01:30Z) and let the daemon look at the
    // clock after it: it must not ring again.
    clock.set("2026-10-25T01:29:58Z");
    let passed: DateTime<Utc> = "2026-10-25T01:30:00Z".parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = get(&daemon, "/api/status").await;
        let heartbeat: DateTime<Utc> = status["scheduler"]["heartbeat"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if heartbeat > passed {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler did not look at the clock after 01:30Z: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let events = status["scheduler"]["recent_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{status}");
    assert_eq!(
        status["scheduler"]["next_firing"]["at_local"],
        "2026-10-26T02:30:00+01:00"
    );
    let log = daemon.log_so_far();
    assert_eq!(log.matches("alarm due: ringing").count(), 1, "{log}");
}
