//! Load (issue 19's reliability suite): the real daemon, with the open-file limit of its systemd
//! unit, serves 50 well-behaved clients for a bounded time (reads of every cheap route and the
//! page; read-modify-write with `If-Match` from writers that conflict on purpose) while idle,
//! idle-after-a-request and slowloris connections fill the connection bound up to a margin, and
//! alarms fire: libfaketime's clock is set a moment before each daily occurrence in turn, the
//! local sound (a silent command) starts and a "person" stops it through the API.
//!
//! Asserted: every expected firing happened exactly once (log, history, sound processes); no
//! update was lost (each writer's own counter in the stored document equals its acknowledged
//! writes); no 5xx, no transport error for a well-behaved client, no eviction; the daemon's
//! resident memory after the warm-up grows less than a bound a leak of one buffer per request
//! would exceed; `reveille check-config` accepts the stored file. Printed (run with
//! `-- --nocapture`): requests by kind and status, 412 retries, latencies, firing lateness, RSS
//! samples. Quick by default; `REVEILLE_RELIABILITY=full` runs a minute.

#[path = "load/clients.rs"]
mod clients;
#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/faketime.rs"]
mod faketime;
#[path = "load/flood.rs"]
mod flood;
#[path = "load/memory.rs"]
mod memory;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{Value, json};

use clients::{Tally, counters};
use daemon::Daemon;
use faketime::FakeClock;
use flood::Flood;
use reveille::runner::HISTORY_LEN;

/// Well-behaved clients: readers, and writers that conflict with each other.
const ALARM_WRITERS: usize = 6;
const CONFIG_WRITERS: usize = 4;
const READERS: usize = 50 - ALARM_WRITERS - CONFIG_WRITERS;
/// `LimitNOFILE=` of `systemd/reveille.service`: the connection bound the Pi has.
const OPEN_FILES: u64 = 512;
/// Slots left free by the flood: the 50 clients, the test's own "person", reconnect overlap.
const MARGIN: usize = 50 + 14;
/// Shorter than the daemon's 10 s, so idle and slow connections are closed and come back
/// several times even in the quick run.
const HEADER_TIMEOUT_MS: u64 = 2000;
/// The daemon's longest sleep here: under libfaketime the kernel announces no clock step, so
/// this is how soon it notices one (`REVEILLE_MAX_SLEEP_MS`, test-only).
const MAX_SLEEP_MS: u64 = 250;
/// How long before each occurrence the fake clock is set: several of those sleeps, so the
/// daemon notices the step well before the occurrence and plans the firing itself.
const LEAD: Duration = Duration::from_millis(1000);
/// The clients and the flood connect before the first firing.
const RAMP: Duration = Duration::from_millis(500);
/// Memory is compared from here on: the flood has been closed by the header timeout and come
/// back once, a firing has rung, the allocator has its arenas.
const WARM_UP: Duration = Duration::from_secs(3);
/// Resident memory may grow after the warm-up by this much, for the allocator's own reasons
/// (0.2 to 0.4 MiB measured in quick runs, 0.7 to 0.8 MiB over the full minute)...
const RSS_SLACK_KIB: u64 = 512;
/// ... plus this much per request served after it (3 to 50 bytes measured). A buffer leaked
/// per request is far more: hyper reads each request into an 8 KiB buffer, and even 1 KiB
/// leaked by one of the five routes the readers cycle through (a sixth of all requests, 170
/// bytes a request on average) exceeds the bound in the quick run (checked by leaking on
/// purpose in `/healthz`), and more clearly in the full one.
const LEAK_BYTES_PER_REQUEST: u64 = 64;
/// How long after the load the last sample is taken.
const SETTLE: Duration = Duration::from_millis(500);
/// "It rang on time" as a correctness property: never early, and not seconds late whatever
/// the load. Not a performance target (the figures are printed, not asserted).
const LATE_BOUND_MS: f64 = 5000.0;

fn load_duration() -> Duration {
    match std::env::var("REVEILLE_RELIABILITY").as_deref() {
        Ok("full") => Duration::from_secs(60),
        _ => Duration::from_secs(8),
    }
}

const FIRST_DAY: &str = "2026-03-02";

fn occurrence(firing: usize) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(FIRST_DAY, "%Y-%m-%d").unwrap() + Days::new(firing as u64);
    day.and_hms_opt(7, 0, 0).unwrap().and_utc()
}

fn write_config(dir: &Path) {
    let writers: Vec<String> = (0..ALARM_WRITERS).map(|w| format!("w{w}=0")).collect();
    let titles: Vec<String> = (0..CONFIG_WRITERS).map(|c| format!("c{c}=0")).collect();
    let config = json!({
        "version": 1,
        "time_zone": "UTC",
        "schedule": {"trust_clock": true},
        // No Spotify account: the local sound rings at once. It records its pid instead of
        // making noise; exec keeps the recorded pid the player's.
        "fallback": {
            "command": ["sh", "-c", format!("echo $$ >> '{}'; exec sleep 600", dir.join("sound.pids").display())],
        },
        "web": {"title": titles.join(" ")},
        // The alarm that fires is also the one the alarm writers edit (its label only).
        "alarms": [{"id": "wake", "label": writers.join(" "), "time": "07:00",
                    "repeat": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}],
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
}

/// One firing as seen from outside.
struct Firing {
    occurrence: DateTime<Utc>,
    /// Emission minus occurrence, from the scheduler's log line.
    late_ms: f64,
}

/// Sets the clock shortly before the next occurrence, waits for the scheduler's log line and the
/// local sound, and stops the ring as a person would.
async fn fire_once(
    daemon: &mut Daemon,
    clock: &FakeClock,
    person: &reqwest::Client,
    sounds: &Path,
    index: usize,
) -> Firing {
    let at = occurrence(index);
    let lead = chrono::Duration::from_std(LEAD).unwrap();
    clock.set(&(at - lead).to_rfc3339());
    let line = tokio::task::block_in_place(|| {
        daemon.wait_for_line("alarm due: ringing", LEAD + Duration::from_secs(15))
    })
    .unwrap_or_else(|log| panic!("firing {index} ({at}) did not come:\n{log}"));
    let field = |name: &str| {
        let value = line.split(&format!(" {name}=")).nth(1);
        value
            .and_then(|v| v.split(' ').next())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_owned()
    };
    assert_eq!(field("alarm"), "wake", "{line}");
    let logged: DateTime<Utc> = field("occurrence").parse().unwrap();
    assert_eq!(logged, at, "{line}");
    let late_ms: f64 = field("late_ms").parse().unwrap();

    // The local sound starts: one more recorded process, and the ring status says so.
    clients::eventually(Duration::from_secs(10), async || {
        let ring = ring_status(person, daemon).await?;
        let started = std::fs::read_to_string(sounds).unwrap_or_default();
        (ring["state"] == "ringing"
            && ring["path"] == "local_sound"
            && started.lines().count() == index + 1)
            .then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("firing {index}: the local sound did not start"));

    let stop = person.post(daemon.url("/api/ring/stop")).send().await;
    let stop = stop.unwrap_or_else(|e| panic!("firing {index}: stop failed: {e}"));
    assert_eq!(stop.status(), 204, "{}", stop.text().await.unwrap());
    clients::eventually(Duration::from_secs(10), async || {
        let ring = ring_status(person, daemon).await?;
        (ring["state"] == "idle").then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("firing {index}: the ring did not stop"));
    Firing {
        occurrence: at,
        late_ms,
    }
}

/// The history holds one stopped local-sound episode per firing (the latest `HISTORY_LEN`),
/// and nothing else; prints when each ring started.
fn check_history(history: &Value, firings: &[Firing]) {
    let mut rung: Vec<(DateTime<Utc>, DateTime<Utc>)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            assert_eq!(entry["ended_by"], "api", "{entry}");
            assert_eq!(entry["paths"], json!(["local_sound"]), "{entry}");
            let at = |field: &str| entry[field].as_str().unwrap().parse().unwrap();
            (at("occurrence"), at("started_at"))
        })
        .collect();
    rung.sort();
    let late = |(at, started): &(DateTime<Utc>, DateTime<Utc>)| {
        (*started - *at).num_microseconds().unwrap() as f64 / 1000.0
    };
    let (median, max) = median_max(rung.iter().map(late).collect());
    println!(
        "ring started (history's started_at - occurrence): median {median:.2} ms, max {max:.2} ms"
    );
    let rung: Vec<DateTime<Utc>> = rung.into_iter().map(|(at, _)| at).collect();
    let kept = &firings[firings.len().saturating_sub(HISTORY_LEN)..];
    let expected: Vec<DateTime<Utc>> = kept.iter().map(|f| f.occurrence).collect();
    assert_eq!(rung, expected, "{history:#}");
}

/// `GET /api/ring`; `None` if it fails (the caller polls again).
async fn ring_status(person: &reqwest::Client, daemon: &Daemon) -> Option<Value> {
    let answer = person.get(daemon.url("/api/ring")).send().await.ok()?;
    answer.json().await.ok()
}

/// Median and maximum.
fn median_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    match values.last() {
        Some(&max) => (values[values.len() / 2], max),
        None => (f64::NAN, f64::NAN),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_and_a_full_connection_table_lose_no_update_and_no_alarm() {
    let duration = load_duration();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let config = dir.path().join("config.json");
    let sounds = dir.path().join("sound.pids");
    // Far from any occurrence until the first firing is due.
    let clock = FakeClock::new(dir.path(), "2026-03-01T12:00:00Z");
    let mut daemon = clock
        .builder(&config)
        .open_files_limit(OPEN_FILES)
        .env(
            "REVEILLE_HTTP_HEADER_TIMEOUT_MS",
            HEADER_TIMEOUT_MS.to_string(),
        )
        .env("REVEILLE_MAX_SLEEP_MS", MAX_SLEEP_MS.to_string())
        .start()
        .unwrap();
    let pid = daemon.pid();
    let person = clients::client();
    let status = clients::get_json(&person, &daemon.url("/api/status")).await;
    let max_connections = status["http"]["max_connections"].as_u64().unwrap() as usize;
    assert!(max_connections > MARGIN, "{}", status["http"]);
    let rss_before = memory::sample(pid, Duration::ZERO, 0).rss_kib;

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let flood = Flood::start(daemon.addr, max_connections - MARGIN);
    let load = clients::start(
        daemon.addr,
        READERS,
        ALARM_WRITERS,
        CONFIG_WRITERS,
        &tally,
        &stop,
    );
    let began = Instant::now();
    let sampler = memory::start(pid, began, &tally, &stop);

    tokio::time::sleep(RAMP).await;
    let mut firings = Vec::new();
    // A firing takes the lead plus a few round trips under load; start one only if it ends
    // within the run.
    while began.elapsed() + LEAD + Duration::from_secs(1) < duration {
        let firing = fire_once(&mut daemon, &clock, &person, &sounds, firings.len()).await;
        firings.push(firing);
    }
    // The flood holds its slots. Its connections are closed together by the header timeout
    // and come back together 0.1 s later, so look again if this is such a moment.
    let mut held_now = 0;
    clients::eventually(Duration::from_secs(3), async || {
        let status = clients::get_json(&person, &daemon.url("/api/status")).await;
        held_now = status["http"]["open_connections"].as_u64()? as usize;
        (held_now > (max_connections - MARGIN) / 2).then_some(())
    })
    .await;
    tokio::time::sleep(duration.saturating_sub(began.elapsed())).await;
    let end = memory::sample(pid, began.elapsed(), tally.requests());
    stop.store(true, Ordering::Relaxed);
    let acked = load.finish().await;
    let held = tokio::task::spawn_blocking(move || flood.end())
        .await
        .unwrap();
    let samples = sampler.await.unwrap();
    // Whatever the clients leave behind (connections closing) goes back meanwhile.
    tokio::time::sleep(SETTLE).await;
    let after = memory::sample(pid, began.elapsed(), tally.requests());
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited"
    );

    // What the run did, for the report.
    println!(
        "load: {:.1} s; {READERS} readers, {ALARM_WRITERS} alarm writers, {CONFIG_WRITERS} config writers; \
         flood of {} connections (bound {max_connections})",
        end.at.as_secs_f64(),
        max_connections - MARGIN
    );
    tally.print(end.at);
    println!("{held}; open connections after the last firing: {held_now} of {max_connections}");
    let (late_median, late_max) = median_max(firings.iter().map(|f| f.late_ms).collect());
    println!(
        "firings: {}; lateness (scheduler's emission - occurrence) median {late_median:.2} ms, max {late_max:.2} ms",
        firings.len()
    );
    let each: Vec<String> = firings
        .iter()
        .map(|f| format!("{:.0}", f.late_ms))
        .collect();
    println!("lateness of each firing, ms: {}", each.join(" "));
    let warm = *samples
        .iter()
        .find(|s| s.at >= WARM_UP)
        .expect("the run outlasts the warm-up");
    memory::report(rss_before, &samples, warm, end, after);

    // Every expected firing happened exactly once, and nothing else rang.
    assert!(firings.len() >= 2, "only {} firings", firings.len());
    for firing in &firings {
        assert!(
            (0.0..LATE_BOUND_MS).contains(&firing.late_ms),
            "{} rang {} ms late",
            firing.occurrence,
            firing.late_ms
        );
    }
    let log = daemon.log_so_far();
    assert_eq!(
        log.matches("alarm due: ringing").count(),
        firings.len(),
        "{log}"
    );
    assert!(!log.contains("MISSED"), "{log}");
    let started = std::fs::read_to_string(&sounds).unwrap();
    assert_eq!(started.lines().count(), firings.len(), "{started}");
    let history = clients::get_json(&person, &daemon.url("/api/history")).await;
    check_history(&history, &firings);

    // Well-behaved clients were served: no 5xx, no transport error, and no eviction (the
    // flood left them room).
    tally.assert_well_served();
    let http = clients::get_json(&person, &daemon.url("/api/status")).await["http"].clone();
    println!("http status after the run: {http}");
    assert!(http["last_full_at"].is_null(), "{http}");
    assert!(
        held_now > (max_connections - MARGIN) / 2,
        "the flood did not hold its connections: {held_now} open"
    );

    // No lost update: every acknowledged write is in the stored document, exactly.
    let document: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let label = document["alarms"][0]["label"].as_str().unwrap();
    let title = document["web"]["title"].as_str().unwrap();
    assert_eq!(counters(label), acked.alarm, "alarm label {label:?}");
    assert_eq!(counters(title), acked.config, "title {title:?}");
    let live = clients::get_json(&person, &daemon.url("/api/config")).await;
    assert_eq!(live["alarms"][0]["label"], label);
    assert_eq!(live["web"]["title"], title);
    assert!(
        acked.alarm.values().all(|&n| n > 0) && acked.config.values().all(|&n| n > 0),
        "a writer never got through: {acked:?}"
    );

    // Memory is flat after the warm-up.
    let served = end.requests - warm.requests;
    let allowed = RSS_SLACK_KIB + served * LEAK_BYTES_PER_REQUEST / 1024;
    let peak = samples
        .iter()
        .filter(|s| s.at >= warm.at)
        .chain([&end, &after])
        .map(|s| s.rss_kib)
        .max()
        .unwrap();
    println!(
        "VmRSS growth after the warm-up: {} KiB over {served} requests (allowed {allowed} KiB)",
        peak - warm.rss_kib
    );
    assert!(
        peak <= warm.rss_kib + allowed,
        "VmRSS grew from {} KiB after the warm-up to {peak} KiB over {served} requests",
        warm.rss_kib
    );

    // The stored config is valid.
    let check = std::process::Command::new(daemon::BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
